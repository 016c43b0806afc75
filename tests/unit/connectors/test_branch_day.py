"""A branch visit is one interaction from ticket to rating, also across midnight: ticket
numbers restart every business day, which rolls over at 04:00 branch time."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from backbone.settings import Settings
from connectors.base import Pipeline
from connectors.branch import map_event

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(days_ago: int, hour: int, minute: int) -> int:
    """Branch time, ``days_ago`` days before today (all in the past, inside the feed's
    accepted age)."""
    day = datetime.now(SHANGHAI).date() - timedelta(days=days_ago)
    return int(datetime.combine(day, time(hour, minute), SHANGHAI).timestamp() * 1000)


def _iid(pipeline: Pipeline, kind: str, at: int, ticket: str = "A023") -> str:
    body = {"event": kind, "branch": "SH-017", "ticket_id": ticket, "queue": "personal",
            "occurred_at": at}
    if kind == "rating_submitted":
        body["score"] = 5
        return str(map_event(pipeline, "branch", body).payload.about_interaction_id)
    return str(map_event(pipeline, "branch", body).interaction_id)


def test_a_visit_across_midnight_stays_one_interaction_and_numbers_restart_at_four() -> None:
    settings = Settings(schema_registry_url=f"mock://{uuid.uuid4().hex}",
                        hmac_key="unit-test-key")  # type: ignore[arg-type]
    p = Pipeline(settings, "branch")
    issued = _iid(p, "ticket_issued", _at(2, 23, 50))
    assert _iid(p, "service_ended", _at(1, 0, 5)) == issued
    assert _iid(p, "rating_submitted", _at(1, 0, 10)) == issued
    # The same ticket number on the next business day is another visit.
    assert _iid(p, "ticket_issued", _at(1, 4, 1)) != issued
    assert _iid(p, "ticket_issued", _at(1, 3, 59)) == issued
