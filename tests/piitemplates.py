"""A third party's labelled PII set: the sentence templates and fake-people table that Microsoft's
presidio-evaluator 0.3.2 (MIT) ships, filled with seeded values at known spans.

The wheel is fetched with pip (no dependencies, never installed) into ~/.cache/gristmill/ and read with
zipfile: `raw_data/templates.txt` (210 sentences its authors wrote: support chats, song reviews, news,
letters, address blocks), `raw_data/FakeNameGenerator.com_3000.csv` (3,000 people of 30 countries: names,
street addresses, cities, national phone numbers, e-mails), its organisation and nationality lists, and
the phone and address formats of its Faker providers (read from the source with `ast`).

Filling follows presidio-evaluator's own generator: one CSV person per sentence gives the first value of
each placeholder it has (name, street, city, phone...), later ones and the rest come from Faker en_US or
the package's providers (phone and address formats, organisations, IPs, ages); a `\\n` in a template is a
line break; 5% of sentences are lower-cased whole (its `lower_case_ratio`). Card numbers come from Faker,
as there (the CSV's are spoilt by spreadsheet notation).

Labels (ours; presidio-evaluator's own mapping differs for zip codes and titles):
- PERSON: person, name, first/last names of every gender; LOCATION: city, country, state;
- ADDRESS: address, street_name (a CSV street holds its house number), building_number + street_name as
  one value, secondary_address, postcode, and zipcode / state_abbr in a template holding a street;
- the structured types: email, phone_number, credit_card_number, iban, ssn, ip_address.
- Not claimed, left out of both PII and non-PII words (`make_docs` returns their spans, for `score`'s
  host entities): url, us_driver_license, date_of_birth, honorific prefixes, a zip code or state
  abbreviation on its own. Not PII, counted as non-PII words: organization, job, nationality, age, year,
  date_time, day_of_week.

Split by template, fixed before any result was seen: even lines of templates.txt (0-based) are `tune`,
odd lines `heldout`; each template is filled `per_template` times (seed 0 for tune, 1 for held out).
"""

from __future__ import annotations

import ast
import csv
import io
import random
import re
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

from faker import Faker

from tests.piidata import Doc

PACKAGE = "presidio-evaluator==0.3.2"
CACHE = Path.home() / ".cache" / "gristmill" / "presidio-evaluator"
RAW = "presidio_evaluator/data_generator/raw_data/"
PROVIDERS = "presidio_evaluator/data_generator/faker_extensions/providers.py"
SPLITS = {"tune": (0, 0), "heldout": (1, 1)}  # split -> (template index parity, seed)
LOWER_CASE_RATIO = 0.05

PERSON = {"person", "name", "first_name", "last_name", "name_female", "name_male", "first_name_male",
          "first_name_female", "first_name_nonbinary", "last_name_male", "last_name_female"}
LOCATION = {"city", "country", "state"}
ADDRESS = {"address", "street_name", "building_number", "secondary_address", "postcode"}
STREET_PARTS = {"zipcode", "state_abbr"}  # ADDRESS beside a street, UNCLAIMED alone
STRUCTURED = {"email": "EMAIL_ADDRESS", "phone_number": "PHONE_NUMBER", "credit_card_number": "CREDIT_CARD",
              "iban": "IBAN_CODE", "ssn": "US_SSN", "ip_address": "IP_ADDRESS"}
UNCLAIMED = {"url", "us_driver_license", "date_of_birth", "prefix", "prefix_male", "prefix_female"}
NOT_PII = {"organization", "job", "nationality", "nation_woman", "nation_plural", "age", "year", "date_time",
           "day_of_week"}
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# The CSV's columns under the names the templates use (presidio-evaluator's renaming).
COLUMNS = {"Title": "prefix", "GivenName": "first_name", "Surname": "last_name", "StreetAddress": "street_name",
           "City": "city", "State": "state_abbr", "StateFull": "state", "ZipCode": "zipcode",
           "CountryFull": "country", "EmailAddress": "email", "TelephoneNumber": "phone_number",
           "Birthday": "date_of_birth", "Age": "age", "Occupation": "job", "NameSet": "nationality"}


class Unavailable(RuntimeError):
    """The wheel could not be fetched (no package index reachable)."""


def wheel() -> Path:
    """The presidio-evaluator wheel, downloaded once with pip into CACHE."""
    found = sorted(CACHE.glob("presidio_evaluator-0.3.2-*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(CACHE),
                              PACKAGE], capture_output=True, text=True, timeout=300)
        found = sorted(CACHE.glob("presidio_evaluator-0.3.2-*.whl"))
        if not found:
            raise Unavailable(f"pip download {PACKAGE} failed: {(run.stderr or run.stdout).strip()[-300:]}")
    return found[0]


@lru_cache(maxsize=1)
def raw() -> dict:
    """Templates, people, organisations, nationalities and provider formats from the wheel."""
    with zipfile.ZipFile(wheel()) as z:
        read = lambda name: z.read(name).decode("utf-8-sig")  # noqa: E731
        templates = [t.strip() for t in read(RAW + "templates.txt").splitlines()]
        people = list(csv.DictReader(io.StringIO(read(RAW + "FakeNameGenerator.com_3000.csv"))))
        orgs = read(RAW + "companies_and_organizations.csv").splitlines()[1:]
        nations = list(csv.DictReader(io.StringIO(read(RAW + "nationalities.csv"))))
        source = ast.parse(read(PROVIDERS))
    formats = {}
    for cls in (n for n in source.body if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                value = stmt.value.args[0] if isinstance(stmt.value, ast.Call) else stmt.value
                try:
                    formats[(cls.name, stmt.targets[0].id)] = ast.literal_eval(value)
                except ValueError:
                    continue
    return {"templates": [t for t in templates if t], "people": people, "organizations": [o for o in orgs if o],
            "nationalities": nations, "phones": list(formats[("PhoneNumberProviderNew", "formats")]),
            "addresses": list(formats[("AddressProviderNew", "address_formats")]),
            "ages": list(formats[("AgeProvider", "formats")])}


def _record(row: dict, rng: random.Random) -> dict:
    """A CSV person under the template names (presidio-evaluator's `load_fake_person_df`)."""
    rec = {new: row[old] for old, new in COLUMNS.items() if row.get(old)}
    space = " " if rng.random() > 0.5 else ". "
    full = f"{row['GivenName']} {row['Surname']}" if rng.random() > 0.2 else \
        f"{row['GivenName']} {row['MiddleInitial']}{space}{row['Surname']}"
    rec["person"] = rec["name"] = full
    gender = "female" if row["Gender"] == "female" else "male"
    for part, key in (("first_name", "GivenName"), ("prefix", "Title"), ("last_name", "Surname")):
        rec[f"{part}_{gender}"] = row[key]
    return rec


class Filler:
    """Values for placeholders: the sentence's person first, then Faker en_US and the package's lists."""

    def __init__(self, seed: int):
        data = raw()
        self.rng = random.Random(seed)
        self.fk = Faker("en_US")
        self.fk.seed_instance(seed)
        self.people, self.data = data["people"], data

    def value(self, key: str, record: dict) -> str:
        if record.get(key):
            return record.pop(key)
        rng, fk, data = self.rng, self.fk, self.data
        if key == "address":
            fmt = rng.choices(self.data["addresses"], weights=[w for _, w in self.data["addresses"]])[0][0]
            return fk.parse(fmt)
        if key == "phone_number":
            return fk.numerify(rng.choice(data["phones"]))
        if key == "ip_address":
            return fk.ipv4() if rng.random() < 0.8 else fk.ipv6()
        if key == "organization":
            return rng.choice(data["organizations"])
        if key in ("nationality", "nation_woman", "nation_plural"):
            col = {"nationality": "nationality", "nation_woman": "woman", "nation_plural": "plural"}[key]
            return rng.choice(data["nationalities"])[col].title()
        if key == "age":
            fmt = rng.choices(data["ages"], weights=[w for _, w in data["ages"]])[0][0]
            return fk.numerify(fmt)
        if key == "credit_card_number":
            return fk.credit_card_number()
        if key in ("name", "person"):
            return fk.name()
        if key == "us_driver_license":
            return fk.bothify("?#######").upper()
        return str(getattr(fk, key)())


def _label(key: str, street: bool) -> str:
    if key in PERSON:
        return "PERSON"
    if key in LOCATION:
        return "LOCATION"
    if key in ADDRESS or (key in STREET_PARTS and street):
        return "ADDRESS"
    if key in STRUCTURED:
        return STRUCTURED[key]
    if key in NOT_PII:
        return "NOT_PII"
    return "UNCLAIMED"


def _lower(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)  # same length: offsets hold


def fill(template: str, filler: Filler) -> tuple[Doc, list[tuple[int, int]]]:
    """One sentence: the template with values and a span (start, end, label) per claimed placeholder;
    and the spans of the unclaimed ones."""
    template = template.replace("\\n", "\n").replace("\\,", ",")
    keys = PLACEHOLDER.findall(template)
    street = any(k in ("address", "street_name", "building_number") for k in keys)
    record = _record(filler.rng.choice(filler.people), filler.rng)
    out, spans, last = [], [], 0
    for m in PLACEHOLDER.finditer(template):
        out.append(template[last:m.start()])
        at = sum(map(len, out))
        value = filler.value(m.group(1), record)
        out.append(value)
        label = _label(m.group(1), street)
        if spans and label == "ADDRESS" == spans[-1][2] and spans[-1][1] == at - 1 and out[-2] == " ":
            spans[-1] = (spans[-1][0], at + len(value), label)  # "{{building_number}} {{street_name}}": one value
        else:
            spans.append((at, at + len(value), label))
        last = m.end()
    text = "".join(out) + template[last:]
    if filler.rng.random() < LOWER_CASE_RATIO:
        text = _lower(text)
    labelled = [s for s in spans if s[2] not in ("NOT_PII", "UNCLAIMED") and s[1] > s[0]]
    doc = Doc(text, "presidio-templates", "en_US", labelled, text, [(0, 0, len(text))])
    return doc, [(a, b) for a, b, lab in spans if lab == "UNCLAIMED"]


def make_docs(split: str, per_template: int = 10) -> tuple[list[Doc], list[list[tuple[int, int]]]]:
    """Every template of the split filled `per_template` times: the documents, and per document the
    spans of unclaimed values (to pass to `tests.piidata.score` as host entities: left out of the
    non-PII words)."""
    parity, seed = SPLITS[split]
    filler = Filler(seed)
    templates = [t for i, t in enumerate(raw()["templates"]) if i % 2 == parity]
    filled = [fill(t, filler) for _ in range(per_template) for t in templates]
    return [d for d, _ in filled], [u for _, u in filled]

