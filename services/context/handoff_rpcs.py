"""The handoff RPCs of the context service: create, accept (by token or code), cancel.

Every attempt is audited with its outcome, failed redemptions included (a wrong, expired or
used code or token leaves a trace), and the code redemptions are rate limited per principal.
"""

from __future__ import annotations

import grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.settings import Settings
from services.context import mapping, responses
from services.context.audit import Access, Auditor
from services.context.auth import Authenticator, Principal
from services.context.handoff import HandoffDesk
from services.context.handoff_book import HandoffBook
from services.context.lookup import Lookups, deadline_s
from services.context.ratelimit import FailureLimiter
from services.context.status import RpcFailure, invalid, rpc
from services.context.view import ContextView, Entry

# Failed redemptions that count against a principal's code limit (the credential was
# wrong or unusable), unlike our own UNAVAILABLE or INTERNAL.
REDEMPTION_FAILED = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}


class HandoffRpcs:
    """Mixed into the servicer, which provides the parts below."""

    _settings: Settings
    _view: ContextView
    _book: HandoffBook
    _desk: HandoffDesk
    _auditor: Auditor
    _auth: Authenticator
    _lookups: Lookups
    _code_limit: FailureLimiter

    @staticmethod
    def _check_timeline(query: pb.TimelineQuery) -> None:
        raise NotImplementedError

    def _context_message(self, entry: Entry, principal: Principal,
                         query: pb.TimelineQuery) -> pb.CustomerContext:
        raise NotImplementedError

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
        lookup = self._lookups.parse(request.lookup, "lookup")
        self._lookups.ready()
        access = Access(principal, "handoff.create", "handoff", lookup.kind, lookup.audit_hash)
        async with self._auditor.audited(access):
            entry = await self._lookups.entry(lookup, None, context)
            access.customer_id = entry.customer_id
            handoff, token, code, eid = await self._desk.create(
                principal, entry.customer_id, mapping.CHANNEL_NAMES[request.from_channel],
                mapping.CHANNEL_NAMES[request.to_channel], request.journey_id, request.reason,
                request.summary, request.ttl_seconds)
            access.detail["handoff_id"] = handoff.handoff_id
        return pb.CreateHandoffResponse(handoff=responses.handoff_pb(handoff), token=token,
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
        self._lookups.ready()
        by_code = which == "short_code"
        kind = "HANDOFF_CODE" if by_code else "HANDOFF_TOKEN"
        secret = request.short_code.replace(" ", "") if by_code else request.token
        access = Access(principal, "handoff.accept", request.purpose or "handoff", kind,
                        self._lookups.keyed(kind, secret))
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
            response = pb.AcceptHandoffResponse(handoff=responses.handoff_pb(final), event_id=eid)
            entry = self._view.get(final.customer_id)
            if entry is not None:
                response.context.CopyFrom(
                    self._context_message(entry, principal, request.timeline))
        return response

    @rpc("CancelHandoff")
    async def CancelHandoff(self, request: pb.CancelHandoffRequest,
                            context: grpc.aio.ServicerContext) -> pb.CancelHandoffResponse:
        principal = self._auth.authorize(context, "CancelHandoff")
        handoff_id = request.handoff_id.strip()
        if not handoff_id:
            raise invalid({"handoff_id": "must not be empty"})
        self._lookups.ready()
        access = Access(principal, "handoff.cancel", "handoff", "HANDOFF_ID",
                        self._lookups.keyed("HANDOFF_ID", handoff_id))
        async with self._auditor.audited(access):
            handoff = self._book.get(handoff_id)
            if handoff is None:
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, "no such handoff",
                                 reason="HANDOFF_NOT_FOUND")
            access.customer_id = handoff.customer_id
            access.detail["handoff_id"] = handoff_id
            final, eid = await self._desk.cancel(
                principal, handoff, deadline_s(context, self._settings.grpc_max_wait_s))
        return pb.CancelHandoffResponse(handoff=responses.handoff_pb(final), event_id=eid)
