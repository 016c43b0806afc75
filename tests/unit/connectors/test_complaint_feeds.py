"""A complaint can be opened on every channel, and the desk drives its lifecycle
(docs/complaints.md): what each feed publishes."""

from __future__ import annotations

import time
from base64 import b64encode

import pytest

from connectors import app_web, branch, desktop
from connectors.base import Pipeline
from connectors.wechat import WeChatMapper

NOW = int(time.time() * 1000)
DESK = {"Authorization": "Bearer desktop-dev-key"}


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{key}:".encode()).decode()}


async def test_phone_desk_opens_assigns_extends_and_resolves(served, unit_settings):
    client, kafka = await served(desktop.create_app, unit_settings, "desktop")
    steps = [
        {"type": "complaint_opened", "linkedid": "1.1", "complaint_id": "CP-1",
         "category": "fees", "promise": "call back tomorrow"},
        {"type": "complaint_assigned", "complaint_id": "CP-1", "customer_number": "C1",
         "owner": "agent:a7", "team": "cards"},
        {"type": "complaint_extended", "complaint_id": "CP-1", "customer_number": "C1",
         "reason": "waiting for the merchant"},
        {"type": "complaint_resolved", "complaint_id": "CP-1", "customer_number": "C1",
         "satisfaction": 4, "satisfaction_max": 5},
    ]
    body = [dict(s, id=f"d{i}", occurred_at=NOW) for i, s in enumerate(steps)]
    resp = await client.post("/v1/desktop/events", json=body, headers=DESK)
    assert resp.status == 200, await resp.text()
    events = kafka.events()
    assert [e["event_type"] for e in events] == [
        "complaint.opened", "complaint.assigned", "complaint.extended", "complaint.resolved"]
    assert events[0]["interaction_id"] == "call:1.1"  # routed like the call
    assert events[1]["interaction_id"] == "complaint:CP-1"
    assert events[1]["attributes"] == {"complaint_owner": "agent:a7", "complaint_team": "cards"}
    assert events[2]["attributes"]["complaint_reason"] == "waiting for the merchant"
    assert events[3]["attributes"]["complaint_satisfaction"] == "4"


@pytest.mark.parametrize("step, missing", [
    ({"type": "complaint_extended", "customer_number": "C1"}, "reason"),
    ({"type": "complaint_assigned", "customer_number": "C1"}, "owner"),
    ({"type": "complaint_closed"}, "customer_number"),  # no call and no customer
])
async def test_desk_steps_without_what_they_need_are_refused(served, unit_settings, step,
                                                             missing):
    client, kafka = await served(desktop.create_app, unit_settings, "desktop")
    resp = await client.post("/v1/desktop/events", headers=DESK, json=dict(
        step, id="x", complaint_id="CP-2", occurred_at=NOW))
    assert resp.status == 400
    assert (await resp.json())["rejected"][0]["field"] == missing
    assert kafka.events() == []


async def test_app_opens_with_a_client_key_but_cannot_close(served, unit_settings):
    client, kafka = await served(app_web.create_app, unit_settings, "app_web")
    opened = {"type": "track", "event": "Complaint Opened", "userId": "u1",
              "messageId": "m1", "properties": {"complaint_id": "CP-3", "category": "app"}}
    resp = await client.post("/v1/batch", json={"batch": [opened]},
                             headers=_basic("app-dev-write-key"))
    assert resp.status == 200
    closed = dict(opened, event="Complaint Closed", messageId="m2")
    resp = await client.post("/v1/batch", json={"batch": [closed]},
                             headers=_basic("app-dev-write-key"))
    assert resp.status == 400
    assert [e["event_type"] for e in kafka.events()] == ["complaint.opened"]
    assert kafka.events()[0]["channel"] == "APP"


async def test_branch_counter_app_opens_with_the_ticket(served, unit_settings):
    client, kafka = await served(branch.create_app, unit_settings, "branch")
    resp = await client.post("/v1/branch/events", headers={
        "Authorization": "Bearer branch-dev-key"}, json={
        "event": "complaint_opened", "branch": "B1", "ticket_id": "A001",
        "occurred_at": NOW, "complaint_id": "CP-4", "category": "queue",
        "promise": "manager calls back"})
    assert resp.status == 200, await resp.text()
    [event] = kafka.events()
    assert event["event_type"] == "complaint.opened" and event["channel"] == "BRANCH"
    assert event["interaction_id"].startswith("branch:B1:A001:")
    assert event["attributes"] == {"complaint_promise": "manager calls back"}


def _push(**fields: str) -> dict[str, str]:
    return {"ToUserName": "gh", "FromUserName": "oX", "CreateTime": str(NOW // 1000)} | fields


@pytest.mark.parametrize("msg", [
    _push(MsgType="text", MsgId="77", Content="我要投诉信用卡年费"),
    _push(MsgType="event", Event="CLICK", EventKey="COMPLAINT"),
])
def test_wechat_message_or_menu_click_opens_a_complaint_once(unit_settings, msg):
    mapper = WeChatMapper(Pipeline(unit_settings, "test"))
    events, _ = mapper.map(msg)
    opened = [e for e in events if e.event_type == "complaint.opened"]
    assert len(opened) == 1 and opened[0].channel == "WECHAT"
    again, _ = mapper.map(msg)  # WeChat's retry: the same complaint, the same event
    assert [e.event_id for e in again if e.event_type == "complaint.opened"] == [
        opened[0].event_id]
    assert opened[0].payload.complaint_id.startswith("WX-")  # type: ignore[union-attr]


def test_an_ordinary_wechat_message_opens_nothing(unit_settings):
    events, _ = WeChatMapper(Pipeline(unit_settings, "test")).map(
        _push(MsgType="text", MsgId="78", Content="余额多少"))
    assert [e.event_type for e in events] == ["wechat.message"]
