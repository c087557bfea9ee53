"""Filtering steps: each returns a keep-mask and a reason per dropped document."""
