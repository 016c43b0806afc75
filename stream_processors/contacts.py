"""Contacts sessionised per channel (a call, an app session, a chat, a branch visit).

A contact is keyed by the event's interaction id; each event moves its outcome and KPI
flags forward. Flags only ever turn on and timestamps take min/max, so applying the same
events in any order (out-of-order, late, merged from anonymous history) gives one result.
"""

from __future__ import annotations

from typing import Any

from backbone import vocabulary as v

SHORT_ABANDON_S = 5.0

QUEUED = {v.CALL_QUEUED, v.CHAT_QUEUED, v.CHAT_REQUESTED, v.BRANCH_TICKET_ISSUED,
          v.WECHAT_TRANSFER_TO_AGENT}
ANSWERED = {v.CALL_ANSWERED, v.CHAT_AGENT_JOINED, v.WECHAT_KF_CREATE, v.BRANCH_CALLED}
ABANDONED = {v.CALL_ABANDONED, v.CHAT_ABANDONED, v.BRANCH_NO_SHOW}
HANDLED = {v.CALL_COMPLETED, v.CHAT_CLOSED, v.WECHAT_KF_CLOSE, v.BRANCH_SERVICE_ENDED}
TRANSFERRED = {v.CALL_TRANSFERRED, v.CHAT_TRANSFERRED, v.WECHAT_KF_SWITCH,
               v.BRANCH_TRANSFERRED}
# Outcome precedence: a later stage of a contact wins whatever order events arrive in.
_RANK = {"open": 0, "queued": 1, "abandoned": 2, "timed_out": 2, "answered": 3,
         "transferred": 4, "completed": 5}
NOT_CONTACTS = {v.HANDOFF_CREATED, v.HANDOFF_ACCEPTED, v.HANDOFF_CANCELLED,
                v.HANDOFF_EXPIRED, v.SURVEY_ANSWERED, v.COMPLAINT_OPENED,
                v.COMPLAINT_EXTENDED, v.COMPLAINT_CLOSED, v.CUSTOMER_ERASURE_REQUESTED,
                v.IDENTITY_UNLINK_REQUESTED, v.BRANCH_COUNTER_OPENED, v.BRANCH_COUNTER_CLOSED}


def _num(payload: dict[str, Any] | None, name: str) -> float | None:
    if not payload:
        return None
    value = payload.get(name)
    return float(value) if isinstance(value, int | float) else None


def scope_of(event: dict[str, Any]) -> str | None:
    org = event.get("organisation") or {}
    if org.get("queue"):
        return f"queue:{org['queue']}"
    if org.get("branch"):
        return f"branch:{org['branch']}"
    return None


def update(contact: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """The contact after ``event``; None when the event type is not part of a contact."""
    etype = event["event_type"]
    if etype in NOT_CONTACTS:
        return contact
    at = int(event["occurred_at"])
    c = dict(contact) if contact else {"ch": event["channel"], "start": at, "end": at,
                                       "out": "open"}
    c["start"] = min(c["start"], at)
    c["end"] = max(c["end"], at)
    if event.get("reason") and not c.get("rs"):
        c["rs"] = event["reason"]
    if event.get("journey_id") and not c.get("jid"):
        c["jid"] = event["journey_id"]
    scope = scope_of(event)
    if scope and not c.get("sc"):
        c["sc"] = scope
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else None
    wait = _num(payload, "wait_s")
    outcome = None
    if etype in QUEUED:
        c["q"] = 1
        outcome = "queued"
    elif etype in ANSWERED:
        c["q"] = c["ans"] = 1
        if wait is not None:
            c["wait"] = wait
        c.setdefault("ans_at", at)
        c["ans_at"] = min(c["ans_at"], at)
        outcome = "answered"
    elif etype == v.CALL_TIMED_OUT or (etype == v.CALL_ABANDONED and payload
                                        and payload.get("timeout")):
        c["q"] = c["tmo"] = 1
        c.pop("aban", None)
        outcome = "timed_out"
    elif etype in ABANDONED:
        c["q"] = 1
        if wait is not None and wait < SHORT_ABANDON_S:
            c["short"] = 1
        else:
            c["aban"] = 1
        outcome = "abandoned"
    elif etype in HANDLED:
        c["hdl"] = 1
        ht = _handle_time(etype, payload, c, at)
        if ht is not None:
            c["ht"] = round(ht + c.get("acw", 0.0), 3)
            c["ht0"] = ht
        outcome = "completed"
    elif etype in TRANSFERRED:
        c["xfer"] = 1
        outcome = "transferred"
    elif etype == v.CALL_WRAPUP:
        acw = _num(payload, "acw_s") or 0.0
        c["acw"] = acw
        if "ht0" in c:
            c["ht"] = round(c["ht0"] + acw, 3)
    elif payload and payload.get("outcome"):
        c["dout"] = str(payload["outcome"])
    if payload and payload.get("error_code"):
        c["err"] = str(payload["error_code"])
    if outcome and _RANK[outcome] >= _RANK.get(c["out"], 0):
        c["out"] = outcome
    return c


def _handle_time(etype: str, payload: dict[str, Any] | None, c: dict[str, Any],
                 at: int) -> float | None:
    if etype == v.CALL_COMPLETED:
        talk = _num(payload, "talk_s")
        if talk is None:
            return None
        return talk + (_num(payload, "hold_s") or 0.0) + (_num(payload, "acw_s") or 0.0)
    if etype == v.BRANCH_SERVICE_ENDED:
        return _num(payload, "service_s")
    if "ans_at" in c:
        return max(0.0, (at - c["ans_at"]) / 1000.0)
    return None


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Union of two views of the same contact (anonymous history meeting the known one)."""
    out = dict(a)
    for k, val in b.items():
        if k not in out:
            out[k] = val
    out["start"] = min(a["start"], b["start"])
    out["end"] = max(a["end"], b["end"])
    if _RANK.get(b["out"], 0) > _RANK.get(a["out"], 0):
        out["out"] = b["out"]
    if "ht0" in out:  # handle time and after-call work may come from different views
        out["ht"] = round(out["ht0"] + out.get("acw", 0.0), 3)
    return out


def outcome_text(c: dict[str, Any]) -> str:
    """Short outcome for the snapshot; digital contacts report their own outcome."""
    if c["out"] == "open" and c.get("dout"):
        return c["dout"]
    if c.get("short"):
        return "abandoned_short"
    return str(c["out"])
