"""Wire formats of the processors: Avro in (through the registry), JSON between stages,
and dead letters for anything that cannot be decoded, so a poison record never stops a
partition."""

from __future__ import annotations

from typing import Any

import orjson

from backbone.models import dead_letter
from backbone.serde import DEAD_LETTER, INTERACTION_EVENT, AvroSerde, registry_client
from backbone.settings import Settings


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes) -> Any:
    return orjson.loads(data)


class Codecs:
    """Registry-backed serdes, built lazily so creating the app does no network I/O."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._events: AvroSerde | None = None
        self._dead: AvroSerde | None = None

    @property
    def events(self) -> AvroSerde:
        if self._events is None:
            self._events = AvroSerde(registry_client(self._settings), INTERACTION_EVENT)
        return self._events

    @property
    def dead(self) -> AvroSerde:
        if self._dead is None:
            self._dead = AvroSerde(registry_client(self._settings), DEAD_LETTER)
        return self._dead

    def dead_letter(self, dl_topic: str, *, source: str, reason: str, raw: bytes | None,
                    detail: str, topic: str, partition: int, offset: int) -> bytes:
        record = dead_letter(source, reason, raw or b"", detail=detail, topic=topic,
                             partition=partition, offset=offset)
        return self.dead.serialize(dl_topic, record.model_dump())
