"""Text normalization steps."""
