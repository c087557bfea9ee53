"""Files written whole or not at all: a temporary name beside the target, renamed once complete.

A reader (or a rerun after kill -9) sees either the old file or the complete new one, never half.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` (`.tmp-NAME.<unique>`) to write a file or folder to; renamed to
    `path` when the block ends, removed if it raises. Unique per writer, so two attempts at one task
    (a retried task whose first attempt still runs on a node thought dead) never write one file."""
    final = Path(path)
    tmp = final.with_name(f".tmp-{final.name}.{unique()}")
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, final)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read a MiB at a time: how every record names the bytes it read."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unique() -> str:
    """A suffix no other writer uses at the same time: process id and 32 random bits."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """`data` to `path`, whole or not at all."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
