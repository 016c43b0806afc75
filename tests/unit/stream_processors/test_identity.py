"""Identity rules: trusted links only, merge protection, blocked values, limits,
provisional keys, event-time-aware routing and erasure."""

from __future__ import annotations

from stream_processors import identity as ident
from stream_processors import resolver, routing
from stream_processors.synthetic import event
from stream_processors.synthetic import ident as idf

T = 1_795_744_800_000


def test_blocked_values_and_unknown_types_never_route_or_link() -> None:
    assert not ident.usable(idf("PHONE", "00000000"))
    assert not ident.usable(idf("COOKIE", "anonymous"))
    assert not ident.usable(idf("ANONYMOUS", "x1"))
    assert not ident.usable(idf("PHONE", "13800138000"))
    assert ident.usable(idf("COOKIE", "ck-1"))


def test_only_trusted_events_create_links() -> None:
    cn = idf("CUSTOMER_NUMBER", "C1", verified=True)
    login = event("digital.login", "APP", T, "s1", identifiers=[cn, idf("DEVICE", "d1")])
    track = event("digital.track", "APP", T, "s1", identifiers=[cn, idf("DEVICE", "d1")])
    assert {o.value["kind"] for o in routing.plan(login)} == {"event", "link"}
    assert {o.value["kind"] for o in routing.plan(track)} == {"event"}


def test_anonymous_event_parks_under_provisional_key_then_merges_on_link() -> None:
    rec = ident.IdentityRecord()
    page = event("digital.page", "WEB", T, "w1", identifiers=[idf("COOKIE", "ck")])
    res = resolver.handle(rec, "COOKIE:ck", {"kind": "route", "event": page, "link": []})
    assert [o.key for o in res.outs] == [ident.provisional_id("COOKIE:ck")]
    res = resolver.handle(rec, "COOKIE:ck", {"kind": "link", "customer_id": "c:C1",
                                             "identifier": idf("COOKIE", "ck"), "at": T + 1})
    merge = [o for o in res.outs if o.value["kind"] == "merge_into"]
    assert [(o.key, o.value["target"]) for o in merge] == [(ident.provisional_id("COOKIE:ck"),
                                                            "c:C1")]
    assert {e["type"] for e in res.identity_events} == {"linked", "merge"}


def test_two_verified_customers_never_merge_through_a_personal_identifier() -> None:
    rec = ident.IdentityRecord()
    assert ident.decide_link(rec, "APP_USER:u1", "c:A", T).kind == "linked"
    decision = ident.decide_link(rec, "APP_USER:u1", "c:B", T + 1)
    assert decision.kind == "conflict" and decision.others == ("c:A",)
    assert rec.customers == ["c:A"]


def test_shared_phone_up_to_its_limit_then_conflict_and_ambiguous_routing() -> None:
    rec = ident.IdentityRecord()
    kinds = [ident.decide_link(rec, "PHONE:p", f"c:{n}", T + i).kind
             for i, n in enumerate("ABCD")]
    assert kinds == ["linked", "shared", "shared", "conflict"]
    assert rec.route_target("PHONE:p", T + 10) == "a:PHONE:p"
    # Before the phone was shared it was personal: late events still reach A.
    assert rec.route_target("PHONE:p", T - 5) == "c:A"


def test_erased_identifier_drops_older_events_and_refuses_older_links() -> None:
    rec = ident.IdentityRecord()
    ident.decide_link(rec, "WECHAT_OPENID:o", "c:A", T)
    ident.erase(rec, "c:A", T + 100)
    late = event("wechat.message", "WECHAT", T + 50, "x", identifiers=[idf("WECHAT_OPENID", "o")])
    assert resolver.handle(rec, "WECHAT_OPENID:o", {"kind": "route", "event": late}).dropped
    assert ident.decide_link(rec, "WECHAT_OPENID:o", "c:A", T + 10).kind == "erased"
    assert ident.decide_link(rec, "WECHAT_OPENID:o", "c:A", T + 200).kind == "linked"


def test_replayed_link_resends_the_merge_but_audits_nothing() -> None:
    rec = ident.IdentityRecord(parked=True)
    cmd = {"kind": "link", "customer_id": "c:C1", "identifier": idf("COOKIE", "ck"), "at": T}
    resolver.handle(rec, "COOKIE:ck", cmd)
    again = resolver.handle(rec, "COOKIE:ck", cmd)
    assert again.identity_events == []
    assert any(o.value["kind"] == "merge_into" for o in again.outs)


def test_customer_ids_are_keyed_surrogates_that_never_show_the_number() -> None:
    a = ident.known_customer_id("C00001234")
    assert a == ident.known_customer_id("C00001234")  # every worker derives the same id
    assert "1234" not in a and a.startswith("c:") and len(a) == 26
    assert "o-secret" not in ident.provisional_id("WECHAT_OPENID:o-secret")
    try:
        ident.use_customer_id_key("another-deployment-key-0123456789")
        assert ident.known_customer_id("C00001234") != a  # not derivable without the key
    finally:
        ident.use_customer_id_key(ident.DEV_CUSTOMER_ID_KEY)


def test_a_claimed_customer_number_routes_only_when_nothing_else_can() -> None:
    claim = idf("CUSTOMER_NUMBER", "C-victim")  # sent by a client: unverified
    device = idf("DEVICE", "attacker-tablet")
    assert ident.primary([claim, device]) == device
    assert ident.primary([claim]) == claim  # e.g. a desk's complaint naming the customer
    assert ident.primary([idf("CUSTOMER_NUMBER", "C1", verified=True), device])["value"] == "C1"
