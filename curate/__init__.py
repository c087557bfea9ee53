"""gristmill's curation side: a streaming Arrow engine and the steps it runs."""
