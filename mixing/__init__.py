"""Mixture selection by proxy-model regression: sweep proxies, fit a law, propose, validate (mixing/api.py)."""
