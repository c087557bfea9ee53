"""Benchmark contamination checks: find evaluation items in training documents."""
