"""The profile feed end to end, as real processes on the real broker: the simulator's CDC
producer (confluent-kafka) → ccb.profile-changes → faust worker → ccb.customer-context →
context service → GetCustomerContext, per role; consent withdrawal, stale and duplicate
changes, traits from the interactions, erasure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from backbone import models
from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.data_levels import LEVELS
from connectors.profile_feed import ProfileFeed
from services.context.auth import CLEARANCE, Role
from stream_processors.synthetic import event, ident
from tests.integration.stream_processors import harness as h

NUMBER = "C70000001"
TOKENS = {Role.CHANNEL_SYSTEM: "dev-channel-token", Role.AGENT: "dev-agent-token",
          Role.SUPERVISOR: "dev-supervisor-token", Role.AUDITOR: "dev-auditor-token"}
LOOKUP = pb.CustomerLookup(identifier=pb.IdentifierKey(type="CUSTOMER_NUMBER", value=NUMBER))


def read(api: pb_grpc.CustomerContextServiceStub, role: Role = Role.AGENT
         ) -> pb.CustomerContext | None:
    try:
        return api.GetCustomerContext(
            pb.GetCustomerContextRequest(lookup=LOOKUP, purpose="profile_test"),
            metadata=(("authorization", f"Bearer {TOKENS[role]}"),), timeout=5).context
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
            return None
        raise


def until(api: pb_grpc.CustomerContextServiceStub, pred: Callable[[pb.CustomerContext], bool],
          timeout_s: float) -> tuple[pb.CustomerContext, float]:
    """The first context satisfying ``pred`` and how long it took to appear."""
    started = time.monotonic()
    while True:
        ctx = read(api)
        if ctx is not None and pred(ctx):
            return ctx, time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s}s: {ctx}"
        time.sleep(0.1)


def marketing(ctx: pb.CustomerContext) -> bool | None:
    return next((c.granted for c in ctx.profile.consents if c.purpose == "marketing"), None)


def attrs(ctx: pb.CustomerContext) -> dict[str, Any]:
    return {a.name: a for a in ctx.profile.attributes}


def test_profile_consent_and_traits_reach_every_role_as_its_level_allows(running: Any) -> None:
    settings, api = running
    feed = ProfileFeed(settings, seed=5)
    customer = {"customer_number": NUMBER, "tier": "PRIVATE_BANKING", "segment": "retiree",
                "preferred_language": "en", "preferred_channel": "BRANCH", "vulnerable": True}
    grant = feed.envelope("consents", "r", None, feed._consent(NUMBER, "marketing", "SMS",
                                                                "granted", "BRANCH"))
    account = {"account_id": "a-1", "customer_number": NUMBER, "product_type": "DEBIT_CARD",
               "account_number_masked": "6228480012343256", "status": "OPEN"}
    for change in (feed.envelope("customers", "r", None, customer), grant,
                   feed.envelope("accounts", "r", None, account)):
        feed.send(change)
    assert feed.flush() == 0
    # The customer also talks to the bank: the traits come from these.
    now = int(time.time() * 1000)
    number = ident("CUSTOMER_NUMBER", NUMBER, verified=True)
    h.produce(settings, [
        event("digital.login", "APP", now - 60_000, "app-s1",
              identifiers=[number, ident("APP_USER", "u-7001")], reason="card_lost"),
        event("complaint.opened", "PHONE", now - 30_000, "cmp-1", identifiers=[number],
              payload=models.ComplaintPayload(complaint_id="K1", status="opened",
                                              category="fees"))])

    ctx, _ = until(api, lambda c: marketing(c) is True and len(c.profile.products) == 1
                   and c.profile.traits.open_complaints == 1, 120)
    assert attrs(ctx)["tier"].value == "PRIVATE_BANKING"
    assert ctx.profile.products[0].account_number == "6228 **** **** 3256"  # masked at entry
    assert ctx.profile.traits.contacts_30d_by_channel["APP"] >= 1
    assert ctx.profile.traits.days_since_last_complaint == 0

    # Every role, every attribute: the value only where the role's clearance reaches.
    for role in Role:
        seen = read(api, role)
        assert seen is not None
        for name, attr in attrs(seen).items():
            visible = CLEARANCE[role] >= LEVELS[name]
            assert attr.masked is not visible and bool(attr.value) is visible, (role, name)
        product = seen.profile.products[0]
        assert bool(product.account_number) is (CLEARANCE[role] >= LEVELS["account_number"])
        assert [c.purpose for c in seen.profile.consents] == ["marketing"]

    # The customer withdraws marketing consent in the app: visible within seconds, in
    # GetCustomerContext and on an agent desktop's watch stream.
    watch = api.WatchCustomerContext(pb.WatchCustomerContextRequest(
        lookup=LOOKUP, purpose="profile_test"), timeout=30,
        metadata=(("authorization", f"Bearer {TOKENS[Role.AGENT]}"),))
    first = next(watch)
    assert first.full_snapshot and [c.granted for c in first.profile.consents] == [True]
    withdraw = feed.envelope("consents", "u", grant["after"], feed._consent(
        NUMBER, "marketing", "SMS", "withdrawn", "APP"))
    feed.send(withdraw)
    assert feed.flush() == 0
    ctx, took = until(api, lambda c: marketing(c) is False, 10)
    print(f"consent withdrawal visible in GetCustomerContext after {took:.2f}s")
    pushed = next(u for u in watch if u.HasField("profile"))
    assert [c.granted for c in pushed.profile.consents] == [False]
    assert {a.name: a.masked for a in pushed.profile.attributes}["vulnerable"] is False
    watch.cancel()
    assert [c.granted for c in ctx.profile.consent_history] == [False, True]

    # A redelivered and an older grant change nothing; a later change still applies.
    feed.send(grant)
    feed.send(withdraw)
    feed.send(feed.envelope("customers", "u", customer, dict(customer, tier="VIP")))
    assert feed.flush() == 0
    ctx, _ = until(api, lambda c: attrs(c)["tier"].value == "VIP", 30)
    assert marketing(ctx) is False and len(ctx.profile.consent_history) == 2

    # A PIPL erasure removes the profile and the consent with the rest of the customer.
    h.produce(settings, [event("customer.erasure_requested", "APP", int(time.time() * 1000),
                               "erase-7001", identifiers=[number])])
    deadline = time.monotonic() + 60
    while read(api) is not None:
        assert time.monotonic() < deadline, "customer still visible after the erasure"
        time.sleep(0.2)
