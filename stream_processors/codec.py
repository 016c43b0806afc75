"""Wire formats of the processors: Avro in (through the registry), JSON between stages,
and dead letters for anything that cannot be decoded, so a poison record never stops a
partition. A registry that does not answer is not poison: decoding waits and retries."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError as _RegistryError
from fastavro import parse_schema, schemaless_reader

from backbone.errors import SchemaRegistryError, SerializationError
from backbone.models import dead_letter
from backbone.serde import (
    DEAD_LETTER,
    INTERACTION_EVENT,
    FastAvroEncoder,
    latest_schema,
    registry_client,
)
from backbone.settings import Settings

log = logging.getLogger(__name__)
REGISTRY_TIMEOUT_S = 5.0  # one writer-schema lookup, in a thread
MAX_BACKOFF_S = 10.0
T = TypeVar("T")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes) -> Any:
    return orjson.loads(data)


def _strip_logical(node: Any) -> Any:
    """Drop logical types: timestamps stay epoch-millisecond ints, which is what the
    backbone works in, and fastavro skips building a datetime per field."""
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


def _parse(schema_str: str) -> Any:
    return parse_schema(_strip_logical(json.loads(schema_str)))


class EventDecoder:
    """Confluent wire format → dict with fastavro directly (writer schema by id, cached).

    confluent-kafka's AvroDeserializer measured ~1 ms per event here — more than all
    processing together — while fastavro's schemaless reader needs tens of microseconds.
    Errors carry the same codes as :class:`backbone.serde.AvroSerde`.
    """

    def __init__(self, client: SchemaRegistryClient, name: str = INTERACTION_EVENT) -> None:
        self._client = client
        self._reader_json = json.dumps(_strip_logical(json.loads(latest_schema(name))),
                                       sort_keys=True)
        self._reader = _parse(latest_schema(name))
        self._writers: dict[int, tuple[Any, Any]] = {}

    @staticmethod
    def schema_id(topic: str, data: bytes | None) -> int:
        if not data or len(data) < 5 or data[0] != 0:
            raise SerializationError(f"not Confluent Avro wire format on {topic}")
        return int.from_bytes(data[1:5], "big")

    def known(self, schema_id: int) -> bool:
        return schema_id in self._writers

    def _writer(self, schema_id: int, topic: str) -> tuple[Any, Any]:
        """(writer, reader) — reader None when they are equal: no resolution per record.

        Asks the registry for an id not seen yet (blocking: :meth:`Codecs.decode_event`
        does that in a thread); ids never change their schema, so they are kept."""
        writer = self._writers.get(schema_id)
        if writer is None:
            try:
                schema = self._client.get_schema(schema_id)
            except _RegistryError as exc:
                if exc.http_status_code == 404:
                    raise SerializationError(f"unknown schema id {schema_id} on {topic}",
                                             code="unknown_schema") from exc
                raise SchemaRegistryError(f"registry lookup failed on {topic}: {exc}") from exc
            except Exception as exc:  # connection errors: retriable
                raise SchemaRegistryError(f"registry unreachable: {exc}") from exc
            text = schema.schema_str or ""
            same = json.dumps(_strip_logical(json.loads(text)), sort_keys=True) == self._reader_json
            writer = self._writers[schema_id] = (_parse(text),
                                                 None if same else self._reader)
        return writer

    def decode(self, topic: str, data: bytes | None) -> dict[str, Any]:
        writer, reader = self._writer(self.schema_id(topic, data), topic)
        assert data is not None  # noqa: S101 - schema_id refused empty data
        try:
            record = schemaless_reader(io.BytesIO(data[5:]), writer, reader)
        except Exception as exc:  # fastavro raises a zoo of types on bad bytes
            raise SerializationError(f"cannot decode event from {topic}: {exc}") from exc
        if not isinstance(record, dict):
            raise SerializationError(f"decoded value on {topic} is not a record")
        return record


class Codecs:
    """Registry-backed serdes, built lazily so creating the app does no network I/O."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._events: EventDecoder | None = None
        self._decoders: dict[str, EventDecoder] = {}  # other contracts (profile changes)
        self._dead: FastAvroEncoder | None = None
        self.waiting = 0  # messages waiting for the registry now (the worker's /readyz)

    @property
    def events(self) -> EventDecoder:
        if self._events is None:
            # No client-side retries (they sleep inside the call): decode_event retries.
            self._events = EventDecoder(registry_client(self._settings, **{"max.retries": 0}))
        return self._events

    async def decode_event(self, topic: str, data: bytes | None, *,
                           min_backoff_s: float = 0.2,
                           max_backoff_s: float = MAX_BACKOFF_S) -> dict[str, Any]:
        """Decode one event, fetching an unseen writer schema in a thread (bounded wait).

        While the registry does not answer, the same message is retried with backoff (the
        agent waits: good data is neither dead-lettered nor skipped, and the event loop
        keeps turning). Poison — bytes that are not the wire format, an id the registry
        does not know, a body that does not decode — raises :class:`SerializationError`.
        """
        return await self._decode(self.events, topic, data, min_backoff_s, max_backoff_s)

    async def _decode(self, decoder: EventDecoder, topic: str, data: bytes | None,
                      min_backoff_s: float, max_backoff_s: float) -> dict[str, Any]:
        schema_id = decoder.schema_id(topic, data)
        if not decoder.known(schema_id):
            self.waiting += 1
            try:
                await _until_registry_answers(
                    f"decoding {topic}", lambda: decoder._writer(schema_id, topic),  # noqa: SLF001
                    min_backoff_s, max_backoff_s)
            finally:
                self.waiting -= 1
        return decoder.decode(topic, data)

    async def decode_record(self, name: str, topic: str, data: bytes | None) -> dict[str, Any]:
        """:meth:`decode_event` for another Avro contract ``name`` (same waits, same poison)."""
        decoder = self._decoders.get(name)
        if decoder is None:
            decoder = self._decoders[name] = EventDecoder(
                registry_client(self._settings, **{"max.retries": 0}), name)
        return await self._decode(decoder, topic, data, 0.2, MAX_BACKOFF_S)

    @property
    def dead(self) -> FastAvroEncoder:
        if self._dead is None:
            self._dead = FastAvroEncoder(registry_client(self._settings, **{"max.retries": 0}),
                                         DEAD_LETTER)
        return self._dead

    async def dead_letter(self, dl_topic: str, *, source: str, reason: str, raw: bytes | None,
                          detail: str, topic: str, partition: int, offset: int,
                          min_backoff_s: float = 0.2,
                          max_backoff_s: float = MAX_BACKOFF_S) -> bytes:
        """The dead letter's value; its schema id is asked once, in a thread, and waited
        for while the registry does not answer (the poison record is kept, not dropped)."""
        record = dead_letter(source, reason, raw or b"", detail=detail, topic=topic,
                             partition=partition, offset=offset)
        encoder = self.dead
        if encoder.cached_header(dl_topic) is None and not encoder.local:
            self.waiting += 1
            try:
                await _until_registry_answers(f"dead letter to {dl_topic}",
                                              lambda: encoder.header(dl_topic),
                                              min_backoff_s, max_backoff_s)
            finally:
                self.waiting -= 1
        return encoder.serialize(dl_topic, record.model_dump())


async def _until_registry_answers(what: str, call: Callable[[], T], min_backoff_s: float,
                                  max_backoff_s: float) -> T:
    """``call`` (a blocking registry request) in a thread, each try bounded by
    ``REGISTRY_TIMEOUT_S``, retried with backoff while the registry does not answer."""
    delay, failures = min_backoff_s, 0
    while True:
        try:
            result = await asyncio.wait_for(asyncio.to_thread(call), REGISTRY_TIMEOUT_S)
        except (SchemaRegistryError, TimeoutError) as exc:
            failures += 1
            if failures == 1 or failures % 20 == 0:
                log.warning("registry unavailable %s (attempt %d: %s); waiting and retrying "
                            "the same message", what, failures, str(exc) or "no answer in time")
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter
            delay = min(delay * 2, max_backoff_s)
            continue
        if failures:
            log.info("registry answered again after %d attempts %s", failures, what)
        return result
