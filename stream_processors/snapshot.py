"""The customer-context snapshot published to ``customer-context`` (the contract the gRPC
service reads: backbone/snapshot.py, schemas/json/customer_context/v1.json), plus journeys
derived from contacts.

Journeys are derived, not stored: a pure function of the contacts, so merges, late events
and replays can never leave a journey out of step with the contacts it summarises.
"""

from __future__ import annotations

from typing import Any

from backbone.snapshot import SCHEMA_VERSION
from stream_processors import complaints as complaint_rules
from stream_processors import contacts as contact_rules
from stream_processors import profile as profile_rules
from stream_processors.customer import DAY_MS, LAST_IDS

RESOLVED = {"completed"}
DIGITAL_OK = {"success", "succeeded", "ok", "completed", "resolved"}


def _timeline_entry(e: dict[str, Any]) -> dict[str, Any]:
    actor = e.get("ac")
    return {
        "event_id": e["id"], "event_type": e["t"], "channel": e["ch"], "occurred_at": e["at"],
        "ingested_at": e["in"], "interaction_id": e["iid"], "journey_id": e.get("jid"),
        "reason": e.get("rs"),
        "actor": ({"kind": actor.split(":", 1)[0], "id": actor.split(":", 1)[1]
                   if ":" in actor else None} if actor else None),
        "organisation": e.get("org"), "summary": e["sum"], "attributes": e.get("attr", {}),
    }


def _tried(c: dict[str, Any]) -> str:
    text = f"{c['ch']}: {contact_rules.outcome_text(c)}"
    if c.get("err"):
        text += f" ({c['err']})"
    if c.get("xfer") and c["out"] != "transferred":
        text += ", transferred"
    return text


def journeys(state: dict[str, Any], window_ms: int) -> list[dict[str, Any]]:
    """Contacts about the same reason (or with the same journey id) within the window."""
    groups: list[dict[str, Any]] = []
    by_jid: dict[str, dict[str, Any]] = {}
    open_by_reason: dict[str, dict[str, Any]] = {}
    cs = sorted(state.get("contacts", {}).items(), key=lambda kv: (kv[1]["start"], kv[0]))
    for iid, c in cs:
        reason, jid = c.get("rs"), c.get("jid")
        if not reason and not jid:
            continue
        g = by_jid.get(jid) if jid else None
        if g is None and reason:
            cand = open_by_reason.get(reason)
            if cand is not None and c["start"] - cand["updated_at"] <= window_ms \
                    and (not jid or not cand["_jid"]):
                g = cand
        if g is None:
            g = {"journey_id": jid or f"{reason}@{c['start']}", "reason": reason,
                 "status": "open", "channels": [], "last_channel": c["ch"], "tried": [],
                 "started_at": c["start"], "updated_at": c["end"], "handoffs": 0,
                 "_jid": jid, "_iids": []}
            groups.append(g)
        if jid:
            by_jid[jid] = g
            g["_jid"] = g["_jid"] or jid
        if reason:
            open_by_reason[reason] = g
            g["reason"] = g["reason"] or reason
        if c["ch"] not in g["channels"]:
            g["channels"].append(c["ch"])
        g["last_channel"] = c["ch"]
        g["tried"] = (g["tried"] + [_tried(c)])[-10:]
        g["updated_at"] = max(g["updated_at"], c["end"])
        g["_iids"].append(iid)
        done = c["out"] in RESOLVED or c.get("dout", "").lower() in DIGITAL_OK
        g["status"] = "resolved" if done else "open"
    for h in (state.get("handoffs") or {}).values():
        for g in groups:
            if (h.get("jid") and h["jid"] == g["_jid"]) or (
                    not h.get("jid") and g["started_at"] <= h["at"] <= g["updated_at"] + window_ms):
                g["handoffs"] += 1
                break
    for g in groups:
        del g["_jid"], g["_iids"]
    groups.sort(key=lambda g: (g["updated_at"], g["journey_id"]), reverse=True)
    return groups


def build(customer_id: str, state: dict[str, Any], *, updated_at: int,
          journey_window_ms: int) -> dict[str, Any]:
    """The JSON snapshot for ``customer-context``, as backbone.snapshot.CustomerContext
    defines it (tests/unit/test_snapshot_contract.py validates what this builds)."""
    now = state.get("now", 0)
    cs = state.get("contacts", {})
    seen = state.get("profile") or {}
    prof = {"first_seen": seen.get("first_seen"), "last_seen": seen.get("last_seen"),
            "channels": seen.get("channels", []), **profile_rules.snapshot_fields(state)}
    return {
        "schema_version": SCHEMA_VERSION,
        "customer_id": customer_id,
        "version": state["v"],
        "updated_at": updated_at,
        "last_event_ids": state["seen"][-LAST_IDS:],
        "identities": [{"type": r[0], "value": r[1], "masked": r[2], "verified": r[3]}
                       for r in state.get("ids", [])],
        "profile": prof,
        "timeline": [_timeline_entry(e) for e in reversed(state["ev"])],
        "contacts": [{"interaction_id": iid, "channel": c["ch"], "started_at": c["start"],
                      "ended_at": c["end"], "outcome": contact_rules.outcome_text(c)}
                     for iid, c in sorted(cs.items(), key=lambda kv: (-kv[1]["start"], kv[0]))],
        "journeys": journeys(state, journey_window_ms),
        "complaints": complaint_rules.book(state.get("complaints") or {}),
        "surveys": [{"kind": s["kind"], "score": s["score"], "scale_max": s["max"],
                     "at": s["at"]} for s in reversed(state.get("surveys") or [])],
        "counts": {
            "contacts_7d": sum(1 for c in cs.values() if c["start"] > now - 7 * DAY_MS),
            "contacts_30d": sum(1 for c in cs.values() if c["start"] > now - 30 * DAY_MS),
        },
        "handoffs": [{"handoff_id": k, "from_channel": h.get("from"), "to_channel": h.get("to"),
                      "status": h.get("st", "created"), "at": h["at"]}
                     for k, h in sorted((state.get("handoffs") or {}).items(),
                                        key=lambda kv: (-kv[1]["at"], kv[0]))],
    }
