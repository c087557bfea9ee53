"""pii: detect and redact personal data and secrets in documents (presidio, offline)."""
