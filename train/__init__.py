"""gristmill's training side: token shards, the mixture loader, the model and its FSDP trainer.

Knows nothing of curate/: it reads Parquet documents and token shards only."""
