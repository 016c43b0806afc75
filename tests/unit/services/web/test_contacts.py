"""The desktop's contacts: timeline entries grouped as an agent thinks of them."""

from __future__ import annotations

from typing import Any

from services.web.contacts import group

T0 = 1_790_000_000_000


def entry(i: int, etype: str, iid: str, *, at_s: int, channel: str = "PHONE", **fields: Any
          ) -> dict[str, Any]:
    base = {"event_id": f"e{i}", "event_type": etype, "channel": channel,
            "occurred_at_ms": T0 + at_s * 1000, "interaction_id": iid, "journey_id": "",
            "reason": "", "actor": "", "organisation": "", "summary": etype, "attributes": {}}
    return base | fields


def test_a_transferred_call_is_one_contact_with_both_queues_wait_talk_and_wrap_up() -> None:
    call = "call:1790000000.1"
    timeline = [
        entry(1, "call.started", call, at_s=0),
        entry(2, "call.queued", call, at_s=5, organisation="queue:cards"),
        entry(3, "call.answered", call, at_s=17, organisation="queue:cards", actor="AGENT:a-1",
              summary="Call answered after 12s in queue cards"),
        entry(4, "call.transferred", call, at_s=60, organisation="queue:cards"),
        entry(5, "call.completed", call, at_s=60, organisation="queue:cards",
              summary="Call completed, talk 43s"),
        entry(6, "call.queued", call, at_s=61, organisation="queue:loans"),
        entry(7, "call.answered", call, at_s=70, organisation="queue:loans", actor="AGENT:a-2",
              summary="Call answered after 9s in queue loans"),
        entry(8, "call.completed", call, at_s=200, organisation="queue:loans",
              attributes={"talk_s": "130"}, summary="Call completed, talk 130s"),
        entry(9, "call.wrapup", call, at_s=230, reason="card_blocked", actor="AGENT:a-2",
              attributes={"acw_s": "30"}),
        entry(10, "digital.screen", "app:u1", at_s=5, channel="APP"),
    ]
    contacts = group(list(reversed(timeline)))  # newest first, as the service pages them
    assert [c["kind"] for c in contacts] == ["call", "visit"]
    call_contact = contacts[0]
    assert call_contact["queues"] == ["cards", "loans"]
    assert call_contact["wait_s"] == 21 and call_contact["talk_s"] == 173
    assert call_contact["transfers"] == 1
    assert call_contact["wrapup"] == "card_blocked" and call_contact["acw_s"] == 30
    assert call_contact["agents"] == ["a-1", "a-2"]
    assert call_contact["outcome"] == "completed"
    assert [s["event_id"] for s in call_contact["steps"]] == [f"e{i}" for i in range(1, 10)]


def test_visits_split_after_inactivity_and_chat_sessions_after_a_close() -> None:
    wechat = "wechat:hash-of-openid"
    timeline = [
        entry(1, "wechat.message", wechat, at_s=0, channel="WECHAT"),
        entry(2, "wechat.transfer_customer_service", wechat, at_s=10, channel="WECHAT"),
        entry(3, "wechat.kf_create_session", wechat, at_s=40, channel="WECHAT"),
        entry(4, "wechat.kf_close_session", wechat, at_s=400, channel="WECHAT"),
        entry(5, "wechat.transfer_customer_service", wechat, at_s=500, channel="WECHAT"),
        entry(6, "digital.screen", "app:u1", at_s=0, channel="APP"),
        entry(7, "digital.screen", "app:u1", at_s=31 * 60, channel="APP"),
    ]
    contacts = group(timeline)
    sessions = [c for c in contacts if c["kind"] == "wechat"]
    assert [len(c["steps"]) for c in sorted(sessions, key=lambda c: c["started_at_ms"])] == [4, 1]
    assert sorted(c["outcome"] for c in sessions) == ["", "closed"]
    assert len([c for c in contacts if c["kind"] == "visit"]) == 2


def test_a_branch_visit_keeps_its_branch_and_ends_in_service() -> None:
    ticket = "branch:sh-001:A012:20260101"
    timeline = [
        entry(1, "branch.ticket_issued", ticket, at_s=0, channel="BRANCH",
              organisation="branch:sh-001/queue:personal"),
        entry(2, "branch.called", ticket, at_s=300, channel="BRANCH",
              organisation="branch:sh-001/queue:personal"),
        entry(3, "branch.service_ended", ticket, at_s=900, channel="BRANCH",
              organisation="branch:sh-001/queue:personal"),
    ]
    [visit] = group(timeline)
    assert visit["kind"] == "branch_visit" and visit["branch"] == "sh-001"
    assert visit["queues"] == ["personal"] and visit["outcome"] == "completed"
