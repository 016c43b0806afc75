"""The agent desktop's API: sign-in check, context lookup, live updates, handoffs and the
queue KPIs, each one context-service call made with the caller's own token."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from backbone.context.v1 import context_pb2 as pb
from services.web import contacts, convert, models
from services.web.backend import ContextClient, UpstreamError, bearer
from services.web.sse import HEARTBEAT_S, EventStream, StreamLimit

MAX_ENTRIES = 200  # timeline entries one live stream keeps for grouping
# New entries of these kinds change complaints, handoffs or surveys: the page re-reads.
REFRESH_DOMAINS = frozenset({"complaint", "handoff", "survey"})


def _view(context: pb.CustomerContext) -> dict[str, Any]:
    data = convert.to_dict(context)
    data["contacts"] = contacts.group(data.pop("timeline"))
    return data


class DesktopApi:
    def __init__(self, client: ContextClient, streams: StreamLimit):
        self._client = client
        self._streams = streams

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/session", self.session), web.post("/api/context", self.context),
                web.post("/api/watch", self.watch), web.post("/api/handoffs", self.create),
                web.post("/api/handoffs/accept", self.accept),
                web.post("/api/handoffs/{handoff_id}/cancel", self.cancel),
                web.post("/api/kpis", self.kpis)]

    async def session(self, request: web.Request) -> web.Response:
        """Checks a token with a call that reads no customer: a KPI query for no scope.
        Unknown tokens fail UNAUTHENTICATED; roles without KPI rights PERMISSION_DENIED."""
        token = bearer(request.headers.get("Authorization"))
        probe = pb.GetLiveKpisRequest(scope="-", window="1m")
        try:
            await self._client.call("GetLiveKpis", probe, token)
            may_read_kpis = True
        except UpstreamError as exc:
            if exc.status != 403:
                raise
            may_read_kpis = False
        return web.json_response({"ok": True, "may_read_kpis": may_read_kpis})

    async def context(self, request: web.Request) -> web.Response:
        token = bearer(request.headers.get("Authorization"))
        query = models.ContextQuery.model_validate(await request.json())
        reply = await self._client.call("GetCustomerContext", pb.GetCustomerContextRequest(
            lookup=query.proto(), purpose=query.purpose, unmask=query.unmask,
            timeline=pb.TimelineQuery(page_size=query.page_size)), token)
        return web.json_response({"context": _view(reply.context),
                                  "caller_role": convert.to_dict(reply)["caller_role"]})

    async def create(self, request: web.Request) -> web.Response:
        token = bearer(request.headers.get("Authorization"))
        body = models.NewHandoff.model_validate(await request.json())
        reply = await self._client.call("CreateHandoff", body.proto(), token)
        # The token is for system-to-system redemption (deep links); a person reads the code.
        return web.json_response({"handoff": convert.to_dict(reply.handoff),
                                  "short_code": reply.short_code, "event_id": reply.event_id})

    async def accept(self, request: web.Request) -> web.Response:
        token = bearer(request.headers.get("Authorization"))
        body = models.AcceptCode.model_validate(await request.json())
        reply = await self._client.call("AcceptHandoff", body.proto(), token)
        return web.json_response({"handoff": convert.to_dict(reply.handoff),
                                  "context": _view(reply.context), "event_id": reply.event_id})

    async def cancel(self, request: web.Request) -> web.Response:
        token = bearer(request.headers.get("Authorization"))
        body = models.CancelHandoff.model_validate(await request.json())
        reply = await self._client.call("CancelHandoff", pb.CancelHandoffRequest(
            handoff_id=request.match_info["handoff_id"], reason=body.reason), token)
        return web.json_response({"handoff": convert.to_dict(reply.handoff)})

    async def kpis(self, request: web.Request) -> web.Response:
        token = bearer(request.headers.get("Authorization"))
        query = models.KpiQuery.model_validate(await request.json())
        reply = await self._client.call("GetLiveKpis", query.proto(), token)
        return web.json_response({"snapshots": [convert.kpi_snapshot(s) for s in reply.snapshots],
                                  "view_lag_messages": reply.view_lag_messages})

    async def watch(self, request: web.Request) -> web.StreamResponse:
        """WatchCustomerContext as SSE: one ``update`` per ContextUpdate, with the contacts
        regrouped; an ``error`` event (then the end) when the service refuses."""
        token = bearer(request.headers.get("Authorization"))
        query = models.WatchQuery.model_validate(await request.json())
        with self._streams:
            stream = await EventStream(request).open()
            updates: asyncio.Queue[pb.ContextUpdate | UpstreamError | None] = asyncio.Queue()
            reader = asyncio.create_task(self._read(query, token, updates))
            try:
                await self._relay(stream, updates)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            return stream.response

    async def _read(self, query: models.WatchQuery, token: str,
                    out: asyncio.Queue[pb.ContextUpdate | UpstreamError | None]) -> None:
        request = pb.WatchCustomerContextRequest(
            lookup=pb.CustomerLookup(customer_id=query.customer_id), purpose="agent_desktop")
        try:
            async for update in self._client.stream("WatchCustomerContext", request, token):
                await out.put(update)
            await out.put(None)
        except UpstreamError as exc:
            await out.put(exc)

    @staticmethod
    async def _relay(stream: EventStream,
                     updates: asyncio.Queue[pb.ContextUpdate | UpstreamError | None]) -> None:
        entries: dict[str, dict[str, Any]] = {}
        while True:
            try:
                update = await asyncio.wait_for(updates.get(), HEARTBEAT_S)
            except TimeoutError:
                await stream.ping()  # a closed browser tab shows here, as a write error
                continue
            if update is None:
                await stream.send("end", {})
                return
            if isinstance(update, UpstreamError):
                await stream.send("error", update.to_json())
                return
            data = convert.to_dict(update)
            if update.full_snapshot:
                entries.clear()
            for entry in data.pop("new_entries"):
                entries[entry["event_id"]] = entry
            for old in sorted(entries.values(), key=lambda e: e["occurred_at_ms"])[:-MAX_ENTRIES]:
                entries.pop(old["event_id"], None)
            data["new_entry_types"] = sorted({e.event_type for e in update.new_entries})
            data["refresh"] = any(t.partition(".")[0] in REFRESH_DOMAINS
                                  for t in data["new_entry_types"])
            data["contacts"] = contacts.group(list(entries.values()))
            await stream.send("update", data)
