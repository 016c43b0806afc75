"""Pure per-customer state: deduplicated, bounded timeline plus contacts, complaints,
surveys, handoffs and identities, and how each customer command changes it.

The customer agent stores the returned dict in its table and publishes a snapshot; every
rule is here so it can be tested without a broker. Idempotent by event id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from backbone import vocabulary as v
from stream_processors import complaints, contacts, profile
from stream_processors import identity as ident
from stream_processors.erasures import erasure_time
from stream_processors.routing import CUSTOMER, IDENTITY, Out
from stream_processors.summary import summarise

DAY_MS = 86_400_000
SEEN_MAX = 512
LAST_IDS = 100


@dataclass(frozen=True, slots=True)
class Bounds:
    """Size and age limits (settings); age counts back from the customer's newest event."""

    max_entries: int = 50
    max_age_ms: int = 90 * DAY_MS
    contacts_age_ms: int = 30 * DAY_MS
    surveys: int = 10
    handoffs: int = 20
    conflicts: int = 20
    session_timeout_ms: int = 30 * 60_000  # a chat or app visit ends after this inactivity
    business_tz: str = "Asia/Shanghai"  # complaint due dates count local calendar days


@dataclass(slots=True)
class Applied:
    """Result of one command: the new state (None = delete the key) and what to emit."""

    state: dict[str, Any] | None
    changed: bool
    outs: list[Out] = field(default_factory=list)
    tombstone: bool = False
    erasure: dict[str, Any] | None = None
    dropped: str | None = None


def empty() -> dict[str, Any]:
    return {"v": 0, "ids": [], "seen": [], "ev": [], "contacts": {}, "now": 0}


def _entry(event: dict[str, Any], src: str | None) -> dict[str, Any]:
    e: dict[str, Any] = {"id": event["event_id"], "t": event["event_type"],
                         "ch": event["channel"], "at": int(event["occurred_at"]),
                         "in": int(event["ingested_at"]), "iid": event["interaction_id"],
                         "sum": summarise(event)}
    if event.get("journey_id"):
        e["jid"] = event["journey_id"]
    if event.get("reason"):
        e["rs"] = event["reason"]
    actor = event.get("actor") or {}
    if actor.get("kind") and actor["kind"] != "UNKNOWN":
        e["ac"] = actor["kind"] + (f":{actor['id']}" if actor.get("id") else "")
    org = {k: val for k, val in (event.get("organisation") or {}).items() if val}
    if org:
        e["org"] = org
    if event.get("attributes"):
        e["attr"] = dict(event["attributes"])
    if src:
        e["src"] = src
    return e


def add_identity(state: dict[str, Any], i: dict[str, Any]) -> bool:
    key = ident.ident_key(i)
    for row in state["ids"]:
        if f"{row[0]}:{row[1]}" == key:
            if i.get("verified") and not row[3]:
                row[3] = True
                return True
            return False
    state["ids"].append([i["type"], i["value"], i.get("masked"), bool(i.get("verified"))])
    return True


def _seen(state: dict[str, Any], event_id: str) -> bool:
    return event_id in state["seen"] or any(e["id"] == event_id for e in state["ev"])


def _bound_timeline(state: dict[str, Any], b: Bounds) -> None:
    ev = sorted(state["ev"], key=lambda e: (e["at"], e["id"]))
    if ev:
        oldest = ev[-1]["at"] - b.max_age_ms
        ev = [e for e in ev if e["at"] >= oldest]
    state["ev"] = ev[-b.max_entries:]


def _note(state: dict[str, Any], event_id: str) -> None:
    seen = state["seen"]
    seen.append(event_id)
    if len(seen) > SEEN_MAX:
        del seen[: len(seen) - SEEN_MAX]


def _side_records(state: dict[str, Any], event: dict[str, Any], b: Bounds) -> None:
    """Complaints, surveys and handoffs: small lists the snapshot shows in full."""
    etype = event["event_type"]
    p: dict[str, Any] = event["payload"] if isinstance(event.get("payload"), dict) else {}
    at = int(event["occurred_at"])
    if etype.startswith("complaint.") and p.get("complaint_id"):
        comps = state.setdefault("complaints", {})
        actor = (event.get("actor") or {}).get("id")
        comps[p["complaint_id"]] = complaints.apply(
            comps.get(p["complaint_id"]), etype, p, event.get("attributes") or {},
            event["channel"], at, actor, b.business_tz)
    elif etype == v.SURVEY_ANSWERED and p.get("kind"):
        surveys = state.setdefault("surveys", [])
        surveys.append({"kind": p["kind"], "score": p.get("score"), "max": p.get("scale_max"),
                        "at": at, "ch": event["channel"], "id": event["event_id"]})
        surveys.sort(key=lambda s: (s["at"], s["id"]))
        del surveys[: max(0, len(surveys) - b.surveys)]
    elif etype.startswith("handoff.") and p.get("handoff_id"):
        hands = state.setdefault("handoffs", {})
        h = dict(hands.get(p["handoff_id"]) or {"from": p.get("from_channel"),
                                                "to": p.get("to_channel"), "at": at})
        status = p.get("status") or etype.split(".", 1)[1]
        rank = {"created": 0, "accepted": 1, "cancelled": 1, "expired": 1}
        if rank.get(status, 0) >= rank.get(h.get("st", "created"), 0):
            h["st"] = status
        if status == "accepted":
            h["acc"] = at
        h["at"] = min(h["at"], at)
        if event.get("journey_id"):
            h["jid"] = event["journey_id"]
        hands[p["handoff_id"]] = h
        if len(hands) > b.handoffs:
            for old in sorted(hands, key=lambda k: hands[k]["at"])[: len(hands) - b.handoffs]:
                del hands[old]


def _profile(state: dict[str, Any], event: dict[str, Any]) -> None:
    at = int(event["occurred_at"])
    prof = state.setdefault("profile", {"first_seen": at, "last_seen": at, "channels": []})
    prof["first_seen"] = min(prof["first_seen"], at)
    prof["last_seen"] = max(prof["last_seen"], at)
    if event["channel"] not in prof["channels"]:
        prof["channels"].append(event["channel"])
        prof["channels"].sort()
    segment = (event.get("attributes") or {}).get("segment")
    if segment:
        prof["segment"] = segment


def _prune_contacts(state: dict[str, Any], b: Bounds) -> None:
    horizon = state["now"] - b.contacts_age_ms
    cs = state["contacts"]
    for iid in [k for k, c in cs.items() if c["end"] < horizon]:
        del cs[iid]


def apply_event(state: dict[str, Any], event: dict[str, Any], b: Bounds,
                src: str | None = None) -> None:
    """Add one new (not yet seen) event; order-independent apart from the bounds."""
    _note(state, event["event_id"])
    at = int(event["occurred_at"])
    state["now"] = max(state["now"], at)
    state["ev"].append(_entry(event, src))
    _bound_timeline(state, b)
    key = contacts.key_for(state["contacts"], event, b.session_timeout_ms)
    contact = contacts.update(state["contacts"].get(key), event)
    if contact is not None:
        state["contacts"][key] = contact
    _side_records(state, event, b)
    _profile(state, event)
    _prune_contacts(state, b)
    state["v"] += 1


def absorb(state: dict[str, Any], other: dict[str, Any], src: str, b: Bounds) -> None:
    """Merge a provisional customer's state (anonymous history joining a known customer)."""
    erased = state.get("erased_at") or 0
    for e in other.get("ev", []):
        if e["at"] > erased and not _seen(state, e["id"]):
            e = dict(e)
            e.setdefault("src", src)
            state["ev"].append(e)
            state["now"] = max(state["now"], e["at"])
    for eid in other.get("seen", []):
        if eid not in state["seen"]:
            _note(state, eid)
    _bound_timeline(state, b)
    for iid, c in other.get("contacts", {}).items():
        if c["start"] <= erased:
            continue
        key = iid
        if contacts.session_based(c.get("iid", "")):  # the same session seen by both views
            key = contacts.find_session(state["contacts"], c["iid"], c["start"], c["end"],
                                        b.session_timeout_ms) or iid
        mine = state["contacts"].get(key)
        state["contacts"][key] = contacts.merge(mine, c) if mine else dict(c, src=src)
    for name in ("complaints", "handoffs"):
        for k, rec in (other.get(name) or {}).items():
            state.setdefault(name, {}).setdefault(k, rec)
    surveys = state.setdefault("surveys", [])
    ids = {s["id"] for s in surveys}
    surveys.extend(s for s in other.get("surveys", []) if s["id"] not in ids)
    surveys.sort(key=lambda s: (s["at"], s["id"]))
    del surveys[: max(0, len(surveys) - b.surveys)]
    for row in other.get("ids", []):
        add_identity(state, {"type": row[0], "value": row[1], "masked": row[2],
                             "verified": row[3]})
    if other.get("profile"):
        op = other["profile"]
        prof = state.setdefault("profile", dict(op))
        prof["first_seen"] = min(prof["first_seen"], op["first_seen"])
        prof["last_seen"] = max(prof["last_seen"], op["last_seen"])
        prof["channels"] = sorted(set(prof["channels"]) | set(op["channels"]))
    _prune_contacts(state, b)
    state["v"] += 1


def _fingerprint(state: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in state.items() if k != "v"},
                        option=orjson.OPT_SORT_KEYS)


def erased_marker(at: int, version: int = 0) -> dict[str, Any]:
    """The whole state of a customer erased at ``at``: events that happened at or before
    it are dropped, later ones start a new history. A worker without the customer's row
    (a rebuild) starts from this when the erasure log names the customer."""
    return empty() | {"v": version, "erased_at": at}


def _erase(key: str, state: dict[str, Any], event: dict[str, Any]) -> Applied:
    at = erasure_time(event)  # the server's receive time, not the client's occurred_at
    outs = [Out(IDENTITY, f"{row[0]}:{row[1]}", {"kind": "erase_identifier", "customer_id": key,
                                                  "at": at, "event_id": event["event_id"]})
            for row in state.get("ids", [])]
    # Merged anonymous history kept in redirect markers goes too.
    outs += [Out(CUSTOMER, ident.provisional_id(f"{row[0]}:{row[1]}"), {"kind": "purge"})
             for row in state.get("ids", []) if ident.is_known(key)]
    marker = erased_marker(at, state.get("v", 0) + 1)
    erasure = {"customer_id": key, "erased_at": at, "event_id": event["event_id"],
               "identifiers": len(outs)}
    return Applied(marker, True, outs, tombstone=True, erasure=erasure)


def apply(key: str, state: dict[str, Any] | None, cmd: dict[str, Any], b: Bounds) -> Applied:
    """Apply one customer command to the state of customer ``key``."""
    kind = cmd["kind"]
    st = state if state is not None else empty()
    redirect = st.get("redirect")
    if redirect and kind in ("event", "identity", "conflict", "absorb", "erase", "forget"):
        return Applied(state, False, [Out(CUSTOMER, redirect, cmd)])
    event: dict[str, Any] = cmd.get("event") or {}
    if event and st.get("erased_at") and int(event["occurred_at"]) <= st["erased_at"]:
        return Applied(state, False, dropped="customer erased")
    if kind == "profile":  # a system-of-record change, in source order (profile.py)
        why = profile.verdict(st, cmd["change"])
        if why is not None:
            return Applied(state, False, dropped=why)
        for i in cmd.get("identities") or ():
            add_identity(st, i)
        profile.apply(st, cmd["change"])
        return Applied(st, True)
    if kind == "event":
        if _seen(st, event["event_id"]):
            return Applied(state, False, dropped="duplicate")
        for i in cmd.get("identities") or ():
            add_identity(st, i)
        apply_event(st, event, b, cmd.get("src"))
        return Applied(st, True)
    if kind == "identity":
        changed = add_identity(st, cmd["identifier"])
        if changed:
            st["v"] += 1
        return Applied(st, changed)
    if kind == "conflict":
        confs = st.setdefault("conflicts", [])
        if any(c["id"] == cmd["id"] for c in confs):
            return Applied(state, False, dropped="duplicate")
        confs.append({"id": cmd["id"], "at": int(cmd["at"]), "type": cmd["identifier_type"],
                      "res": cmd.get("resolution", "conflict")})
        confs.sort(key=lambda c: (c["at"], c["id"]))
        del confs[: max(0, len(confs) - b.conflicts)]
        st["v"] += 1
        return Applied(st, True)
    if kind == "merge_into":
        target = cmd["target"]
        if redirect == target:  # replay: the absorb may have been lost, send it again
            again = [Out(CUSTOMER, target, {"kind": "absorb", "from": key,
                                            "state": st["body"]})] if st.get("body") else []
            return Applied(state, False, again, dropped="duplicate")
        if state is None or not st["seen"]:
            return Applied({"v": st["v"] + 1, "redirect": target}, True)
        # The marker keeps the moved history until the target is erased (then "purge"),
        # so a crash between writing it and sending the absorb cannot lose the history.
        body = {k: val for k, val in st.items() if k not in ("v", "redirect", "body")}
        marker = {"v": st["v"] + 1, "redirect": target, "body": body}
        return Applied(marker, True, [Out(CUSTOMER, target, {"kind": "absorb", "from": key,
                                                             "state": body})], tombstone=True)
    if kind == "claim":  # an identified visit claims the events it had before (branch ticket)
        if state is None or not (st.get("seen") or st.get("redirect")):
            return Applied(state, False, dropped="nothing to claim")
        return apply(key, state, {"kind": "merge_into", "target": cmd["target"]}, b)
    if kind == "purge":
        return Applied(None, state is not None)
    if kind == "absorb":
        before = _fingerprint(st)
        absorb(st, cmd["state"], cmd["from"], b)
        if _fingerprint(st) == before:  # a re-sent absorb (replay): nothing new
            st["v"] -= 1
            return Applied(st, False, dropped="duplicate")
        return Applied(st, True)
    if kind == "erase":
        if st.get("erased_at", -1) >= erasure_time(event):
            return Applied(state, False, dropped="duplicate")
        return _erase(key, st, event)
    if kind == "forget":
        if not ident.is_known(key):
            return _erase(key, st, event)
        if _seen(st, event["event_id"]):
            return Applied(state, False, dropped="duplicate")
        idkey = cmd["identifier"]
        st["ids"] = [r for r in st["ids"] if f"{r[0]}:{r[1]}" != idkey]
        channel = event["channel"]
        st["ev"] = [e for e in st["ev"] if e["ch"] != channel]
        st["contacts"] = {k: c for k, c in st["contacts"].items() if c["ch"] != channel}
        _note(st, event["event_id"])
        st["v"] += 1
        return Applied(st, True)
    if kind == "unlink":
        idkey = cmd["identifier"]
        src = ident.provisional_id(idkey)
        moved = [e for e in st["ev"] if e.get("src") == src]
        st["ids"] = [r for r in st["ids"] if f"{r[0]}:{r[1]}" != idkey]
        st["ev"] = [e for e in st["ev"] if e.get("src") != src]
        mc = {k: c for k, c in st["contacts"].items() if c.get("src") == src}
        st["contacts"] = {k: c for k, c in st["contacts"].items() if c.get("src") != src}
        st["v"] += 1
        back = {"ev": moved, "contacts": mc, "seen": [e["id"] for e in moved]}
        return Applied(st, True, [Out(CUSTOMER, src, {"kind": "restore", "from": key,
                                                      "state": back})])
    if kind == "restore":
        if "ev" not in st:  # a redirect marker: start again from an empty customer
            st = empty() | {"v": st.get("v", 0)}
        st.pop("redirect", None)
        absorb(st, cmd["state"], "", b)
        for e in st["ev"]:
            if e.get("src") == "":
                del e["src"]
        return Applied(st, True)
    return Applied(state, False, dropped=f"unknown customer command {kind!r}")
