"""The handoff log's rule: the first terminal event of a handoff wins (no broker)."""

from __future__ import annotations

from typing import Any

from backbone import vocabulary
from services.context.handoff import Handoff, HandoffBook, closed_event_id


def _event(kind: str, attempt: str, at: int = 2) -> dict[str, Any]:
    return {"event_type": kind, "occurred_at": at, "journey_id": None, "reason": None,
            "payload": {"handoff_id": "h1", "from_channel": "PHONE", "to_channel": "APP",
                        "summary": None},
            "attributes": {"customer_id": "c", "attempt_id": attempt, "principal": attempt,
                           "expires_at": "100", "token_hash": "t", "code_hash": "k"}}


def test_first_terminal_event_in_log_order_wins() -> None:
    book = HandoffBook(serde=None, topic="handoffs")  # type: ignore[arg-type]
    book.apply(_event(vocabulary.HANDOFF_CREATED, "create", at=1))
    book.apply(_event(vocabulary.HANDOFF_ACCEPTED, "first"))
    book.apply(_event(vocabulary.HANDOFF_CANCELLED, "second"))
    book.apply(_event(vocabulary.HANDOFF_ACCEPTED, "third"))
    h = book.get("h1")
    assert isinstance(h, Handoff)
    assert (h.status, h.winning_attempt, h.closed_by) == ("accepted", "first", "first")
    assert book.by_token("t") is h and book.by_code("k") == [h]
    assert book.active_for("c") == []


def test_every_terminal_attempt_shares_one_event_id() -> None:
    assert closed_event_id("h1") == closed_event_id("h1") != closed_event_id("h2")
