"""Profile feed rules: CDC changes of the systems of record reach the customer through the
identity graph, in source order, once, and deletes and erasures remove what they should."""

from __future__ import annotations

import asyncio
import io
import json
import random
from typing import Any

import fastavro
import pytest

from backbone import serde
from backbone import snapshot as contract
from connectors.journeys import make_customer
from connectors.profile_feed import ProfileFeed
from stream_processors import codec, erasures, profile
from stream_processors import identity as ident
from stream_processors.codec import Codecs, dumps
from stream_processors.outputs import Source
from stream_processors.stages.profile import ProfileStage
from stream_processors.topology import IDENTITY_COMMANDS
from tests.unit.stream_processors.engine import Engine, MemorySink

NUMBER = "C00000042"
CID = ident.known_customer_id(NUMBER)
T0 = 1_790_000_000_000


def change(table: str, op: str, row: dict[str, Any], *, lsn: int, ts: int | None = None,
           name: str = "crm") -> dict[str, Any]:
    """A decoded Debezium envelope as the profile stage reads it."""
    return {"before": row if op == "d" else None, "after": None if op == "d" else row,
            "source": {"version": "2.7", "connector": "postgresql", "name": name,
                       "ts_ms": ts if ts is not None else T0 + lsn, "db": name, "table": table,
                       "lsn": lsn, "txId": None, "snapshot": None},
            "op": op, "ts_ms": T0 + lsn + 5}


def customer_row(**attrs: Any) -> dict[str, Any]:
    return {"customer_number": NUMBER, "tier": None, "segment": None, "preferred_language": None,
            "preferred_channel": None, "vulnerable": None} | attrs


def consent_row(purpose: str, status: str, channel: str = "SMS", via: str = "APP") -> dict[str, Any]:
    return {"consent_id": f"{purpose}-{channel}", "customer_number": NUMBER, "purpose": purpose,
            "channel": channel, "status": status, "captured_via": via}


def account_row(account_id: str, product: str, number: str | None, status: str = "OPEN"
                ) -> dict[str, Any]:
    return {"account_id": account_id, "customer_number": NUMBER, "product_type": product,
            "account_number_masked": number, "status": status}


def run(engine: Engine, *changes: dict[str, Any]) -> None:
    """Through the worker's own resolver and customer stages (the engine's sink)."""
    async def go() -> None:
        for c in changes:
            out = profile.command(c, NUMBER.encode())
            await engine.sink.emit(IDENTITY_COMMANDS, out.key.encode(), dumps(out.value))
        await engine._drain()
    asyncio.run(go())


def context(engine: Engine) -> contract.CustomerContext:
    snap = engine.context[CID]
    return contract.CustomerContext.model_validate(snap)  # the contract the service reads


def attributes(engine: Engine) -> dict[str, str]:
    return {a.name: a.value for a in context(engine).profile.attributes}


def test_a_crm_row_reaches_the_customer_of_its_number_with_levels() -> None:
    engine = Engine()
    run(engine, change("customers", "r", customer_row(tier="PRIVATE_BANKING", segment="retiree",
                                                      preferred_language="zh-CN",
                                                      vulnerable=True), lsn=10))
    snap = context(engine)
    assert {a.name: (a.value, a.level) for a in snap.profile.attributes} == {
        "tier": ("PRIVATE_BANKING", 2), "segment": ("retiree", 2),
        "preferred_language": ("zh-CN", 1), "vulnerable": ("true", 3)}
    assert ["CUSTOMER_NUMBER", NUMBER] in [[i.type, i.value] for i in snap.identities]


def test_an_older_change_arriving_late_never_overwrites_a_newer_one() -> None:
    engine = Engine()
    run(engine, change("customers", "u", customer_row(tier="VIP"), lsn=20),
        change("customers", "u", customer_row(tier="MASS"), lsn=15))
    assert attributes(engine)["tier"] == "VIP"


def test_a_duplicate_change_changes_nothing() -> None:
    engine = Engine()
    first = change("consents", "c", consent_row("marketing", "granted"), lsn=30)
    run(engine, first)
    version = engine.customers[CID]["v"]
    run(engine, first, first)
    assert engine.customers[CID]["v"] == version
    assert len(context(engine).profile.consent_history) == 1


def test_ordering_is_per_row_not_across_rows_or_systems() -> None:
    engine = Engine()
    run(engine, change("customers", "u", customer_row(tier="VIP"), lsn=500),
        # another system's log has its own positions: a lower LSN there is not stale
        change("accounts", "c", account_row("a1", "DEBIT_CARD", "6228 **** **** 3256"),
               lsn=7, name="core_banking"))
    assert [p.product_type for p in context(engine).profile.products] == ["DEBIT_CARD"]


def test_position_falls_back_to_commit_time_without_an_lsn() -> None:
    engine = Engine()
    newer = change("customers", "u", customer_row(segment="b"), lsn=0, ts=T0 + 2000)
    older = change("customers", "u", customer_row(segment="a"), lsn=0, ts=T0 + 1000)
    newer["source"]["lsn"] = older["source"]["lsn"] = None
    run(engine, newer, older)
    assert attributes(engine)["segment"] == "b"


def test_deletes_remove_rows_and_stay_deleted_against_older_replays() -> None:
    engine = Engine()
    acct = account_row("a1", "CREDIT_CARD", "6225 **** **** 0001")
    run(engine, change("accounts", "c", acct, lsn=1, name="core_banking"),
        change("customers", "c", customer_row(tier="VIP"), lsn=2),
        change("consents", "c", consent_row("marketing", "granted"), lsn=3))
    run(engine, change("accounts", "d", acct, lsn=4, name="core_banking"),
        change("customers", "d", customer_row(tier="VIP"), lsn=5),
        change("consents", "d", consent_row("marketing", "granted"), lsn=6))
    # a replay of the creates (older positions) resurrects nothing
    run(engine, change("accounts", "c", acct, lsn=1, name="core_banking"),
        change("customers", "c", customer_row(tier="VIP"), lsn=2))
    snap = context(engine).profile
    assert snap.products == [] and snap.attributes == [] and snap.consents == []
    assert [(h.status, h.purpose) for h in snap.consent_history] == [
        ("withdrawn", "marketing"), ("granted", "marketing")]


def test_closed_products_are_not_held_and_full_numbers_are_masked() -> None:
    engine = Engine()
    run(engine, change("accounts", "c", account_row("a1", "DEBIT_CARD", "6228480012343256"),
                       lsn=1, name="core_banking"),
        change("accounts", "c", account_row("a2", "MORTGAGE", None, "CLOSED"), lsn=2,
               name="core_banking"))
    products = context(engine).profile.products
    assert [(p.product_type, p.account_number) for p in products] == [
        ("DEBIT_CARD", "6228 **** **** 3256")]


def test_consent_withdrawal_is_the_current_state_with_history() -> None:
    engine = Engine()
    run(engine, change("consents", "c", consent_row("marketing", "granted", via="BRANCH"), lsn=1),
        change("consents", "c", consent_row("service", "granted", "ALL"), lsn=2),
        change("consents", "u", consent_row("marketing", "withdrawn", via="APP"), lsn=3))
    prof = context(engine).profile
    assert [(c.purpose, c.channel, c.status, c.source) for c in prof.consents] == [
        ("marketing", "SMS", "withdrawn", "APP"), ("service", "ALL", "granted", "APP")]
    assert [h.status for h in prof.consent_history] == ["withdrawn", "granted", "granted"]


def test_erasure_removes_profile_and_consent_and_older_changes_stay_out() -> None:
    engine = Engine()
    grant = change("consents", "c", consent_row("marketing", "granted"), lsn=1)
    run(engine, grant, change("customers", "c", customer_row(tier="VIP"), lsn=2))
    engine.feed([{
        "event_id": "erase-1", "event_type": "customer.erasure_requested", "channel": "APP",
        "occurred_at": T0 + 100, "ingested_at": T0 + 100, "interaction_id": "x1",
        "identifiers": [{"type": "CUSTOMER_NUMBER", "value": NUMBER, "masked": None,
                         "verified": True}], "attributes": {}, "payload": None}])
    assert engine.context[CID] is None
    assert "sor" not in engine.customers[CID]
    run(engine, grant)  # a replay from before the erasure
    assert "sor" not in engine.customers[CID]


@pytest.mark.parametrize("bad", [
    change("orders", "c", {"order_id": "o1", "customer_number": NUMBER}, lsn=1),
    change("customers", "u", customer_row(), lsn=1) | {"after": None},
    change("consents", "c", consent_row("marketing", "maybe"), lsn=1),
    change("customers", "c", customer_row() | {"customer_number": "0000000"}, lsn=1),
])
def test_malformed_changes_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        profile.command(bad, None)


def test_a_change_keyed_by_another_number_is_refused() -> None:
    with pytest.raises(ValueError):
        profile.command(change("customers", "c", customer_row(), lsn=1), b"C99999999")


def test_traits_follow_the_log() -> None:
    state = {"now": T0 + 40 * profile.DAY_MS, "contacts": {
        "a": {"ch": "PHONE", "start": T0 + 39 * profile.DAY_MS, "end": 0, "rs": "card_lost"},
        "b": {"ch": "APP", "start": T0 + 38 * profile.DAY_MS, "end": 0, "rs": "transfer"},
        "c": {"ch": "APP", "start": T0 + 30 * profile.DAY_MS, "end": 0},
        "old": {"ch": "BRANCH", "start": T0, "end": 0}},
        "complaints": {"k1": {"st": "opened", "opened": T0 + 35 * profile.DAY_MS},
                       "k0": {"st": "closed", "opened": T0 + 1}}}
    t = profile.traits(state)
    assert t["contacts_30d_by_channel"] == {"APP": 2, "PHONE": 1}
    assert t["preferred_channel"] == "APP"
    assert t["last_contact_reason"] == "card_lost"
    assert t["open_complaints"] == 1
    assert t["days_since_last_complaint"] == 5


def test_the_simulators_cdc_envelopes_fit_the_contract_and_the_rules(
        unit_settings: Any) -> None:



    feed = ProfileFeed(unit_settings, seed=3)
    customer = make_customer(random.Random(3), 1)
    changes = feed.introduce(customer) + [feed.update(customer.number) for _ in range(30)]
    schema = fastavro.parse_schema(json.loads(serde.latest_schema(serde.PROFILE_CHANGE)))
    ops = set()
    for change in changes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, change)
        buf.seek(0)
        decoded = fastavro.schemaless_reader(buf, schema)
        out = profile.command(decoded, customer.number.encode())  # the stage's own rule
        assert out.key == f"CUSTOMER_NUMBER:{customer.number}"
        ops.add(decoded["op"])
        row = decoded["after"] or decoded["before"]
        assert customer.card not in json.dumps(row)  # account numbers leave masked
    assert ops >= {"r", "u"}


def test_the_stage_decodes_avro_and_dead_letters_poison(unit_settings: Any,
                                                        monkeypatch: Any) -> None:
    from backbone import serde

    erased = erasures.ErasureLog()
    erased.ready.set()
    sink = MemorySink()
    stage = ProfileStage(Codecs(unit_settings), erased, sink)
    topic = unit_settings.topic("profile-changes")
    good = change("customers", "c", customer_row(tier="VIP"), lsn=1)
    good["after"] = {"-type": "bank.ccb.v1.CustomerRow", **good["after"]}
    client = serde.registry_client(unit_settings)  # one mock registry for both sides
    monkeypatch.setattr(codec, "registry_client", lambda *_a, **_k: client)
    value = serde.AvroSerde(client, serde.PROFILE_CHANGE).serialize(topic, good)

    async def go() -> tuple[list[Any], list[Any], list[Any]]:
        ok = await stage.plan(Source(topic, 0, 1, value), NUMBER.encode())
        poison = await stage.plan(Source(topic, 0, 2, b"not avro"), NUMBER.encode())
        wrong_key = await stage.plan(Source(topic, 0, 3, value), b"C1")
        return ok, poison, wrong_key
    ok, poison, wrong_key = asyncio.run(go())
    assert [o.key for o in ok] == [f"CUSTOMER_NUMBER:{NUMBER}"]
    assert ok[0].value["change"]["row"] == {"tier": "VIP"}
    assert poison == [] and wrong_key == []
    assert [stage for stage, _ in sink.dead_letters] == ["profile", "profile"]
