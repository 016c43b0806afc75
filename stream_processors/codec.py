"""Wire formats of the processors: Avro in (through the registry), JSON between stages,
and dead letters for anything that cannot be decoded, so a poison record never stops a
partition. A registry that does not answer is not poison: decoding waits and retries."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from backbone.avro_reader import EventDecoder
from backbone.errors import SchemaRegistryError
from backbone.models import dead_letter
from backbone.serde import (
    DEAD_LETTER,
    FastAvroEncoder,
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
