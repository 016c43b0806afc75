"""The rules every connector follows, implemented once.

validate → map to ``InteractionEvent`` → de-identify (HMAC + mask, text dropped) →
serialize → publish keyed by interaction id → answer the source only after Kafka acked.
Bad input becomes a metric, never a crash, and a dead-letter record with its phone, card
and ID numbers masked when the sender authenticated (nothing is kept from one that did not).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError as PydanticError

from backbone import identifiers as ids
from backbone import metrics as shared_metrics
from backbone.errors import (
    BackboneError,
    PublishError,
    SchemaNotReadyError,
    SerializationError,
    ValidationError,
)
from backbone.kafka import AsyncPublisher
from backbone.models import (
    ChatPayload,
    Identifier,
    IdentifierType,
    InteractionEvent,
    dead_letter,
    event_id,
)
from backbone.scrub import hash_numbers, mask_bytes, mask_numbers
from backbone.serde import (
    DEAD_LETTER,
    INTERACTION_EVENT,
    AvroSerde,
    FastAvroEncoder,
    SchemaIds,
    registry_client,
)
from backbone.settings import Settings
from backbone.vocabulary import TRUSTED_LINK_TYPES
from connectors import clock
from connectors import metrics as m
from connectors import records as rec
from connectors.records import Record

log = logging.getLogger(__name__)


# Payload fields that carry free text rather than ids or numbers.
FREE_TEXT = ("category", "service", "summary", "name", "screen", "outcome", "cause")


class Pipeline:
    """One connector's path to Kafka. Built without I/O; ``start()`` connects."""

    def __init__(self, settings: Settings, name: str, *,
                 publisher: AsyncPublisher | None = None, max_in_flight: int = 20_000):
        self.settings = settings
        self.name = name
        self.hasher = ids.Hasher.from_settings(settings)
        self.publisher = publisher or AsyncPublisher(settings, client_id=f"connector-{name}",
                                                     max_in_flight=max_in_flight)
        self._own_publisher = publisher is None
        # No client-side retries (they sleep inside the call): SchemaIds retries with backoff.
        self._registry = registry_client(settings, **{"max.retries": 0})
        # The AvroSerdes are the reference codecs (tests decode with them); publishing
        # uses the compiled writers, whose schema ids SchemaIds resolves at start.
        self._events = AvroSerde(self._registry, INTERACTION_EVENT)
        self._fast = FastAvroEncoder(self._registry, INTERACTION_EVENT)
        self._header_cache: bytes | None = None
        self._dead = AvroSerde(self._registry, DEAD_LETTER)
        self._dead_fast = FastAvroEncoder(self._registry, DEAD_LETTER)
        self.topic = settings.topic("interactions")
        self.dead_topic = settings.topic("dead-letters")
        self.schemas = SchemaIds([(self._fast, self.topic), (self._dead_fast, self.dead_topic)],
                                 name=f"connector {name}")
        self._received = m.RECEIVED.labels(name)
        self._published = m.PUBLISHED.labels(name)
        self._in_flight = m.IN_FLIGHT.labels(name)
        self._ack_latency = m.ACK_LATENCY.labels(name)

    async def start(self) -> None:
        """Start the producer and resolve the schema ids (in a thread, in the background):
        a registry that is down leaves the pipeline not ready, retrying, never crashed."""
        if self._own_publisher:
            await self.publisher.start()
        await self.load_schemas()

    async def load_schemas(self, first_attempt_s: float = 5.0) -> bool:
        """Begin resolving the schema ids (idempotent) and wait for the first attempt only."""
        return await self.schemas.first_attempt(first_attempt_s)

    async def stop(self) -> None:
        await self.schemas.stop()
        if self._own_publisher:
            await self.publisher.stop()

    @property
    def ready(self) -> bool:
        """Can publish now: Kafka is healthy and every schema id is resolved."""
        return self.publisher.healthy and self.schemas_ready

    @property
    def schemas_ready(self) -> bool:
        """Every schema id this pipeline writes with is resolved: publishing needs no registry."""
        return self.schemas.ready

    # -- identifiers (BRIEF §5: C2 values never leave as plain text) --------------------
    # ``*_record`` give the fast path's dicts; the unsuffixed ones the pydantic models.
    def phone_record(self, raw: str, *, verified: bool = False) -> Record | None:
        digits = ids.normalise("PHONE", raw)
        if len(digits) < 5 or ids.is_blocked(digits):
            return None
        return rec.identifier(IdentifierType.PHONE.value, self.hasher.hash("PHONE", digits),
                              ids.mask_phone(digits), verified)

    def card_record(self, raw: str, *, verified: bool = False) -> Record | None:
        digits = ids.normalise("CARD", raw)
        if len(digits) < 12 or ids.is_blocked(digits):
            return None
        return rec.identifier(IdentifierType.CARD.value, self.hasher.hash("CARD", digits),
                              ids.mask_card(digits), verified)

    def id_number_record(self, raw: str, *, verified: bool = False) -> Record | None:
        value = ids.normalise("ID_NUMBER", raw)
        if len(value) < 8 or ids.is_blocked(value):
            return None
        return rec.identifier(IdentifierType.ID_NUMBER.value,
                              self.hasher.hash("ID_NUMBER", value),
                              ids.mask_id_number(value), verified)

    @staticmethod
    def opaque_record(kind: IdentifierType, raw: object, *,
                      verified: bool = False) -> Record | None:
        """Channel-issued ids (OpenID, app user id, cookie...) are pseudonymous already."""
        if raw is None or isinstance(raw, bool | dict | list):
            return None
        value = str(raw).strip()
        if not value or len(value) > 200 or ids.is_blocked(value):
            return None
        return rec.identifier(kind.value, value, None, verified)

    def phone(self, raw: str, *, verified: bool = False) -> Identifier | None:
        return _model(self.phone_record(raw, verified=verified))

    def card(self, raw: str, *, verified: bool = False) -> Identifier | None:
        return _model(self.card_record(raw, verified=verified))

    def id_number(self, raw: str, *, verified: bool = False) -> Identifier | None:
        return _model(self.id_number_record(raw, verified=verified))

    def person_interaction(self, prefix: str, raw: str) -> str:
        """An interaction id that names a person (``wechat:<OpenID>``, ``app:<userId>``)
        carries a keyed hash of the identifier, so interaction ids never bypass masking."""
        return f"{prefix}:{self.hasher.hash(prefix.upper(), raw)}"

    @staticmethod
    def opaque(kind: IdentifierType, raw: object, *, verified: bool = False) -> Identifier | None:
        return _model(Pipeline.opaque_record(kind, raw, verified=verified))

    def scrub(self, text: str | None) -> str | None:
        """Kept free text with every phone, card or ID number in it replaced by its keyed
        hash (:mod:`backbone.scrub`): the same number gives the same token."""
        return text if text is None else hash_numbers(text, self.hasher)

    # -- events ----------------------------------------------------------------------
    def event(self, *, event_type: str, source_system: str, source_event_id: str,
              occurred_at: int, identifiers: Sequence[Identifier | None] = (),
              **fields: Any) -> InteractionEvent:
        """Build the canonical event, enforcing the trust and text rules in one place."""
        idents = [i for i in identifiers if i is not None]
        if event_type not in TRUSTED_LINK_TYPES and any(i.verified for i in idents):
            idents = [i.model_copy(update={"verified": False}) if i.verified else i
                      for i in idents]
        payload = fields.get("payload")
        if isinstance(payload, ChatPayload) and payload.text is not None:
            fields["payload"] = payload.model_copy(update={"text": self._kept_text(payload.text)})
            payload = fields["payload"]
        # Free text a desk or a branch system types (a complaint category, a service name,
        # a reason) can hold a number: hashed like any kept text.
        free = {k: self.scrub(getattr(payload, k)) for k in FREE_TEXT
                if isinstance(getattr(payload, k, None), str)}
        if free:
            fields["payload"] = payload.model_copy(update=free)  # type: ignore[union-attr]
        if isinstance(fields.get("reason"), str):
            fields["reason"] = self.scrub(fields["reason"])
        if fields.get("attributes"):
            fields["attributes"] = {k: self.scrub(val) or "" for k, val in
                                    fields["attributes"].items()}
        try:
            return InteractionEvent(
                event_id=event_id(source_system, source_event_id), event_type=event_type,
                occurred_at=occurred_at, ingested_at=clock.now_ms(),
                source_system=source_system, source_event_id=source_event_id,
                identifiers=idents, **fields)
        except PydanticError as exc:
            raise _invalid(exc) from exc

    def when(self, value: object, field: str) -> int:
        """A source timestamp as epoch ms, refused when implausibly old or in the future."""
        return clock.check_window(clock.parse_ms(value, field), field,
                                  max_age_s=self.settings.connector_max_event_age_s,
                                  max_skew_s=self.settings.connector_max_clock_skew_s)

    def record(self, *, event_type: str, source_system: str, source_event_id: str,
               occurred_at: int, interaction_id: str, channel: str = "UNKNOWN",
               identifiers: Sequence[Record | None] = (), actor: Record | None = None,
               organisation: Record | None = None, payload: Record | None = None,
               reason: str | None = None, correlation_id: str | None = None,
               journey_id: str | None = None, attributes: dict[str, str] | None = None,
               security_level: str = "C2") -> rec.Prepared:
        """The fast twin of :meth:`event`: same rules, a plain dict, encoded at once.

        Encoding here (not at publish time) means a value the contract refuses is this
        message's clear 400, like a pydantic refusal in :meth:`event`, never a failed batch.
        """
        idents = [i for i in identifiers if i is not None]
        if event_type not in TRUSTED_LINK_TYPES:
            idents = [i | {"verified": False} if i["verified"] else i for i in idents]
        if payload is not None and payload.get("-type") == rec.CHAT \
                and payload["text"] is not None:
            payload = payload | {"text": self._kept_text(payload["text"])}
        record: Record = {
            "event_id": event_id(source_system, source_event_id), "event_type": event_type,
            "channel": channel, "occurred_at": occurred_at, "ingested_at": clock.now_ms(),
            "source_system": source_system, "source_event_id": source_event_id,
            "interaction_id": interaction_id, "journey_id": journey_id,
            "correlation_id": correlation_id, "reason": reason, "identifiers": idents,
            "actor": actor or _UNKNOWN_ACTOR, "organisation": organisation,
            "security_level": security_level, "payload": payload,
            "attributes": attributes or {},
        }
        if not 3 <= len(event_type) <= 64:
            raise ValidationError("event_type: must be 3..64 characters", code="invalid_field",
                                  field="event_type")
        try:
            return rec.Prepared(record, self._header + self._fast.encode(record))
        except SerializationError:
            self._explain(record)  # raises the clear ValidationError when pydantic has one
            raise

    def _kept_text(self, text: str) -> str | None:
        return self.scrub(text) if self.settings.keep_message_text else None

    def _explain(self, record: Record) -> None:
        """Turn a record the writer refused into the same error :meth:`event` would give."""
        try:
            InteractionEvent.model_validate(rec.without_type_hints(record))
        except PydanticError as exc:
            raise _invalid(exc) from exc

    @property
    def _header(self) -> bytes:
        """Magic byte + schema id for the interactions topic, resolved by :attr:`schemas`
        (never asked here: a miss is :class:`SchemaNotReadyError`, a 503 for the source)."""
        header = self._header_cache
        if header is None:
            try:
                header = self._header_cache = self._fast.loaded_header(self.topic)
            except SchemaNotReadyError:
                self.schemas.start()  # the pipeline was never started (or gave up): start
                raise
        return header

    def received(self, count: int = 1) -> None:
        self._received.inc(count)

    # -- publishing ------------------------------------------------------------------
    def send(self, event: InteractionEvent | rec.Prepared) -> asyncio.Future[int]:
        """Hand one event to Kafka; the future resolves on acknowledgement."""
        if isinstance(event, rec.Prepared):
            value = event.value
        else:
            value = self._header + self._fast.encode(event.to_avro())
        return self.publisher.publish(self.topic, event.interaction_id, value,
                                      [("event_id", event.event_id.encode())])

    async def publish(self, events: Sequence[InteractionEvent | rec.Prepared],
                      timeout_s: float | None = None) -> list[str]:
        """Publish and wait until Kafka acknowledged every event; returns their ids.

        Raises :class:`PublishError` (or its ``BackpressureError``) when Kafka did not
        confirm: the caller must then refuse the source so it retries.
        """
        started = time.perf_counter()
        futures: list[asyncio.Future[int]] = []
        try:
            for e in events:
                futures.append(self.send(e))
        except BackboneError:
            for fut in futures:  # already handed over: Kafka may still store them
                fut.add_done_callback(_observe)
            raise
        self._in_flight.inc(len(futures))
        # Await each future in turn (acks arrive in batches, so most are done already):
        # much cheaper per event than gather + wait_for, same outcome.
        failure: Exception | None = None
        try:
            async with asyncio.timeout(timeout_s or self.settings.publish_timeout_s):
                for fut in futures:
                    try:
                        await fut
                    except Exception as exc:  # noqa: BLE001 - the first one is raised below
                        failure = failure or exc
        except TimeoutError as exc:
            for fut in futures:
                fut.add_done_callback(_observe)
            raise PublishError("Kafka did not acknowledge in time; retry later") from exc
        finally:
            self._in_flight.dec(len(futures))
        if failure is not None:
            raise failure
        self._published.inc(len(events))
        self._ack_latency.observe(time.perf_counter() - started)
        return [e.event_id for e in events]

    def refuse(self, error: ValidationError) -> None:
        """Count a refusal that leaves no dead letter: the caller never authenticated, so
        nothing it sent is kept (it could be anyone's personal data)."""
        m.REJECTED.labels(self.name, error.code).inc()

    async def reject(self, error: ValidationError, raw: bytes, *,
                     attributes: dict[str, str] | None = None) -> None:
        """Count the refusal and keep the raw input on the dead-letter topic (capped), with
        phone, card and ID numbers masked (:func:`backbone.scrub.mask_bytes`) first."""
        m.REJECTED.labels(self.name, error.code).inc()
        extra = (attributes or {}) | ({"field": error.field} if error.field else {})
        record = dead_letter(self.name, error.code, mask_bytes(raw),
                             detail=mask_numbers(error.message),
                             attributes={k: mask_numbers(v) for k, v in extra.items()})
        shared_metrics.DEAD_LETTERS.labels(self.name, error.code).inc()
        try:
            try:
                value = self._dead_fast.serialize(self.dead_topic, record.model_dump())
            except SchemaNotReadyError:
                self.schemas.start()
                raise
            await asyncio.wait_for(
                self.publisher.publish(self.dead_topic, self.name, value), 5.0)
        except (BackboneError, TimeoutError) as exc:
            # The sender still gets its 4xx; losing the copy is logged, not fatal.
            log.warning("%s: dead letter not stored (%s): %s", self.name, error.code, exc)


_UNKNOWN_ACTOR = rec.actor()


def _model(record: Record | None) -> Identifier | None:
    return None if record is None else Identifier(**record)


def _invalid(exc: PydanticError) -> ValidationError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()))
    return ValidationError(f"{field}: {err.get('msg')}", code="invalid_field",
                           field=field or None)


def _observe(fut: asyncio.Future[int]) -> None:
    if not fut.cancelled():
        fut.exception()
