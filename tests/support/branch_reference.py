"""Branch queue-ticket KPIs computed straight from the branch feed's JSON events: the reference.

Written apart from the product (nothing from ``stream_processors``). The unit is the queue
entry: a ticket's issue opens one in its queue, a transfer (转柜) closes it and opens one in
``to_queue`` (the same queue when only the counter changes). Per entry:

- offered: every entry; answered: called at least once (a recall does not count again) and
  not ended with no_show; abandoned: ended with no_show (过号: called, never came to the
  counter), so answered + abandoned never exceeds offered;
- wait: entry start (issued, or transferred in) → its first call;
- handle: service_started → service_ended, or → transferred for an entry transferred out.

A visit (one ticket at one branch on one business day) is one contact, counted at scopes
``branch:<b>`` and ``all`` in the interval of its issue. Scopes: ``all``, ``branch:<b>``,
``branch:<b>/queue:<q>``; an entry belongs to the interval of its start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.support.queue_log_reference import BUSINESS_TZ, interval_start

KPIS = ("offered", "answered", "abandoned", "service_level", "answer_rate",
        "abandonment_rate", "asa_s", "aht_s")
COUNTS = frozenset({"offered", "answered", "abandoned", "handled", "contacts"})
Key = tuple[str, int | None]


@dataclass
class TicketEntry:
    branch: str
    queue: str
    start_ms: int
    first_call_ms: int | None = None
    no_show: bool = False
    service_start_ms: int | None = None
    handle_end_ms: int | None = None
    closed: bool = False

    @property
    def handle_s(self) -> float | None:
        if self.service_start_ms is None or self.handle_end_ms is None:
            return None
        return (self.handle_end_ms - self.service_start_ms) / 1000


def _ms(value: Any) -> int:
    number = float(value)
    return int(number if number > 1e11 else number * 1000)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, BUSINESS_TZ).date().isoformat()


def visits(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[TicketEntry]]:
    """(branch, ticket, business day) -> the ticket's entries, in order."""
    out: dict[tuple[str, str, str], list[TicketEntry]] = {}
    ordered = sorted(enumerate(events), key=lambda x: (_ms(x[1]["occurred_at"]), x[0]))
    for _, ev in ordered:
        kind, ticket = ev.get("event"), ev.get("ticket_id")
        if ticket is None:
            continue  # counter events
        at = _ms(ev["occurred_at"])
        key = (ev["branch"], str(ticket), _day(at))
        if kind == "ticket_issued":
            if key not in out:
                out[key] = [TicketEntry(ev["branch"], ev["queue"], at)]
            continue
        entries = out.get(key)
        if not entries or entries[-1].closed:
            continue
        entry = entries[-1]
        if kind in ("called", "recalled"):
            if entry.first_call_ms is None:
                entry.first_call_ms = at
        elif kind == "no_show":
            entry.no_show, entry.closed = True, True
        elif kind == "service_started":
            if entry.service_start_ms is None:
                entry.service_start_ms = at
        elif kind == "service_ended":
            entry.handle_end_ms, entry.closed = at, True
        elif kind == "transferred":
            entry.handle_end_ms, entry.closed = at, True
            entries.append(TicketEntry(entry.branch, ev.get("to_queue") or entry.queue, at))
    return out


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def values(group: list[TicketEntry], *, sl_threshold_s: float = 600.0
           ) -> dict[str, float | None]:
    answered = [e for e in group if e.first_call_ms is not None and not e.no_show]
    waits = [((e.first_call_ms or 0) - e.start_ms) / 1000 for e in answered]
    handles = [h for h in (e.handle_s for e in group) if h is not None]
    abandoned = sum(e.no_show for e in group)
    return {
        "offered": len(group), "answered": len(answered), "abandoned": abandoned,
        "handled": len(handles),
        "service_level": _ratio(sum(w <= sl_threshold_s for w in waits), len(group)),
        "answer_rate": _ratio(len(answered), len(group)),
        "abandonment_rate": _ratio(abandoned, len(group)),
        "asa_s": _ratio(sum(waits), len(answered)),
        "aht_s": _ratio(sum(handles), len(handles)),
    }


def kpis(events: Iterable[Mapping[str, Any]], *, sl_threshold_s: float = 600.0,
         interval: str | None = "1d") -> dict[Key, dict[str, float | None]]:
    """(scope, interval start ms or None) -> KPI values; exact floats, None for 0/0."""
    groups: dict[Key, list[TicketEntry]] = {}
    contacts: dict[Key, int] = {}
    for (branch, _, _), entries in visits(events).items():
        issued = interval_start(entries[0].start_ms, interval)
        for scope in ("all", f"branch:{branch}"):
            contacts[(scope, issued)] = contacts.get((scope, issued), 0) + 1
        for e in entries:
            start = interval_start(e.start_ms, interval)
            for scope in ("all", f"branch:{branch}", f"branch:{branch}/queue:{e.queue}"):
                groups.setdefault((scope, start), []).append(e)
    out: dict[Key, dict[str, float | None]] = {}
    for key, group in groups.items():
        out[key] = values(group, sl_threshold_s=sl_threshold_s)
        if "/" not in key[0]:
            out[key]["contacts"] = contacts.get(key, 0)
    return out
