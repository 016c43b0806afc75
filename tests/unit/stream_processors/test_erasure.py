"""Erasures are read back from the erasure log: a rebuild from empty state (no tables) that
reads the log in any order keeps the erased customer and identifier deleted, and the
erasure time is the server's receive time."""

from __future__ import annotations

from typing import Any

from stream_processors import customer as cr
from stream_processors import erasures, resolver, routing
from stream_processors import identity as ident
from stream_processors.identity import known_customer_id as C
from stream_processors.identity import provisional_id as P
from stream_processors.synthetic import event
from tests.unit.stream_processors import reference as ref
from tests.unit.stream_processors.engine import Engine

ERASED_EVENTS = set(ref.ids(ref.E_BIND, ref.E_MSG, ref.E_LATE_MSG, ref.F_SUB, ref.F_MSG))
ERASED_IDS = {"WECHAT_OPENID:o-e", "WECHAT_OPENID:o-f", "CUSTOMER_NUMBER:C500"}


def _log_of_first_run() -> tuple[Engine, erasures.ErasureLog]:
    first = Engine(erased=erasures.ErasureLog())
    for phase in ref.PHASES:
        first.feed(phase)
    log = erasures.ErasureLog()
    for key, value in first.erasure_log.items():
        log.note(key, value)
    return first, log


def _adversarial_order() -> list[dict[str, Any]]:
    """A valid rebuild order (partitions are read independently): the erasure requests
    before everything else the log holds."""
    log = [e for phase in ref.PHASES for e in phase]
    first = [ref.E_ERASE, ref.F_UNSUB]
    return first + [e for e in log if e not in first]


def _resurrected(engine: Engine) -> list[str]:
    problems = []
    for key, snap in engine.context.items():
        if snap is None:
            continue
        if key in (C("C500"), P("WECHAT_OPENID:o-f"), P("WECHAT_OPENID:o-e")):
            problems.append(f"context {key}")
        if ERASED_EVENTS & {e["event_id"] for e in snap["timeline"]}:
            problems.append(f"timeline of {key}")
        if {f"{i['type']}:{i['value']}" for i in snap["identities"]} & ERASED_IDS:
            problems.append(f"identities of {key}")
    for rec in engine.identity_events:
        if rec["type"] in ("linked", "shared", "merge", "conflict") and (
                rec["identifier"] in ERASED_IDS or rec.get("customer_id") == C("C500")):
            problems.append(f"{rec['type']} {rec['identifier']}")
    for key in ERASED_IDS:
        if (engine.identities.get(key) or {}).get("c"):
            problems.append(f"identity {key} linked")
    return problems


def test_the_log_names_erased_customers_and_hashed_identifiers() -> None:
    first, _ = _log_of_first_run()
    assert set(first.erasure_log) == {C("C500"), P("WECHAT_OPENID:o-f")} | {
        ident.erased_identifier_id(k) for k in ERASED_IDS}
    # the log kept forever never holds an erased identifier's value
    assert not any("o-e" in k or "C500" in k for k in first.erasure_log)
    # server receive time: the synthetic connector stamps ingested_at 50 ms after the event
    assert first.erasure_log[C("C500")]["erased_at"] == ref.E_ERASE["ingested_at"]


def test_rebuild_from_empty_state_keeps_erasures_in_any_order() -> None:
    _, log = _log_of_first_run()
    rebuild = Engine(erased=log)
    rebuild.feed(_adversarial_order())
    assert _resurrected(rebuild) == []
    assert rebuild.context[C("C100")] is not None  # the rest was rebuilt


class Amnesic(erasures.ErasureLog):
    """An erasure log that never learns anything."""

    def note(self, key: str, value: object) -> None:
        return None


def test_without_the_log_the_same_rebuild_resurrects_the_identity() -> None:
    """What the log prevents (the behaviour before it was read back: a worker only knew
    the erasures it had processed itself, and the adversarial order has none yet)."""
    rebuild = Engine(erased=Amnesic())
    rebuild.feed(_adversarial_order())
    assert "identity WECHAT_OPENID:o-e linked" in _resurrected(rebuild)


def test_screen_drops_events_and_links_at_or_before_the_erasure_only() -> None:
    log = erasures.ErasureLog()
    log.note(C("C1"), {"erased_at": 1_000})
    key, value = erasures.identifier_record("PHONE:h:k1:p", C("C1"), 2_000, "e1")
    log.note(key.decode(), value)
    cn = [{"type": "CUSTOMER_NUMBER", "value": "C1", "verified": True}]
    before = event("digital.login", "APP", 900, "app-1", identifiers=[
        *cn, {"type": "PHONE", "value": "h:k1:p", "verified": True}])
    kept, dropped = routing.screen(routing.plan(before), log)
    assert kept == [] and dropped == 3  # the event and both links
    after = event("digital.login", "APP", 1_500, "app-1", identifiers=cn + [
        {"type": "PHONE", "value": "h:k1:p", "verified": True}])
    kept, _ = routing.screen(routing.plan(after), log)
    # the customer came back after its erasure, but the event carries a phone erased
    # later than it happened: the event is dropped, only the customer number links
    assert [(o.stage, o.key) for o in kept] == [(routing.IDENTITY, "CUSTOMER_NUMBER:C1")]
    later = event("digital.login", "APP", 2_500, "app-1", identifiers=cn + [
        {"type": "PHONE", "value": "h:k1:p", "verified": True}])
    assert routing.screen(routing.plan(later), log)[1] == 0
    erase = event("customer.erasure_requested", "APP", 500, "e-1", identifiers=cn)
    assert routing.screen(routing.plan(erase), log)[1] == 0  # removals always pass


def test_resolver_consults_the_log_for_the_identifier_and_the_target() -> None:
    log = erasures.ErasureLog()
    key, value = erasures.identifier_record("WECHAT_OPENID:o", None, 1_000, "e1")
    log.note(key.decode(), value)
    msg = event("wechat.message", "WECHAT", 900, "wx-1",
                identifiers=[{"type": "WECHAT_OPENID", "value": "o"}])
    route = {"kind": "route", "event": msg, "action": "event", "link": []}
    res = resolver.handle(ident.IdentityRecord(), "WECHAT_OPENID:o", route, log)
    assert res.dropped == "identifier erased" and res.outs == []
    link = {"kind": "link", "customer_id": C("C1"), "at": 900, "identifier": {}}
    record = ident.IdentityRecord()
    assert resolver.handle(record, "WECHAT_OPENID:o", link, log).dropped == "erased"
    assert record.customers == []
    log.note(C("C2"), {"erased_at": 1_000})
    record = ident.IdentityRecord(customers=[C("C2")], since={C("C2"): 0})
    res = resolver.handle(record, "PHONE:x", dict(route, event=dict(msg, identifiers=[])), log)
    assert res.dropped == "customer erased"


def test_erasure_time_is_the_server_receive_time_not_the_clients() -> None:
    cn = [{"type": "CUSTOMER_NUMBER", "value": "C1", "verified": True}]
    # a client clock 10 minutes fast must not delete what happens in those 10 minutes
    erase = event("customer.erasure_requested", "APP", 600_000, "e-1", identifiers=cn,
                  ingested_at=1_000)
    applied = cr.apply(C("C1"), None, {"kind": "erase", "event": erase}, cr.Bounds())
    assert applied.erasure is not None and applied.erasure["erased_at"] == 1_000
    later = event("digital.page", "APP", 2_000, "app-1", identifiers=cn)
    assert cr.apply(C("C1"), applied.state, {"kind": "event", "event": later, "identities": []},
                    cr.Bounds()).changed


def test_a_known_customers_unsubscribed_openid_stays_forgotten_on_rebuild() -> None:
    cn = [{"type": "CUSTOMER_NUMBER", "value": "C9", "verified": True}]
    openid = [{"type": "WECHAT_OPENID", "value": "o-9", "verified": False}]
    bind = event("wechat.bind", "WECHAT", 1_000, "wx-9", identifiers=openid + cn)
    page = event("digital.page", "APP", 1_500, "app-9", identifiers=cn)
    unsub = event("wechat.unsubscribe", "WECHAT", 3_000, "wx-9", identifiers=openid + cn)
    first = Engine(erased=erasures.ErasureLog())
    first.feed([bind, page, unsub])
    assert [e["event_id"] for e in first.context[C("C9")]["timeline"]] == [page["event_id"]]
    log = erasures.ErasureLog()
    for key, value in first.erasure_log.items():
        log.note(key, value)
    assert ident.erased_identifier_id("WECHAT_OPENID:o-9") in first.erasure_log
    rebuild = Engine(erased=log)
    rebuild.feed([unsub, page, bind])  # the forget first, the bind last
    assert [e["event_id"] for e in rebuild.context[C("C9")]["timeline"]] == [page["event_id"]]
    assert not (rebuild.identities.get("WECHAT_OPENID:o-9") or {}).get("c")
