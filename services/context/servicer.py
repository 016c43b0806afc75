"""The CustomerContextService handlers: validate, authorize, read the view, audit.

Every call that looks a customer or a handoff up is audited with its outcome, and fails
closed when its audit record cannot be written (services/context/audit.py). The handoff
RPCs are in handoff_rpcs.py, the KPI reads in kpi_rpcs.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from services.context import mapping, responses
from services.context.alert_rpcs import AlertBoard, AlertRpcs
from services.context.audit import Access, Auditor
from services.context.auth import Authenticator, Principal
from services.context.complaint_index import ComplaintIndex
from services.context.complaint_rpcs import ComplaintDesk, ComplaintRpcs
from services.context.drain import Drain
from services.context.feed import TopicFeed
from services.context.handoff import HandoffDesk
from services.context.handoff_book import HandoffBook
from services.context.handoff_rpcs import HandoffRpcs
from services.context.kpi_rpcs import KpiRpcs
from services.context.kpis import KpiView
from services.context.lookup import Lookups
from services.context.ratelimit import FailureLimiter
from services.context.status import RpcFailure, invalid, rpc, rpc_stream
from services.context.view import ContextView, Entry
from services.context.watch import WatchSlots, watch_updates

ROLE = {"channel_system": pb.ROLE_CHANNEL_SYSTEM, "agent": pb.ROLE_AGENT,
        "supervisor": pb.ROLE_SUPERVISOR, "auditor": pb.ROLE_AUDITOR}


class ContextServicer(KpiRpcs, HandoffRpcs, ComplaintRpcs, AlertRpcs,
                      pb_grpc.CustomerContextServiceServicer):
    def __init__(self, settings: Settings, *, view: ContextView, kpis: KpiView, feed: TopicFeed,
                 book: HandoffBook, desk: HandoffDesk, auditor: Auditor, instance: str,
                 clock: Callable[[], float], complaints: ComplaintIndex | None = None,
                 complaint_desk: ComplaintDesk | None = None,
                 alerts: AlertBoard | None = None):
        self._settings = settings
        self._view = view
        self._kpis = kpis
        self._feed = feed
        self._book = book
        self._desk = desk
        self._auditor = auditor
        self._auth = Authenticator(settings)
        self._lookups = Lookups(settings, view, feed)
        self._code_limit = FailureLimiter(
            settings.handoff_code_max_failures, settings.handoff_code_failure_window_s,
            max_principals=settings.handoff_code_limit_principals, clock=clock)
        self._watch_slots = WatchSlots(settings.grpc_max_watches_per_principal)
        self.instance = instance
        self._clock = clock
        self._complaints = complaints if complaints is not None else ComplaintIndex()
        self._complaint_desk = complaint_desk
        self._alerts = alerts if alerts is not None else AlertBoard()
        self.drain = Drain()  # the server's shutdown (services/context/drain.py)

    # -- shared steps ----------------------------------------------------------------
    def _ready(self) -> None:
        self._lookups.ready()

    def _freshness(self, entry: Entry) -> pb.Freshness:
        return responses.freshness(entry, caught_up=self._feed.caught_up,
                                   lag=self._feed.lag_messages(), served_by=self.instance)

    def _handoffs(self, entry: Entry) -> list[pb.Handoff]:
        active = self._book.active_for(entry.customer_id)
        if not active:
            return []
        now = int(self._clock() * 1000)
        return [responses.handoff_pb(h) for h in active if h.expires_at > now]

    @staticmethod
    def _check_timeline(query: pb.TimelineQuery) -> None:
        if query.page_size < 0 or query.page_size > mapping.MAX_PAGE:
            raise invalid({"timeline.page_size": f"must be between 0 and {mapping.MAX_PAGE}"})
        if query.until_ms and query.since_ms and query.until_ms <= query.since_ms:
            raise invalid({"timeline.until_ms": "must be after since_ms"})

    def _cached(self, entry: Entry, principal: Principal, unmask: bool,
                query: pb.TimelineQuery) -> bytes:
        try:
            return responses.cached_context(entry, unmask and principal.may_unmask(), query,
                                            clearance=principal.clearance)
        except ValueError as exc:
            raise invalid({"timeline.page_token": str(exc)}) from exc

    def _context_message(self, entry: Entry, principal: Principal,
                         query: pb.TimelineQuery) -> pb.CustomerContext:
        """The masked context as a message (AcceptHandoff answers with it)."""
        cached = self._cached(entry, principal, False, query)
        ctx = pb.GetCustomerContextResponse.FromString(cached).context
        ctx.freshness.CopyFrom(self._freshness(entry))
        ctx.active_handoffs.extend(self._handoffs(entry))
        return ctx

    # -- RPCs ------------------------------------------------------------------------
    # Input is validated before the audit starts (a malformed request reads nothing); from
    # the first lookup on, every outcome is audited and waits for its record.

    @rpc("GetCustomerContext")
    async def GetCustomerContext(self, request: pb.GetCustomerContextRequest,
                                 context: grpc.aio.ServicerContext) -> bytes:
        """A serialised GetCustomerContextResponse (see responses.py)."""
        principal = self._auth.authorize(context, "GetCustomerContext")
        if not request.purpose.strip():
            raise invalid({"purpose": "say why this context is read (audited)"})
        self._check_timeline(request.timeline)
        lookup = self._lookups.parse(request.lookup, "lookup")
        self._lookups.ready()
        access = Access(principal, "read", request.purpose, lookup.kind, lookup.audit_hash,
                        unmasked=request.unmask)
        async with self._auditor.audited(access):
            if request.unmask and not principal.may_unmask():
                raise RpcFailure(grpc.StatusCode.PERMISSION_DENIED,
                                 f"role {principal.role} may not unmask identifiers",
                                 reason="UNMASK_NOT_ALLOWED")
            entry = await self._lookups.entry(lookup, request.min_freshness, context)
            access.customer_id = entry.customer_id
            cached = self._cached(entry, principal, request.unmask, request.timeline)
        return responses.answer(cached, fresh=self._freshness(entry),
                                handoffs=self._handoffs(entry), role=ROLE[principal.role])

    @rpc_stream("WatchCustomerContext")
    async def WatchCustomerContext(self, request: pb.WatchCustomerContextRequest,
                                   context: grpc.aio.ServicerContext
                                   ) -> AsyncIterator[pb.ContextUpdate]:
        principal = self._auth.authorize(context, "WatchCustomerContext")
        if not request.purpose.strip():
            raise invalid({"purpose": "say why this context is watched (audited)"})
        lookup = self._lookups.parse(request.lookup, "lookup")
        self._lookups.ready()
        with self._watch_slots.hold(principal.name):
            access = Access(principal, "watch", request.purpose, lookup.kind, lookup.audit_hash)
            async with self._auditor.audited(access):
                entry = await self._lookups.entry(lookup, None, context)
                access.customer_id = entry.customer_id
            async for update in watch_updates(self._view, entry, request, self._freshness,
                                              principal.clearance):
                yield update
