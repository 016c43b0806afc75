"""Explicit cross-channel handoff: a short-lived, single-use token plus a read-out code.

The ``handoffs`` topic is the state. Every instance replays it (:class:`HandoffBook`), so
any instance can redeem a handoff another one created. Single use holds with any number
of instances because the log decides: all events of one handoff share its customer key
(one partition), every terminal event (accepted / cancelled / expired) carries the same
deterministic event id, and the *first terminal event in log order wins*. An instance
publishes its attempt, waits until its own replay reaches the first terminal event, and
answers success only if that event is its own attempt. The stream processors deduplicate
by event id, so they keep exactly the same winner.

Token and short code are derived from the handoff id with a key only the service holds
(:meth:`HandoffDesk.credentials`), so neither they nor any hash of them is stored or
published: the events carry nothing the processors could copy into a customer's timeline,
and any instance recomputes them after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable

import grpc

from backbone import metrics, vocabulary
from backbone.kafka import AsyncPublisher
from backbone.models import (
    Actor,
    ActorKind,
    Channel,
    HandoffPayload,
    InteractionEvent,
    event_id,
)
from backbone.serde import FastAvroEncoder
from backbone.settings import Settings
from services.context.auth import Principal, Role
from services.context.handoff_book import (
    CODE_DIGITS,
    ERROR_REASON,
    SOURCE,
    Handoff,
    HandoffBook,
)
from services.context.status import RpcFailure, unavailable

log = logging.getLogger(__name__)


class HandoffDesk:
    """Creates, redeems, cancels and expires handoffs by publishing events and reading the log."""

    def __init__(self, settings: Settings, book: HandoffBook, publisher: AsyncPublisher,
                 encoder: FastAvroEncoder, *, instance: str, clock: Callable[[], float]):
        self._settings = settings
        self._book = book
        self._publisher = publisher
        self._encoder = encoder
        self._topic = settings.topic("handoffs")
        self._instance = instance
        self._clock = clock
        self._key = settings.hmac_key.get_secret_value().encode()
        self._mint_key = settings.handoff_key.get_secret_value().encode() \
            if settings.handoff_key is not None else \
            hmac.new(self._key, b"handoff-credentials", hashlib.sha256).digest()
        self._expiring: set[str] = set()
        book.derive_lookup_keys(self.lookup_keys)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _hash(self, kind: str, secret: str) -> str:
        return hmac.new(self._key, f"handoff-{kind}:{secret}".encode(), hashlib.sha256).hexdigest()

    def credentials(self, handoff_id: str) -> tuple[str, str]:
        """The handoff's token (24 bytes, URL-safe) and 8-digit code: MACs of its random id.

        Knowing the id (it is in the timeline) gives neither without the key.
        """
        def mac(kind: str) -> bytes:
            return hmac.new(self._mint_key, f"{kind}:{handoff_id}".encode(),
                            hashlib.sha256).digest()
        token = base64.urlsafe_b64encode(mac("token")[:24]).decode()
        code = f"{int.from_bytes(mac('code')[:8], 'big') % 10 ** CODE_DIGITS:0{CODE_DIGITS}d}"
        return token, code

    def lookup_keys(self, handoff_id: str) -> tuple[str, str]:
        token, code = self.credentials(handoff_id)
        return self._hash("token", token), self._hash("code", code)

    # -- create ----------------------------------------------------------------------
    async def create(self, principal: Principal, customer_id: str, from_channel: str,
                     to_channel: str, journey_id: str, reason: str, summary: str,
                     ttl_s: int) -> tuple[Handoff, str, str, str]:
        """Returns the handoff, its token, its short code and the created event id."""
        ttl = min(ttl_s or self._settings.handoff_ttl_s, self._settings.handoff_max_ttl_s)
        active = self._book.active_codes()
        handoff_id, token, code = "", "", ""
        for _ in range(50):  # a code unique among the open handoffs this instance knows
            handoff_id = secrets.token_hex(16)
            token, code = self.credentials(handoff_id)
            if self._hash("code", code) not in active:
                break
        now = self.now_ms()
        handoff = Handoff(
            handoff_id=handoff_id, customer_id=customer_id, from_channel=from_channel,
            to_channel=to_channel, journey_id=journey_id, reason=reason, summary=summary,
            created_at=now, expires_at=now + ttl * 1000, created_by=principal.name,
            instance=self._instance, token_hash=self._hash("token", token),
            code_hash=self._hash("code", code))
        attrs = {"expires_at": str(handoff.expires_at)}
        eid = await self._publish(handoff, vocabulary.HANDOFF_CREATED, "created", from_channel,
                                  principal, attrs, uuid.uuid4().hex, now)
        self._book.add(handoff)
        metrics.GRPC_HANDOFFS.labels("created").inc()
        return handoff, token, code, eid

    # -- accept / cancel -------------------------------------------------------------
    async def find_waiting(self, token: str, code: str, timeout_s: float) -> Handoff:
        """Like :meth:`find`, but gives another instance's fresh create time to replay here.

        A handoff created on instance A a moment ago may not have reached B's replay yet;
        NOT_FOUND is only answered after ``timeout_s`` without it showing up.
        """
        changed = self._book.watch_changes()
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout_s
        try:
            while True:
                changed.clear()
                try:
                    return self.find(token, code)
                except RpcFailure as exc:
                    left = until - loop.time()
                    if exc.grpc_code != grpc.StatusCode.NOT_FOUND or left <= 0:
                        raise
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except TimeoutError:
                    continue
        finally:
            self._book.unwatch_changes(changed)

    def find(self, token: str, code: str) -> Handoff:
        if token:
            found = self._book.by_token(self._hash("token", token))
        else:
            candidates = self._book.by_code(self._hash("code", code.replace(" ", "")))
            active = [h for h in candidates if h.status == "created"]
            if len(active) > 1:
                raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION,
                                 "this code matches several open handoffs; redeem by token",
                                 reason="HANDOFF_CODE_AMBIGUOUS")
            found = active[0] if active else max(candidates, key=lambda h: h.created_at,
                                                 default=None)
        if found is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, "no such handoff",
                             reason="HANDOFF_NOT_FOUND")
        return found

    def _check_open(self, handoff: Handoff) -> None:
        if handoff.status != "created":
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION,
                             f"handoff is {handoff.status}", reason=ERROR_REASON[handoff.status],
                             metadata={"handoff_id": handoff.handoff_id})
        if self.now_ms() >= handoff.expires_at:
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, "handoff has expired",
                             reason="HANDOFF_EXPIRED", metadata={"handoff_id": handoff.handoff_id})

    async def accept(self, principal: Principal, handoff: Handoff, channel: str,
                     timeout_s: float) -> tuple[Handoff, str]:
        if channel != handoff.to_channel:
            metrics.GRPC_HANDOFFS.labels("wrong_channel").inc()
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION,
                             f"handoff is for {handoff.to_channel}, not {channel}",
                             reason="HANDOFF_WRONG_CHANNEL",
                             metadata={"handoff_id": handoff.handoff_id,
                                       "to_channel": handoff.to_channel})
        return await self._close(principal, handoff, vocabulary.HANDOFF_ACCEPTED, "accepted",
                                 channel, timeout_s)

    async def cancel(self, principal: Principal, handoff: Handoff,
                     timeout_s: float) -> tuple[Handoff, str]:
        return await self._close(principal, handoff, vocabulary.HANDOFF_CANCELLED, "cancelled",
                                 handoff.from_channel, timeout_s)

    async def _close(self, principal: Principal, handoff: Handoff, event_type: str, status: str,
                     channel: str, timeout_s: float) -> tuple[Handoff, str]:
        self._check_open(handoff)
        attempt = uuid.uuid4().hex
        decided = self._book.decided(handoff.handoff_id)
        try:
            eid = await self._publish(handoff, event_type, status, channel, principal, {},
                                      attempt, self.now_ms())
            try:
                await asyncio.wait_for(decided.wait(), timeout_s)
            except TimeoutError as exc:
                raise unavailable("the handoff log has not confirmed the decision yet", 1.0,
                                  "HANDOFF_UNDECIDED") from exc
        finally:
            self._book.forget_waiter(handoff.handoff_id, decided)
        final = self._book.get(handoff.handoff_id)
        assert final is not None
        if final.winning_attempt != attempt:
            metrics.GRPC_HANDOFFS.labels("lost_race").inc()
            self._check_open(final)  # raises with the winner's status
        metrics.GRPC_HANDOFFS.labels(status).inc()
        return final, eid

    # -- expiry ----------------------------------------------------------------------
    async def expire_due(self) -> int:
        """Publish handoff.expired for due handoffs this instance is responsible for.

        The creating instance expires its own; after the grace period any instance does,
        so a crashed creator cannot leave handoffs open. Duplicates share one event id.
        """
        now = self.now_ms()
        grace = int(self._settings.handoff_expiry_grace_s * 1000)
        published = 0
        for handoff in self._book.open_handoffs():
            if handoff.expires_at > now or handoff.handoff_id in self._expiring:
                continue
            if handoff.instance != self._instance and now < handoff.expires_at + grace:
                continue
            self._expiring.add(handoff.handoff_id)
            system = Principal(f"context-service/{self._instance}", Role.CHANNEL_SYSTEM, "internal")
            await self._publish(handoff, vocabulary.HANDOFF_EXPIRED, "expired",
                                handoff.from_channel, system, {}, uuid.uuid4().hex, now)
            metrics.GRPC_HANDOFFS.labels("expiry_published").inc()
            published += 1
        self._expiring &= {h.handoff_id for h in self._book.open_handoffs()}
        self._book.evict_closed(now)
        return published

    # -- publishing ------------------------------------------------------------------
    async def _publish(self, handoff: Handoff, event_type: str, status: str, channel: str,
                       principal: Principal, extra: dict[str, str], attempt: str,
                       at_ms: int) -> str:
        created = event_type == vocabulary.HANDOFF_CREATED
        source_id = f"{handoff.handoff_id}:{'created' if created else 'closed'}"
        kind = {Role.AGENT: ActorKind.AGENT, Role.SUPERVISOR: ActorKind.AGENT}.get(
            principal.role, ActorKind.SYSTEM)
        event = InteractionEvent(
            event_id=event_id(SOURCE, source_id), event_type=event_type,
            channel=Channel(channel), occurred_at=at_ms, ingested_at=at_ms,
            source_system=SOURCE, source_event_id=source_id,
            interaction_id=f"handoff:{handoff.handoff_id}",
            journey_id=handoff.journey_id or None, reason=handoff.reason or None,
            actor=Actor(kind=kind, id=principal.name),
            payload=HandoffPayload(handoff_id=handoff.handoff_id,
                                   from_channel=Channel(handoff.from_channel),
                                   to_channel=Channel(handoff.to_channel), status=status,
                                   summary=handoff.summary or None),
            attributes={"customer_id": handoff.customer_id, "attempt_id": attempt,
                        "principal": principal.name, "instance": self._instance, **extra})
        value = self._encoder.serialize(self._topic, event.to_avro())
        await self._publisher.publish(self._topic, handoff.customer_id, value)
        return event.event_id
