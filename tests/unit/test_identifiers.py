"""Personal data never leaves a connector raw: keyed hashes, masked display forms."""

from __future__ import annotations

from pydantic import SecretStr

from backbone.identifiers import (
    Hasher,
    is_blocked,
    mask_card,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_phone,
)


def test_hash_is_keyed_tagged_and_normalised() -> None:
    h1 = Hasher(b"key-one", "k1")
    h2 = Hasher(b"key-two", "k2")
    a = h1.hash("PHONE", normalise_phone("+86 138-0013-1234"))
    assert a == h1.hash("PHONE", normalise_phone("13800131234"))
    assert a.startswith("h:k1:") and "13800131234" not in a
    assert h2.hash("PHONE", "13800131234") != a  # a rotated key gives a different, tagged hash
    assert h1.hash("CARD", "13800131234") != a  # the type is part of the hash input


def test_masks_match_bank_display_rules() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_card("6228480402564890018") == "6228 **** **** 0018"
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_name("张三丰") == "张**"


def test_placeholder_values_are_blocked() -> None:
    for value in ("", "0000000", "anonymous", "test-user", "13800138000"):
        assert is_blocked(value), value
    assert not is_blocked("13812341234")


def test_settings_keep_secrets_out_of_repr() -> None:
    from backbone.settings import Settings

    s = Settings(hmac_key=SecretStr("super-secret"))
    assert "super-secret" not in repr(s)
