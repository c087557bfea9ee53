"""filter.language: language id with py3langid (its model ships inside the package; nothing is
downloaded), adding `lang` and `lang_score`, keeping the listed languages above a minimum score."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.engine.step import Filter, FilterResult, Params, register


class LanguageParams(Params):
    languages: list[str] | None = None  # ISO 639-1 codes to keep; None keeps every language
    min_score: float = Field(0.0, ge=0, le=1)  # normalized probability of the top language
    max_chars: int = Field(5000, gt=0)  # identify on the first characters only: faster, as accurate


@register("filter.language")
class LanguageFilter(Filter):
    """Identify each document's language; drop other languages and low-confidence documents."""

    Params = LanguageParams
    adds = {"lang": pa.string(), "lang_score": pa.float32()}

    def setup(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        p = self.params
        texts = batch.column("text").to_pylist()
        found = [self.model.classify(t[: p.max_chars]) if t.strip() else ("und", 0.0) for t in texts]
        langs = np.array([lang for lang, _ in found], dtype=object)
        scores = np.array([score for _, score in found], dtype=np.float32)
        keep = scores >= p.min_score
        reasons = np.where(keep, None, "low_language_score").astype(object)
        if p.languages is not None:
            other = ~np.isin(langs, p.languages)
            reasons[keep & other] = "language_not_kept"
            keep &= ~other
        out = batch.append_column("lang", pa.array(langs.tolist(), pa.string()))
        out = out.append_column("lang_score", pa.array(scores))
        return FilterResult(keep, reasons, out)
