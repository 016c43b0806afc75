"""The timeline grouped into contacts, as an agent thinks of them: a call with its queues,
wait, talk, transfers and wrap-up; a chat or WeChat session; an app or web visit; a branch
visit (docs/contact-model.md).

Works on the browser's JSON timeline entries (services/web/convert.py). Durations come
from the entry attributes when the processors put them there, else from the one-line
summary the processors write ("Call answered after 12s in queue cards").
"""

from __future__ import annotations

import re
from typing import Any

SESSION_GAP_MS = 30 * 60_000  # CCB_SESSION_TIMEOUT_MIN: visits without a session id
# Interaction ids that name a person, not a contact: split into sessions by inactivity.
SPLIT = frozenset({"app", "web", "wechat"})
KINDS = {"call": "call", "chat": "chat", "wechat": "wechat", "branch": "branch_visit",
         "digital": "visit"}
# Event type -> the outcome it gives the contact (later events win).
OUTCOMES = {
    "call.answered": "answered", "call.completed": "completed", "call.abandoned": "abandoned",
    "call.timed_out": "timed_out", "call.transferred": "transferred",
    "chat.agent_joined": "answered", "chat.closed": "closed", "chat.abandoned": "abandoned",
    "chat.transferred": "transferred", "wechat.kf_create_session": "answered",
    "wechat.kf_close_session": "closed", "wechat.kf_switch_session": "transferred",
    "branch.called": "called", "branch.service_started": "in_service",
    "branch.service_ended": "completed", "branch.no_show": "no_show",
    "branch.transferred": "transferred",
}
SECONDS = {"wait_s": re.compile(r"after (\d+(?:\.\d+)?)s"),
           "talk_s": re.compile(r"talk (\d+(?:\.\d+)?)s")}
WAIT_TYPES = frozenset({"call.answered", "call.abandoned"})
TRANSFERS = frozenset({"call.transferred", "chat.transferred", "wechat.kf_switch_session",
                       "branch.transferred"})


def _seconds(entry: dict[str, Any], name: str) -> float | None:
    attrs = entry.get("attributes") or {}
    try:
        return float(attrs[name])
    except (KeyError, TypeError, ValueError):
        pass
    pattern = SECONDS.get(name)
    found = pattern.search(entry.get("summary") or "") if pattern else None
    return float(found.group(1)) if found else None


def _org(entry: dict[str, Any], key: str) -> str:
    """``queue`` or ``branch`` from the organisation text ("queue:cards/branch:sh-001")."""
    for part in (entry.get("organisation") or "").split("/"):
        name, _, value = part.partition(":")
        if name == key and value:
            return value
    return ""


def _key(entry: dict[str, Any]) -> str:
    return entry.get("interaction_id") or entry.get("event_id") or ""


def _sessions(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Entries of one interaction id (oldest first) split where the customer was idle."""
    out: list[list[dict[str, Any]]] = []
    last = None
    for entry in entries:
        at = entry.get("occurred_at_ms") or 0
        if last is None or at - last > SESSION_GAP_MS or entry.get("event_type") in (
                "chat.requested", "wechat.transfer_customer_service") and out and _closed(out[-1]):
            out.append([])
        out[-1].append(entry)
        last = at
    return out


def _closed(session: list[dict[str, Any]]) -> bool:
    return any(e.get("event_type") in ("chat.closed", "wechat.kf_close_session") for e in session)


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


def contact(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One contact from its entries (oldest first)."""
    first = entries[0]
    domain = (first.get("event_type") or "").partition(".")[0]
    out: dict[str, Any] = {
        "interaction_id": _key(first), "channel": first.get("channel") or "",
        "kind": KINDS.get(domain, "other"), "started_at_ms": first.get("occurred_at_ms") or 0,
        "ended_at_ms": entries[-1].get("occurred_at_ms") or 0, "queues": [], "agents": [],
        "branch": "", "wait_s": None, "talk_s": None, "hold_s": None, "acw_s": None,
        "transfers": 0, "wrapup": "", "outcome": "", "reasons": [], "journey_id": "",
        "steps": [],
    }
    for entry in entries:
        etype = entry.get("event_type") or ""
        queue, branch = _org(entry, "queue"), _org(entry, "branch")
        if queue and queue not in out["queues"]:
            out["queues"].append(queue)
        out["branch"] = out["branch"] or branch
        actor = entry.get("actor") or ""
        if actor.startswith("AGENT:") and actor[6:] not in out["agents"]:
            out["agents"].append(actor[6:])
        if etype in WAIT_TYPES:
            out["wait_s"] = _add(out["wait_s"], _seconds(entry, "wait_s"))
        if etype == "call.completed":
            out["talk_s"] = _add(out["talk_s"], _seconds(entry, "talk_s"))
            out["hold_s"] = _add(out["hold_s"], _seconds(entry, "hold_s"))
        if etype == "call.wrapup":
            out["acw_s"] = _add(out["acw_s"], _seconds(entry, "acw_s"))
            out["wrapup"] = entry.get("reason") or "done"
        out["transfers"] += etype in TRANSFERS
        out["outcome"] = OUTCOMES.get(etype, out["outcome"])
        reason = entry.get("reason") or ""
        if reason and reason not in out["reasons"]:
            out["reasons"].append(reason)
        out["journey_id"] = entry.get("journey_id") or out["journey_id"]
        out["steps"].append({"event_id": entry.get("event_id"), "event_type": etype,
                             "at_ms": entry.get("occurred_at_ms") or 0,
                             "summary": entry.get("summary") or etype})
    return out


def group(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contacts, newest first, from timeline entries in any order."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for entry in sorted(timeline, key=lambda e: (e.get("occurred_at_ms") or 0,
                                                 e.get("event_id") or "")):
        by_key.setdefault(_key(entry), []).append(entry)
    contacts = [contact(session) for key, entries in by_key.items()
                for session in (_sessions(entries) if key.split(":")[0] in SPLIT else [entries])]
    return sorted(contacts, key=lambda c: c["ended_at_ms"], reverse=True)
