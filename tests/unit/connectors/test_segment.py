"""Segment message mapping: login links, trust rules, clock skew, personal data."""

from __future__ import annotations

import json

import pytest

from backbone.errors import ValidationError
from backbone.models import Channel
from connectors.base import Pipeline
from connectors.clock import parse_ms
from connectors.segment import SegmentMapper

NOW = parse_ms("2026-11-27T12:00:00Z", "now")


@pytest.fixture
def mapper(unit_settings) -> SegmentMapper:
    return SegmentMapper(Pipeline(unit_settings, "test"))


def test_identify_with_anonymous_id_is_the_verified_login(mapper):
    event = mapper.map({"type": "identify", "messageId": "m1", "userId": "u1",
                        "anonymousId": "d1", "timestamp": "2026-11-27T11:59:00Z",
                        "traits": {"customer_number": "C1", "phone": "+86 138-1234-5678"}},
                       Channel.APP, sent_at=None, received_ms=NOW)
    assert event.event_type == "digital.login"
    kinds = {i.type: i for i in event.identifiers}
    assert set(kinds) == {"APP_USER", "DEVICE", "CUSTOMER_NUMBER", "PHONE"}
    assert all(i.verified for i in event.identifiers)
    assert kinds["PHONE"].masked == "138****5678"
    assert "13812345678" not in json.dumps(event.to_avro(), default=str)


def test_web_login_uses_web_login_and_cookie(mapper):
    event = mapper.map({"type": "identify", "messageId": "m1", "userId": "w1",
                        "anonymousId": "ck1"}, Channel.WEB, sent_at=None, received_ms=NOW)
    assert {i.type for i in event.identifiers} == {"WEB_LOGIN", "COOKIE"}


def test_only_trusted_events_keep_verified_identifiers(mapper):
    event = mapper.map({"type": "track", "messageId": "m2", "userId": "u1",
                        "anonymousId": "d1", "event": "Transfer Failed"},
                       Channel.APP, sent_at=None, received_ms=NOW)
    assert event.event_type == "digital.track"
    assert not any(i.verified for i in event.identifiers)


def test_sent_at_corrects_device_clock_skew(mapper):
    # The device clock is 10 minutes fast: the event happened 1 minute before receipt.
    event = mapper.map({"type": "track", "messageId": "m3", "userId": "u", "event": "X",
                        "originalTimestamp": "2026-11-27T12:09:00Z"}, Channel.APP,
                       sent_at="2026-11-27T12:10:00Z", received_ms=NOW)
    assert NOW - event.occurred_at == 60_000


def test_chat_events_and_text_dropped(mapper):
    event = mapper.map({"type": "track", "messageId": "m4", "anonymousId": "ck",
                        "event": "Chat Agent Joined",
                        "properties": {"chat_id": "c9", "agent": "a7", "text": "secret"}},
                       Channel.WEB, sent_at=None, received_ms=NOW)
    assert event.event_type == "chat.agent_joined"
    assert event.interaction_id == "webchat:c9"
    assert event.actor.kind == "AGENT" and event.actor.id == "a7"
    assert event.payload.text is None


def test_sensitive_properties_are_not_copied(mapper):
    event = mapper.map({"type": "track", "messageId": "m5", "userId": "u", "event": "Paid",
                        "properties": {"card_number": "6228480012345678", "amount": 5,
                                       "nested": {"x": 1}, "ok": True}},
                       Channel.APP, sent_at=None, received_ms=NOW)
    assert event.payload.properties == {"amount": "5", "ok": "true"}


def test_survey_and_complaint_tracks(mapper):
    survey = mapper.map({"type": "track", "messageId": "m6", "userId": "u",
                         "event": "Survey Answered",
                         "properties": {"kind": "NPS", "score": 9, "scale_max": 10}},
                        Channel.APP, sent_at=None, received_ms=NOW)
    assert survey.event_type == "survey.answered" and survey.payload.score == 9
    complaint = mapper.map({"type": "track", "messageId": "m7", "userId": "u",
                            "event": "Complaint Opened",
                            "properties": {"complaint_id": "K1", "category": "fees"}},
                           Channel.APP, sent_at=None, received_ms=NOW)
    assert complaint.event_type == "complaint.opened"
    assert complaint.payload.status == "opened"


@pytest.mark.parametrize(("msg", "code", "field"), [
    ({"type": "track", "userId": "u", "event": "X"}, "missing_field", "messageId"),
    ({"type": "track", "messageId": "m"}, "missing_field", "userId"),
    ({"type": "track", "messageId": "m", "userId": "u"}, "missing_field", "event"),
    ({"type": "dance", "messageId": "m", "userId": "u"}, "unknown_type", "type"),
    ({"type": "track", "messageId": ["m"], "userId": "u", "event": "X"}, "wrong_type",
     "messageId"),
    ({"type": "track", "messageId": "m", "userId": "u", "event": "X",
      "timestamp": "2030-01-01T00:00:00Z"}, "timestamp_in_future", "timestamp"),
    ({"type": "track", "messageId": "m", "userId": "u", "event": "X",
      "timestamp": "2020-01-01T00:00:00Z"}, "timestamp_too_old", "timestamp"),
    ({"type": "track", "messageId": "m", "userId": "u", "event": "X", "timestamp": "soon"},
     "bad_timestamp", "timestamp"),
    ({"type": "track", "messageId": "m", "userId": "u", "event": "Survey Answered",
      "properties": {"score": 11}}, "invalid_field", "properties.score"),
    ({"type": "track", "messageId": "m", "userId": "u", "event": "Chat Queued"},
     "missing_field", "properties.chat_id"),
])
def test_bad_messages_name_the_reason_and_field(mapper, msg, code, field):
    with pytest.raises(ValidationError) as info:
        mapper.map(msg, Channel.APP, sent_at=None, received_ms=NOW)
    assert (info.value.code, info.value.field) == (code, field)
