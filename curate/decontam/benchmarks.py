"""Benchmarks to protect: their definitions (shipped in benchmarks.yaml, a user's registry file, or
in place in the pipeline) and their items, read from JSONL, Parquet, a folder written by datasets'
`save_to_disk`, or a file inside an installed package."""

from __future__ import annotations

import gzip
import hashlib
import json
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
from pydantic import Field

from curate.engine.step import Params
from provenance.yamlfile import load_yaml

SHIPPED = Path(__file__).with_name("benchmarks.yaml")


class Benchmark(Params):
    name: str = Field(min_length=1)
    path: str  # .jsonl, .jsonl.gz, .parquet, or a save_to_disk folder; relative to `package` if given
    package: str | None = None  # an installed Python package that ships the file
    split: str | None = None  # for a save_to_disk folder holding several splits
    fields: list[str] = Field(min_length=1)  # the text to protect: `question`, `choices.text` (a dotted path
    # into nested records); a list or record value (choices) gives the text of each of its values in order
    id_field: str | None = None  # default: the item's row number


def registry(path: str | None) -> dict[str, dict]:
    """Name -> definition: the shipped ones, then those of the user's file (which win)."""
    out = {}
    for file in [SHIPPED] + ([Path(path)] if path else []):
        data = load_yaml(file).data or {}
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError(f"{file}: a benchmark registry maps names to definitions (path, fields, ...)")
        out |= {name: {"name": name, **d} for name, d in data.items()}
    return out


def resolve(entries: list, registry_file: str | None) -> list:
    """The step's `benchmarks:` list with names looked up in the registry."""
    if not any(isinstance(e, str) for e in entries):
        return entries
    known = registry(registry_file)
    out = []
    for e in entries:
        if isinstance(e, str) and e not in known:
            raise ValueError(f"unknown benchmark {e!r} (known: {', '.join(sorted(known))}); define it with "
                             f"name, path and fields, or in a file named by registry:")
        out.append(known[e] if isinstance(e, str) else e)
    return out


def location(bench: Benchmark) -> Path:
    if bench.package is None:
        return Path(bench.path)
    try:
        return Path(str(resources.files(bench.package) / bench.path))
    except ModuleNotFoundError:
        raise ValueError(f"benchmark {bench.name!r} ships in the Python package {bench.package!r}, which is "
                         f"not installed (pip install it, or give a path to the file)") from None


def read_items(bench: Benchmark) -> list[dict]:
    """The benchmark's records; ValueError if the file is unreadable or empty."""
    path = location(bench)
    if path.is_dir():
        rows = _saved_dataset(bench, path)
    elif not path.is_file():
        raise ValueError(f"benchmark {bench.name!r}: no file {path}")
    elif path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise ValueError(f"benchmark {bench.name!r}: {path} holds no items")
    return rows


def _saved_dataset(bench: Benchmark, path: Path) -> list[dict]:
    import datasets

    try:
        data = datasets.load_from_disk(str(path))
    except FileNotFoundError as err:
        raise ValueError(f"benchmark {bench.name!r}: {path} is a folder but not one datasets' save_to_disk "
                         f"wrote ({err})") from None
    if isinstance(data, datasets.DatasetDict):
        if bench.split not in data:
            raise ValueError(f"benchmark {bench.name!r}: {path} holds splits {', '.join(data)}; name one with split:")
        data = data[bench.split]
    return data.to_list()


def _value(row: dict, field: str):
    """The value at a dotted path (`choices.text`), or None."""
    for key in field.split("."):
        row = row.get(key) if isinstance(row, dict) else None
    return row


def _texts(value) -> list[str]:
    """The text of a value: a list's or a record's values in order, recursively."""
    if isinstance(value, dict):
        value = list(value.values())
    return [t for v in value for t in _texts(v)] if isinstance(value, list) else [str(value)]


def item_texts(bench: Benchmark, rows: list[dict]) -> tuple[list[str], list[str]]:
    """(ids, texts) of a benchmark's items; ValueError naming the first item that lacks a field."""
    ids, texts = [], []
    for i, row in enumerate(rows):
        for field in bench.fields + ([bench.id_field] if bench.id_field else []):
            if _value(row, field) is None:
                raise ValueError(f"benchmark {bench.name!r}: item {i} of {location(bench)} has no field {field!r} "
                                 f"(it has: {', '.join(row)})")
        ids.append(f"{bench.name}/{_value(row, bench.id_field) if bench.id_field else i}")
        texts.append(" ".join(t for field in bench.fields for t in _texts(_value(row, field))))
    return ids, texts


def content_hash(bench: Benchmark) -> bytes:
    """sha256 of the benchmark's bytes (every file of a save_to_disk folder, in name order)."""
    path = location(bench)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.digest()
