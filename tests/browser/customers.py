"""Choosing a simulated customer worth showing, from the stream processor's snapshots."""

from __future__ import annotations

from typing import Any

from tests.browser.live import LiveStack, eventually

OPEN = frozenset({"open", "in_progress", "pending", "waiting", "handed_off", "active"})


def customer_number(snapshot: dict[str, Any]) -> str:
    return next((i["value"] for i in snapshot["identities"]
                 if i["type"] == "CUSTOMER_NUMBER" and i.get("verified")), "")


def answered_call(snapshot: dict[str, Any]) -> dict[str, Any] | None:
    """A timeline entry ``call.answered`` with its queue (the desktop must show both)."""
    return next((t for t in snapshot["timeline"] if t["event_type"] == "call.answered"
                 and (t.get("organisation") or {}).get("queue")), None)


def open_journeys(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in snapshot.get("journeys") or () if j.get("status") in OPEN]


def pick(live: LiveStack, timeout_s: float = 150) -> dict[str, Any]:
    """A customer with a verified customer number, an answered call in the timeline and an
    open journey; among those the one with an open complaint and the longest timeline.

    Picked once the simulated traffic is over, so the customer does not change while the
    test compares the page with the snapshot (handoffs still move the page live)."""
    eventually(live.simulator_done, timeout_s, "simulated traffic finished", interval_s=2)

    def candidates() -> list[dict[str, Any]]:
        live.check_alive()
        found = [s for s in live.snapshots() if customer_number(s) and answered_call(s)
                 and open_journeys(s)]
        return sorted(found, key=lambda s: (any(c.get("status") not in ("closed", "resolved")
                                                for c in s.get("complaints") or ()),
                                            len(s["timeline"])), reverse=True)
    def settled() -> dict[str, Any] | None:
        """The best candidate, once two reads a moment apart agree on its version."""
        first = candidates()
        if not first:
            return None
        again = {s["customer_id"]: s["version"] for s in candidates()}
        return first[0] if again.get(first[0]["customer_id"]) == first[0]["version"] else None
    try:
        return eventually(settled, timeout_s,
                          "a settled simulated customer with a call and a journey", interval_s=2)
    except AssertionError as exc:  # say why: the pipeline's own account of it
        raise AssertionError(f"{exc}\n--- worker log\n{live.tail('worker', 2000)}") from None


def mask(value: str) -> str:
    """services/context/mapping.mask_value: the display form of an identifier without one."""
    return "*" * len(value) if len(value) <= 6 else f"{value[:3]}****{value[-2:]}"
