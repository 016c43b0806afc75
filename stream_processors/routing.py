"""Pure routing plan for one decoded interaction event (the router agent's decision).

Events with a verified customer number go straight to that customer (the customer id is
derived from the number, so no lookup is needed). Everything else is routed through the
resolver partition that owns the event's primary identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backbone import vocabulary as v
from stream_processors import identity as ident

IDENTITY = "identity"
CUSTOMER = "customer"
# Event types that remove data rather than add it.
ERASE_TYPES = frozenset({v.CUSTOMER_ERASURE_REQUESTED})
FORGET_TYPES = frozenset({v.WECHAT_UNSUBSCRIBE})
UNLINK_TYPES = frozenset({v.IDENTITY_UNLINK_REQUESTED})


@dataclass(frozen=True, slots=True)
class Out:
    """One command to send: to the resolver (keyed by identifier) or a customer."""

    stage: str
    key: str
    value: dict[str, Any]


def anchor(event: dict[str, Any]) -> dict[str, Any] | None:
    for i in event.get("identifiers") or ():
        if i.get("type") == "CUSTOMER_NUMBER" and i.get("verified") and ident.usable(i):
            return dict(i)
    return None


def plan(event: dict[str, Any]) -> list[Out]:
    """Commands for one event; pure, so the same event always yields the same commands."""
    etype = event["event_type"]
    idents = [dict(i) for i in event.get("identifiers") or () if ident.usable(i)]
    trusted = etype in v.TRUSTED_LINK_TYPES
    at = int(event["occurred_at"])
    action = ("erase" if etype in ERASE_TYPES else "forget" if etype in FORGET_TYPES
              else "unlink" if etype in UNLINK_TYPES else "event")
    found = anchor(event)
    if found is not None:
        cid = ident.known_customer_id(found["value"])
        if action == "unlink":
            return [Out(IDENTITY, ident.ident_key(i), {"kind": "unlink", "customer_id": cid,
                                                      "identifier": i, "at": at,
                                                      "event_id": event["event_id"]})
                    for i in idents if i is not found and i["type"] != "CUSTOMER_NUMBER"]
        if action == "forget":
            action = "event"  # unsubscribe of a known customer: forget only the OpenID
            forget = [i for i in idents if i["type"] == "WECHAT_OPENID"]
            outs = [Out(IDENTITY, ident.ident_key(i), {"kind": "route", "event": event,
                                                       "action": "forget", "link": []})
                    for i in forget]
            if outs:
                return outs
        outs = [Out(CUSTOMER, cid, {"kind": action, "event": event, "identities": [found]})]
        if trusted and action == "event":
            outs += [Out(IDENTITY, ident.ident_key(i),
                         {"kind": "link", "customer_id": cid, "identifier": i, "at": at,
                          "event_id": event["event_id"]})
                     for i in idents]
        return outs
    first = ident.primary(idents)
    if first is None:
        key = f"{ident.UNATTRIBUTED_PREFIX}{event['interaction_id']}"
        return [Out(CUSTOMER, key, {"kind": action, "event": event, "identities": []})]
    others = [i for i in idents if i is not first] if trusted and first.get("verified") else []
    return [Out(IDENTITY, ident.ident_key(first),
                {"kind": "route", "event": event, "action": action, "link": others})]
