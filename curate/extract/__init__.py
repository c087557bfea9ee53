"""Extraction: WARC/WET records to documents, HTML to main text."""
