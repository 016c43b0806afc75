"""Attacks on the app/web collector through the real protocol, with Segment's own Python SDK:
what anyone holding the app's public write key can, and cannot, get onto Kafka.

Every check reads the topics back with an independent consumer, raw bytes included: a
number that is not in the bytes cannot reach an agent, a KPI or a dead-letter reader.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pydantic import SecretStr
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError

from backbone.serde import DEAD_LETTER, INTERACTION_EVENT, AvroSerde, registry_client
from backbone.settings import Settings
from connectors.app_web import create_app

APP_KEY = "app-dev-write-key"  # shipped inside the app: public
SECRET = "integration-login-assertion-secret-0123456789"
VICTIM = {"customer_number": "C20261127", "phone": "13987654321"}
# C2 numbers an app might put anywhere; none may reach Kafka as written.
C2 = {"phone_number": "13812345678", "cardNo": "6228480402564899",
      "idCard": "11010519491231002X", "payee_mobile": "13912345678"}
FREE_TEXT_CARD = "6222021234567890128"  # Luhn-valid, 19 digits


def raw_records(settings: Settings, logical: str, *, until: Callable[[list[bytes]], bool],
                timeout_s: float = 20.0) -> list[bytes]:
    """Every record value on a topic, as bytes, once ``until`` holds for them (or at the
    timeout: the caller's assertions then say what is missing)."""
    topic = settings.topic(logical)
    consumer = Consumer(settings.consumer_config(f"test-{uuid.uuid4().hex[:8]}"))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(values):
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error() and msg.value():
                values.append(msg.value())
    finally:
        consumer.close()
    return values


def decode(settings: Settings, logical: str, values: list[bytes]) -> list[dict[str, Any]]:
    serde = AvroSerde(registry_client(settings),
                      DEAD_LETTER if logical == "dead-letters" else INTERACTION_EVENT)
    return [serde.deserialize(settings.topic(logical), v) for v in values]


def has_message(settings: Settings, *message_ids: str) -> Callable[[list[bytes]], bool]:
    def done(values: list[bytes]) -> bool:
        ids = {e["source_event_id"] for e in decode(settings, "interactions", values)}
        return set(message_ids) <= ids
    return done


def assertion(number: str, **overrides: object) -> str:
    now = int(time.time())
    return jwt.encode({"customer_number": number, "aud": "ccb-collector", "iss": "bank-login",
                       "iat": now, "exp": now + 300} | overrides, SECRET, algorithm="HS256")


@pytest.fixture
async def collector(settings_factory, serve) -> tuple[Settings, str]:
    settings = settings_factory(login_assertion_secret=SecretStr(SECRET), keep_message_text=True)
    return settings, await serve(create_app(settings))


async def sdk(base: str, write_key: str, send: Callable[[SegmentClient], Any]) -> None:
    """What unchanged app code does: the official SDK, synchronous, pointed at us."""
    def run() -> None:
        client = SegmentClient(write_key, host=base, sync_mode=True, gzip=True, max_retries=1)
        send(client)
        client.flush()

    await asyncio.to_thread(run)


async def test_a_public_write_key_cannot_take_over_a_customer(collector):
    """identify carrying the victim's customer number and phone, from the attacker's device:
    no verified identifier and no digital.login, so nothing links the attacker to the victim."""
    settings, base = collector
    await sdk(base, APP_KEY, lambda c: (
        c.identify(user_id="attacker-user", anonymous_id="attacker-device", traits=VICTIM,
                   message_id="attack-identify"),
        c.track(user_id="attacker-user", event="Signed In", message_id="attack-signed-in",
                context={"traits": VICTIM}),
        c.identify(user_id="attacker-user", anonymous_id="attacker-device",
                   traits=VICTIM | {"ccb_assertion": assertion(VICTIM["customer_number"],
                                                               aud="another-app")},
                   message_id="attack-wrong-audience"),
        c.identify(user_id="attacker-user", anonymous_id="attacker-device",
                   traits=VICTIM | {"ccb_assertion": assertion(
                       VICTIM["customer_number"], exp=int(time.time()) - 3600)},
                   message_id="attack-expired"),
    ))
    ids = ("attack-identify", "attack-signed-in", "attack-wrong-audience", "attack-expired")
    values = raw_records(settings, "interactions", until=has_message(settings, *ids))
    events = {e["source_event_id"]: e for e in decode(settings, "interactions", values)}
    assert set(events) == set(ids)  # accepted (claims are data), but...
    for event in events.values():
        assert event["event_type"] != "digital.login"
        assert not any(i["verified"] for i in event["identifiers"]), event["source_event_id"]
    claim = {i["type"]: i for i in events["attack-identify"]["identifiers"]}
    assert claim["CUSTOMER_NUMBER"]["value"] == VICTIM["customer_number"]  # shown as a claim
    assert not any(VICTIM["phone"].encode() in v for v in values)  # hashed, as always


async def test_a_valid_assertion_from_the_login_back_end_verifies_the_login(collector):
    settings, base = collector
    token = assertion("C77770001")
    await sdk(base, APP_KEY, lambda c: c.identify(
        user_id="real-user", anonymous_id="real-device",
        traits={"customer_number": VICTIM["customer_number"], "ccb_assertion": token},
        message_id="proven-login"))
    values = raw_records(settings, "interactions", until=has_message(settings, "proven-login"))
    [login] = decode(settings, "interactions", values)
    assert login["event_type"] == "digital.login"
    by_type = {i["type"]: i for i in login["identifiers"]}
    assert set(by_type) == {"APP_USER", "DEVICE", "CUSTOMER_NUMBER"}
    assert all(i["verified"] for i in login["identifiers"])
    assert by_type["CUSTOMER_NUMBER"]["value"] == "C77770001"  # the asserted one only
    assert not any(token.encode() in v or VICTIM["customer_number"].encode() in v
                   for v in values)


async def test_c2_numbers_in_properties_and_free_text_never_reach_kafka_raw(collector):
    settings, base = collector
    await sdk(base, APP_KEY, lambda c: (
        c.track(user_id="u-1", event="Transfer Failed", message_id="pii-track",
                properties=C2 | {"error_code": "E-LIMIT",
                                 "step": f"confirm card {FREE_TEXT_CARD}",
                                 "reason": "payee 139-1234-5678"}),
        c.track(anonymous_id="ck-1", event="Chat Message", message_id="pii-chat",
                properties={"chat_id": "chat-1",
                            "text": "my card is 6222 0212 3456 7890 128, ID 11010519491231002x"}),
        c.screen(user_id="u-1", name=f"Card {C2['cardNo']}", message_id="pii-screen"),
    ))
    values = raw_records(settings, "interactions",
                         until=has_message(settings, "pii-track", "pii-chat", "pii-screen"))
    assert len(values) == 3
    forbidden = [*C2.values(), FREE_TEXT_CARD, "6222 0212 3456 7890 128", "139-1234-5678",
                 "11010519491231002x", "13912345678"]
    for value in values:
        for digits in forbidden:
            assert digits.encode() not in value, digits
    events = {e["source_event_id"]: e for e in decode(settings, "interactions", values)}
    track = events["pii-track"]["payload"]
    assert set(track["properties"]) == {"error_code", "step", "reason"}  # the rest: not listed
    assert track["properties"]["step"].startswith("confirm card h:")
    assert events["pii-chat"]["payload"]["text"].startswith("my card is h:")  # kept, hashed


async def test_an_unauthenticated_request_leaves_no_dead_letter(collector):
    settings, base = collector

    def unauthenticated(client: SegmentClient) -> None:
        with pytest.raises(APIError) as info:
            client.identify(user_id="x", anonymous_id="y", traits=VICTIM | C2,
                            message_id="no-key")
        assert info.value.status == 401

    await sdk(base, "guessed-write-key", unauthenticated)
    # A refused message from a real key, afterwards, on the same partition (key = source):
    # once it is there, anything the unauthenticated one left would be there too.
    marker = f"marker-{uuid.uuid4().hex[:6]}"
    await sdk(base, APP_KEY, lambda c: pytest.raises(  # a score out of range: a 400
        APIError, c.track, user_id="u", event="Survey Answered", message_id=marker,
        properties={"score": 11}))
    values = raw_records(settings, "dead-letters",
                         until=lambda vs: any(marker.encode() in v for v in vs))
    [letter] = decode(settings, "dead-letters", values)
    assert marker.encode() in letter["raw"]
    for digits in (*VICTIM.values(), *C2.values()):
        assert not any(digits.encode() in v for v in values)
