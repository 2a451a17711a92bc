"""Personal data in message text replaced by placeholders before it is stored or exported.

Four kinds are found, each by a documented pattern (no model, no download, so it runs anywhere):

* ``[EMAIL]``: ``local@domain.tld``.
* ``[CARD]``: 13 to 19 digits, optionally grouped by single spaces or hyphens, starting 2-6
  (the card networks' ranges) and passing the Luhn check.
* ``[PHONE]``: a ``+`` international number (8-15 digits); a North American number written in
  3-3-4 groups, optionally with a leading ``1``; a national number of 10 digits or more with a
  trunk ``0``, written in groups (``020 7946 0958``, ``07700 900123``); or 10-13 bare digits right
  after a cue word such as "call", "phone", "tel", "mobile" or "whatsapp".
* ``[ADDRESS]``: a house number, one to three street-name words and a street type
  (``221B Baker Street``, ``1600 Pennsylvania Ave NW, Apt 4``), with a US state and ZIP code
  when they follow; ``P.O. Box 12``; German-style ``Hauptstraße 5``; French-style ``12 rue de la Paix``.

Deliberately left alone: order and ticket numbers without a cue word, dates, times, versions,
prices, IP addresses, social handles (``@acme``) and postcodes on their own. Names are not
detected: that needs a language model this project does not ship.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
ADDRESS = "[ADDRESS]"
PLACEHOLDERS = (EMAIL, PHONE, CARD, ADDRESS)

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)

_CARD = re.compile(r"(?<![\w.,/+-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w.,/-]?\d)")

# Digits may not touch the match on either side, nor may a '.', '/' or ',' followed by a digit
# (which would make it part of a date, version, price or longer number).
_NOT_AFTER = r"(?<![\w+/.,-])"
_NOT_BEFORE = r"(?![\w/-]|[.,]\d)"
_PHONE = re.compile(
    "|".join(
        (
            # +44 20 7946 0958, +1 (415) 555-0132, +4915112345678
            rf"{_NOT_AFTER}\+\d{{1,3}}(?:[ .-]?\(?\d{{1,4}}\)?){{1,5}}[ .-]?\d{{2,5}}{_NOT_BEFORE}",
            # (415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199, 415 555 0132
            rf"{_NOT_AFTER}(?:1[ .-])?(?:\(\d{{3}}\)\s?|\d{{3}}[ .-])\d{{3}}[ .-]\d{{4}}{_NOT_BEFORE}",
            # 020 7946 0958, 07700 900123, 030-1234567, 06 12 34 56 78
            rf"{_NOT_AFTER}0\d{{1,4}}(?:[ -]\d{{2,8}}){{1,4}}{_NOT_BEFORE}",
        )
    )
)
_PHONE_CUE = re.compile(
    r"(?i)\b(?:call|ring|phone|tel|telephone|mobile|cell|whatsapp|sms|text\s+me|number)\b"
    r"(?:\s+(?:me|us|on|at|is|no\.?|number))*\s*[:#]?\s*(?P<digits>\+?\d{10,13})(?!\w|[.,]\d)"
)

_STREET_TYPES = (
    "(?:street|avenue|road|boulevard|lane|drive|court|way|place|terrace|close|crescent|square|parkway|"
    "highway|circle|trail|row|mews|gardens)\\b"
    "|(?:st|ave|rd|blvd|ln|dr|ct|pl|sq|pkwy|hwy|cir)\\b\\.?"
)
_STOP_WORDS = (
    "the|a|an|on|in|at|to|for|of|my|our|your|their|and|or|by|from|with|down|up|this|that|"
    "per|over|under|times|more|less|than|minutes?|hours?|days?|weeks?|months?|years?|"
    "is|are|was|were|be|been|too|so|very|not|no|it|its|just|all|only|also|feels|seems|looks"
)
_NAME_WORD = rf"(?!(?i:{_STOP_WORDS})\b)[A-Za-z][A-Za-z'.-]*"
_US_STATE_ZIP = r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"
_UNIT = r"(?i:,?\s+(?:apt|apartment|suite|ste|unit|flat|floor|fl)\.?\s*#?\s*[\w-]{1,6}|,?\s*#\s*\d{1,5})?"
_ADDRESS = re.compile(
    "|".join(
        (
            rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_NAME_WORD}\s+){{1,3}}(?i:{_STREET_TYPES})"
            rf"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}{_US_STATE_ZIP}",
            r"(?i:\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b)",
            r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|platz|allee)\s+\d{1,4}[a-z]?\b",
            r"(?i:\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|chemin|allée|impasse|quai)"
            r"(?:\s+(?:de|du|des|la|le|l'|d')?\s*[A-Za-zÀ-ÿ'-]+){1,4})",
        )
    )
)


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text: its placeholder and where it sits."""

    placeholder: str
    start: int
    end: int


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum that payment card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def find_personal_data(text: str) -> list[Finding]:
    """Every e-mail address, card number, phone number and street address in `text`, in order.

    Where two findings overlap the earlier-listed kind wins (cards before phones, so a card number
    is never half a phone number; e-mails before addresses).
    """
    found: list[Finding] = []
    for placeholder, spans in (
        (EMAIL, ((m.start(), m.end()) for m in _EMAIL.finditer(text))),
        (CARD, _card_spans(text)),
        (PHONE, _phone_spans(text)),
        (ADDRESS, ((m.start(), m.end()) for m in _ADDRESS.finditer(text))),
    ):
        for start, end in spans:
            if not any(start < f.end and f.start < end for f in found):
                found.append(Finding(placeholder, start, end))
    return sorted(found, key=lambda f: f.start)


def redact(text: str) -> str:
    """`text` with each piece of personal data replaced by its placeholder (`[EMAIL]`, `[PHONE]`, ...)."""
    findings = find_personal_data(text)
    if not findings:
        return text
    parts = []
    at = 0
    for f in findings:
        parts.append(text[at : f.start])
        parts.append(f.placeholder)
        at = f.end
    parts.append(text[at:])
    return "".join(parts)


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        separators = set(re.findall(r"[ -]", m.group()))
        if 13 <= len(digits) <= 19 and len(separators) <= 1 and luhn_valid(digits):
            spans.append((m.start(), m.end()))
    return spans


def _phone_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _PHONE.finditer(text):
        digits = sum(ch.isdigit() for ch in m.group())
        # National numbers with a trunk 0 have at least 10 digits; shorter ones are tags and codes.
        if (10 if m.group().startswith("0") else 8) <= digits <= 15:
            spans.append((m.start(), m.end()))
    spans.extend((m.start("digits"), m.end("digits")) for m in _PHONE_CUE.finditer(text))
    return spans
