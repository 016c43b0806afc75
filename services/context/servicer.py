"""The CustomerContextService handlers: validate, authorize, read the view, audit.

Every call that looks a customer or a handoff up is audited with its outcome, and fails
closed when its audit record cannot be written (services/context/audit.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from backbone import metrics
from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.identifiers import Hasher, normalise
from backbone.models import IdentifierType
from backbone.settings import Settings
from services.context import mapping
from services.context.audit import Access, Auditor
from services.context.auth import Authenticator, Principal
from services.context.feed import TopicFeed
from services.context.handoff import Handoff, HandoffBook, HandoffDesk
from services.context.kpi_rpcs import KpiRpcs
from services.context.kpis import KpiView
from services.context.ratelimit import FailureLimiter
from services.context.status import RpcFailure, invalid, rpc, rpc_stream, unavailable
from services.context.view import AmbiguousIdentifier, ContextView, Entry
from services.context.watch import WatchSlots, watch_updates

ROLE = {"channel_system": pb.ROLE_CHANNEL_SYSTEM, "agent": pb.ROLE_AGENT,
        "supervisor": pb.ROLE_SUPERVISOR, "auditor": pb.ROLE_AUDITOR}
HASHED_TYPES = {"PHONE", "CARD", "ID_NUMBER"}
ID_TYPES = {t.value for t in IdentifierType} - {"UNKNOWN"}
# Failed redemptions that count against a principal's code limit (the credential was
# wrong or unusable), unlike our own UNAVAILABLE or INTERNAL.
REDEMPTION_FAILED = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}


@dataclass(frozen=True, slots=True)
class Lookup:
    """A validated CustomerLookup."""

    kind: str  # CUSTOMER_ID or an identifier type
    values: tuple[str, ...]  # the customer id, or the values the identifier may be stored as
    audit_hash: str  # what the audit record names instead of the value


def deadline_s(context: grpc.aio.ServicerContext, cap: float) -> float:
    """Seconds this call may still wait (a little less than its deadline, so we can answer)."""
    remaining = context.time_remaining()
    if remaining is None:
        return cap
    return max(min(remaining - 0.05, cap), 0.0)


class ContextServicer(KpiRpcs, pb_grpc.CustomerContextServiceServicer):
    def __init__(self, settings: Settings, *, view: ContextView, kpis: KpiView, feed: TopicFeed,
                 book: HandoffBook, desk: HandoffDesk, auditor: Auditor, instance: str,
                 clock: Callable[[], float]):
        self._settings = settings
        self._view = view
        self._kpis = kpis
        self._feed = feed
        self._book = book
        self._desk = desk
        self._auditor = auditor
        self._auth = Authenticator(settings)
        self._hasher = Hasher.from_settings(settings)
        self._entries = mapping.EntryCache()
        self._code_limit = FailureLimiter(
            settings.handoff_code_max_failures, settings.handoff_code_failure_window_s,
            max_principals=settings.handoff_code_limit_principals, clock=clock)
        self._watch_slots = WatchSlots(settings.grpc_max_watches_per_principal)
        metrics.CACHE_ENTRIES.labels("timeline_entries").set_function(
            lambda: len(self._entries._built))
        self.instance = instance
        self._clock = clock

    # -- shared steps ----------------------------------------------------------------
    def _ready(self) -> None:
        if not self._feed.caught_up:
            raise unavailable(
                f"context view is loading ({self._feed.lag_messages()} records behind)",
                1.0, "VIEW_CATCHING_UP")

    def _identifier(self, key: pb.IdentifierKey, field: str) -> tuple[str, list[str]]:
        """The identifier's type and the stored values it may have (key rotation)."""
        id_type = key.type.strip().upper()
        problems = {}
        if id_type not in ID_TYPES:
            problems[f"{field}.type"] = f"must be one of {sorted(ID_TYPES)}"
        if not key.value.strip():
            problems[f"{field}.value"] = "must not be empty"
        if problems:
            raise invalid(problems)
        value = key.value.strip()
        if id_type in HASHED_TYPES and not value.startswith("h:"):
            return id_type, self._hasher.candidates(id_type, normalise(id_type, value))
        return id_type, [value]

    def _keyed(self, kind: str, value: str) -> str:
        return self._hasher.hash(kind, value)

    def _lookup(self, lookup: pb.CustomerLookup, field: str) -> Lookup:
        which = lookup.WhichOneof("key")
        if which is None:
            raise invalid({field: "set customer_id or identifier"})
        if which == "customer_id":
            customer_id = lookup.customer_id.strip()
            if not customer_id:
                raise invalid({f"{field}.customer_id": "must not be empty"})
            return Lookup("CUSTOMER_ID", (customer_id,), self._keyed("CUSTOMER_ID", customer_id))
        id_type, values = self._identifier(lookup.identifier, f"{field}.identifier")
        # Phone, card and ID numbers are audited as the HMAC the identity graph stores, so
        # an investigator finds every lookup of a customer's number from its identities.
        audit_hash = values[0] if id_type in HASHED_TYPES else self._keyed(id_type, values[0])
        return Lookup(id_type, tuple(values), audit_hash)

    def _find(self, lookup: Lookup) -> Entry | None:
        if lookup.kind == "CUSTOMER_ID":
            return self._view.get(lookup.values[0])
        try:
            for value in lookup.values:
                entry = self._view.resolve(lookup.kind, value)
                if entry is not None:
                    return entry
            return None
        except AmbiguousIdentifier as exc:
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, str(exc) +
                             "; look up by a verified identifier or the customer id",
                             reason="AMBIGUOUS_IDENTIFIER") from exc

    async def _entry(self, lookup: Lookup, watermark: pb.Watermark | None,
                     context: grpc.aio.ServicerContext) -> Entry:
        """The customer's entry, at least as fresh as the watermark (read-your-writes)."""
        self._ready()
        wanted = [e for e in (watermark.event_ids if watermark else ()) if e]
        min_version = watermark.min_version if watermark else 0
        waiting = bool(wanted or min_version)
        entry = self._find(lookup)  # fast path: no waiting set-up for most calls
        if entry is not None and (not waiting or (
                entry.has_applied(wanted) and entry.version >= min_version)):
            return entry
        budget = deadline_s(context, self._settings.grpc_max_wait_s)
        loop = asyncio.get_running_loop()
        until = loop.time() + budget
        changed = self._view.watch_any()
        try:
            while True:
                changed.clear()
                entry = self._find(lookup)
                if entry is not None and entry.has_applied(wanted) and entry.version >= min_version:
                    return entry
                if entry is None and not waiting:
                    raise RpcFailure(grpc.StatusCode.NOT_FOUND, "no such customer",
                                     reason="CUSTOMER_NOT_FOUND")
                left = until - loop.time()
                if left <= 0:
                    raise RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                                     "the context has not reached the requested watermark yet",
                                     reason="WATERMARK_NOT_REACHED")
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except TimeoutError:
                    continue
        finally:
            self._view.unwatch_any(changed)

    def _freshness(self, entry: Entry) -> pb.Freshness:
        return mapping.freshness(entry, caught_up=self._feed.caught_up,
                                 lag=self._feed.lag_messages(), served_by=self.instance)

    def _handoff_pb(self, h: Handoff) -> pb.Handoff:
        return pb.Handoff(
            handoff_id=h.handoff_id, customer_id=h.customer_id,
            from_channel=mapping.channel(h.from_channel), to_channel=mapping.channel(h.to_channel),
            journey_id=h.journey_id, reason=h.reason, summary=h.summary,
            status=mapping.HANDOFF_STATUS[h.status], created_at_ms=h.created_at,
            expires_at_ms=h.expires_at, closed_at_ms=h.closed_at, created_by=h.created_by,
            closed_by=h.closed_by)

    @staticmethod
    def _check_timeline(query: pb.TimelineQuery) -> None:
        if query.page_size < 0 or query.page_size > mapping.MAX_PAGE:
            raise invalid({"timeline.page_size": f"must be between 0 and {mapping.MAX_PAGE}"})
        if query.until_ms and query.since_ms and query.until_ms <= query.since_ms:
            raise invalid({"timeline.until_ms": "must be after since_ms"})

    def _context(self, entry: Entry, principal: Principal, unmask: bool,
                 query: pb.TimelineQuery) -> tuple[pb.CustomerContext, str]:
        unmask = unmask and principal.may_unmask()
        key = (unmask, query.SerializeToString(deterministic=True))
        cached = entry.cache.get(key)
        if cached is None:
            try:
                entries, token = mapping.page(mapping.filtered_timeline(entry.data, query),
                                              query)
            except ValueError as exc:
                raise invalid({"timeline.page_token": str(exc)}) from exc
            cached = (mapping.customer_context(entry, unmask=unmask, timeline=entries,
                                               fresh=None, handoffs=[], cache=self._entries),
                      token)
            if len(entry.cache) < 16:  # bounded: page tokens make keys unbounded
                entry.cache[key] = cached
        base, token = cached
        ctx = pb.CustomerContext()
        ctx.CopyFrom(base)
        ctx.freshness.CopyFrom(self._freshness(entry))
        now = int(self._clock() * 1000)
        ctx.active_handoffs.extend(self._handoff_pb(h)
                                   for h in self._book.active_for(entry.customer_id)
                                   if h.expires_at > now)
        return ctx, token

    # -- RPCs ------------------------------------------------------------------------
    # Input is validated before the audit starts (a malformed request reads nothing); from
    # the first lookup on, every outcome is audited and waits for its record.

    @rpc("GetCustomerContext")
    async def GetCustomerContext(self, request: pb.GetCustomerContextRequest,
                                 context: grpc.aio.ServicerContext
                                 ) -> pb.GetCustomerContextResponse:
        principal = self._auth.authorize(context, "GetCustomerContext")
        if not request.purpose.strip():
            raise invalid({"purpose": "say why this context is read (audited)"})
        self._check_timeline(request.timeline)
        lookup = self._lookup(request.lookup, "lookup")
        self._ready()
        access = Access(principal, "read", request.purpose, lookup.kind, lookup.audit_hash,
                        unmasked=request.unmask)
        async with self._auditor.audited(access):
            if request.unmask and not principal.may_unmask():
                raise RpcFailure(grpc.StatusCode.PERMISSION_DENIED,
                                 f"role {principal.role} may not unmask identifiers",
                                 reason="UNMASK_NOT_ALLOWED")
            entry = await self._entry(lookup, request.min_freshness, context)
            access.customer_id = entry.customer_id
            ctx, token = self._context(entry, principal, request.unmask, request.timeline)
        return pb.GetCustomerContextResponse(context=ctx, next_page_token=token,
                                             caller_role=ROLE[principal.role])

    @rpc_stream("WatchCustomerContext")
    async def WatchCustomerContext(self, request: pb.WatchCustomerContextRequest,
                                   context: grpc.aio.ServicerContext
                                   ) -> AsyncIterator[pb.ContextUpdate]:
        principal = self._auth.authorize(context, "WatchCustomerContext")
        if not request.purpose.strip():
            raise invalid({"purpose": "say why this context is watched (audited)"})
        lookup = self._lookup(request.lookup, "lookup")
        self._ready()
        with self._watch_slots.hold(principal.name):
            access = Access(principal, "watch", request.purpose, lookup.kind, lookup.audit_hash)
            async with self._auditor.audited(access):
                entry = await self._entry(lookup, None, context)
                access.customer_id = entry.customer_id
            async for update in watch_updates(self._view, entry, request, self._freshness):
                yield update

    @rpc("CreateHandoff")
    async def CreateHandoff(self, request: pb.CreateHandoffRequest,
                            context: grpc.aio.ServicerContext) -> pb.CreateHandoffResponse:
        principal = self._auth.authorize(context, "CreateHandoff")
        problems = {}
        if request.from_channel not in mapping.CHANNEL_NAMES:
            problems["from_channel"] = "must be a channel"
        if request.to_channel not in mapping.CHANNEL_NAMES:
            problems["to_channel"] = "must be a channel"
        elif request.to_channel == request.from_channel:
            problems["to_channel"] = "must differ from from_channel"
        if request.ttl_seconds < 0:
            problems["ttl_seconds"] = "must not be negative"
        if len(request.summary) > 2000:
            problems["summary"] = "at most 2000 characters"
        if problems:
            raise invalid(problems)
        lookup = self._lookup(request.lookup, "lookup")
        self._ready()
        access = Access(principal, "handoff.create", "handoff", lookup.kind, lookup.audit_hash)
        async with self._auditor.audited(access):
            entry = await self._entry(lookup, None, context)
            access.customer_id = entry.customer_id
            handoff, token, code, eid = await self._desk.create(
                principal, entry.customer_id, mapping.CHANNEL_NAMES[request.from_channel],
                mapping.CHANNEL_NAMES[request.to_channel], request.journey_id, request.reason,
                request.summary, request.ttl_seconds)
            access.detail["handoff_id"] = handoff.handoff_id
        return pb.CreateHandoffResponse(handoff=self._handoff_pb(handoff), token=token,
                                        short_code=code, event_id=eid)

    @rpc("AcceptHandoff")
    async def AcceptHandoff(self, request: pb.AcceptHandoffRequest,
                            context: grpc.aio.ServicerContext) -> pb.AcceptHandoffResponse:
        principal = self._auth.authorize(context, "AcceptHandoff")
        which = request.WhichOneof("credential")
        problems = {}
        if which is None or not getattr(request, which).strip():
            problems["credential"] = "set token or short_code"
        if request.channel not in mapping.CHANNEL_NAMES:
            problems["channel"] = "must be the redeeming channel"
        if problems:
            raise invalid(problems)
        self._check_timeline(request.timeline)
        self._ready()
        by_code = which == "short_code"
        kind = "HANDOFF_CODE" if by_code else "HANDOFF_TOKEN"
        secret = request.short_code.replace(" ", "") if by_code else request.token
        access = Access(principal, "handoff.accept", request.purpose or "handoff", kind,
                        self._keyed(kind, secret))
        async with self._auditor.audited(access):
            if by_code:  # 8 digits can be guessed; a 24-byte token cannot
                self._code_limit.acquire(principal.name)
            failed = False
            try:
                timeout = deadline_s(context, self._settings.grpc_max_wait_s)
                handoff = await self._desk.find_waiting(
                    request.token, request.short_code,
                    min(timeout, self._settings.handoff_find_wait_s))
                access.customer_id = handoff.customer_id
                access.detail["handoff_id"] = handoff.handoff_id
                final, eid = await self._desk.accept(
                    principal, handoff, mapping.CHANNEL_NAMES[request.channel], timeout)
            except RpcFailure as exc:
                failed = exc.grpc_code in REDEMPTION_FAILED
                raise
            finally:
                if by_code:
                    self._code_limit.release(principal.name, failed=failed)
            response = pb.AcceptHandoffResponse(handoff=self._handoff_pb(final), event_id=eid)
            entry = self._view.get(final.customer_id)
            if entry is not None:
                ctx, _ = self._context(entry, principal, False, request.timeline)
                response.context.CopyFrom(ctx)
        return response

    @rpc("CancelHandoff")
    async def CancelHandoff(self, request: pb.CancelHandoffRequest,
                            context: grpc.aio.ServicerContext) -> pb.CancelHandoffResponse:
        principal = self._auth.authorize(context, "CancelHandoff")
        handoff_id = request.handoff_id.strip()
        if not handoff_id:
            raise invalid({"handoff_id": "must not be empty"})
        self._ready()
        access = Access(principal, "handoff.cancel", "handoff", "HANDOFF_ID",
                        self._keyed("HANDOFF_ID", handoff_id))
        async with self._auditor.audited(access):
            handoff = self._book.get(handoff_id)
            if handoff is None:
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, "no such handoff",
                                 reason="HANDOFF_NOT_FOUND")
            access.customer_id = handoff.customer_id
            access.detail["handoff_id"] = handoff_id
            final, eid = await self._desk.cancel(
                principal, handoff, deadline_s(context, self._settings.grpc_max_wait_s))
        return pb.CancelHandoffResponse(handoff=self._handoff_pb(final), event_id=eid)
