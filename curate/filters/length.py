"""filter.length: drop documents outside word and character bounds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curate.engine.step import Filter, FilterResult, Params, register


class LengthParams(Params):
    min_words: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=0)
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=0)


@register("filter.length")
class LengthFilter(Filter):
    """Keep documents whose whitespace-separated word count and character count are in bounds."""

    Params = LengthParams

    @classmethod
    def check(cls, p: LengthParams) -> None:
        for lo, hi in (("min_words", "max_words"), ("min_chars", "max_chars")):
            a, b = getattr(p, lo), getattr(p, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} ({a}) is larger than {hi} ({b})")

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        p = self.params
        text = batch.column("text")
        n = batch.num_rows
        keep = np.ones(n, dtype=bool)
        reasons = np.full(n, None, dtype=object)
        checks = []
        if p.min_words is not None or p.max_words is not None:
            words = pc.count_substring_regex(text, r"\S+").to_numpy(zero_copy_only=False)
            checks += [(p.min_words, words, "too_few_words", np.less), (p.max_words, words, "too_many_words", np.greater)]
        if p.min_chars is not None or p.max_chars is not None:
            chars = pc.utf8_length(text).to_numpy(zero_copy_only=False)
            checks += [(p.min_chars, chars, "too_few_chars", np.less), (p.max_chars, chars, "too_many_chars", np.greater)]
        for bound, values, reason, fails in checks:
            if bound is None:
                continue
            bad = keep & fails(values, bound)
            reasons[bad] = reason
            keep &= ~bad
        return FilterResult(keep, reasons)
