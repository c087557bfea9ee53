"""Deduplication steps (whole-corpus: the engine runs them between stages)."""
