"""The branch queue-ticket feed against the real broker, over plain HTTP."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from connectors.branch import create_app
from tests.integration.connectors.conftest import read_topic

AUTH = {"Authorization": "Bearer branch-dev-key"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _yesterday_at(hour: int, minute: int) -> int:
    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    at = datetime.combine(day, datetime.min.time(), SHANGHAI).replace(hour=hour, minute=minute)
    return int(at.timestamp() * 1000)


async def test_a_ticket_from_issue_to_rating(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    # 23:50 yesterday, branch time: the rating comes after midnight and still belongs to
    # the visit (the branch business day rolls over at 04:00, connectors/branch.py).
    t = _yesterday_at(23, 50)
    common = {"branch": "SH-017", "ticket_id": "A023", "queue": "personal"}
    feed = [
        {"event": "counter_opened", "branch": "SH-017", "counter": "05", "teller": "T9",
         "occurred_at": t},
        {"event": "ticket_issued", **common, "service": "transfer", "occurred_at": t + 1000},
        {"event": "called", **common, "counter": "05", "wait_s": 540, "occurred_at": t + 541000},
        {"event": "recalled", **common, "counter": "05", "occurred_at": t + 600000},
        {"event": "service_started", **common, "counter": "05", "teller": "T9",
         "occurred_at": t + 620000},
        {"event": "identified", **common, "counter": "05", "teller": "T9",
         "occurred_at": t + 630000, "customer": {
             "id_number": "11010519491231002X", "card_number": "6228 4800 1234 5678",
             "customer_number": "C0042"}},
        {"event": "transferred", **common, "to_queue": "wealth", "to_counter": "08",
         "occurred_at": t + 700000},
        {"event": "service_ended", **common, "counter": "08", "service_s": 480,
         "reason": "transfer_failed", "occurred_at": t + 1100000},
        {"event": "rating_submitted", **common, "score": 5, "occurred_at": t + 1110000},
    ]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.post("/v1/branch/events", headers=AUTH, json=feed)
        again = await http.post("/v1/branch/events", headers=AUTH, json=feed[1])  # a retry
    assert resp.status_code == 200 and again.status_code == 200
    assert again.json()["event_ids"][0] == resp.json()["event_ids"][1]  # same id on retry
    events = {e["event_type"]: e for e in read_topic(settings, "interactions", idle_s=1.5)}
    assert set(events) == {
        "branch.counter_opened", "branch.ticket_issued", "branch.called", "branch.recalled",
        "branch.service_started", "branch.identified", "branch.transferred",
        "branch.service_ended", "survey.answered"}
    ident = events["branch.identified"]
    masks = {i["type"]: (i["masked"], i["verified"]) for i in ident["identifiers"]}
    assert masks == {"ID_NUMBER": ("110***********002X", True),
                     "CARD": ("6228 **** **** 5678", True), "CUSTOMER_NUMBER": (None, True)}
    assert "11010519491231002X" not in str(ident)
    assert events["branch.called"]["payload"]["wait_s"] == 540.0
    assert events["branch.transferred"]["payload"]["to_queue"] == "wealth"
    assert events["survey.answered"]["payload"]["about_interaction_id"] == \
        events["branch.ticket_issued"]["interaction_id"]
    assert events["branch.ticket_issued"]["organisation"]["branch"] == "SH-017"


async def test_bad_branch_events(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    now = int(time.time() * 1000)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        cases = {
            "unknown_type": await http.post("/v1/branch/events", headers=AUTH, json={
                "event": "teleported", "branch": "B", "ticket_id": "A1", "occurred_at": now}),
            "missing_field": await http.post("/v1/branch/events", headers=AUTH, json={
                "event": "called", "branch": "B", "occurred_at": now}),
            "wrong_type": await http.post("/v1/branch/events", headers=AUTH, json={
                "event": "called", "branch": "B", "ticket_id": "A1", "occurred_at": now,
                "wait_s": "long"}),
            "timestamp_too_old": await http.post("/v1/branch/events", headers=AUTH, json={
                "event": "called", "branch": "B", "ticket_id": "A1", "occurred_at": 1}),
            "invalid_field": await http.post("/v1/branch/events", headers=AUTH, json={
                "event": "rating_submitted", "branch": "B", "ticket_id": "A1",
                "occurred_at": now, "score": 9}),
            "unauthorized": await http.post("/v1/branch/events", json={}),
        }
    for code, resp in cases.items():
        assert 400 <= resp.status_code < 500 and resp.json()["error"]["code"] == code, code
    # An unauthenticated request leaves no dead letter (its body is nobody's data to keep).
    dead = read_topic(settings, "dead-letters", expect=len(cases) - 1)
    assert sorted(d["reason"] for d in dead) == sorted(set(cases) - {"unauthorized"})
