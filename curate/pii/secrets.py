"""Secrets as presidio pattern recognizers: private key blocks, cloud access keys, API tokens of
public formats, passwords in URLs and connection strings, JWTs.

Each format is a prefix or shape its issuer documents (AWS `AKIA`/`ASIA`, Google `AIza`, GitHub
`ghp_`/`github_pat_`, Slack `xox?-`, Stripe `sk_live_`, GitLab `glpat-`, Hugging Face `hf_`, npm
`npm_`, OpenAI-style `sk-`), so they are language-independent and need no context words. A generic
`key = "..."` assignment is only taken when the value looks random (letters and digits mixed, 20+
characters), so code literals such as `password = "changeme"` stay.
"""

from __future__ import annotations

import re

from presidio_analyzer import Pattern, PatternRecognizer

SECRET_TYPES = ("PRIVATE_KEY", "CLOUD_KEY", "API_TOKEN", "URL_PASSWORD", "JWT")

PATTERNS = {
    "PRIVATE_KEY": [
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        # a block cut off before its END line: take the header and the base64 lines that follow it
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:\s*[A-Za-z0-9+/=:\- ]{16,})+",
    ],
    "CLOUD_KEY": [
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b",  # AWS access key ids
        r"(?i:aws_?secret_?access_?key)\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}\b",
        r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])",  # Google API keys
        r"\bya29\.[0-9A-Za-z_\-]{20,}",  # Google OAuth access tokens
        r"(?i:AccountKey)=[A-Za-z0-9+/=]{40,}",  # Azure storage connection strings
    ],
    "API_TOKEN": [
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b",
        r"\bgithub_pat_[A-Za-z0-9]{20,}_[A-Za-z0-9]{40,}\b",
        r"\bxox[abposr]-[0-9A-Za-z\-]{10,}",
        r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}\b",
        r"\bglpat-[0-9A-Za-z_\-]{20,}",
        r"\bhf_[A-Za-z0-9]{30,}\b",
        r"\bnpm_[A-Za-z0-9]{36}\b",
        r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}",
        r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b",  # SendGrid
        r"\bAC[0-9a-f]{32}\b",  # Twilio account SID
        # a generic secret-like assignment whose value mixes cases/digits and is long enough
        r"(?i:(?:api[_-]?key|apikey|secret|token|passwd|password|auth)[\w\-]*)[\"']?\s*[:=]\s*[\"']?"
        r"(?=[A-Za-z0-9_\-+/]*[0-9])(?=[A-Za-z0-9_\-+/]*[A-Za-z])[A-Za-z0-9_\-+/]{20,}={0,2}",
        r"(?i:bearer)\s+[A-Za-z0-9_\-.=]{24,}",
    ],
    "URL_PASSWORD": [
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@\"'<>]{1,64}:[^\s@/\"'<>]{1,128}@[^\s/\"'<>]+",
        r"(?i:(?:password|pwd|passwd))\s*=\s*[^;\s\"']{4,}(?=;|\s|$)",  # ODBC/ADO connection strings
    ],
    "JWT": [r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}"],
}

# The literal substrings one of which every secret above contains: the pre-screen looks for these.
TRIGGERS = ("-----BEGIN", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "aws", "AWS",
            "AIza", "ya29.", "AccountKey", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox",
            "k_live_", "k_test_", "glpat-", "hf_", "npm_", "sk-", "SG.", "AC", "://", "eyJ", "key", "KEY",
            "Key", "secret", "SECRET", "Secret", "token", "TOKEN", "Token", "pass", "PASS", "Pass", "pwd",
            "PWD", "auth", "AUTH", "Auth", "earer")


class SecretRecognizer(PatternRecognizer):
    """One secret type; language-independent (registered for every language the engine runs)."""

    def __init__(self, entity: str, language: str = "en"):
        patterns = [Pattern(f"{entity.lower()}_{i}", rx, 0.9) for i, rx in enumerate(PATTERNS[entity])]
        super().__init__(supported_entity=entity, patterns=patterns, supported_language=language,
                         name=f"Secret{entity.title().replace('_', '')}", global_regex_flags=re.MULTILINE)


def secret_recognizers(language: str = "en") -> list[SecretRecognizer]:
    return [SecretRecognizer(e, language) for e in SECRET_TYPES]
