"""Word splitting that gives spaCy's tokens (what datatrove's filters count) at a fraction of the cost.

spaCy's tokenizer splits text on whitespace, then peels prefixes and suffixes
off each chunk, applies special cases ("don't" -> "do", "n't") and splits
infixes. This module runs that same algorithm with spaCy's own compiled rules
for a language, in plain Python, and caches the answer per chunk; most chunks
in real text repeat, so most cost one dictionary lookup.

Importing spaCy is most of a worker process's start-up (2 s, and 3-4 s more where torch is installed:
spaCy imports thinc, which imports torch). So the rules a language needs (its prefix, suffix, infix,
token and URL patterns and special cases) are kept as JSON in ~/.cache/gristmill (or
$XDG_CACHE_HOME/gristmill), one file per language and spaCy version, written by the first process that
builds them from spaCy; later processes compile the patterns and never import spaCy. Where spaCy is
imported (to build the rules, or by datatrove's filters), it is imported without letting thinc load
torch, which tokenizer rules never use: in that process thinc then treats torch as absent; where torch
is already loaded, nothing changes.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import tempfile
from functools import cached_property, lru_cache, partial

try:
    from re import _parser
except ImportError:  # Python 3.10
    import sre_parse as _parser

from curate.filters.cache import cache_dir
from curate.filters.regex_start import gated_finditer, start_class

CACHE_LIMIT = 200_000
MERGE_SPAN = 4
SUFFIX_WINDOW = 12  # longer than any suffix spaCy peels, but for runs of dots


class WordSplitter:
    def __init__(self, language: str = "en"):
        rules = tokenizer_rules(language)
        # spaCy searches for prefixes and suffixes with `re.search` over the whole chunk, which tries every
        # alternative at every position. Where every prefix alternative is anchored at ^ (English, and most
        # languages), `match` gives the same answer; suffix alternatives are anchored at $, so only the
        # chunk's end needs searching.
        prefixes = _compiled(rules["prefix"])
        anchored = all(alt.startswith("^") for alt in prefixes.pattern.split("|"))
        self.prefix = prefixes.match if anchored else prefixes.search
        # The suffix spaCy finds is the longest that one of the pattern's alternatives matches at the end.
        # Searching the whole pattern tries each alternative at each position (~4 µs a chunk: one is a class
        # of ~400 symbol ranges). Instead literal alternatives (",", "'s", "…") are looked up by their last
        # character, one-character alternatives are matched at the last position only, and just the
        # longer ones are searched.
        literals, others = _literal_suffixes(rules["suffix"][0])
        self.suffix_literals: dict[str, list[str]] = {}
        for literal in sorted(literals, key=len, reverse=True):
            self.suffix_literals.setdefault(literal[-1], []).append(literal)
        one_char = [alt for alt in others if _parser.parse(alt).getwidth() == (1, 1)]
        longer = [alt for alt in others if alt not in one_char]
        flags = rules["suffix"][1]
        self.suffix_last = re.compile("|".join(one_char) or "(?!)", flags).match
        self.suffix_longer = re.compile("|".join(longer) or "(?!)", flags).search
        # The infix pattern's alternatives start with look-behinds, which `re` tries at every position of a
        # chunk; it is tried only where a match can start (a character of `start_class`, such as "." or "-").
        infix = _compiled(rules["infix"])
        starts = start_class(infix)
        self.infixes = infix.finditer if starts is None else partial(
            gated_finditer, re.compile(starts, infix.flags).finditer, infix.match)
        self.token_match = rules["token_match"] and _compiled(rules["token_match"]).match
        self.url_match = rules["url_match"] and _compiled(rules["url_match"]).match
        self.specials = rules["specials"]
        self.special_heads = {key[:i] for key in self.specials for i in range(1, len(key))}
        self.cache: dict[str, tuple[str, ...]] = {}

    def suffix_length(self, string: str) -> int:
        """Length of the suffix spaCy peels off `string` (0: none)."""
        if not string:
            return 0
        window = string[-SUFFIX_WINDOW:] if len(string) > SUFFIX_WINDOW else string
        found = 0
        for literal in self.suffix_literals.get(window[-1], ()):  # longest first
            if window.endswith(literal):
                found = len(literal)
                break
        else:
            if self.suffix_last(window, len(window) - 1):
                found = 1
        m = self.suffix_longer(window)
        return max(found, m.end() - m.start()) if m else found

    def words(self, text: str) -> list[str]:
        cached, split = self.cache.get, self.chunk_words
        return [word for chunk in text.split() for word in (cached(chunk) or split(chunk))]

    def chunk_words(self, chunk: str) -> tuple[str, ...]:
        """The words of one chunk of text without whitespace, cached per chunk (the first CACHE_LIMIT distinct
        chunks seen: the frequent ones, and no churn of memory once full)."""
        tokens = self.cache.get(chunk)
        if tokens is None:
            tokens = (chunk,) if self._one_word(chunk) else tuple(self._split(chunk))
            if len(self.cache) < CACHE_LIMIT:
                self.cache[chunk] = tokens
        return tokens

    def exact_words(self, text: str) -> list[str] | None:
        """spaCy's own tokens for `text` (None where a chunk ends in a run of dots longer than the
        suffix window). Slower than `words`: it replays spaCy's second pass over the whole document,
        which `words` only approximates inside each chunk."""
        if "." * (SUFFIX_WINDOW + 1) in text:
            return None
        tokens, chunk_of = self._first_pass(text)
        out: list[str | None] = []
        end = 0
        for start, stop in self._special_spans(tokens):
            if chunk_of[start] == chunk_of[stop - 1]:  # across a space its text is no special case
                out += tokens[end:start] + _stripped(self.specials["".join(tokens[start:stop])])
                end = stop
        out += tokens[end:]
        return [t for t in out if t is not None]

    def _first_pass(self, text: str) -> tuple[list[str | None], list[int]]:
        """spaCy's tokens before its second pass, with each token's chunk number; None stands for the
        whitespace token spaCy keeps between chunks not separated by exactly one space."""
        tokens: list[str | None] = []
        chunk_of: list[int] = []
        pieces: dict[str, list[str]] = {}
        end = 0
        for n, chunk in enumerate(text.split()):
            start = text.index(chunk, end)
            if n and text[end:start] != " ":
                tokens.append(None)
                chunk_of.append(-1)
            end = start + len(chunk)
            if chunk not in pieces:
                pieces[chunk] = [chunk] if self._one_word(chunk) else _stripped(self._affix_split(chunk, self.specials))
            tokens += pieces[chunk]
            chunk_of += [n] * len(pieces[chunk])
        return tokens, chunk_of

    def _special_spans(self, tokens: list[str | None]) -> list[tuple[int, int]]:
        """The spans spaCy's second pass keeps, in order: every match of its special-case patterns,
        longest first then leftmost, skipping one whose first or last token an earlier match covered
        (spaCy's `_filter_special_spans`)."""
        patterns = self.special_patterns
        found = [(i, i + len(p)) for i, token in enumerate(tokens) for p in patterns.get(token, ())
                 if tuple(tokens[i:i + len(p)]) == p]
        found.sort(key=lambda span: (span[0] - span[1], span[0]))
        kept, seen = [], set()
        for start, stop in found:
            if start not in seen and stop - 1 not in seen:
                kept.append((start, stop))
            seen.update(range(start, stop))
        return sorted(kept)

    @cached_property
    def special_patterns(self) -> dict[str, set[tuple[str, ...]]]:
        """The patterns of spaCy's second pass, by first token: each special case that has an affix or
        infix, as the affix rules alone cut it (spaCy's `add_special_case`, with its default
        `faster_heuristics`)."""
        patterns: dict[str, set[tuple[str, ...]]] = {}
        for special in self.specials:
            if self._has_affix(special) or " " in special:
                pattern = tuple(_stripped(self._affix_split(special, {})))
                if pattern:
                    patterns.setdefault(pattern[0], set()).add(pattern)
        return patterns

    def _has_affix(self, string: str) -> bool:
        prefix = self.prefix(string)
        return bool((prefix and prefix.end() > prefix.start()) or self.suffix_length(string)
                    or any(True for _ in self.infixes(string)))

    def _one_word(self, chunk: str) -> bool:
        """Whether a chunk is one word as it is: letters or digits only, and no special case."""
        return _plain(chunk) and chunk not in self.specials

    def _split(self, chunk: str) -> list[str]:
        """A chunk's tokens. Its pieces hold no whitespace (nor do the special cases that can match inside
        it: spaCy checks that a special case's pieces join to its key), so none needs stripping."""
        tokens = self._affix_split(chunk, self.specials)
        return self._merge_specials(tokens) if len(tokens) > 1 else tokens

    def _affix_split(self, string: str, specials: dict[str, list[str]]) -> list[str]:
        """spaCy's first pass over one chunk: prefixes, suffixes, special cases, then infixes."""
        prefixes: list[str] = []
        suffixes: list[str] = []
        last = -1
        prefix_match, token_match = self.prefix, self.token_match
        while string and len(string) != last:
            if string in specials or string.isalpha() or string.isdigit() or (token_match and token_match(string)):
                break
            last = len(string)
            m = prefix_match(string)
            pre_len = m.end() - m.start() if m else 0
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and minus_pre in specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self.suffix_length(string[pre_len:])
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and minus_suf in specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
            if string and string in specials:
                break
        tokens = prefixes
        if string:
            if string in specials:
                tokens += specials[string]
            elif _plain(string) or (self.token_match and self.token_match(string)) or (
                    self.url_match and self.url_match(string)):
                tokens.append(string)
            else:
                tokens += self._infixes(string)
        tokens += reversed(suffixes)
        return tokens

    def _merge_specials(self, tokens: list[str]) -> list[str]:
        """Special cases that the affix rules cut apart ("):" -> ")" ":") are joined again, longest first
        (none of spaCy's special cases spans more than MERGE_SPAN pieces). Pieces are joined one at a time
        while the join still starts a special case: a longer one cannot be one if it does not."""
        heads, specials = self.special_heads, self.specials
        out, i, n = [], 0, len(tokens)
        while i < n:
            joined, end, j, stop = tokens[i], i + 1, i + 1, min(n, i + MERGE_SPAN)
            while j < stop and joined in heads:
                joined += tokens[j]
                j += 1
                if joined in specials:
                    end = j
            if end > i + 1:
                out += specials["".join(tokens[i:end])]
            else:
                out.append(tokens[i])
            i = end
        return out

    def _infixes(self, string: str) -> list[str]:
        tokens, start = [], 0
        for match in self.infixes(string):
            if match.start() == 0:
                continue
            if match.start() != start:
                tokens.append(string[start:match.start()])
            if match.start() != match.end():
                tokens.append(string[match.start():match.end()])
            start = match.end()
        if string[start:]:
            tokens.append(string[start:])
        return tokens


def _plain(string: str) -> bool:
    """Letters only, or digits only: no affix or infix rule applies, only special cases."""
    return string.isalpha() or string.isdigit()


def _stripped(tokens: list[str]) -> list[str]:
    return [t for t in (t.strip() for t in tokens) if t]


def tokenizer_rules(language: str) -> dict:
    """The tokenizer rules of spaCy's blank pipeline for `language`, from the cache or from spaCy."""
    version = importlib.metadata.version("spacy")
    path = cache_dir() / f"spacy-{version}-tokenizer-{language}.json"
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        pass
    spacy = import_spacy()
    from spacy.attrs import ORTH

    tokenizer = spacy.blank(language).tokenizer
    rules = {"prefix": _pattern(tokenizer.prefix_search), "suffix": _pattern(tokenizer.suffix_search),
             "infix": _pattern(tokenizer.infix_finditer), "token_match": _pattern(tokenizer.token_match),
             "url_match": _pattern(tokenizer.url_match),
             "specials": {k: [t[ORTH] for t in v] for k, v in tokenizer.rules.items()}}
    try:  # written whole, then renamed: processes building it at once each leave a complete file
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False) as f:
            json.dump(rules, f)
        os.replace(f.name, path)
    except OSError:
        pass  # no writable cache: every process builds the rules
    return rules


def _pattern(method) -> list | None:
    """[pattern, flags] of the compiled expression a bound method (`search`, `match`, ...) belongs to."""
    return None if method is None else [method.__self__.pattern, method.__self__.flags]


def _literal_suffixes(pattern: str) -> tuple[list[str], list[str]]:
    """A suffix pattern's top-level alternatives, split into the literal strings (`,$`, `'s$`, `\\.$`)
    and the others (character classes, look-behinds, repeats), as patterns. Every alternative of spaCy's
    suffix pattern ends in `$`; for one that does not, the whole pattern stays a regex."""
    alternatives, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":  # a character class: skip to its closing bracket
            i += 1 + (pattern[i + 1:i + 2] == "]")
            while pattern[i] != "]":
                i += 1 + (pattern[i] == "\\")
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and not depth:
            alternatives.append(pattern[start:i])
            start = i + 1
        i += 1
    alternatives.append(pattern[start:])
    if not all(a.endswith("$") and not a.endswith("\\$") for a in alternatives):
        return [], [pattern]
    literal = re.compile(r"(?:\\[^\w]|[^\\\[\](){}?*+.|^$])+")
    literals = [re.sub(r"\\(.)", r"\1", a[:-1]) for a in alternatives if literal.fullmatch(a[:-1])]
    return literals, [a for a in alternatives if not literal.fullmatch(a[:-1])]


def _compiled(pattern_and_flags: list) -> re.Pattern:
    return re.compile(*pattern_and_flags)


def import_spacy():
    if "torch" in sys.modules or "spacy" in sys.modules:
        import spacy
        return spacy
    sys.modules["torch"] = None  # thinc's `import torch` raises ImportError: it runs without torch
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=8)
def splitter(language: str = "en") -> WordSplitter:
    return WordSplitter(language)
