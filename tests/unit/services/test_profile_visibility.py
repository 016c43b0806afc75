"""Every profile attribute, for every role: a role sees a value only when its clearance
(services/context/auth.py) reaches the attribute's JR/T 0197 data level, in the bytes the
service really answers with (the cached GetCustomerContext context)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from backbone.context.v1 import context_pb2 as pb
from backbone.data_levels import LEVELS
from services.context import responses
from services.context.auth import CLEARANCE, Principal, Role
from services.context.view import Entry
from services.context.watch import _Differ

T = 1_790_000_000_000
ROLES = list(Role)
ATTRIBUTE_VALUES = {"tier": "PRIVATE_BANKING", "segment": "retiree",
                    "preferred_language": "zh-CN", "preferred_channel": "BRANCH",
                    "vulnerable": "true"}
ACCOUNT = "6228 **** **** 3256"


def snapshot(**profile: Any) -> dict[str, Any]:
    base = {
        "first_seen": T, "last_seen": T, "channels": ["APP"],
        "attributes": [{"name": k, "value": v, "level": LEVELS[k], "source": "crm",
                        "updated_at": T} for k, v in ATTRIBUTE_VALUES.items()],
        "products": [{"product_type": "DEBIT_CARD", "account_number": ACCOUNT, "status": "OPEN",
                      "level": 2, "account_level": 3, "source": "core_banking",
                      "updated_at": T}],
        "consents": [{"purpose": "marketing", "channel": "SMS", "status": "withdrawn",
                      "source": "APP", "at": T}],
        "consent_history": [{"purpose": "marketing", "channel": "SMS", "status": "withdrawn",
                             "source": "APP", "at": T},
                            {"purpose": "marketing", "channel": "SMS", "status": "granted",
                             "source": "BRANCH", "at": T - 1}],
        "traits": {"contacts_30d_by_channel": {"APP": 2}, "last_contact_reason": "card_lost",
                   "open_complaints": 1, "last_complaint_at": T,
                   "days_since_last_complaint": 3, "preferred_channel": "APP", "level": 1},
    } | profile
    return {"schema_version": 1, "customer_id": "c:1", "version": 1, "updated_at": T,
            "last_event_ids": [], "identities": [], "profile": base, "timeline": [],
            "contacts": [], "journeys": [], "complaints": [], "surveys": [],
            "counts": {"contacts_7d": 0, "contacts_30d": 0}, "handoffs": []}


def cached_profile(entry: Entry, clearance: int) -> pb.ProfileSummary:
    cached: Any = responses.cached_context(entry, False, pb.TimelineQuery(),
                                           clearance=clearance)
    raw = cached[0] if isinstance(cached, tuple) else cached  # (context, token) or bytes
    return pb.GetCustomerContextResponse.FromString(raw).context.profile


def answer(role: Role, snap: dict[str, Any] | None = None) -> pb.ProfileSummary:
    entry = Entry.parse("c:1", orjson.dumps(snap or snapshot()))
    return cached_profile(entry, Principal("p", role, "token").clearance)


def test_every_role_has_a_clearance() -> None:
    assert set(CLEARANCE) == set(Role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(ATTRIBUTE_VALUES))
def test_attribute_value_only_for_roles_cleared_for_its_level(name: str, role: Role) -> None:
    got = {a.name: a for a in answer(role).attributes}[name]
    assert got.data_level == LEVELS[name]
    if CLEARANCE[role] >= LEVELS[name]:
        assert (got.value, got.masked) == (ATTRIBUTE_VALUES[name], False)
    else:
        assert (got.value, got.masked) == ("", True)


@pytest.mark.parametrize("role", ROLES)
def test_product_type_and_masked_account_number_by_level(role: Role) -> None:
    products = answer(role).products
    assert [p.product_type for p in products] == (
        ["DEBIT_CARD"] if CLEARANCE[role] >= LEVELS["product_type"] else [])
    if CLEARANCE[role] >= LEVELS["account_number"]:
        assert (products[0].account_number, products[0].account_masked) == (ACCOUNT, False)
    elif products:
        assert (products[0].account_number, products[0].account_masked) == ("", True)


@pytest.mark.parametrize("role", ROLES)
def test_consent_state_and_history_by_level(role: Role) -> None:
    prof = answer(role)
    if CLEARANCE[role] >= LEVELS["consent"]:
        assert [(c.purpose, c.channel, c.granted) for c in prof.consents] == [
            ("marketing", "SMS", False)]
        assert [c.granted for c in prof.consent_history] == [False, True]
    else:
        assert not prof.consents and not prof.consent_history and prof.consents_masked


@pytest.mark.parametrize("role", ROLES)
def test_computed_traits_by_level(role: Role) -> None:
    traits = answer(role).traits
    assert CLEARANCE[role] >= LEVELS["traits"]
    assert dict(traits.contacts_30d_by_channel) == {"APP": 2}
    assert traits.preferred_channel == pb.CHANNEL_APP
    assert (traits.last_contact_reason, traits.open_complaints,
            traits.days_since_last_complaint) == ("card_lost", 1, 3)


@pytest.mark.parametrize("role", ROLES)
def test_a_wrong_level_stamp_never_widens_what_a_role_sees(role: Role) -> None:
    snap = snapshot()
    for a in snap["profile"]["attributes"]:
        a["level"] = 1  # a processor bug stamping everything as public
    snap["profile"]["products"][0]["account_level"] = 1
    prof = answer(role, snap)
    vulnerable = {a.name: a for a in prof.attributes}["vulnerable"]
    assert vulnerable.masked is (CLEARANCE[role] < LEVELS["vulnerable"])
    if CLEARANCE[role] < LEVELS["account_number"]:
        assert prof.products[0].account_number == ""


def test_an_uncatalogued_attribute_is_for_the_highest_clearance_only() -> None:
    snap = snapshot()
    snap["profile"]["attributes"].append({"name": "net_worth", "value": "9e6", "level": 1,
                                          "source": "crm", "updated_at": T})
    assert {a.name: a.masked for a in answer(Role.AGENT, snap).attributes}["net_worth"]
    assert not {a.name: a.masked for a in answer(Role.SUPERVISOR, snap).attributes}["net_worth"]


def test_roles_get_their_own_cached_answer() -> None:
    entry = Entry.parse("c:1", orjson.dumps(snapshot()))
    for role in (Role.SUPERVISOR, Role.CHANNEL_SYSTEM):  # the wider answer cached first
        prof = cached_profile(entry, CLEARANCE[role])
        assert {a.name: a.masked for a in prof.attributes}["vulnerable"] is (
            role is Role.CHANNEL_SYSTEM)


def test_old_snapshots_without_profile_data_still_read() -> None:
    snap = snapshot()
    snap["profile"] = {"first_seen": T, "last_seen": T, "channels": ["APP"]}
    prof = answer(Role.AGENT, snap)
    assert not prof.attributes and not prof.products and not prof.HasField("traits")


def _entry(version: int, snap: dict[str, Any]) -> Entry:
    return Entry.parse("c:1", orjson.dumps(snap | {"version": version, "last_event_ids": ["x1"]}))


@pytest.mark.parametrize("role", ROLES)
def test_watch_sends_the_profile_masked_for_the_role_and_only_when_it_changed(
        role: Role) -> None:
    differ = _Differ(set(), lambda e: pb.Freshness(version=e.version), CLEARANCE[role])
    first = _entry(1, snapshot())
    full = differ.snapshot(first)
    vulnerable = {a.name: a for a in full.profile.attributes}["vulnerable"]
    assert vulnerable.masked is (CLEARANCE[role] < LEVELS["vulnerable"])
    granted = snapshot(consents=[{"purpose": "marketing", "channel": "SMS",
                                  "status": "granted", "source": "APP", "at": T + 5}])
    regranted = differ.diff(first, _entry(2, granted), "x1")
    assert [c.granted for c in regranted.profile.consents] == [True]
    assert not regranted.full_snapshot
    unchanged = differ.diff(_entry(2, granted), _entry(3, granted), "x1")
    assert not unchanged.full_snapshot and not unchanged.HasField("profile")
