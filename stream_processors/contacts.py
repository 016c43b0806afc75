"""Contacts and their queue entries: the one model every KPI counts from (docs/contact-model.md).

A *contact* is what the customer experiences: a call (Linkedid), a chat or WeChat customer
service session, an app or web visit, a branch visit (ticket). A contact holds zero or more
*queue entries* (``e``), the unit of queue statistics as Asterisk's app_queue, Amazon Connect
and Genesys count it: one QueueCallerJoin / ENTERQUEUE, one chat request, one ticket, and a
new entry in the receiving queue after every transfer. A contact without entries is
self-service (IVR only, app/web analytics, a WeChat chat with the bot).

Events of one contact may arrive out of order (they reach the customer through different
routes), so entries are matched by queue and event time, flags only turn on, and an entry
created from a later stage (answered before its join arrived) is completed when the join
comes.
"""

from __future__ import annotations

from typing import Any

from backbone import vocabulary as v
from stream_processors import entries as ent

# Outcome precedence: a later stage of a contact wins whatever order events arrive in.
_RANK = {"open": 0, "queued": 1, "abandoned": 2, "timed_out": 2, "answered": 3,
         "transferred": 4, "completed": 5}
_OUTCOME = {
    v.CALL_QUEUED: "queued", v.CHAT_QUEUED: "queued", v.CHAT_REQUESTED: "queued",
    v.BRANCH_TICKET_ISSUED: "queued", v.WECHAT_TRANSFER_TO_AGENT: "queued",
    v.CALL_ANSWERED: "answered", v.CHAT_AGENT_JOINED: "answered",
    v.WECHAT_KF_CREATE: "answered", v.BRANCH_CALLED: "answered",
    v.BRANCH_SERVICE_STARTED: "answered",
    v.CALL_ABANDONED: "abandoned", v.CHAT_ABANDONED: "abandoned", v.BRANCH_NO_SHOW: "abandoned",
    v.CALL_TIMED_OUT: "timed_out",
    v.CALL_COMPLETED: "completed", v.CHAT_CLOSED: "completed", v.WECHAT_KF_CLOSE: "completed",
    v.BRANCH_SERVICE_ENDED: "completed",
    v.CALL_TRANSFERRED: "transferred", v.CHAT_TRANSFERRED: "transferred",
    v.WECHAT_KF_SWITCH: "transferred", v.BRANCH_TRANSFERRED: "transferred",
}
NOT_CONTACTS = {v.HANDOFF_CREATED, v.HANDOFF_ACCEPTED, v.HANDOFF_CANCELLED,
                v.HANDOFF_EXPIRED, v.SURVEY_ANSWERED, v.CUSTOMER_ERASURE_REQUESTED,
                v.IDENTITY_UNLINK_REQUESTED, v.BRANCH_COUNTER_OPENED, v.BRANCH_COUNTER_CLOSED,
                } | {t for t in v.ALL_EVENT_TYPES if t.startswith("complaint.")}
# Interaction ids that name a person, not a conversation: split into sessions by time.
_SESSION_PREFIXES = ("wechat:", "app:", "web:")
_CLOSE = {v.CHAT_CLOSED, v.WECHAT_KF_CLOSE}


def session_based(iid: str) -> bool:
    return iid.startswith(_SESSION_PREFIXES) and ":session:" not in iid


def key_for(contacts: dict[str, dict[str, Any]], event: dict[str, Any], timeout_ms: int) -> str:
    """The contact an event belongs to: its interaction id, or for a person-scoped id the
    session that covers the event's time (a new one after a close or inactivity)."""
    iid = str(event["interaction_id"])
    if not session_based(iid):
        return iid
    at = int(event["occurred_at"])
    found = find_session(contacts, iid, at, at, timeout_ms)
    return found if found is not None else f"{iid}@{at}"


def find_session(contacts: dict[str, dict[str, Any]], iid: str, start: int, end: int,
                 timeout_ms: int) -> str | None:
    best: tuple[int, str] | None = None
    for key, c in contacts.items():
        if c.get("iid") != iid:
            continue
        closed = c.get("closed")
        if closed is not None and start > closed:
            continue
        if c["start"] - timeout_ms <= end and start <= c["end"] + timeout_ms:
            cand = (c["start"], key)
            if best is None or (c["start"] <= start and cand > best):
                best = cand
    return best[1] if best else None


def update(contact: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """The contact after ``event``; None when the event type is not part of a contact."""
    etype = event["event_type"]
    if etype in NOT_CONTACTS:
        return contact
    at = int(event["occurred_at"])
    c = dict(contact) if contact else {"ch": event["channel"], "start": at, "end": at,
                                       "out": "open", "iid": event["interaction_id"]}
    c["e"] = [dict(e) for e in c.get("e", ())]
    c["start"] = min(c["start"], at)
    c["end"] = max(c["end"], at)
    if event.get("reason") and not c.get("rs"):
        c["rs"] = event["reason"]
    if event.get("journey_id") and not c.get("jid"):
        c["jid"] = event["journey_id"]
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else None
    if etype in _CLOSE:
        c["closed"] = min(c.get("closed", at), at)
    ch = event["channel"]
    if ch == "PHONE":
        ent.phone(c, etype, event, payload, at)
    elif ch == "BRANCH":
        ent.branch(c, etype, event, payload, at)
    else:
        ent.chat(c, etype, event, payload, at)
    if not c["e"]:
        del c["e"]
    if payload and payload.get("outcome"):
        c["dout"] = str(payload["outcome"])
    if payload and payload.get("error_code"):
        c["err"] = str(payload["error_code"])
    outcome = _OUTCOME.get(etype)
    if etype == v.CALL_ABANDONED and payload and payload.get("timeout"):
        outcome = "timed_out"
    if outcome in ("transferred", "completed") and any(e.get("x") for e in c.get("e", ())):
        c["xfer"] = 1
    if outcome == "abandoned" and any(e.get("sh") for e in c.get("e", ())) \
            and not any(e.get("a") for e in c.get("e", ())):
        c["short"] = 1
    if outcome and _RANK[outcome] >= _RANK.get(c["out"], 0):
        c["out"] = outcome
    return c


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Union of two views of the same contact (anonymous history meeting the known one)."""
    out = dict(a)
    for k, val in b.items():
        if k not in out:
            out[k] = val
    out["start"] = min(a["start"], b["start"])
    out["end"] = max(a["end"], b["end"])
    if "closed" in a and "closed" in b:
        out["closed"] = min(a["closed"], b["closed"])
    if _RANK.get(b["out"], 0) > _RANK.get(a["out"], 0):
        out["out"] = b["out"]
    wrapups = [*a.get("wu", ()), *(w for w in b.get("wu", ()) if w not in a.get("wu", ()))]
    if wrapups:
        out["wu"] = sorted(wrapups, key=lambda w: (w[0], w[3]))
    entries = ent.merge_all(a.get("e", []), b.get("e", []))
    if entries:
        out["e"] = entries
    return out


def outcome_text(c: dict[str, Any]) -> str:
    """Short outcome for the snapshot; digital contacts report their own outcome."""
    if c["out"] == "open" and c.get("dout"):
        return c["dout"]
    if c.get("short"):
        return "abandoned_short"
    return str(c["out"])
