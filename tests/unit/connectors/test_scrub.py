"""The C2 number detectors (backbone/scrub.py) connectors run over kept text and dead letters:
checksums, shapes, what survives (dates, timestamps, short numbers), hashing and masking."""

from __future__ import annotations

import pytest

from backbone import scrub
from backbone.identifiers import Hasher

HASHER = Hasher(b"unit-test-key", "k1")


@pytest.mark.parametrize(("digits", "valid"), [
    ("4111111111111111", True), ("4111111111111112", False),
    ("6228480402564899", True), ("6228480402564890", False),
    ("4222222222222", True),            # 13 digits
    ("6222021234567890128", True),      # 19 digits
    ("6222021234567890127", False),
    ("4111 1111 1111 1111", False), ("", False),  # digits only
])
def test_luhn(digits, valid):
    assert scrub.luhn_valid(digits) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("11010519491231002X", True),       # GB 11643-1999's own example
    ("11010519491231002x", True),
    ("440524188001010014", True),
    ("110105194912310021", False),      # wrong check character
    ("440524188001010015", False),
    ("4405241880010100X4", False),      # X only as the check character
    ("11010519491231002", False),       # 17 characters
])
def test_gb11643_id_number_checksum(value, valid):
    assert scrub.id_number_valid(value) is valid


@pytest.mark.parametrize(("digits", "mobile"), [
    ("13812345678", True), ("19912345678", True), ("8613812345678", True),
    ("008613812345678", True), ("12812345678", False), ("1381234567", False),
    ("23812345678", False),
])
def test_mainland_mobile(digits, mobile):
    assert scrub.is_mobile(digits) is mobile


@pytest.mark.parametrize(("text", "kinds"), [
    ("call me on 13812345678 please", [("PHONE", "13812345678")]),
    ("+86 138-1234-5678", [("PHONE", "8613812345678")]),
    ("my card 6228 4804 0256 4899 thanks", [("CARD", "6228480402564899")]),
    ("cardNo6228480402564899", [("CARD", "6228480402564899")]),
    ("id 11010519491231002X.", [("ID_NUMBER", "11010519491231002X")]),
    ("landline 021-65123456", [("PHONE", "02165123456")]),
    ("local 6512 3456", [("PHONE", "65123456")]),
    ("account 6222021234567890127", [("PHONE", "6222021234567890127")]),  # 7+ digits
    ("１３８１２３４５６７８", [("PHONE", "13812345678")]),                 # full-width
    ("on 2026-11-27 at 10:00", []),                                         # a date
    ("epoch 1764244800 / 1764244800123, call 1764244800.12", []),           # timestamps
    ("amount 123456, 1 000 000 yuan", []),                                  # short groups
    ("Transfer Failed E-LIMIT", []),
])
def test_find(text, kinds):
    assert [(f.kind, f.value) for f in scrub.find(text)] == kinds


def test_hashing_gives_the_identifier_token_for_the_same_number():
    text = "pay 138 1234 5678 from 6228-4804-0256-4899, ID 11010519491231002x"
    hashed = scrub.hash_numbers(text, HASHER)
    assert hashed.startswith("pay h:k1:")
    for raw in ("13812345678", "1234", "5678", "6228", "4899", "110105"):
        assert raw not in hashed
    assert HASHER.hash("PHONE", "13812345678") in hashed
    assert HASHER.hash("CARD", "6228480402564899") in hashed
    assert HASHER.hash("ID_NUMBER", "11010519491231002X") in hashed
    assert scrub.hash_numbers("+8613812345678", HASHER) == \
        "+" + HASHER.hash("PHONE", "13812345678")
    assert scrub.hash_numbers("no numbers here", HASHER) == "no numbers here"


def test_masking_keeps_only_the_display_form():
    assert scrub.mask_numbers("tel 13812345678, card 6228480402564899, id 11010519491231002X,"
                              " acct 88880001234") == (
        "tel 138****5678, card 6228 **** **** 4899, id 110***********002X, acct ***********")


def test_masking_bytes_keeps_everything_else_byte_for_byte():
    raw = b'{"phone": "13812345678", "bad": "\xff\xfe", "t": 1764244800123}'
    masked = scrub.mask_bytes(raw)
    assert masked == b'{"phone": "138****5678", "bad": "\xff\xfe", "t": 1764244800123}'
    clean = b"nothing to see \xff"
    assert scrub.mask_bytes(clean) is clean
