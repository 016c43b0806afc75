"""Finding C2 numbers (phone, card, ID) inside free text, to hash or mask them (BRIEF §5).

Identifiers a connector knows to be a phone or a card are hashed where they are read; this
module is the net under that: whatever text or property a connector keeps, or a dead
letter stores, goes through :func:`hash_numbers` or :func:`mask_numbers` first.

A *number* is a run of digits in which single spaces or dashes may separate groups
("138 1234 5678", "6228-4804-0256-4890"). It is C2 when it is

- a mainland mobile (``1[3-9]`` + 9 digits, optionally after 86 / 0086),
- a card number (13-19 digits passing the Luhn check),
- a resident ID number (17 digits + a digit or X passing the GB 11643-1999 check), or
- any other unbroken run of 7 or more digits (a landline, an account number...),

except a 10- or 13-digit run starting with 1, which is an epoch timestamp in seconds or
milliseconds (also Asterisk's Uniqueid/Linkedid): no Chinese phone, card or ID has that
shape, and ids and dates would otherwise be destroyed. Groups ("2026-11-27") count only
when the whole is one of the first three, or every group has 3+ digits ("6512 3456"),
so dates and times survive. Over-matching is the safe side: a hashed order number costs
readability, a kept phone number is a breach.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from backbone import identifiers as ids

Kind = Literal["PHONE", "CARD", "ID_NUMBER"]

# Digit groups joined by one space or dash; a trailing X may end an ID number.
_CANDIDATE = re.compile(r"\d(?:[ \-]?\d)*[Xx]?")
# Every rule needs 7 digits: text without 7 (separators allowed) is returned untouched.
_SEVEN = re.compile(r"\d(?:[ \-]?\d){6}")
_SEPARATOR = re.compile(r"[ \-]")
_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = "10X98765432"


@dataclass(frozen=True, slots=True)
class Found:
    """One C2 number in a text: where it is, what it is, and its digits (ASCII)."""

    start: int
    end: int
    kind: Kind
    value: str


def _ascii(digits: str) -> str:
    """Full-width and other Unicode digits as ASCII, so "１３８..." hashes like "138..."."""
    if digits.isascii():
        return digits
    return "".join(str(int(c)) if c.isdecimal() else c for c in digits)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def id_number_valid(value: str) -> bool:
    """GB 11643-1999: 17 digits, then the check character (a digit or X) they imply."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _GB11643_WEIGHTS, strict=True))
    return _GB11643_CHECK[total % 11] == value[17].upper()


def is_mobile(digits: str) -> bool:
    """A mainland mobile number, with or without the 86 / 0086 country prefix."""
    for prefix in ("0086", "86"):
        if len(digits) == len(prefix) + 11 and digits.startswith(prefix):
            digits = digits[len(prefix):]
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789" and \
        digits.isdigit()


def _timestamp_like(digits: str) -> bool:
    return len(digits) in (10, 13) and digits[0] == "1"


def classify(value: str) -> Kind | None:
    """What an unbroken run of digits (or an ID ending in X) is, or None if not C2."""
    if id_number_valid(value):
        return "ID_NUMBER"
    if not value.isdigit() or _timestamp_like(value):
        return None
    if is_mobile(value):  # before Luhn: +86 and a mobile is 13 digits, and may pass it
        return "PHONE"
    if is_card(value):
        return "CARD"
    return "PHONE" if len(value) >= 7 else None


def _grouped(groups: list[str], value: str) -> Kind | None:
    """What digit groups written with separators are, taken as one number."""
    if id_number_valid(value):
        return "ID_NUMBER"
    if not value.isdigit():
        return None
    if is_mobile(value):
        return "PHONE"
    if is_card(value):
        return "CARD"
    if len(value) >= 7 and all(len(g) >= 3 for g in groups):
        return "PHONE"
    return None


def find(text: str) -> Iterator[Found]:
    """Every C2 number in ``text``, left to right, never overlapping."""
    for match in _CANDIDATE.finditer(text):
        chunk = match.group()
        if len(chunk) < 7:
            continue
        start = match.start()
        if chunk[-1] in "Xx":
            # An X belongs to the number only when it ends an 18-character ID.
            value = _ascii(_SEPARATOR.sub("", chunk)).upper()
            if id_number_valid(value):
                yield Found(start, match.end(), "ID_NUMBER", value)
                continue
            chunk = chunk[:-1]
        groups = _SEPARATOR.split(chunk)
        if len(groups) == 1:
            value = _ascii(chunk)
            kind = classify(value)
            if kind is not None:
                yield Found(start, start + len(chunk), kind, value)
            continue
        value = _ascii("".join(groups))
        kind = _grouped(groups, value)
        if kind is not None:
            yield Found(start, start + len(chunk), kind, value)
            continue
        offset = start  # not one number as a whole: its long groups may still be
        for group in groups:
            value = _ascii(group)
            kind = classify(value) if len(group) >= 7 else None
            if kind is not None:
                yield Found(offset, offset + len(group), kind, value)
            offset += len(group) + 1


def contains(text: str) -> bool:
    return _SEVEN.search(text) is not None and next(find(text), None) is not None


def _replace(text: str, replacement: Callable[[Found], str]) -> str:
    if _SEVEN.search(text) is None:
        return text
    found = list(find(text))
    if not found:
        return text
    parts: list[str] = []
    last = 0
    for f in found:
        parts += (text[last:f.start], replacement(f))
        last = f.end
    parts.append(text[last:])
    return "".join(parts)


def token(hasher: ids.Hasher, found: Found) -> str:
    """The keyed hash an identifier of that kind and value gets (``h:<key id>:...``), so
    a number seen in text and the same number as an identifier give the same token."""
    return hasher.hash(found.kind, ids.normalise(found.kind, found.value))


def hash_numbers(text: str, hasher: ids.Hasher) -> str:
    """``text`` with every C2 number replaced by its keyed hash (same number, same token)."""
    return _replace(text, lambda f: token(hasher, f))


def mask(found: Found) -> str:
    """The masked display form: 138****5678, 6228 **** **** 3256, 110***********002X;
    any other number keeps nothing but its length."""
    if found.kind == "CARD":
        return ids.mask_card(found.value)
    if found.kind == "ID_NUMBER":
        return ids.mask_id_number(found.value)
    if is_mobile(found.value):
        return ids.mask_phone(found.value)
    return "*" * len(found.value)


def mask_numbers(text: str) -> str:
    """``text`` with every C2 number replaced by its masked form."""
    return _replace(text, mask)


def mask_bytes(raw: bytes) -> bytes:
    """:func:`mask_numbers` for raw input of any encoding: bytes that are not UTF-8 pass
    through unchanged (surrogate escapes), so only the numbers differ."""
    text = raw.decode("utf-8", "surrogateescape")
    masked = mask_numbers(text)
    return raw if masked is text else masked.encode("utf-8", "surrogateescape")
