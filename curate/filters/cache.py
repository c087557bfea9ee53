"""Where workers keep what each would otherwise rebuild at start-up (spaCy's tokenizer rules, the
language-id model's arrays): ~/.cache/gristmill, or $XDG_CACHE_HOME/gristmill."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gristmill"
