"""normalize.unicode: Unicode normal form, control characters, line endings and blank space,
as vectorized Arrow string kernels."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curate.engine.step import Params, Step, register

# C0/C1 control characters other than tab and newline, plus zero-width and BOM marks.
CONTROL = r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}\x{200b}\x{200c}\x{200d}\x{2060}\x{feff}]"
# Unicode space separators other than the plain space.
SPACES = r"[\x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}]"


class UnicodeParams(Params):
    form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    remove_control: bool = True  # drop control, zero-width and BOM characters
    unify_spaces: bool = True  # no-break and other Unicode spaces -> " "
    strip_trailing: bool = True  # trailing blanks on every line, and around the document
    max_blank_lines: int | None = Field(1, ge=0)  # collapse longer runs of empty lines


@register("normalize.unicode")
class UnicodeNormalize(Step):
    """Normalize Unicode form and whitespace without touching indentation."""

    Params = UnicodeParams

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        text = batch.column("text")
        text = pc.replace_substring_regex(text, r"\r\n?", "\n")
        if p.remove_control:
            text = pc.replace_substring_regex(text, CONTROL, "")
        if p.form:
            text = pc.utf8_normalize(text, p.form)
        if p.unify_spaces:
            text = pc.replace_substring_regex(text, SPACES, " ")
        if p.strip_trailing:
            text = pc.replace_substring_regex(text, r"[ \t]+\n", "\n")
            text = pc.utf8_trim_whitespace(text)
        if p.max_blank_lines is not None:
            n = p.max_blank_lines + 1
            text = pc.replace_substring_regex(text, rf"\n{{{n + 1},}}", "\n" * n)
        return batch.set_column(batch.schema.get_field_index("text"), "text", text)
