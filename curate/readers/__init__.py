"""Readers, one module each, registered by name (`input.reader: jsonl` is `jsonl.py`): see curate/engine/reader.py."""
