"""Confluent wire format round trips, and failures surface as the backbone's own errors."""

from __future__ import annotations

import pytest

from backbone import models, serde
from backbone.errors import BackboneError, SerializationError
from backbone.settings import Settings


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
