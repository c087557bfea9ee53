"""Executors, one module each, registered by `executor.kind` (`local` is `local.py`): see curate/engine/executor.py."""
