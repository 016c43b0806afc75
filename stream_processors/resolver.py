"""Pure handling of one resolver command for one identifier (the resolver agent's logic).

Returns the new identifier record plus the commands and identity events to emit, so the
agent is a thin shell and the rules are unit-testable without a broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stream_processors import erasures
from stream_processors import identity as ident
from stream_processors.routing import CUSTOMER, IDENTITY, Out


@dataclass(slots=True)
class Resolution:
    """What one command produced; ``dropped`` explains an event that went nowhere."""

    outs: list[Out] = field(default_factory=list)
    identity_events: list[dict[str, Any]] = field(default_factory=list)
    erasures: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)  # to the log
    dropped: str | None = None


def _audit(kind: str, key: str, cmd: dict[str, Any], **extra: Any) -> dict[str, Any]:
    rec = {"type": kind, "identifier": key, "event_id": cmd.get("event_id"),
           "at": cmd.get("at")}
    rec.update(extra)
    return rec


def handle(record: ident.IdentityRecord, key: str, cmd: dict[str, Any],
           erased: erasures.ErasureLog | None = None) -> Resolution:
    """Apply ``cmd`` to the record of identifier ``key`` (mutated in place). ``erased``: the
    erasure log, which outlives this record (a rebuild starts with no records)."""
    kind = cmd["kind"]
    res = Resolution()
    if kind == "link":
        cid = cmd["customer_id"]
        if erased is not None and (erased.identifier(key, int(cmd["at"]))
                                   or erased.customer(cid, int(cmd["at"]))):
            res.dropped = "erased"
            return res
        decision = ident.decide_link(record, key, cid, int(cmd["at"]))
        if decision.kind == "erased":
            return res
        if decision.kind == "already":  # replay: re-send idempotent commands, audit nothing
            res.outs.append(Out(CUSTOMER, cid, {"kind": "identity",
                                                "identifier": cmd["identifier"]}))
            if decision.merge_from:
                res.outs.append(Out(CUSTOMER, decision.merge_from,
                                    {"kind": "merge_into", "target": cid}))
            return res
        res.identity_events.append(_audit(decision.kind, key, cmd, customer_id=cid,
                                          reason=decision.reason,
                                          others=list(decision.others)))
        if decision.kind in ("linked", "shared"):
            res.outs.append(Out(CUSTOMER, cid, {"kind": "identity",
                                                "identifier": cmd["identifier"]}))
        if decision.kind in ("shared", "conflict"):
            res.outs.append(Out(CUSTOMER, cid, {
                "kind": "conflict", "identifier_type": key.split(":", 1)[0],
                "at": cmd["at"], "id": f"{cmd.get('event_id')}|{key}",
                "resolution": decision.kind}))
        if decision.merge_from:
            res.identity_events.append(_audit("merge", key, cmd, customer_id=cid,
                                              merged=decision.merge_from))
            res.outs.append(Out(CUSTOMER, decision.merge_from,
                                {"kind": "merge_into", "target": cid}))
        return res
    if kind == "route":
        event = cmd["event"]
        at = int(event["occurred_at"])
        action = cmd.get("action", "event")
        if record.is_erased_for(at) or (action == "event" and erased is not None
                                        and erased.identifier(key, at)):
            res.dropped = "identifier erased"
            return res
        target = record.route_target(key, at)
        if action == "event" and erased is not None and erased.customer(target, at):
            res.dropped = "customer erased"
            return res
        if target.startswith(ident.PROVISIONAL_PREFIX):
            record.parked = True
        identities = [] if ident.is_known(target) else [_carried(event, key)]
        if action == "forget":
            when = erasures.erasure_time(event)
            ident.erase(record, None, when)
            res.identity_events.append(_audit("deleted", key, {"event_id": event["event_id"],
                                                               "at": when}, customer_id=target))
            res.erasures.append(erasures.identifier_record(key, target, when,
                                                           event["event_id"]))
            res.outs.append(Out(CUSTOMER, target, {"kind": "forget", "event": event,
                                                   "identifier": key}))
            return res
        res.outs.append(Out(CUSTOMER, target, {"kind": action, "event": event,
                                               "identities": identities}))
        if cmd.get("claim") and action == "event":
            res.outs.append(Out(CUSTOMER, f"{ident.UNATTRIBUTED_PREFIX}{event['interaction_id']}",
                                {"kind": "claim", "target": target}))
        if ident.is_known(target):
            for other in cmd.get("link") or ():
                res.outs.append(Out(IDENTITY, ident.ident_key(other), {
                    "kind": "link", "customer_id": target, "identifier": other, "at": at,
                    "event_id": event["event_id"]}))
        return res
    if kind == "profile":  # a system-of-record change: the number names its known customer
        at = int(cmd["change"]["at"])
        cid = ident.known_customer_id(key.partition(":")[2])
        if record.is_erased_for(at) or (erased is not None and erased.identifier(key, at)):
            res.dropped = "identifier erased"
        elif erased is not None and erased.customer(cid, at):
            res.dropped = "customer erased"
        else:  # never a link: a CRM row proves the customer exists, not who sent a claim
            number = {"type": "CUSTOMER_NUMBER", "value": key.partition(":")[2],
                      "masked": None, "verified": True}
            res.outs.append(Out(CUSTOMER, cid, {"kind": "profile", "change": cmd["change"],
                                                "identities": [number]}))
        return res
    if kind in ("unlink", "erase_identifier"):
        cid = cmd.get("customer_id")
        at = int(cmd["at"])
        if kind == "unlink":
            if cid not in record.customers:
                return res
            record.customers.remove(cid)
            record.since.pop(cid, None)
            record.parked = True  # the history went back under the provisional key
            res.identity_events.append(_audit("unlinked", key, cmd, customer_id=cid))
            res.outs.append(Out(CUSTOMER, cid, {"kind": "unlink", "identifier": key,
                                                "at": at}))
            return res
        ident.erase(record, cid, at)
        res.identity_events.append(_audit("deleted", key, cmd, customer_id=cid))
        if not record.customers:  # nobody else holds it (a shared phone stays for the rest)
            res.erasures.append(erasures.identifier_record(key, cid, at, cmd.get("event_id")))
        return res
    res.dropped = f"unknown resolver command {kind!r}"
    return res


def _carried(event: dict[str, Any], key: str) -> dict[str, Any]:
    for i in event.get("identifiers") or ():
        if ident.ident_key(i) == key:
            return dict(i)
    typ, _, value = key.partition(":")
    return {"type": typ, "value": value, "masked": None, "verified": False}
