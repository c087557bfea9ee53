"""Readers: every supported format, and every kind of bad input counted with a reason."""

from __future__ import annotations

import gzip
import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curate.engine.reader import ReadStats, make_reader
from provenance.yamlfile import ConfigError
from tests.conftest import SAMPLE


def real_docs(n: int = 20) -> list[dict]:
    with gzip.open(SAMPLE / "news-abc.jsonl.gz", "rt") as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def read_all(path, **kw) -> tuple[pa.Table, ReadStats]:
    stats = ReadStats()
    batches = list(make_reader({"paths": [str(path)], **kw}, "test/src").batches(str(path), stats))
    return (pa.Table.from_batches(batches) if batches else None), stats


def jsonl_bytes(docs) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_jsonl_plain_gzip_zstd(tmp_path, suffix):
    docs = real_docs()
    raw = jsonl_bytes(docs)
    path = tmp_path / f"docs.jsonl{suffix}"
    path.write_bytes({"": raw, ".gz": gzip.compress(raw), ".zst": zstandard.compress(raw)}[suffix])
    table, stats = read_all(path, reader="jsonl", batch_size=7)
    assert table.column("text").to_pylist() == [d["text"] for d in docs]
    assert table.column("source").to_pylist() == ["test/src"] * len(docs)
    assert stats.docs == len(docs) and not stats.skipped
    # derived ids are stable and unique
    ids = table.column("id").to_pylist()
    assert len(set(ids)) == len(ids) and ids == read_all(path, reader="jsonl")[0].column("id").to_pylist()
    origin = table.column("origin").to_pylist()
    assert origin[3]["row"] == 4 and origin[0]["offset"] == 0 and origin[1]["offset"] == len(raw.split(b"\n")[0]) + 1


def test_jsonl_bad_lines_are_counted_with_file_and_line(tmp_path, caplog):
    docs = real_docs(6)
    lines = [json.dumps(d).encode() for d in docs]
    lines[1] = lines[1][:40]  # malformed JSON
    lines[2] = json.dumps({"body": docs[2]["text"]}).encode()  # no text field
    lines[3] = json.dumps({"text": docs[3]["text"]}).encode().replace(b"the", b"th\xe9", 1)  # Latin-1 byte
    lines[4] = b"[1, 2]"  # not an object
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    with caplog.at_level(logging.WARNING, logger="gristmill"):
        table, stats = read_all(path, reader="jsonl")
    assert stats.skipped == {"malformed_json": 2, "missing_text": 1, "invalid_utf8_replaced": 1}
    assert table.num_rows == 3 and "th\ufffd" in table.column("text")[1].as_py()
    assert f"{path}:2: malformed_json" in caplog.text and f"{path}:3: missing_text" in caplog.text


def test_truncated_gzip_keeps_documents_before_the_damage(tmp_path, caplog):
    docs = real_docs(300)
    blob = gzip.compress(jsonl_bytes(docs))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with caplog.at_level(logging.WARNING, logger="gristmill"):
        table, stats = read_all(path, reader="jsonl")
    assert stats.skipped["corrupt_file"] == 1
    assert 0 < table.num_rows < len(docs)
    assert table.column("text").to_pylist() == [d["text"] for d in docs[: table.num_rows]]
    assert "corrupt_file" in caplog.text and str(path) in caplog.text


def test_not_gzip_at_all_is_counted(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(jsonl_bytes(real_docs(3)))
    table, stats = read_all(path, reader="jsonl")
    assert table is None and stats.skipped == {"corrupt_file": 1}


def test_parquet_keeps_user_ids_and_columns(tmp_path):
    docs = real_docs(10)
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"doc_id": [f"n{i}" for i in range(10)], "text": [d["text"] for d in docs],
                             "year": list(range(2000, 2010))}), path)
    table, _ = read_all(path, reader="parquet", id_field="doc_id", keep_columns=["year"])
    assert table.column("id").to_pylist() == [f"n{i}" for i in range(10)]
    assert table.column("year").to_pylist() == list(range(2000, 2010))
    assert table.column("origin")[4].as_py()["row"] == 4


def test_parquet_without_text_column_is_a_config_error(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(ConfigError, match="has no 'text' in its schema"):
        make_reader({"reader": "parquet", "paths": [str(path)]}, "test").files()


def test_parquet_null_text_counted(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": ["a real sentence", None, "another"]}), path)
    table, stats = read_all(path, reader="parquet")
    assert table.num_rows == 2 and stats.skipped == {"missing_text": 1}


@pytest.mark.parametrize("reader", ["jsonl", "parquet"])
def test_batches_end_at_a_size_in_bytes(tmp_path, reader):
    docs = real_docs(40)
    path = tmp_path / f"docs.{reader}"
    if reader == "jsonl":
        path.write_bytes(jsonl_bytes(docs))
    else:
        pq.write_table(pa.table({"text": [d["text"] for d in docs]}), path)
    limit = 0.005  # MiB: a few of these news articles
    reader = make_reader({"paths": [str(path)], "reader": reader, "batch_mb": limit}, "test/src")
    batches = list(reader.batches(str(path), ReadStats()))
    sizes = [[len(t.encode()) for t in b.column("text").to_pylist()] for b in batches]
    assert len(batches) > 5
    assert all(sum(s[:-1]) < limit * 2**20 for s in sizes)  # a batch ends with the document that fills it
    assert all(sum(s) >= limit * 2**20 * 0.9 for s in sizes[:-1])  # (JSON escapes count for jsonl)
    table = pa.Table.from_batches(batches)
    assert table.column("text").to_pylist() == [d["text"] for d in docs]
    assert [o["row"] for o in table.column("origin").to_pylist()] == list(range(1, 41) if reader.name == "jsonl" else range(40))


def test_saved_hf_dataset(tmp_path):
    import datasets

    docs = real_docs(25)
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(docs).save_to_disk(str(folder), num_shards=2)
    reader = make_reader({"reader": "hf_disk", "paths": [str(folder)]}, "hf")
    files = reader.files()
    assert len(files) == 2
    texts = []
    for f in files:
        texts += [t for b in reader.batches(f, ReadStats()) for t in b.column("text").to_pylist()]
    assert texts == [d["text"] for d in docs]


def test_parquet_rows_without_ids_or_sources_get_defaults(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": ["a", None, "c"], "text": ["x y", "y z", "z w"], "src": ["web", None, "books"]}), path)
    table, _ = read_all(path, reader="parquet", source_field="src")
    ids = table.column("id").to_pylist()
    assert ids[0] == "a" and ids[2] == "c" and len(ids[1]) == 32
    assert table.column("source").to_pylist() == ["web", "test/src", "books"]


def test_keep_columns_cannot_shadow_document_columns():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="document columns already"):
        make_reader({"reader": "jsonl", "paths": ["x"], "keep_columns": ["url", "lang"]}, "test")
