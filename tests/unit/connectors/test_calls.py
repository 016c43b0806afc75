"""AMI event mapping, including the app_queue.c quirks a correct connector must know."""

from __future__ import annotations

import time

import pytest

from backbone.errors import ValidationError
from connectors.ami import action, parse_frame
from connectors.base import Pipeline
from connectors.calls import ABANDON_GRACE_S, CallMapper
from connectors.phone import PhoneConnector
from tests.unit.connectors.conftest import RecordingPublisher

C = {"Uniqueid": "1.1", "Linkedid": "1.1", "CallerIDNum": "13912345678"}


@pytest.fixture
def mapper(unit_settings) -> CallMapper:
    return CallMapper(Pipeline(unit_settings, "test"))


def one(mapper, frame):
    [event] = mapper.map(frame)
    return event


def test_frames_parse_and_actions_encode():
    frame = parse_frame(b"Event: Hangup\r\nUniqueid: 1.1\r\nCause-txt: Normal: ok\r\n\r\n")
    assert frame == {"Event": "Hangup", "Uniqueid": "1.1", "Cause-txt": "Normal: ok"}
    assert action("Login", Username="u") == b"Action: Login\r\nUsername: u\r\n\r\n"


def test_ring_no_answer_is_in_milliseconds(mapper):
    event = one(mapper, {"Event": "AgentRingNoAnswer", **C, "MemberName": "A",
                         "RingTime": "15000"})
    assert event.payload.ring_s == 15.0


def test_talk_time_excludes_customer_hold(mapper):
    t = time.time() - 600
    mapper.map({"Event": "Hold", "Uniqueid": "1.1-a", "Linkedid": "1.1", "Timestamp": f"{t}"})
    mapper.map({"Event": "Unhold", "Uniqueid": "1.1-a", "Linkedid": "1.1",
                "Timestamp": f"{t + 30}"})
    event = one(mapper, {"Event": "AgentComplete", **C, "MemberName": "B", "HoldTime": "20",
                         "TalkTime": "200"})
    assert (event.payload.wait_s, event.payload.hold_s, event.payload.talk_s) == (20, 30, 170)


def test_queue_timeout_is_not_an_abandon(mapper):
    assert mapper.map({"Event": "QueueCallerAbandon", **C, "Queue": "q", "HoldTime": "60",
                       "Position": "1", "OriginalPosition": "2"}) == []
    event = one(mapper, {"Event": "VarSet", **C, "Variable": "QUEUESTATUS", "Value": "TIMEOUT"})
    assert event.event_type == "call.timed_out" and event.payload.timeout


def test_abandon_is_confirmed_by_hangup_or_grace_time(mapper):
    mapper.map({"Event": "QueueCallerAbandon", **C, "Queue": "q", "HoldTime": "7"})
    types = [e.event_type for e in mapper.map({"Event": "Hangup", **C, "Cause": "16"})]
    assert types == ["call.abandoned", "call.ended"]
    other = {**C, "Uniqueid": "2.2", "Linkedid": "2.2"}
    mapper.map({"Event": "QueueCallerAbandon", **other, "Queue": "q"})
    assert [e.event_type for e in mapper.expire(now=10**12)] == ["call.abandoned"]


def test_two_cdrs_of_a_transferred_call_are_two_events(mapper):
    mapper.map({"Event": "Newchannel", **C})
    first = one(mapper, {"Event": "Cdr", "UniqueID": "1.1", "DestinationChannel": "SIP/a",
                         "StartTime": "2026-01-01 10:00:00", "Disposition": "ANSWERED"})
    second = one(mapper, {"Event": "Cdr", "UniqueID": "1.1", "DestinationChannel": "SIP/b",
                          "StartTime": "2026-01-01 10:05:00", "Disposition": "ANSWERED"})
    assert first.event_id != second.event_id
    assert first.interaction_id == second.interaction_id == "call:1.1"


def test_repeated_events_on_one_channel_get_distinct_ids(mapper):
    a = one(mapper, {"Event": "AgentCalled", **C, "MemberName": "A"})
    b = one(mapper, {"Event": "AgentCalled", **C, "MemberName": "A"})
    assert a.event_id != b.event_id


def test_agent_legs_do_not_start_or_end_calls(mapper):
    leg = {"Uniqueid": "1.2", "Linkedid": "1.1", "CallerIDNum": "1001"}
    assert mapper.map({"Event": "Newchannel", **leg}) == []
    assert mapper.map({"Event": "Hangup", **leg}) == []


def test_caller_number_is_hashed_and_masked(mapper):
    event = one(mapper, {"Event": "Newchannel", **C})
    [ident] = event.identifiers
    assert ident.masked == "139****5678" and "13912345678" not in ident.value
    assert not ident.verified


def test_blind_transfer_keeps_the_callers_interaction(mapper):
    event = one(mapper, {"Event": "BlindTransfer", "Result": "Success",
                         "TransfererUniqueid": "1.2", "TransfererLinkedid": "1.1",
                         "TransfereeLinkedid": "1.1", "Extension": "8002",
                         "Context": "queues"})
    assert event.event_type == "call.transferred"
    assert event.interaction_id == "call:1.1" and event.payload.transfer_to == "8002@queues"


def test_events_without_ids_are_refused(mapper):
    with pytest.raises(ValidationError):
        mapper.map({"Event": "AgentConnect", "MemberName": "A"})


def test_unmapped_events_are_ignored(mapper):
    assert mapper.map({"Event": "RTCPSent", **C}) == []


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_held_abandon_survives_an_invalid_next_frame(unit_settings):
    clock = Clock()
    mapper = CallMapper(Pipeline(unit_settings, "test"), clock=clock)
    assert mapper.map({"Event": "QueueCallerAbandon", **C, "Queue": "q", "HoldTime": "7"}) == []
    clock.now += ABANDON_GRACE_S + 1
    with pytest.raises(ValidationError):  # no Uniqueid: this frame is refused ...
        mapper.map({"Event": "AgentConnect", "MemberName": "A"})
    [abandon] = mapper.expire()  # ... and the abandon held back is still there
    assert abandon.event_type == "call.abandoned" and abandon.payload.wait_s == 7
    assert mapper.expire() == []  # emitted once


def test_abandon_with_a_refused_timestamp_is_refused_when_it_arrives(mapper):
    with pytest.raises(ValidationError):
        mapper.map({"Event": "QueueCallerAbandon", **C, "Queue": "q", "Timestamp": "1.0"})
    assert mapper.expire(now=10**12) == []


async def test_phone_connector_publishes_expired_abandons_before_a_refused_frame(
        unit_settings):
    kafka = RecordingPublisher()
    pipeline = Pipeline(unit_settings, "phone", publisher=kafka)  # type: ignore[arg-type]
    kafka.pipeline = pipeline
    phone = PhoneConnector(unit_settings, pipeline=pipeline)
    clock = Clock()
    phone.mapper = CallMapper(pipeline, clock=clock)
    await phone.handle({"Event": "QueueCallerAbandon", **C, "Queue": "q", "HoldTime": "9"})
    assert kafka.events() == []  # held back: it may still turn out to be a queue timeout
    clock.now += ABANDON_GRACE_S + 1
    await phone.handle({"Event": "AgentConnect", "MemberName": "A"})  # invalid: no Uniqueid
    await phone.drain()
    [abandon] = kafka.events()
    assert abandon["event_type"] == "call.abandoned" and abandon["interaction_id"] == "call:1.1"
    [dead] = kafka.dead_letters()
    assert dead["reason"] == "missing_field"
