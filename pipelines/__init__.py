"""The user-facing layer: the `gristmill` CLI and ready pipeline files to copy."""
