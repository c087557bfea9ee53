"""Street addresses (ADDRESS) by their shape, without a model: the street line, then the lines of a
postal block below it.

- A street line: a house number and capitalized words ending in a street type ("Street", "Ave",
  "Road", "Lane", ...); a street word then its name and number ("rue", "via", "calle", "ul.");
  a street with a glued street ending and its number ("-straße", "-gasse", "-weg", "-laan", "-vej",
  "-gata", "-vegur", "-katu", "Jana-Lübs-Straße"); capitalized words, a separate street word and the
  number ("Dózsa György út 50.", "Professor Blix gate 192", "Karu põik 61"); a US street whose last
  word usaddress tags as a street type ("Forge", "Haven", "Divide"); a post-office box ("P.O. Box 255",
  "Postfach 71"); a US military address ("PSC 9548, Box 3940", "USNS Shah"); the rest of the line
  after "address:" or "address is" when it holds a number. Each is extended over a following
  "Apt/Suite N" (twice at most), a city, a region or country, a state and a postcode on its line.
- A postal block: below a street line (or a line holding only "Apt. 12" / "Suite 300", with the street
  line above it, a name and a number), up to four short lines of a unit, city, state, postcode or
  country ("Sebokeng", "North Thomas, MT 75095", ", VA", "Sweden 69420"), one blank line allowed
  between them; a quoting prefix ("> ") is skipped.
"""

from __future__ import annotations

import re

import regex
import usaddress

STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Square|Sq|Way|"
    "Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Crescent|Cres|Close|Grove|Gardens|Row|"
    "Mews|Walk|Hill|Park|Green|Rise|Vale|View|Path|Pike|Alley|Loop|Run|Point|Crossing|Heights|Junction|"
    "Route|Plaza|Ridge|Springs|Track|Spur|Stravenue|Village|Station|Port|Bypass|Mall|Expressway|Freeway|"
    "Turnpike|Causeway|Wharf|Quay|Estate|Approach|Esplanade|Parade|Promenade|Avenida|Calle|Rua|Via|Viale|"
    "Piazza|Corso|Rue|Allee|Boulevard|Plein|Straat|Laan|Weg|Gracht|Kade|Platz|Ring|Chaussée|Paseo|Plaza|"
    "Travessa|Largo|Camino|Carrera|Ronda|Cuesta|Stretto|Vicolo|Contrada|Borgo"
)
# Street words before the name ("rue de la Paix 12", "ul. Okólna 133", "Avda. Explanada 69").
STREET_BEFORE = (r"(?i:rue|via|calle|avenue|avenida|piazza|rua|viale|corso|paseo|plaza|camino|cuesta|ronda|travesía|"
                 r"vicolo|stretto|largo|travessa|contrada|borgo|allée|place|chemin|impasse|boulevard|quai|passage|"
                 r"ul\.|ulica|aleja|avda\.|av\.|avinguda|carrer|rambla|praça|estrada|strada|calea|rruga)")
# Street endings glued to the name: German, Dutch, Nordic, Finnish ("Håndværkervej", "Aðalgata", "Rengaskuja").
_STREET_SUFFIX = (r"\p{L}+(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|laan|straat|weg|hof|plein|gracht|kade|"
                  r"dreef|singel|vej|vejen|gade|stræde|vegur|gata|gatan|gate|vägen|väg|gränd|veien|vegen|allé|"
                  r"alléen|bakken|vænget|vænge|stien|plads|torv|kuja|katu|polku|tänav)")
# Street words after the name: Hungarian, Norwegian, Danish, Swedish, Estonian, Slavic, Turkish.
STREET_AFTER = (r"(?:utca|út|u\.|krt\.|körút|fasor|tér|köz|sétány|gate|vei|veien|vegen|vej|gade|gata|gatan|väg|"
                r"vägen|põik|tänav|tn\.?|mnt\.?|maantee|tee|ulica|cesta|ulice|sokak|sokağı|caddesi)")
_CAP = r"\p{Lu}[\p{L}'’.\-]*"
_NUM = r"\d{1,5}[A-Za-z]?(?:[-/]\d+)?\b\.?"
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Fl\.?|Floor|#)\s*[\w-]+){0,2}"
# A city or region after the street: capitalized words, "and", "of", "the" between them ("Saint
# Vincent and the Grenadines").
_PLACE_CAP = _CAP + r"(?![\p{L}\d])"  # a whole word, not the letters of a postcode ("N0B 7QN")
_PLACE_GROUP = _PLACE_CAP + r"(?:[ \t]+(?:(?:and|of|the|&)[ \t]+){0,2}" + _PLACE_CAP + r"){0,4}"
# What follows a street on its line: a city, then a region or country after a comma, a state and a
# postcode ("Suite 574, Sharonside, North Macedonia 43359", "Boston, MA 02110").
_TAIL = (r"(?:,?[ \t]*(?:\d{4,5}[ \t]+)?" + _PLACE_GROUP + r"(?:,[ \t]*" + _PLACE_GROUP + r")?)?"
         r"(?:,?[ \t]*\p{Lu}{2}(?![\p{L}\d]))?(?:,?[ \t]*[A-Z0-9]{3,5}(?:[ -]\d{3,4}|[ ][A-Z0-9]{3})?)?")
ADDRESS = regex.compile(
    r"\b\d{1,6}[A-Za-z]?(?:[-/]\d+)?,?[ \t]+(?:" + _CAP + r"[ \t]+){0,4}(?:" + STREET_TYPES + r")\b\.?" + _UNIT + _TAIL
    + r"|\b(?:\d{1,6}[ \t]+)?(?:"  # the shapes below may follow a house number of their own
    + r"(?:" + STREET_TYPES + r"|" + STREET_BEFORE
    + r")(?:[ \t]+(?:de|del|la|di|da|do|dos|du|des|le|les)?[ \t]*" + _CAP + r"){1,4},?[ \t]+" + _NUM
    + r"|(?=[\p{L}\-]+\.?[ \t]+\d)(?:" + _STREET_SUFFIX
    + r"|(?:\p{Lu}\p{L}*-)+(?:Straße|Strasse|Str\.|Gasse|Weg|Allee|Platz|Ring))[ \t]+" + _NUM
    + r"|(?:" + _CAP + r"[ \t]+){1,3}" + STREET_AFTER + r"[ \t]+" + _NUM
    + r"|(?:P\.?[ \t]?O\.?[ \t]?Box|Post(?:fach|box|boks|bus)|Apartado(?:[ \t]+de[ \t]+Correos)?|Casilla|"
      r"Caixa[ \t]+Postal)[ \t]+\d{1,6}\b"
    + r")" + _TAIL,
)

# US military addresses: "PSC 9548, Box 3940", "Unit 2296 Box 4061", "USNS Shah" (then "APO AE 09012").
MILITARY = regex.compile(r"\b(?:(?:PSC|CMR|Unit)[ \t]+\d{1,5},?[ \t]+Box[ \t]+\d{1,5}|(?:USNS|USNV|USS|USCGC)[ \t]+"
                         + _CAP + r"(?:[ \t]+" + _CAP + r")?)")
_NOT_UNIT = r"(?!(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl)\b)"
US_CANDIDATE = regex.compile(r"\b(?:(?:Flat|Studio|Unit|Apt\.?)[ \t]+\w+,[ \t]+)?\d{1,6}[A-Za-z]?,?[ \t]+(?:"
                             + _NOT_UNIT + _CAP + r"[ \t]+){1,3}" + _NOT_UNIT + _CAP)
US_TAIL = regex.compile(_UNIT + _TAIL)

DIGIT_LINE = re.compile(r"^.*\d.*$", re.M)
NEXT_LINE = re.compile(r"\s*.*")

_QUOTE = r"[ \t>?*|\-]*"  # a quoting prefix of a line ("> ", "??? ")
_UNIT_ONLY = r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.?)[ \t]*#?[\w-]+"
_PLACE_WORD = r"(?:\p{Lu}[\p{L}'’.\-]*|\(\p{Lu}\p{L}*\)|de|del|la|le|di|da|do|dos|du|des|am|an|im|upon|on|sur|en|y)"
_POSTCODE = r"(?:\d{3,6}(?:[ -]\d{2,4})?|[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}|\d{4}[ ]?[A-Z]{2}|[A-Z]\d[A-Z][ ]\d[A-Z]\d)"
_PLACES = r"(?:" + _PLACE_WORD + r"|" + _POSTCODE + r")(?:,?[ \t]+(?:" + _PLACE_WORD + r"|" + _POSTCODE + r")){0,5}"
# One line of a postal block: a whole line (at most ~50 characters) of a unit or of city / state /
# postcode / country words; or such words ending in a postcode, with the sentence going on after it
# ("Justinborough, PA 11676? I am in ...").
BLOCK_LINE = regex.compile(
    r"[ \t]*\n(?:[ \t]*\n)?" + _QUOTE + r"(?:(?=[^\n]{1,50}(?:\n|$))(?:" + _UNIT_ONLY + r"|,?[ \t]*" + _PLACES
    + r")[ \t.,]*(?=\n|$)|,?[ \t]*(?:" + _PLACES + r",?[ \t]+)?" + _POSTCODE + r"(?![\p{L}\d]))"
)
# A labelled address: "address: 039 Slovenčeva 51", "my new address is ...": the rest of the line or
# sentence, when it holds a number.
ADDRESS_CUE = regex.compile(r"(?i:\baddress(?:[ \t]+is|:))[ \t]*\n?[ \t]*(?=[^\n]{0,60}\d)"
                            r"(\p{L}?[^\n.?!]{2,80}?|\d[^\n?!]{2,80}?)[ \t.,]*(?=[?!]|\.(?:[ \t]|$)|\n|$)")
UNIT_LINE = regex.compile(r"^" + _QUOTE + r"(" + _UNIT_ONLY + r")[ \t]*$", regex.M)
# The street line above a unit line: words and a house number ("263 Södra Kroksdal 82", "Välja 61").
STREET_LINE = regex.compile(r"(?:^|(?<=\n))" + _QUOTE + r"((?:\d{1,6}[ \t]+)?(?:\p{L}[\p{L}'’.\-]*[ \t]+){1,4}"
                            + r"\d{1,5}[A-Za-z]?\.?)[ \t]*\n$")


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


def unit_lines(text: str) -> list[tuple[int, int, str]]:
    """A line holding only a unit ("Apt. 478"), with the street line above it when that line is words
    and a house number."""
    out = []
    for m in UNIT_LINE.finditer(text):
        start = m.start(1)
        if street := STREET_LINE.search(text, max(m.start() - 80, 0), m.start()):
            start = street.start(1)
        out.append((start, m.end(1), "ADDRESS"))
    return out


def postal_blocks(text: str) -> list[tuple[int, int, str]]:
    """Street addresses (every shape above), each extended over the postal-block lines below it."""
    out = []
    cued = [(m.start(1), m.end(1), "ADDRESS") for m in ADDRESS_CUE.finditer(text)]
    military = [(m.start(), m.end(), "ADDRESS") for m in MILITARY.finditer(text)]
    for a, b, kind in addresses(text) + us_addresses(text) + unit_lines(text) + cued + military:
        for _ in range(4):
            if not (m := BLOCK_LINE.match(text, b)):
                break
            b = m.end()
        out.append((a, b, kind))
    return out
