"""Segment message mapping: login links, trust rules, clock skew, personal data."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from pydantic import SecretStr

from backbone.errors import ValidationError
from backbone.models import Channel
from connectors.assertion import ASSERTIONS
from connectors.base import Pipeline
from connectors.clock import parse_ms
from connectors.segment import DROPPED, SegmentMapper

NOW = parse_ms("2026-11-27T12:00:00Z", "now")
SECRET = "unit-test-login-assertion-secret-0123456789"
LOGIN = {"type": "identify", "messageId": "m1", "userId": "u1", "anonymousId": "d1",
         "timestamp": "2026-11-27T11:59:00Z",
         "traits": {"customer_number": "C-VICTIM", "phone": "+86 138-1234-5678"}}


@pytest.fixture
def mapper(unit_settings) -> SegmentMapper:
    settings = unit_settings.model_copy(update={"login_assertion_secret": SecretStr(SECRET)})
    return SegmentMapper(Pipeline(settings, "test"))


def assertion(number: str = "C-OWN", **overrides: object) -> str:
    now = int(time.time())
    return jwt.encode({"sub": number, "aud": "ccb-collector", "iss": "bank-login",
                       "exp": now + 300} | overrides, SECRET, algorithm="HS256")


def with_assertion(token: str, msg: dict | None = None) -> dict:
    msg = msg or LOGIN
    return msg | {"traits": msg.get("traits", {}) | {"ccb_assertion": token}}


def by_type(event) -> dict:
    return {i.type: i for i in event.identifiers}


def test_a_server_key_login_is_the_verified_login(mapper):
    event = mapper.map(LOGIN, Channel.APP, sent_at=None, received_ms=NOW, trust="server")
    assert event.event_type == "digital.login"
    kinds = by_type(event)
    assert set(kinds) == {"APP_USER", "DEVICE", "CUSTOMER_NUMBER", "PHONE"}
    assert all(i.verified for i in event.identifiers)
    assert kinds["CUSTOMER_NUMBER"].value == "C-VICTIM"
    assert kinds["PHONE"].masked == "138****5678"
    assert "13812345678" not in json.dumps(event.to_avro(), default=str)


@pytest.mark.parametrize("msg", [
    LOGIN,
    {"type": "track", "messageId": "m2", "userId": "u1", "event": "Signed In",
     "context": {"traits": {"customer_number": "C-VICTIM", "phone": "13812345678"}}},
])
def test_a_client_key_login_is_only_a_claim(mapper, msg):
    """The app's write key is public: anyone can send this about anyone."""
    event = mapper.map(msg, Channel.APP, sent_at=None, received_ms=NOW)  # client by default
    assert event.event_type in ("digital.identify", "digital.track")
    kinds = by_type(event)
    assert kinds["CUSTOMER_NUMBER"].value == "C-VICTIM"  # shown as a claim...
    assert not any(i.verified for i in event.identifiers)  # ...that links nobody
    assert kinds["PHONE"].value.startswith("h:k1:")
    assert "13812345678" not in json.dumps(event.to_avro(), default=str)


def test_a_valid_assertion_verifies_a_client_login_for_the_asserted_number_only(mapper):
    before = ASSERTIONS.labels("valid")._value.get()
    event = mapper.map(with_assertion(assertion("C-OWN")), Channel.APP, sent_at=None,
                       received_ms=NOW)
    assert event.event_type == "digital.login"
    kinds = by_type(event)
    # The traits' number (someone else's) and phone are not what the back end signed.
    assert set(kinds) == {"APP_USER", "DEVICE", "CUSTOMER_NUMBER"}
    assert kinds["CUSTOMER_NUMBER"].value == "C-OWN"
    assert all(i.verified for i in event.identifiers)
    assert ASSERTIONS.labels("valid")._value.get() == before + 1
    assert "ccb_assertion" not in json.dumps(event.to_avro(), default=str)
    assert "eyJ" not in json.dumps(event.to_avro(), default=str)  # the token itself


@pytest.mark.parametrize(("token", "result"), [
    (lambda: assertion(exp=int(time.time()) - 3600), "expired"),
    (lambda: assertion(aud="other-app"), "wrong_audience"),
    (lambda: jwt.encode({"sub": "C-VICTIM", "aud": "ccb-collector", "iss": "bank-login",
                         "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256"),
     "bad_signature"),
    (lambda: "garbage", "malformed"),
])
@pytest.mark.parametrize("trust", ["client", "server"])
def test_a_bad_assertion_is_accepted_unverified_and_counted(mapper, token, result, trust):
    before = ASSERTIONS.labels(result)._value.get()
    event = mapper.map(with_assertion(token()), Channel.APP, sent_at=None, received_ms=NOW,
                       trust=trust)
    assert event.event_type == "digital.identify"
    assert not any(i.verified for i in event.identifiers)
    assert ASSERTIONS.labels(result)._value.get() == before + 1


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


def test_only_allowed_properties_are_kept_and_the_others_counted(mapper):
    before = DROPPED.labels("test")._value.get()
    event = mapper.map({"type": "track", "messageId": "m5", "userId": "u", "event": "Paid",
                        "properties": {"card_number": "6228480402564899", "amount": 5,
                                       "phone_number": "13812345678",
                                       "cardNo": "6228480402564899",
                                       "idCard": "11010519491231002X",
                                       "payee_mobile": "13912345678",
                                       "nested": {"x": 1}, "ok": True, "step": "confirm",
                                       "product": {"id": 1}, "text": "free text"}},
                       Channel.APP, sent_at=None, received_ms=NOW)
    assert event.payload.properties == {"amount": "5", "step": "confirm"}
    # 7 keys off the allow-list, a nested value, and chat text outside a chat.
    assert DROPPED.labels("test")._value.get() == before + 9
    raw = json.dumps(event.to_avro(), default=str)
    for digits in ("13812345678", "6228480402564899", "11010519491231002X", "13912345678"):
        assert digits not in raw


def test_numbers_in_kept_text_are_hashed(mapper):
    event = mapper.map({"type": "track", "messageId": "m5b", "userId": "u",
                        "event": "Paid 6228 4804 0256 4899",
                        "properties": {"step": "card 6228480402564899", "status": "call 13812345678",
                                       "reason": "id 11010519491231002X",
                                       "error_code": "E-1764244800123",
                                       "session_id": "s-13912345678"}},
                       Channel.APP, sent_at=None, received_ms=NOW)
    raw = json.dumps(event.to_avro(), default=str)
    for digits in ("6228480402564899", "6228 4804 0256 4899", "13812345678",
                   "11010519491231002X", "13912345678"):
        assert digits not in raw
    card = event.payload.properties["step"]
    assert card.startswith("card h:k1:")
    assert card == f"card {mapper.p.card('6228480402564899').value}"  # same token as a CARD id
    assert event.payload.error_code == "E-1764244800123"  # a timestamp is not a phone
    assert event.interaction_id == f"app:session:s-{mapper.p.phone('13912345678').value}"


def test_pages_keep_no_urls(mapper):
    event = mapper.map({"type": "page", "messageId": "p1", "anonymousId": "ck", "name": "Home",
                        "properties": {"url": "https://bank/x?mobile=13812345678",
                                       "search": "?mobile=13812345678", "path": "/home",
                                       "title": "Home"}},
                       Channel.WEB, sent_at=None, received_ms=NOW)
    assert event.payload.properties == {"path": "/home", "title": "Home"}


def test_kept_chat_text_has_its_numbers_hashed(unit_settings):
    mapper = SegmentMapper(Pipeline(unit_settings.model_copy(
        update={"keep_message_text": True}), "test"))
    event = mapper.map({"type": "track", "messageId": "m10", "anonymousId": "ck",
                        "event": "Chat Message",
                        "properties": {"chat_id": "c9", "text": "my card is 6228 4804 0256 4899"}},
                       Channel.WEB, sent_at=None, received_ms=NOW)
    assert event.payload.text.startswith("my card is h:k1:")
    assert "4899" not in event.payload.text


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


def test_interaction_ids_without_a_session_never_show_the_user_id(mapper):
    events = [mapper.map({"type": "screen", "messageId": f"iv{n}", "userId": "u-7781",
                          "anonymousId": "dev-42", "name": "Home"},
                         Channel.APP, sent_at=None, received_ms=NOW) for n in range(2)]
    iid = events[0].interaction_id
    assert iid.startswith("app:h:") and "u-7781" not in iid and "dev-42" not in iid
    assert events[1].interaction_id == iid  # the same person, the same visit key
