"""A labeled PII evaluation set: seeded Faker values planted at known spans into real host text.

Host text is the bundled real sample (data/sample: Wikipedia, ABC news, "Botchan", US copyright law,
Python standard library code). Each document is a slice of one host document with a few planted
values: PII (Faker, several locales and formats), secrets (well-formed tokens of public formats) and
hard negatives (versions, ISBNs, UUIDs, timestamps, hashes, git SHAs) that must survive redaction.
A plant is either the bare value between two host sentences or a short frame naming it
("Email: ...", "call ... ext. 12"), so both context and no context are measured.

Two splits that share nothing but the code: `tune` (locales en_US/en_GB/de_DE, news + books + code
hosts, seed 0) chooses rules; `heldout` (fr_FR/it_IT/es_ES/nl_NL/en_AU/en_CA, Wikipedia + legal +
code hosts, seed 1) is only reported.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from faker import Faker

from curate.pii.detect import NAME_TYPES
from curate.pii.recognizers import STRUCTURED_TYPES
from curate.pii.secrets import SECRET_TYPES

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SPLITS = {
    "tune": {"locales": ["en_US", "en_GB", "de_DE"], "hosts": ["news-abc", "books-botchan", "code-stdlib"],
             "seed": 0},
    "heldout": {"locales": ["fr_FR", "it_IT", "es_ES", "nl_NL", "en_AU", "en_CA"],
                "hosts": ["web-wikipedia", "legal-copyright", "code-stdlib"], "seed": 1},
}
REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "it_IT": "IT", "es_ES": "ES",
          "nl_NL": "NL", "en_AU": "AU", "en_CA": "CA"}
PII = [*STRUCTURED_TYPES, *NAME_TYPES]
SECRETS = list(SECRET_TYPES)
NEGATIVES = ["VERSION", "ISBN", "UUID", "TIMESTAMP", "HASH", "GIT_SHA", "DATE"]


@dataclass
class Doc:
    text: str
    host: str
    locale: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, label)
    source: str = ""  # the host slice before planting
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (doc start, source start, length)

    def from_source(self, start: int, end: int) -> list[tuple[int, int]]:
        """Where the source span [start, end) lies in `text` (a plant may have split it)."""
        out = []
        for d, s, n in self.segments:
            a, b = max(start, s), min(end, s + n)
            if a < b:
                out.append((d + a - s, d + b - s))
        return out


def host_texts(host: str) -> list[str]:
    with gzip.open(SAMPLE / f"{host}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def _b64(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _phone(fk: Faker, rng: random.Random, region: str) -> str:
    value = fk.phone_number()
    r = rng.random()
    if r < 0.3:  # an international rendering of a national number, where phonenumbers can parse it
        try:
            num = phonenumbers.parse(value.split("x")[0], region)
            value = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        except phonenumbers.NumberParseException:
            pass
    elif r < 0.45 and "x" not in value:
        value += rng.choice([" ext. ", " x", " ext ", ", ext. "]) + str(rng.randint(1, 9999))
    return value


def _card(fk: Faker, rng: random.Random) -> str:
    digits = fk.credit_card_number(card_type=rng.choice(["visa", "mastercard", "amex", "discover", None]))
    sep = rng.choice(["", " ", "-"])
    if sep and len(digits) == 16:
        return sep.join(digits[i:i + 4] for i in range(0, 16, 4))
    return digits


def _iban(fk: Faker, rng: random.Random) -> str:
    value = fk.iban()
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.4 else value


def _jwt(rng: random.Random) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    header = part({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = part({"sub": str(rng.randint(1, 10**9)), "iat": rng.randint(10**9, 2 * 10**9)})
    return f"{header}.{payload}.{_b64(rng, 43, string.ascii_letters + string.digits + '-_')}"


def _private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
    body = "\n".join(_b64(rng, 64, string.ascii_letters + string.digits + "+/") for _ in range(rng.randint(3, 8)))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def _value(label: str, fk: Faker, us: Faker, rng: random.Random, region: str) -> str:
    hexd = "0123456789abcdef"
    make = {
        "EMAIL_ADDRESS": lambda: rng.choice([fk.email, fk.free_email, fk.company_email, fk.ascii_email])(),
        "PHONE_NUMBER": lambda: _phone(fk, rng, region),
        "IP_ADDRESS": lambda: rng.choice([fk.ipv4_public, fk.ipv4_private, fk.ipv6, fk.ipv6])(),
        "CREDIT_CARD": lambda: _card(fk, rng),
        "IBAN_CODE": lambda: _iban(fk, rng),
        "US_SSN": lambda: us.ssn(),
        "PERSON": lambda: rng.choice([fk.name, fk.name, lambda: f"{fk.first_name()} {fk.last_name()}"])(),
        "LOCATION": lambda: rng.choice([fk.city, fk.city, fk.country])(),
        "ADDRESS": lambda: rng.choice([fk.street_address, fk.address])().replace("\n", ", "),
        "PRIVATE_KEY": lambda: _private_key(rng),
        "CLOUD_KEY": lambda: rng.choice([
            lambda: "AKIA" + _b64(rng, 16, string.ascii_uppercase + "234567"),
            lambda: "AIza" + _b64(rng, 35, string.ascii_letters + string.digits + "-_"),
            lambda: "ASIA" + _b64(rng, 16, string.ascii_uppercase + "234567")])(),
        "API_TOKEN": lambda: rng.choice([
            lambda: "ghp_" + _b64(rng, 36), lambda: "github_pat_" + _b64(rng, 22) + "_" + _b64(rng, 59),
            lambda: f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-{_b64(rng, 24)}",
            lambda: "sk_live_" + _b64(rng, 24), lambda: "glpat-" + _b64(rng, 20),
            lambda: "sk-" + _b64(rng, 48), lambda: "hf_" + _b64(rng, 34),
            lambda: "npm_" + _b64(rng, 36)])(),
        "URL_PASSWORD": lambda: rng.choice(["postgres", "mysql", "https", "mongodb", "redis", "ftp"])
        + f"://{fk.user_name()}:{fk.password(length=rng.randint(8, 16), special_chars=False)}@"
        + f"{fk.domain_name()}:{rng.randint(1000, 9999)}",
        "JWT": lambda: _jwt(rng),
        "VERSION": lambda: rng.choice([f"v{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
                                       f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}",
                                       f"version {rng.randint(1, 5)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}"]),
        "ISBN": lambda: rng.choice([lambda: "ISBN " + us.isbn13(), lambda: "ISBN " + us.isbn10(), us.isbn13])(),
        "UUID": lambda: us.uuid4(),
        "TIMESTAMP": lambda: rng.choice([us.iso8601, lambda: us.date_time().strftime("%Y-%m-%d %H:%M:%S"),
                                         lambda: str(us.unix_time())[:10]])(),
        "HASH": lambda: rng.choice([us.md5, us.sha1, us.sha256])(),
        "GIT_SHA": lambda: "".join(rng.choice(hexd) for _ in range(rng.choice([7, 10, 12, 40]))),
        "DATE": lambda: rng.choice([us.date, lambda: us.date(pattern="%d/%m/%Y"), lambda: us.date(pattern="%B %d, %Y")])(),
    }
    return make[label]()


FRAMES = {  # a short frame per label; {} is the value. The bare value is used as often.
    "EMAIL_ADDRESS": ["Email: {}", "write to {} for details", "<{}>"],
    "PHONE_NUMBER": ["Phone: {}", "call {} today", "Tel. {}", "mobile {}"],
    "IP_ADDRESS": ["from {} at login", "host {}", "client={}"],
    "CREDIT_CARD": ["card number {}", "paid with {}", "Card: {}"],
    "IBAN_CODE": ["IBAN {}", "transfer to {}", "account: {}"],
    "US_SSN": ["SSN {}", "social security number: {}", "ssn={}"],
    "PERSON": ["{} said", "Dear {},", "written by {}", "signed, {}"],
    "LOCATION": ["in {}", "moved to {} last year", "born in {}"],
    "ADDRESS": ["lives at {}", "Address: {}", "ship to {}"],
    "PRIVATE_KEY": ["{}"],
    "CLOUD_KEY": ["aws_access_key_id = {}", "key: {}", "API_KEY={}"],
    "API_TOKEN": ["token = \"{}\"", "Authorization: Bearer {}", "export TOKEN={}"],
    "URL_PASSWORD": ["DATABASE_URL={}", "connect to {}"],
    "JWT": ["Authorization: Bearer {}", "id_token={}"],
    "VERSION": ["released {}", "requires Python {}", "{}"],
    "ISBN": ["{}"],
    "UUID": ["id {}", "request-id: {}"],
    "TIMESTAMP": ["at {}", "modified {}"],
    "HASH": ["sha {}", "checksum {}"],
    "GIT_SHA": ["commit {}", "fixed in {}"],
    "DATE": ["on {}", "dated {}"],
}


def _cut_points(text: str, rng: random.Random, k: int) -> list[int]:
    """k places after a sentence end or line break (else after whitespace), in order."""
    points = [i + 1 for i, c in enumerate(text[:-1]) if c == "\n" or (c == " " and text[i - 1] in ".;:")]
    if len(points) < k:
        points = [i + 1 for i, c in enumerate(text[:-1]) if c.isspace()] or [len(text)]
    return sorted(rng.sample(points, min(k, len(points))))


def make_docs(split: str, n: int = 600, max_chars: int = 2500, pii_share: float = 0.7) -> list[Doc]:
    """`n` documents; a `pii_share` of them carry 1-4 planted PII/secret values, every document
    carries 0-2 hard negatives."""
    cfg = SPLITS[split]
    rng = random.Random(cfg["seed"])
    fakers = {loc: Faker(loc) for loc in cfg["locales"]}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(cfg["seed"] * 1000 + i)
    us = Faker("en_US")
    us.seed_instance(cfg["seed"] * 1000 + 999)
    hosts = {h: [t for t in host_texts(h) if len(t) > 400] for h in cfg["hosts"]}
    docs = []
    for d in range(n):
        host = cfg["hosts"][d % len(cfg["hosts"])]
        src = rng.choice(hosts[host])
        start = rng.randrange(0, max(1, len(src) - max_chars))
        start = src.find(" ", start) + 1 if start else 0
        text = src[start:start + rng.randint(max_chars // 3, max_chars)]
        locale = rng.choice(cfg["locales"])
        labels = [rng.choice(PII + PII + SECRETS) for _ in range(rng.randint(1, 4))] if rng.random() < pii_share else []
        labels += [rng.choice(NEGATIVES) for _ in range(rng.randint(0, 2))]
        rng.shuffle(labels)
        out, spans, segments, last = [], [], [], 0
        for at, label in zip(_cut_points(text, rng, len(labels)), labels):
            value = _value(label, fakers[locale], us, rng, REGION[locale])
            frame = rng.choice(FRAMES[label]) if rng.random() < 0.5 else "{}"
            before, after = frame.split("{}")
            segments.append((sum(map(len, out)), last, at - last))
            out.append(text[last:at] + before)
            pos = sum(map(len, out))
            spans.append((pos, pos + len(value), label))
            out.append(value + after + rng.choice([". ", " ", "\n"]))
            last = at
        segments.append((sum(map(len, out)), last, len(text) - last))
        out.append(text[last:])
        docs.append(Doc("".join(out), host, locale, spans, text, segments))
    return docs


HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "dra", "prof", "sir", "herr", "frau", "mme", "sr", "sra", "dott",
              "ing", "univ", "dipl", "mag", "b", "sc", "eng", "mba", "md", "phd", "jr", "ii", "iii", "iv"}
GROUP = {"LOCATION": "PLACE", "ADDRESS": "PLACE", **{s: "SECRET" for s in SECRETS}}


def _leaked(text: str, a: int, b: int, label: str, covered: bytearray) -> bool:
    """A value leaks when 3+ alphanumeric characters of it in a row survive (honorifics and degree
    letters of a name aside)."""
    run, word_start = 0, a
    for i in range(a, b):
        if text[i].isalnum():
            if run == 0:
                word_start = i
            run = run + 1 if not covered[i] else 0
            if run >= 3 or (label == "PERSON" and run == 2 and (i + 1 == b or not text[i + 1].isalnum())):
                j = i
                while j < b and text[j].isalnum():
                    j += 1
                word = text[word_start:j].lower()
                if not (label == "PERSON" and word in HONORIFICS):
                    return True
        else:
            run = 0
    return False


def score(docs: list[Doc], predicted: list[list[tuple[int, int, str]]],
          host_entities: list[list[tuple[int, int]]] | None = None) -> dict:
    """Per label: values, leaked, recall (1 - leak share); per predicted type: spans, correct,
    precision; non-PII words removed (share of host words and hard negatives touched).

    `host_entities` (per document, spans in `Doc.source`): the host text's own personal data, as a
    reference found on the untouched host slice; host words inside them are neither non-PII nor
    PII and are left out of the non-PII share (counted in `host_entity_words`)."""
    out: dict = {"labels": {}, "predicted": {}, "neg_words": 0, "neg_removed": 0, "hard_neg": 0, "hard_neg_hit": 0,
                 "host_entity_words": 0}
    for k, (doc, pred) in enumerate(zip(docs, predicted)):
        covered = bytearray(len(doc.text) + 1)
        for a, b, _ in pred:
            covered[a:b] = b"\x01" * (b - a)
        pii = [(a, b, lab) for a, b, lab in doc.spans if lab not in NEGATIVES]
        for a, b, lab in pii:
            rec = out["labels"].setdefault(lab, [0, 0])
            rec[0] += 1
            rec[1] += _leaked(doc.text, a, b, lab, covered)
        for a, b, typ in pred:
            rec = out["predicted"].setdefault(typ, [0, 0])
            rec[0] += 1
            rec[1] += any(a < y and b > x and GROUP.get(lab, lab) == GROUP.get(typ, typ) for x, y, lab in pii)
        inside = bytearray(len(doc.text) + 1)
        for a, b, _lab in pii:
            inside[a:b] = b"\x01" * (b - a)
        real = bytearray(len(doc.text) + 1)
        for a, b in (host_entities[k] if host_entities else ()):
            for x, y in doc.from_source(a, b):
                real[x:y] = b"\x01" * (y - x)
        pos = 0
        for word in doc.text.split():
            pos = doc.text.index(word, pos)
            end = pos + len(word)
            if any(real[pos:end]) and not any(inside[pos:end]):
                out["host_entity_words"] += 1
            elif not any(inside[pos:end]):
                out["neg_words"] += 1
                out["neg_removed"] += any(covered[pos:end])
            pos = end
        for a, b, lab in doc.spans:
            if lab in NEGATIVES:
                out["hard_neg"] += 1
                out["hard_neg_hit"] += any(covered[a:b])
    return out
