"""The fast path (plain dicts + compiled Avro writer) writes exactly what the pydantic path
(models + confluent's AvroSerializer) writes, for representative events of every channel,
and keeps every rule: trust, text dropping, clear errors."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import fastavro
import pytest

from backbone import models, serde
from backbone.errors import SerializationError, ValidationError
from backbone.models import Channel, IdentifierType, InteractionEvent
from backbone.settings import Settings
from connectors import branch, desktop
from connectors import records as rec
from connectors.base import Pipeline
from connectors.calls import CallMapper
from connectors.records import Prepared, without_type_hints
from connectors.segment import SegmentMapper
from connectors.wechat import WeChatMapper

NOW = int(time.time() * 1000)
TOPIC = "ccb.interactions"


@pytest.fixture
def pipeline(unit_settings: Settings) -> Pipeline:
    return Pipeline(unit_settings, "test")


def _slow_bytes(pipeline: Pipeline, event: InteractionEvent) -> bytes:
    """The reference: pydantic model → to_avro → confluent AvroSerializer (fastavro)."""
    return pipeline._events.serialize(pipeline.topic, event.to_avro())


def _assert_same_as_pydantic_path(pipeline: Pipeline, prepared: Prepared) -> None:
    model = InteractionEvent.model_validate(without_type_hints(prepared.record))
    assert model.to_avro() == prepared.record  # same dict, field for field
    assert prepared.value == _slow_bytes(pipeline, model)  # same bytes, header included
    assert pipeline._events.deserialize(pipeline.topic, prepared.value)["event_id"] == \
        prepared.event_id


def segment_messages() -> list[tuple[Channel, dict[str, Any]]]:
    ctx = {"device": {"id": "dev-9"}, "session_id": "s-ctx"}
    return [
        (Channel.APP, {"type": "identify", "messageId": "m1", "userId": "u1",
                       "anonymousId": "d1", "context": ctx,
                       "traits": {"customer_number": "C42", "phone": "+86 138 1234 5678"}}),
        (Channel.WEB, {"type": "identify", "messageId": "m2", "anonymousId": "ck"}),
        (Channel.APP, {"type": "track", "messageId": "m3", "userId": "u1", "anonymousId": "d1",
                       "event": "Transfer Failed", "timestamp": "2026-11-27T10:00:00Z",
                       "sentAt": "2026-11-27T10:00:01Z",
                       "properties": {"error_code": "E-LIMIT", "amount": 5, "ok": True,
                                      "phone": "13812345678", "session_id": "s1",
                                      "reason": "transfer_failed", "correlation_id": "c-1"}}),
        (Channel.APP, {"type": "track", "messageId": "m4", "userId": "u1",
                       "event": "Signed In", "traits": {"customerNumber": "C42"}}),
        (Channel.WEB, {"type": "page", "messageId": "m5", "anonymousId": "ck", "name": "Home"}),
        (Channel.APP, {"type": "screen", "messageId": "m6", "userId": "u1"}),
        (Channel.WEB, {"type": "alias", "messageId": "m7", "userId": "w1", "previousId": "ck"}),
        (Channel.WEB, {"type": "group", "messageId": "m8", "userId": "w1"}),
        (Channel.WEB, {"type": "track", "messageId": "m9", "anonymousId": "ck",
                       "event": "Chat Agent Joined",
                       "properties": {"chat_id": "c9", "agent": "a7", "wait_s": 12}}),
        (Channel.WEB, {"type": "track", "messageId": "m10", "anonymousId": "ck",
                       "event": "Chat Message",
                       "properties": {"chat_id": "c9", "text": "my card 6228...",
                                      "message_id": "x1"}}),
        (Channel.APP, {"type": "track", "messageId": "m11", "userId": "u1",
                       "event": "Survey Answered",
                       "properties": {"kind": "NPS", "score": 9, "about_interaction_id": "i"}}),
        (Channel.APP, {"type": "track", "messageId": "m12", "userId": "u1",
                       "event": "Complaint Opened",
                       "properties": {"complaint_id": "K1", "category": "fees",
                                      "due_at": "2026-12-27T00:00:00Z"}}),
    ]


@pytest.mark.parametrize(("channel", "msg"), segment_messages(),
                         ids=[m["messageId"] for _, m in segment_messages()])
def test_app_and_web_events_match_the_pydantic_path(pipeline, channel, msg):
    prepared = SegmentMapper(pipeline).map(msg, channel, sent_at=None, received_ms=NOW)
    _assert_same_as_pydantic_path(pipeline, prepared)


def call_frames() -> list[dict[str, str]]:
    t = time.time() - 600
    c = {"Uniqueid": "1.1", "Linkedid": "1.1", "CallerIDNum": "13912345678"}
    frames = [
        {"Event": "Newchannel", **c, "Exten": "95588"},
        {"Event": "QueueCallerJoin", **c, "Queue": "cards", "Position": "2"},
        {"Event": "AgentCalled", **c, "Queue": "cards", "MemberName": "Agent/7"},
        {"Event": "AgentRingNoAnswer", **c, "Queue": "cards", "MemberName": "Agent/7",
         "RingTime": "15000"},
        {"Event": "AgentConnect", **c, "Queue": "cards", "MemberName": "Agent/8",
         "HoldTime": "20", "RingTime": "3"},
        {"Event": "Hold", **c, "Uniqueid": "1.1-a", "MemberName": "Agent/8"},
        {"Event": "Unhold", **c, "Uniqueid": "1.1-a", "MemberName": "Agent/8"},
        {"Event": "AgentComplete", **c, "Queue": "cards", "MemberName": "Agent/8",
         "HoldTime": "20", "TalkTime": "200", "Reason": "agent"},
        {"Event": "BlindTransfer", "TransfererUniqueid": "1.1", "TransfereeLinkedid": "1.1",
         "Extension": "8002", "Context": "queues"},
        {"Event": "QueueCallerAbandon", "Uniqueid": "2.2", "Linkedid": "2.2",
         "CallerIDNum": "13912345679", "Queue": "cards", "Position": "1",
         "OriginalPosition": "3", "HoldTime": "61"},
        {"Event": "VarSet", "Uniqueid": "2.2", "Variable": "QUEUESTATUS", "Value": "TIMEOUT"},
        {"Event": "Hangup", **c, "Cause": "16", "Cause-txt": "Normal Clearing"},
        {"Event": "Cdr", "UniqueID": "1.1", "DestinationChannel": "SIP/8",
         "StartTime": "2026-11-27 10:00:00", "Disposition": "ANSWERED", "Duration": "230"},
    ]
    return [f | {"Timestamp": f"{t + i:.6f}"} for i, f in enumerate(frames)]


def test_phone_events_match_the_pydantic_path(pipeline):
    mapper = CallMapper(pipeline)
    events = [e for frame in call_frames() for e in mapper.map(frame)]
    assert len(events) == 12
    assert {e.record["event_type"] for e in events} >= {
        "call.started", "call.queued", "call.answered", "call.completed", "call.transferred",
        "call.timed_out", "call.ended", "call.cdr", "call.hold", "call.unhold"}
    for event in events:
        _assert_same_as_pydantic_path(pipeline, event)


def test_pydantic_feeds_encode_like_the_avro_serializer(pipeline, unit_settings):
    """branch, desktop and WeChat keep building models; send() now writes them fast."""
    occurred = NOW - 60_000
    events = [
        branch.map_event(pipeline, "qmatic", {
            "event": "identified", "branch": "B1", "ticket_id": "A012", "occurred_at": occurred,
            "counter": "3", "customer": {"id_number": "11010519491231002X",
                                         "card_number": "6228480012345678"}}),
        branch.map_event(pipeline, "qmatic", {
            "event": "rating_submitted", "branch": "B1", "ticket_id": "A012",
            "occurred_at": occurred, "score": 4}),
        branch.map_event(pipeline, "qmatic", {
            "event": "counter_opened", "branch": "B1", "counter": "3", "occurred_at": occurred}),
        desktop.map_event(pipeline, "desk", {
            "type": "ivr_authenticated", "id": "d1", "linkedid": "1.1", "occurred_at": occurred,
            "customer_number": "C42", "phone": "13912345678"}),
        desktop.map_event(pipeline, "desk", {
            "type": "wrapup", "id": "d2", "linkedid": "1.1", "occurred_at": occurred,
            "agent": "Agent/8", "acw_s": 30}),
    ]
    wechat = WeChatMapper(pipeline)
    base = {"ToUserName": "gh", "FromUserName": "oX", "CreateTime": str(NOW // 1000 - 5)}
    for msg in ({"MsgType": "text", "Content": "我要转人工", "MsgId": "7"},
                {"MsgType": "event", "Event": "unsubscribe"},
                {"MsgType": "event", "Event": "CLICK", "EventKey": "MENU_1"}):
        events += wechat.map(base | msg)[0]
    handoff = InteractionEvent(
        event_id=models.event_id("h", "1"), event_type="handoff.created", occurred_at=NOW,
        ingested_at=NOW, source_system="h", source_event_id="1", interaction_id="call:1.1",
        payload=models.HandoffPayload(handoff_id="h1", from_channel=Channel.PHONE,
                                      to_channel=Channel.BRANCH, status="created"))
    for event in [*events, handoff]:
        assert isinstance(event, InteractionEvent)
        fast = pipeline._header + pipeline._fast.encode(event.to_avro())
        assert fast == _slow_bytes(pipeline, event), event.event_type


def test_compiled_writer_matches_fastavro_for_every_field_and_branch():
    """Every field filled (not just defaults), every payload branch, both schemas."""
    from tests.unit.test_contracts import example  # the contracts test's full example

    for name in (serde.INTERACTION_EVENT, serde.DEAD_LETTER):
        schema = serde.latest_schema_dict(name)
        parsed = fastavro.parse_schema(schema)
        write = serde.compile_writer(schema)
        names: dict[str, Any] = {}
        base = example(schema, names)
        variants = [base]
        if name == serde.INTERACTION_EVENT:
            base["attributes"] = {"a": "1", "é": "ü" * 70}  # multi-byte, >63-byte lengths
            base["occurred_at"] = -5  # negative longs zigzag too
            base["payload"]["-type"] = "bank.ccb.v1.CallPayload"
            payloads = next(f["type"] for f in schema["fields"] if f["name"] == "payload")
            for branch_schema in payloads[1:]:
                payload = example(branch_schema, names) | {
                    "-type": f"bank.ccb.v1.{branch_schema['name']}"}
                variants.append(base | {"payload": payload})
            variants.append(base | {"payload": None, "organisation": None, "identifiers": []})
        for record in variants:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, parsed, record)
            assert write(record) == out.getvalue()


def test_builders_default_exactly_like_the_models():
    cases = [
        (rec.call_payload(), models.CallPayload()),
        (rec.digital_payload("n"), models.DigitalPayload(name="n")),
        (rec.chat_payload("s"), models.ChatPayload(session_id="s")),
        (rec.survey_payload("NPS", 9, 10), models.SurveyPayload(kind="NPS", score=9,
                                                                 scale_max=10)),
        (rec.complaint_payload("k", "opened"), models.ComplaintPayload(complaint_id="k",
                                                                      status="opened")),
    ]
    for built, model in cases:
        assert built == model.model_dump() | {"-type": f"bank.ccb.v1.{model.avro_name}"}
    assert rec.actor() == models.Actor().model_dump()
    assert rec.organisation() == models.Organisation().model_dump()
    assert rec.identifier("PHONE", "v") == models.Identifier(type="PHONE", value="v").model_dump()


def test_fast_path_keeps_the_trust_and_text_rules(pipeline):
    ident = pipeline.opaque_record(IdentifierType.CUSTOMER_NUMBER, "C1", verified=True)
    common = {"source_system": "s", "source_event_id": "1", "occurred_at": 1,
              "interaction_id": "i", "identifiers": [ident]}
    assert pipeline.record(event_type="digital.login", **common).record["identifiers"][0][
        "verified"]
    assert not pipeline.record(event_type="digital.track", **common).identifiers[0].verified
    assert ident["verified"]  # the caller's (possibly cached) dict is never mutated
    chat = pipeline.record(event_type="chat.message", payload=rec.chat_payload("c", text="hi"),
                           **common)
    assert chat.record["payload"]["text"] is None and chat.payload.text is None


def test_fast_path_refusals_are_clear_validation_errors(pipeline):
    common = {"source_system": "s", "source_event_id": "1", "occurred_at": 1,
              "interaction_id": "i"}
    with pytest.raises(ValidationError) as info:
        pipeline.record(event_type="digital.track", actor=rec.actor("ROBOT"), **common)
    assert info.value.code == "invalid_field" and info.value.field == "actor.kind"
    with pytest.raises(ValidationError) as info:
        pipeline.record(event_type="xx", **common)
    assert info.value.field == "event_type"
    with pytest.raises(SerializationError):
        pipeline._fast.encode({"event_id": 5})


def test_shapes_the_compiled_writer_skips_still_encode_through_fastavro(pipeline):
    """No "-type" on the payload, a datetime timestamp: fastavro's slower path decides."""
    from datetime import UTC, datetime

    msg = {"type": "track", "messageId": "f1", "userId": "u", "event": "X"}
    record = SegmentMapper(pipeline).map(msg, Channel.APP, sent_at=None,
                                         received_ms=NOW).record
    loose = without_type_hints(record) | {
        "occurred_at": datetime.fromtimestamp(record["occurred_at"] / 1000, UTC)}
    assert pipeline._fast.encode(loose) == pipeline._fast.encode(record)


def test_header_is_the_registry_id_asked_once(pipeline):
    calls = []
    register = pipeline._registry.register_schema

    def counting(*args, **kwargs):
        calls.append(args[0])
        return register(*args, **kwargs)

    pipeline._registry.register_schema = counting  # type: ignore[method-assign]
    msg = {"type": "track", "messageId": "h1", "userId": "u", "event": "X"}
    mapper = SegmentMapper(pipeline)
    values = [mapper.map(msg | {"messageId": f"h{i}"}, Channel.APP, sent_at=None,
                         received_ms=NOW).value for i in range(3)]
    assert calls == [f"{pipeline.topic}-value"]
    assert all(v[:5] == values[0][:5] for v in values) and values[0][0] == 0
    assert json.loads(serde.latest_schema(serde.INTERACTION_EVENT))["name"] == "InteractionEvent"
