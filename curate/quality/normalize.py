"""The text normalization a quality model is trained with and scored with, vectorized over Arrow.

A model's card names its normalization (`NAME`) and the parameters it used; the scorer refuses a
model whose card names another (a model trained on raw text scores lowercased text wrongly and
silently). `lower-ws-v1`: the first `max_chars` characters, lowercased, newlines made spaces (fastText
reads one line per document and splits words on any run of whitespace, so to it this is the same as
collapsing whitespace), trimmed. The newline swap is one byte for another in the UTF-8 buffer, done
with numpy over the whole batch (a regex pass costs as much as fastText's own prediction).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NAME = "lower-ws-v1"
KNOWN = (NAME,)


def normalize(texts: pa.Array | pa.ChunkedArray, max_chars: int | None) -> pa.Array:
    """Normalized texts (nulls stay null; a text with no words becomes "")."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if max_chars is not None:
        texts = pc.utf8_slice_codeunits(texts, 0, max_chars)
    texts = _newlines_to_spaces(pc.utf8_lower(texts))
    return pc.utf8_trim_whitespace(texts)


def _newlines_to_spaces(texts: pa.Array) -> pa.Array:
    validity, offsets, data = texts.buffers()
    if data is None:
        return texts
    raw = np.frombuffer(data, dtype=np.uint8).copy()
    raw[raw == 10] = 32  # b"\n" never occurs inside a multi-byte UTF-8 sequence
    return pa.Array.from_buffers(texts.type, len(texts), [validity, offsets, pa.py_buffer(raw)],
                                 null_count=texts.null_count, offset=texts.offset)


def description(max_chars: int | None) -> dict:
    """How a card records the normalization."""
    return {"name": NAME, "max_chars": max_chars}
