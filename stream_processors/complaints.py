"""The complaint book (投诉台账) of one customer: pure lifecycle rules and the regulatory
due date (docs/complaints.md).

Due dates follow the rule for bank consumer complaints: a decision within 15 days of
receipt, extendable to 30 days, and by another 30 days (60 in all) for especially complex
cases. A day is a calendar day in the business time zone: the day of receipt is not
counted and the last day ends at local midnight (the civil-law way of counting periods),
so a complaint received on 1 March at any hour is due at 00:00 local on 17 March.

The clock stops when the decision is given to the customer (``resolved``), or at
``closed`` if it was never marked resolved; a reopened complaint runs on against its
existing due date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from backbone import vocabulary as v

TIERS = (15, 30, 60)  # days: standard, extended, especially complex
OPEN = frozenset({"opened", "acknowledged", "assigned", "escalated", "extended",
                  "reopened"})
DONE = frozenset({"resolved", "closed"})
STEPS: dict[str, str] = {
    v.COMPLAINT_OPENED: "opened", v.COMPLAINT_ACKNOWLEDGED: "acknowledged",
    v.COMPLAINT_ASSIGNED: "assigned", v.COMPLAINT_UPDATED: "updated",
    v.COMPLAINT_ESCALATED: "escalated", v.COMPLAINT_EXTENDED: "extended",
    v.COMPLAINT_RESOLVED: "resolved", v.COMPLAINT_CLOSED: "closed",
    v.COMPLAINT_REOPENED: "reopened",
}
# What the lifecycle events carry besides ComplaintPayload, in the event's attributes.
ATTRIBUTES = ("complaint_owner", "complaint_team", "complaint_reason", "complaint_promise",
              "complaint_satisfaction", "complaint_satisfaction_max")


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def due_at(received_at: int, days: int, tz: str) -> int:
    """Epoch ms at which a ``days``-day period from ``received_at`` ends: local midnight
    at the end of the ``days``-th calendar day after the day of receipt."""
    zone = _zone(tz)
    day = datetime.fromtimestamp(received_at / 1000, zone).date() + timedelta(days=days + 1)
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp() * 1000)


def next_tier(tier: int) -> int:
    """15 -> 30 -> 60; a 60-day complaint cannot be extended again."""
    later = [t for t in TIERS if t > tier]
    return later[0] if later else tier


def is_open(c: Mapping[str, Any]) -> bool:
    return c.get("st") in OPEN


def done_at(c: Mapping[str, Any]) -> int | None:
    """When the SLA clock stopped: the decision (resolved), else the closing."""
    if c.get("st") not in DONE:
        return None
    return c.get("res") or c.get("closed")


def apply(c: dict[str, Any] | None, etype: str, p: Mapping[str, Any],
          attrs: Mapping[str, str], channel: str, at: int, actor: str | None,
          tz: str) -> dict[str, Any]:
    """The complaint record after one lifecycle event (a new dict; ``c`` is not changed)."""
    step = STEPS.get(etype, "updated")
    if step == "opened" and c is not None:
        step = "updated"  # a late or repeated opening moves nothing back
        c = dict(c, opened=min(c.get("opened", at), at), ch=channel)
        if not p.get("due_at"):
            c["due"] = due_at(c["opened"], c.get("tier", TIERS[0]), tz)
    c = dict(c or {"st": "opened", "ch": channel, "opened": at, "tier": TIERS[0]})
    c.setdefault("due", due_at(c["opened"], c.get("tier", TIERS[0]), tz))
    if step == "extended":
        c["tier"] = next_tier(c.get("tier", TIERS[0]))
        c["due"] = due_at(c["opened"], c["tier"], tz)
    elif step == "escalated":
        c["esc"] = c.get("esc", 0) + 1
    elif step == "acknowledged":
        c.setdefault("ack", at)
    elif step == "resolved":
        c["res"] = at
    elif step == "closed":
        c["closed"] = at
    elif step == "reopened":
        c.pop("res", None)
        c.pop("closed", None)
        c["reopened"] = c.get("reopened", 0) + 1
    if p.get("due_at") and step not in ("resolved", "closed"):
        c["due"] = int(p["due_at"])  # the bank's own (earlier) promise wins when given
    _details(c, p, attrs, step, actor)
    return c


def _details(c: dict[str, Any], p: Mapping[str, Any], attrs: Mapping[str, str], step: str,
             actor: str | None) -> None:
    if p.get("category"):
        c["cat"] = p["category"]
    for key, short in (("complaint_owner", "own"), ("complaint_team", "team"),
                       ("complaint_promise", "prom")):
        if attrs.get(key):
            c[short] = attrs[key]
    if step == "assigned" and not attrs.get("complaint_owner") and actor:
        c["own"] = actor
    if attrs.get("complaint_reason"):
        c["why" if step == "extended" else "note"] = attrs["complaint_reason"]
    score = attrs.get("complaint_satisfaction")
    if score and score.lstrip("-").isdigit():
        c["sat"] = int(score)
        top = attrs.get("complaint_satisfaction_max", "5")
        c["sat_max"] = int(top) if top.isdigit() else 5
    if step != "updated" and not (step == "resolved" and c.get("st") == "closed"):
        c["st"] = step


def facts(c: Mapping[str, Any]) -> list[tuple[str, int, dict[str, float]]]:
    """(bucket kind, minute-or-ms, counters) one complaint adds to the KPI counters:
    opened at its opening; on time / late where its clock stopped; still open by due date."""
    out: list[tuple[str, int, dict[str, float]]] = [
        ("t", int(c.get("opened", 0)), {"complaints_opened": 1})]
    stop = done_at(c)
    if stop is not None:
        f: dict[str, float] = {"complaints_closed": 1,
                               "complaints_on_time": 1 if stop <= c.get("due", 0) else 0}
        if c.get("res"):
            f["complaints_resolved"] = 1
        if c.get("sat") is not None:
            top = c.get("sat_max") or 5
            f["complaint_sat_n"] = 1
            f["complaint_sat_top2"] = 1 if c["sat"] >= top - 1 else 0
        out.append(("t", int(stop), f))
    else:
        out.append(("due", int(c.get("due", 0)), {"open": 1}))
    return out


def book(complaints: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The snapshot's complaint list: what was promised, by whom, and by when."""
    return [{"complaint_id": k, "status": c["st"], "category": c.get("cat"),
             "opened_at": c.get("opened"), "due_at": c.get("due"),
             "channel": c.get("ch"), "owner": c.get("own"), "team": c.get("team"),
             "tier_days": c.get("tier"), "escalations": c.get("esc", 0),
             "promise": c.get("prom"), "resolved_at": c.get("res"),
             "closed_at": c.get("closed"), "satisfaction": c.get("sat")}
            for k, c in sorted(complaints.items())]
