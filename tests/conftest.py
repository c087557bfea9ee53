"""Shared fixtures: the bundled real-text sample and helpers to write small pipelines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

os.environ.setdefault("CI", "1")  # no progress bars in test output
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of the bundled sample corpus (real third-party text)."""
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst)
    return dst


@pytest.fixture
def pipeline(tmp_path: Path):
    """Write a pipeline YAML into tmp_path and return its path."""

    def write(config: dict, name: str = "pipeline.yaml") -> Path:
        config.setdefault("name", "test")
        config.setdefault("output", {"path": str(tmp_path / "out")})
        config.setdefault("executor", {"kind": "local", "workers": 2})
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write
