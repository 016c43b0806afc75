"""Avro in Confluent wire format through ``confluent_kafka.schema_registry`` (fastavro).

Schemas are read from ``schemas/avro/<name>/v<N>.avsc``; the newest version is the one we
write. Every failure surfaces as :class:`backbone.errors.SerializationError` (or
:class:`SchemaRegistryError` when the registry is the problem), never a library error.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from confluent_kafka.error import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError as _RegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from backbone.errors import SchemaRegistryError, SerializationError
from backbone.settings import Settings

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"
INTERACTION_EVENT = "interaction_event"
DEAD_LETTER = "dead_letter"


def schema_versions(name: str) -> list[Path]:
    """All versions of a schema, oldest first."""
    files = sorted(SCHEMA_DIR.joinpath(name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    if not files:
        raise SerializationError(f"no schema versions under {SCHEMA_DIR / name}")
    return files


@cache
def latest_schema(name: str) -> str:
    return schema_versions(name)[-1].read_text()


def latest_schema_dict(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(latest_schema(name))
    return parsed


def registry_client(settings: Settings) -> SchemaRegistryClient:
    """A registry client; ``mock://`` URLs give confluent-kafka's in-process mock."""
    return SchemaRegistryClient.new_client(settings.registry_config())


class AvroSerde:
    """Encode and decode one record type for the topics that carry it."""

    def __init__(self, client: SchemaRegistryClient, name: str, *, auto_register: bool = True):
        schema = latest_schema(name)
        self.name = name
        self._serializer = AvroSerializer(
            client, schema, conf={"auto.register.schemas": auto_register,
                                  "use.latest.version": not auto_register},
        )
        self._deserializer = AvroDeserializer(client, schema)

    def serialize(self, topic: str, record: dict[str, Any]) -> bytes:
        try:
            data = self._serializer(record, SerializationContext(topic, MessageField.VALUE))
        except _RegistryError as exc:
            raise SchemaRegistryError(f"registry refused {self.name} for {topic}: {exc}") from exc
        except (KafkaException, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(f"cannot encode {self.name} for {topic}: {exc}") from exc
        if data is None:  # pragma: no cover - only for None input
            raise SerializationError(f"cannot encode an empty {self.name}")
        return data

    def deserialize(self, topic: str, data: bytes | None) -> dict[str, Any]:
        if not data:
            raise SerializationError(f"empty {self.name} message on {topic}")
        try:
            record = self._deserializer(data, SerializationContext(topic, MessageField.VALUE))
        except _RegistryError as exc:
            if exc.http_status_code == 404:  # the writer's schema id does not exist: poison
                raise SerializationError(f"unknown schema id in a message on {topic}: {exc}",
                                         code="unknown_schema") from exc
            raise SchemaRegistryError(f"registry lookup failed on {topic}: {exc}") from exc
        except Exception as exc:  # fastavro raises a zoo of types on bad bytes
            raise SerializationError(f"cannot decode {self.name} from {topic}: {exc}") from exc
        if not isinstance(record, dict):
            raise SerializationError(f"decoded {self.name} from {topic} is not a record")
        return _plain_times(record)


def _plain_times(record: dict[str, Any]) -> dict[str, Any]:
    """timestamp-millis come back as datetimes; the backbone works in epoch milliseconds."""
    for key in ("occurred_at", "ingested_at", "received_at"):
        value = record.get(key)
        if isinstance(value, datetime):
            record[key] = int(value.timestamp() * 1000)
    payload = record.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("due_at"), datetime):
        payload["due_at"] = int(payload["due_at"].timestamp() * 1000)
    return record
