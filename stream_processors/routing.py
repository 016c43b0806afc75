"""Pure routing plan for one decoded interaction event (the router agent's decision).

Events with a verified customer number go straight to that customer (the customer id is
derived from the number, so no lookup is needed). Everything else is routed through the
resolver partition that owns the event's primary identifier.

*Interaction memory.* Several sources describe one interaction with different identifiers:
a call's AMI events carry only the caller's (unverified) phone, its Cdr and transfer legs
carry nothing, the agent desktop's wrap-up and survey carry nothing, and only the IVR
authentication carries the verified customer number. ``interactions`` is keyed by
interaction id, so all of them reach the same router partition in order; the router
remembers per interaction the first usable identifier and the verified customer number
(:func:`remember`), and :func:`plan` routes an event by that memory when the event itself
cannot say who it belongs to. Memory never creates links: it only routes.

The feeds are independent, so an identifier-less event can arrive before anything that
says whose interaction it is (the desktop's wrap-up ahead of a lagging queue_log tailer).
It goes to the interaction's unattributed bucket and memory notes that (``u``); the first
later event that routes the interaction anywhere else claims the bucket for where it went,
so the outcome does not depend on the order the feeds arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backbone import vocabulary as v
from stream_processors import identity as ident

if TYPE_CHECKING:
    from stream_processors.erasures import ErasureLog

IDENTITY = "identity"
CUSTOMER = "customer"
# Event types that remove data rather than add it.
ERASE_TYPES = frozenset({v.CUSTOMER_ERASURE_REQUESTED})
FORGET_TYPES = frozenset({v.WECHAT_UNSUBSCRIBE})
UNLINK_TYPES = frozenset({v.IDENTITY_UNLINK_REQUESTED})
# Trusted events that claim their interaction's unattributed history.
CLAIM_TYPES = frozenset({v.BRANCH_IDENTIFIED, v.CALL_IVR_AUTHENTICATED})


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


# Interaction memory entries are dropped this long (event time) after their last change.
MEMORY_TTL_MS = 86_400_000


def remember(event: dict[str, Any], memory: dict[str, Any] | None,
             outs: list[Out] | None = None) -> dict[str, Any] | None:
    """The interaction memory after ``event``; the same object when nothing changed.

    ``a``: the verified customer number seen on the interaction, ``at`` the earliest event
    time it was seen at; ``x``/``xt``: a second, different verified number (a shared
    session: from then on memory stops routing by number and the resolver decides as
    without memory); ``i``/``it``: the first usable identifier (e.g. the caller's phone)
    and the earliest event time it was seen at; ``t``: event time of the last change
    (expiry). Memory is event-time aware like :meth:`IdentityRecord.route_target`: it only
    routes events that happened at or after what it learned, so a late or re-delivered
    event that was routed without memory the first time is routed the same way again.
    ``u``: an event of the interaction went to its unattributed bucket and nothing has
    claimed the bucket since. ``outs`` is :func:`plan`'s answer for this event and memory
    (computed when not given).
    """
    at = int(event["occurred_at"])
    found = anchor(event)
    first = ident.primary([i for i in event.get("identifiers") or () if ident.usable(i)])
    parked = _parks(event, plan(event, memory) if outs is None else outs)
    new = dict(memory or {})
    if parked:
        new["u"] = 1
    else:
        new.pop("u", None)  # routed elsewhere: this event claimed the bucket
    if found is not None:
        if "a" not in new:
            new["a"], new["at"] = found["value"], at
        elif new["a"] == found["value"]:
            new["at"] = min(new["at"], at)
        else:
            new["x"] = 1
            new["xt"] = min(new.get("xt", at), at)
    if first is not None:
        if "i" not in new:
            new["i"] = {"type": first["type"], "value": first["value"],
                        "masked": first.get("masked"), "verified": bool(first.get("verified"))}
            new["it"] = at
        elif new["i"]["type"] == first["type"] and new["i"]["value"] == first["value"]:
            new["it"] = min(new["it"], at)
    if new == (memory or {}):
        return memory
    new["t"] = max(at, int((memory or {}).get("t", 0)))
    return new


def unattributed_key(event: dict[str, Any]) -> str:
    return f"{ident.UNATTRIBUTED_PREFIX}{event['interaction_id']}"


def _parks(event: dict[str, Any], outs: list[Out]) -> bool:
    """Whether ``outs`` put the event itself in its interaction's unattributed bucket."""
    key = unattributed_key(event)
    return any(o.key == key and o.value.get("kind") == "event" for o in outs)


def plan(event: dict[str, Any], memory: dict[str, Any] | None = None) -> list[Out]:
    """Commands for one event; pure, so the same event (and memory) always yields the same
    commands. ``memory`` is the interaction's memory *before* this event."""
    outs = _plan(event, memory)
    if not (memory and memory.get("u")) or _parks(event, outs):
        return outs
    key = unattributed_key(event)
    if any(o.value.get("kind") == "claim" or o.value.get("claim") for o in outs):
        return outs
    for i, o in enumerate(outs):  # the first event routed elsewhere claims the bucket
        kind = o.value.get("kind")
        if o.stage == CUSTOMER and kind == "event":
            return [*outs, Out(CUSTOMER, key, {"kind": "claim", "target": o.key})]
        if o.stage == IDENTITY and kind == "route" and o.value.get("action") == "event":
            return [*outs[:i], Out(o.stage, o.key, {**o.value, "claim": True}), *outs[i + 1:]]
    return outs


def _plan(event: dict[str, Any], memory: dict[str, Any] | None) -> list[Out]:
    etype = event["event_type"]
    idents = [dict(i) for i in event.get("identifiers") or () if ident.usable(i)]
    trusted = etype in v.TRUSTED_LINK_TYPES
    at = int(event["occurred_at"])
    action = ("erase" if etype in ERASE_TYPES else "forget" if etype in FORGET_TYPES
              else "unlink" if etype in UNLINK_TYPES else "event")
    found = anchor(event)
    if found is None and memory and action == "event" and not trusted \
            and not any(i.get("verified") for i in idents):
        if memory.get("a") and memory["at"] <= at and not (memory.get("x")
                                                            and memory["xt"] <= at):
            # The interaction was authenticated (e.g. the IVR verified the caller): its
            # other events belong to that customer, whatever weaker identifier they carry.
            cid = ident.known_customer_id(memory["a"])
            return [Out(CUSTOMER, cid, {"kind": "event", "event": event, "identities": []})]
        if not idents and memory.get("i") and memory["it"] <= at:
            idents = [dict(memory["i"])]  # e.g. a Cdr or transfer leg: route by the caller
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
            # Events of this interaction that came before anyone knew who it was (a branch
            # ticket issued before the counter identification, a withheld caller number
            # before the IVR authentication) join the customer now.
            if etype in CLAIM_TYPES:
                outs.append(Out(CUSTOMER, unattributed_key(event),
                                {"kind": "claim", "target": cid}))
        return outs
    first = ident.primary(idents)
    if first is None:
        return [Out(CUSTOMER, unattributed_key(event), {"kind": action, "event": event, "identities": []})]
    others = [i for i in idents if i is not first] if trusted and first.get("verified") else []
    cmd: dict[str, Any] = {"kind": "route", "event": event, "action": action, "link": others}
    if etype in CLAIM_TYPES:
        cmd["claim"] = True  # the resolver claims the history for the customer it picks
    return [Out(IDENTITY, ident.ident_key(first), cmd)]


def screen(outs: list[Out], erased: ErasureLog | None) -> tuple[list[Out], int]:
    """``outs`` without the commands the erasure log forbids, and how many were dropped.

    An event (or a link) that happened at or before the erasure of the customer it goes to
    or of the identifier it routes by never reaches the later stages, however late or
    often it is replayed, and whatever order a rebuild reads the partitions in: the log is
    complete before the first record is routed. Erase, forget and unlink commands pass
    (they only remove data).
    """
    if erased is None or not len(erased):
        return outs, 0
    kept = [o for o in outs if not _forbidden(o, erased)]
    return kept, len(outs) - len(kept)


def _forbidden(out: Out, erased: ErasureLog) -> bool:
    cmd = out.value
    kind = cmd.get("kind")
    if kind == "link":
        at = int(cmd["at"])
        return erased.identifier(out.key, at) or erased.customer(cmd["customer_id"], at)
    if kind == "event" and out.stage == CUSTOMER:
        at = int(cmd["event"]["occurred_at"])
        return erased.customer(out.key, at) or _carries_erased(cmd["event"], at, erased)
    if kind == "route" and cmd.get("action", "event") == "event":
        at = int(cmd["event"]["occurred_at"])
        return erased.identifier(out.key, at) or _carries_erased(cmd["event"], at, erased)
    return False


def _carries_erased(event: dict[str, Any], at: int, erased: ErasureLog) -> bool:
    """E.g. a known customer's WeChat bind replayed after the OpenID was unsubscribed: the
    customer is not erased, but the event is about the erased OpenID."""
    return any(erased.identifier(ident.ident_key(i), at)
               for i in event.get("identifiers") or () if ident.usable(i))
