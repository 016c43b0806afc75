"""Confluent wire format round trips, and failures surface as the backbone's own errors."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka.schema_registry import Schema

from backbone import models, serde
from backbone.errors import (
    BackboneError,
    SchemaNotReadyError,
    SchemaRegistryError,
    SerializationError,
)
from backbone.settings import Settings
from deploy.stack.proc import free_port
from stream_processors.codec import Codecs, EventDecoder


def _event() -> models.InteractionEvent:
    return models.InteractionEvent(
        event_id=models.event_id("segment", "m-1"), event_type="digital.login",
        channel=models.Channel.APP, occurred_at=1_700_000_000_000, ingested_at=1_700_000_000_050,
        source_system="segment", source_event_id="m-1", interaction_id="sess-1",
        identifiers=[models.Identifier(type=models.IdentifierType.APP_USER, value="u-42",
                                       verified=True)],
        payload=models.DigitalPayload(name="Signed In", properties={"method": "password"}),
    )


def test_round_trip_in_confluent_wire_format(unit_settings: Settings) -> None:
    codec = serde.AvroSerde(serde.registry_client(unit_settings), serde.INTERACTION_EVENT)
    data = codec.serialize("ccb.interactions", _event().to_avro())
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") > 0  # magic byte + schema id
    decoded = codec.deserialize("ccb.interactions", data)
    assert decoded["event_id"] == _event().event_id
    assert decoded["occurred_at"] == 1_700_000_000_000  # epoch ms, not datetime
    assert decoded["identifiers"][0] == {"type": "APP_USER", "value": "u-42", "masked": None,
                                         "verified": True}
    assert decoded["payload"]["properties"] == {"method": "password"}


def test_garbage_bytes_raise_serialization_error(unit_settings: Settings) -> None:
    codec = serde.AvroSerde(serde.registry_client(unit_settings), serde.INTERACTION_EVENT)
    good = codec.serialize("ccb.interactions", _event().to_avro())
    for poison in (b"\x01not the magic byte", b"\x00\x00\x00\x7f\x07unknown schema id",
                   good[:5] + b"\xff\xff\xff", b""):
        with pytest.raises(SerializationError) as info:
            codec.deserialize("ccb.interactions", poison)
        assert isinstance(info.value, BackboneError) and not info.value.retriable


def test_invalid_record_raises_serialization_error(unit_settings: Settings) -> None:
    codec = serde.AvroSerde(serde.registry_client(unit_settings), serde.INTERACTION_EVENT)
    record = _event().to_avro()
    record["channel"] = "FAX"
    with pytest.raises(SerializationError, match="cannot encode"):
        codec.serialize("ccb.interactions", record)


def test_event_ids_are_deterministic_per_source_event() -> None:
    assert models.event_id("wechat", "123") == models.event_id("wechat", "123")
    assert models.event_id("wechat", "123") != models.event_id("segment", "123")


def test_dead_letter_caps_raw_payload() -> None:
    record = models.dead_letter("connector.web", "malformed_json", b"x" * 100_000, cap=1024)
    assert len(record.raw) == 1024 and record.raw_size == 100_000 and record.truncated


# -- registry outages: resolved at start, never on the hot path ------------------------------


class _FlakyRegistry:
    """A remote registry stand-in: refuses the first ``failures`` calls like a closed port
    (requests' ConnectionError is an OSError), then answers; counts every call."""

    def __init__(self, failures: int, schema_id: int = 7, hang_s: float = 0.0) -> None:
        self.failures, self.schema_id, self.hang_s = failures, schema_id, hang_s
        self.calls = 0

    def _answer(self) -> int:
        self.calls += 1
        if self.hang_s:
            time.sleep(self.hang_s)
        if self.calls <= self.failures:
            raise ConnectionError("Connection refused")
        return self.schema_id

    def register_schema(self, subject: str, schema: object) -> int:
        return self._answer()

    def get_schema(self, schema_id: int) -> object:
        self._answer()
        return Schema(serde.latest_schema(serde.INTERACTION_EVENT), "AVRO")


def test_fast_encoder_never_asks_a_remote_registry_when_publishing() -> None:
    registry = _FlakyRegistry(failures=0)
    encoder = serde.FastAvroEncoder(registry, serde.INTERACTION_EVENT)  # type: ignore[arg-type]
    with pytest.raises(SchemaNotReadyError) as info:
        encoder.serialize("ccb.interactions", _event().to_avro())
    assert info.value.retriable and info.value.code == "schemas_not_ready"
    assert isinstance(info.value, SchemaRegistryError) and info.value.retry_after_s >= 1
    assert registry.calls == 0  # a refusal, not a registry call on the hot path


async def test_schema_ids_retry_in_the_background_until_the_registry_answers() -> None:
    registry = _FlakyRegistry(failures=3, schema_id=42)
    encoder = serde.FastAvroEncoder(registry, serde.INTERACTION_EVENT)  # type: ignore[arg-type]
    ids = serde.SchemaIds([(encoder, "ccb.interactions")], name="test", min_backoff_s=0.01,
                          max_backoff_s=0.05)
    assert not await ids.first_attempt(1.0)  # down at start: not ready, nothing raised
    assert await ids.wait(5.0) and ids.ready
    assert ids.failures == 3 and registry.calls == 4
    data = encoder.serialize("ccb.interactions", _event().to_avro())
    assert data[:5] == b"\x00" + (42).to_bytes(4, "big")
    await ids.stop()


async def test_a_hung_registry_call_times_out_off_the_event_loop() -> None:
    registry = _FlakyRegistry(failures=0, hang_s=0.5)
    encoder = serde.FastAvroEncoder(registry, serde.INTERACTION_EVENT)  # type: ignore[arg-type]
    ids = serde.SchemaIds([(encoder, "ccb.interactions")], name="test", timeout_s=0.1,
                          min_backoff_s=0.01, max_backoff_s=0.05)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    assert not await ids.first_attempt(1.0)  # the attempt gave up waiting...
    assert ids.failures == 1 and ticks > 0  # ...while the loop kept turning
    assert await ids.wait(5.0)  # the slow answer still lands: ready without a new call
    ticker.cancel()
    await ids.stop()


def test_unreachable_registry_is_retriable_never_poison() -> None:
    settings = Settings(schema_registry_url=f"http://127.0.0.1:{free_port()}",
                        hmac_key="unit-test-key")  # type: ignore[arg-type]
    codec = serde.AvroSerde(serde.registry_client(settings, **{"max.retries": 0}),
                            serde.INTERACTION_EVENT)
    with pytest.raises(SchemaRegistryError) as info:
        codec.serialize("ccb.interactions", _event().to_avro())
    assert info.value.retriable
    with pytest.raises(SchemaRegistryError):  # a good message with an id not cached yet
        codec.deserialize("ccb.interactions", b"\x00\x00\x00\x00\x07" + b"\x00" * 8)


async def test_worker_decoding_waits_for_the_registry_and_retries_the_same_message(
        unit_settings: Settings) -> None:
    good = serde.AvroSerde(serde.registry_client(unit_settings), serde.INTERACTION_EVENT) \
        .serialize("ccb.interactions", _event().to_avro())
    codecs = Codecs(unit_settings)
    registry = _FlakyRegistry(failures=2)
    codecs._events = EventDecoder(registry)  # type: ignore[arg-type]
    record = await codecs.decode_event("ccb.interactions", good, min_backoff_s=0.01)
    assert record["event_id"] == _event().event_id and registry.calls == 3
    again = await codecs.decode_event("ccb.interactions", good)
    assert again["event_id"] == record["event_id"] and registry.calls == 3  # cached by id
    with pytest.raises(SerializationError):  # poison still fails at once (dead letter)
        await codecs.decode_event("ccb.interactions", b"\x01not wire format")


async def test_worker_dead_letter_waits_for_its_schema_id_instead_of_dropping_it(
        unit_settings: Settings) -> None:
    codecs = Codecs(unit_settings)
    registry = _FlakyRegistry(failures=2, schema_id=9)
    codecs._dead = serde.FastAvroEncoder(registry, serde.DEAD_LETTER)  # type: ignore[arg-type]
    kwargs = {"source": "processor.router", "reason": "malformed", "raw": b"\x01bad",
              "detail": "x", "topic": "ccb.interactions", "partition": 0, "offset": 5}
    value = await codecs.dead_letter("ccb.dead-letters", **kwargs, min_backoff_s=0.01)
    assert value[:5] == b"\x00" + (9).to_bytes(4, "big") and registry.calls == 3
    await codecs.dead_letter("ccb.dead-letters", **kwargs)
    assert registry.calls == 3  # the id is asked once
