"""The shared connector rules: trust, de-identification, timestamps and retry dedupe."""

from __future__ import annotations

import asyncio

import pytest

from backbone.errors import ValidationError
from backbone.models import IdentifierType
from connectors.base import Pipeline
from connectors.clock import check_window, parse_ms
from connectors.dedupe import RecentIds


@pytest.fixture
def pipeline(unit_settings) -> Pipeline:
    return Pipeline(unit_settings, "test")


def test_verified_flag_survives_only_on_trusted_event_types(pipeline):
    ident = pipeline.opaque(IdentifierType.CUSTOMER_NUMBER, "C1", verified=True)
    common = {"source_system": "s", "source_event_id": "1", "occurred_at": 1,
              "interaction_id": "i", "identifiers": [ident]}
    assert pipeline.event(event_type="digital.login", **common).identifiers[0].verified
    assert not pipeline.event(event_type="digital.track", **common).identifiers[0].verified


def test_c2_values_are_hashed_with_key_id_and_masked(pipeline, unit_settings):
    phone = pipeline.phone("+86 138 1234 5678")
    card = pipeline.card("6228-4800-1234-5678")
    idn = pipeline.id_number("11010519491231002x")
    assert phone.value.startswith(f"h:{unit_settings.hmac_key_id}:")
    assert (phone.masked, card.masked, idn.masked) == (
        "138****5678", "6228 **** **** 5678", "110***********002X")
    assert pipeline.phone("13812345678").value == phone.value  # normalised before hashing


def test_blocked_and_placeholder_values_never_become_identifiers(pipeline):
    assert pipeline.phone("00000000000") is None
    assert pipeline.opaque(IdentifierType.COOKIE, "anonymous") is None
    assert pipeline.opaque(IdentifierType.COOKIE, {"nested": 1}) is None
    assert pipeline.card("1234") is None


def test_event_ids_are_deterministic(pipeline):
    kw = {"event_type": "digital.track", "source_system": "s", "source_event_id": "m1",
          "occurred_at": 1, "interaction_id": "i"}
    assert pipeline.event(**kw).event_id == pipeline.event(**kw).event_id


@pytest.mark.parametrize(("value", "ms"), [
    ("2026-01-01T00:00:00Z", 1767225600000), ("2026-01-01T08:00:00+08:00", 1767225600000),
    (1767225600, 1767225600000), (1767225600000, 1767225600000), ("1767225600.5", 1767225600500),
])
def test_timestamp_formats(value, ms):
    assert parse_ms(value, "t") == ms


@pytest.mark.parametrize("value", [None, True, "nope", float("inf"), "9" * 400, [1]])
def test_bad_timestamps(value):
    with pytest.raises(ValidationError):
        parse_ms(value, "t")


def test_time_window():
    now = 1_000_000_000_000
    assert check_window(now + 1000, "t", max_age_s=10, max_skew_s=5, now=now) == now + 1000
    with pytest.raises(ValidationError, match="future"):
        check_window(now + 6000, "t", max_age_s=10, max_skew_s=5, now=now)
    with pytest.raises(ValidationError, match="old"):
        check_window(now - 11000, "t", max_age_s=10, max_skew_s=5, now=now)


async def test_recent_ids_run_a_retry_once_and_forget_failures():
    recent: RecentIds[int] = RecentIds(capacity=2)
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    first, second = await asyncio.gather(recent.once("a", work), recent.once("a", work))
    assert first == (1, False) and second == (1, True) and calls == 1

    async def fail() -> int:
        raise RuntimeError("kafka down")

    with pytest.raises(RuntimeError):
        await recent.once("b", fail)
    assert "b" not in recent
    await recent.once("c", work)
    await recent.once("d", work)
    assert len(recent) == 2 and "a" not in recent  # bounded
