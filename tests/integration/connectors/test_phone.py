"""The phone connector against the real broker, fed by a scripted AMI peer over real TCP."""

from __future__ import annotations

import asyncio
import time

import httpx

from connectors.ami_server import AmiServer
from connectors.desktop import create_app as create_desktop
from connectors.phone import PhoneConnector
from tests.integration.connectors.conftest import aread_topic, read_topic


def call_answered(linkedid: str, t0: float, caller: str = "13912345678") -> list[dict[str, str]]:
    """One inbound call: rung agent misses, second agent answers, holds, completes."""
    agent = f"SIP/agent-{linkedid}"

    def ts(offset: float) -> str:
        return f"{t0 + offset:.6f}"

    c = {"Uniqueid": linkedid, "Linkedid": linkedid, "CallerIDNum": caller,
         "Channel": f"SIP/trunk-{linkedid}"}
    return [
        {"Event": "Newchannel", **c, "Exten": "95555", "Timestamp": ts(0)},
        {"Event": "VarSet", **c, "Variable": "IVR_MENU", "Value": "2", "Timestamp": ts(1)},
        {"Event": "QueueCallerJoin", **c, "Queue": "cards", "Position": "3", "Count": "3",
         "Timestamp": ts(5)},
        {"Event": "AgentCalled", **c, "Queue": "cards", "MemberName": "Alice",
         "Interface": "SIP/1001", "Timestamp": ts(20)},
        {"Event": "AgentRingNoAnswer", **c, "Queue": "cards", "MemberName": "Alice",
         "RingTime": "15000", "Timestamp": ts(35)},
        {"Event": "AgentCalled", **c, "Queue": "cards", "MemberName": "Bob",
         "Interface": "SIP/1002", "Timestamp": ts(36)},
        {"Event": "AgentConnect", **c, "Queue": "cards", "MemberName": "Bob",
         "HoldTime": "34", "RingTime": "3", "Timestamp": ts(39)},
        {"Event": "Hold", "Uniqueid": f"{linkedid}-a", "Linkedid": linkedid,
         "Channel": agent, "Timestamp": ts(60)},
        {"Event": "Unhold", "Uniqueid": f"{linkedid}-a", "Linkedid": linkedid,
         "Channel": agent, "Timestamp": ts(90)},
        {"Event": "AgentComplete", **c, "Queue": "cards", "MemberName": "Bob",
         "HoldTime": "34", "TalkTime": "120", "Reason": "caller", "Timestamp": ts(159)},
        {"Event": "Hangup", "Uniqueid": f"{linkedid}-a", "Linkedid": linkedid,
         "Cause": "16", "Timestamp": ts(159)},
        {"Event": "Hangup", **c, "Cause": "16", "Cause-txt": "Normal Clearing",
         "Timestamp": ts(159)},
        {"Event": "Cdr", "UniqueID": linkedid, "Disposition": "ANSWERED", "Duration": "159",
         "BillableSeconds": "159", "DestinationChannel": agent, "LastApplication": "Queue",
         "StartTime": "2026-01-01 10:00:00", "Timestamp": ts(159)},
    ]


def call_left_queue(linkedid: str, t0: float, *, timeout: bool) -> list[dict[str, str]]:
    c = {"Uniqueid": linkedid, "Linkedid": linkedid, "CallerIDNum": "13700000001"}
    frames = [
        {"Event": "Newchannel", **c, "Timestamp": f"{t0:.3f}"},
        {"Event": "QueueCallerJoin", **c, "Queue": "loans", "Position": "1",
         "Timestamp": f"{t0 + 1:.3f}"},
        # app_queue.c raises QueueCallerAbandon for a timeout too; QUEUESTATUS comes later.
        {"Event": "QueueCallerAbandon", **c, "Queue": "loans", "Position": "1",
         "OriginalPosition": "1", "HoldTime": "60", "Timestamp": f"{t0 + 61:.3f}"},
        {"Event": "QueueCallerLeave", **c, "Queue": "loans", "Timestamp": f"{t0 + 61:.3f}"},
    ]
    if timeout:
        frames.append({"Event": "VarSet", **c, "Variable": "QUEUESTATUS", "Value": "TIMEOUT",
                       "Timestamp": f"{t0 + 61:.3f}"})
    frames.append({"Event": "Hangup", **c, "Cause": "16", "Timestamp": f"{t0 + 62:.3f}"})
    return frames


async def run_phone(settings, server: AmiServer) -> tuple[PhoneConnector, asyncio.Event,
                                                          asyncio.Task[None]]:
    phone = PhoneConnector(settings, host="127.0.0.1", port=server.port)
    stop = asyncio.Event()
    task = asyncio.create_task(phone.run(stop))
    await server.wait_client()
    return phone, stop, task


async def test_ami_calls_become_call_events_with_quirks_handled(settings_factory):
    settings = settings_factory()
    server = AmiServer(settings.ami_username, settings.ami_secret.get_secret_value())
    await server.start()
    phone, stop, task = await run_phone(settings, server)
    t0 = time.time() - 300
    await server.send(call_answered("1700000001.10", t0)
                      + call_left_queue("1700000002.20", t0, timeout=True)
                      + call_left_queue("1700000003.30", t0, timeout=False))
    events = await aread_topic(settings, "interactions", idle_s=1.5)
    stop.set()
    await task
    await server.stop()

    call = sorted((e for e in events if e["interaction_id"] == "call:1700000001.10"),
                  key=lambda e: e["occurred_at"])
    assert [e["event_type"] for e in call] == [
        "call.started", "call.queued", "call.agent_ringing", "call.ring_no_answer",
        "call.agent_ringing", "call.answered", "call.hold", "call.unhold", "call.completed",
        "call.ended", "call.cdr"]
    by_type = {e["event_type"]: e["payload"] for e in call}
    assert by_type["call.ring_no_answer"]["ring_s"] == 15.0       # RingTime is in ms there
    assert by_type["call.answered"]["wait_s"] == 34.0             # HoldTime = queue wait
    assert by_type["call.completed"]["hold_s"] == 30.0            # from Hold/Unhold
    assert by_type["call.completed"]["talk_s"] == 90.0            # TalkTime includes hold
    assert by_type["call.ended"]["cause"] == "Normal Clearing"
    assert len({e["event_id"] for e in call}) == len(call)
    assert {e["_key"] for e in call} == {"call:1700000001.10"}
    phone_ids = [i for e in call for i in e["identifiers"] if i["type"] == "PHONE"]
    assert phone_ids and {i["masked"] for i in phone_ids} == {"139****5678"}
    assert all(not i["value"].startswith("139") for i in phone_ids)

    outcome = {e["interaction_id"]: e["event_type"] for e in events
               if e["event_type"] in ("call.timed_out", "call.abandoned")}
    assert outcome == {"call:1700000002.20": "call.timed_out",
                       "call:1700000003.30": "call.abandoned"}


async def test_reconnects_after_the_peer_drops_and_loses_nothing(settings_factory):
    settings = settings_factory()
    server = AmiServer(settings.ami_username, settings.ami_secret.get_secret_value())
    await server.start()
    phone, stop, task = await run_phone(settings, server)
    t0 = time.time() - 300
    await server.send(call_answered("1700000010.1", t0))
    await server.drop_clients()  # Asterisk restarts
    await server.wait_client()
    await server.send(call_answered("1700000011.1", t0))
    events = await aread_topic(settings, "interactions", idle_s=1.5)
    stop.set()
    await task
    await server.stop()
    assert server.logins == 2
    per_call = {lid: sum(e["interaction_id"] == f"call:{lid}" for e in events)
                for lid in ("1700000010.1", "1700000011.1")}
    assert per_call == {"1700000010.1": 11, "1700000011.1": 11}


async def test_wrong_ami_secret_backs_off_without_crashing(settings_factory):
    settings = settings_factory()
    server = AmiServer("someone-else", "nope")
    await server.start()
    phone = PhoneConnector(settings, host="127.0.0.1", port=server.port)
    stop = asyncio.Event()
    task = asyncio.create_task(phone.run(stop))
    await asyncio.sleep(1.0)
    assert not task.done() and not phone.client.connected.is_set()
    stop.set()
    await task
    await server.stop()


async def test_desktop_feed_ivr_auth_and_wrapup(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_desktop(settings))
    now = int(time.time() * 1000)
    auth = {"Authorization": "Bearer desktop-dev-key"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        ok = await http.post("/v1/desktop/events", headers=auth, json=[
            {"type": "ivr_authenticated", "id": "a1", "linkedid": "1700.1", "occurred_at": now,
             "customer_number": "C0042", "phone": "13912345678",
             "card_number": "6228480012345678"},
            {"type": "wrapup", "id": "w1", "linkedid": "1700.1", "occurred_at": now,
             "agent": "Bob", "acw_s": 45, "reason": "transfer_failed"},
            {"type": "survey", "id": "s1", "linkedid": "1700.1", "occurred_at": now,
             "score": 5, "scale_max": 5}])
        bad = await http.post("/v1/desktop/events", headers=auth, json={
            "type": "ivr_authenticated", "id": "a2", "linkedid": "1700.2", "occurred_at": now})
        unauthorised = await http.post("/v1/desktop/events", json={"type": "wrapup"})
    assert ok.status_code == 200 and len(ok.json()["event_ids"]) == 3
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "customer_number"
    assert unauthorised.status_code == 401
    events = {e["event_type"]: e for e in read_topic(settings, "interactions", expect=3)}
    auth_event = events["call.ivr_authenticated"]
    assert {i["type"]: i["verified"] for i in auth_event["identifiers"]} == {
        "CUSTOMER_NUMBER": True, "PHONE": True, "CARD": True}
    card = next(i for i in auth_event["identifiers"] if i["type"] == "CARD")
    assert card["masked"] == "6228 **** **** 5678"
    assert events["call.wrapup"]["payload"]["acw_s"] == 45.0
    assert events["survey.answered"]["payload"]["score"] == 5
