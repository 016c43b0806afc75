"""GetCustomerContext answers as bytes, serialised once per snapshot version.

Protobuf merges repeated occurrences of an embedded message field, so an answer is the
cached bytes of its ``context`` field and page token (built once per customer, snapshot
version, masking and timeline query) followed by a small message with what changes from
call to call: freshness, the open handoffs and the caller's role. The gRPC handler for
GetCustomerContext hands those bytes to grpc as they are (:func:`method_handlers`).
The cache maps bytes to bytes, so the collector never tracks it (view.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from backbone.context.v1 import context_pb2 as pb
from services.context import mapping
from services.context.handoff_book import Handoff
from services.context.view import Entry

SERVICE = pb.DESCRIPTOR.services_by_name["CustomerContextService"]
PRESERIALISED = frozenset({"GetCustomerContext"})  # handlers that return bytes
PER_ENTRY = 16  # cached answers per snapshot version (page tokens make keys unbounded)
_CONTEXT_TAG = bytes([(1 << 3) | 2])  # GetCustomerContextResponse.context, length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def context_field(ctx: pb.CustomerContext) -> bytes:
    """``ctx`` encoded as field 1 of a GetCustomerContextResponse."""
    body = ctx.SerializeToString()
    return _CONTEXT_TAG + _varint(len(body)) + body


def cached_context(entry: Entry, unmask: bool, query: pb.TimelineQuery, *,
                   clearance: int = 1) -> bytes:
    """The encoded context and page token fields; ValueError for a stale page token.
    ``clearance``: the caller's data level (profile values above it are withheld)."""
    key = (b"u" if unmask else b"m") + bytes((clearance,)) + \
        query.SerializeToString(deterministic=True)
    hit = entry.cache.get(key)
    if hit is None:
        snap = entry.snapshot()
        entries, token = mapping.page(mapping.filtered_timeline(snap, query), query)
        ctx = mapping.customer_context(entry.customer_id, snap, unmask=unmask, timeline=entries,
                                       clearance=clearance)
        hit = context_field(ctx) + pb.GetCustomerContextResponse(
            next_page_token=token).SerializeToString()
        if len(entry.cache) < PER_ENTRY:
            entry.cache[key] = hit
    return hit


def answer(cached: bytes, *, fresh: pb.Freshness, handoffs: list[pb.Handoff],
           role: pb.Role) -> bytes:
    """A whole GetCustomerContextResponse: the cached part plus this call's parts."""
    tail = pb.GetCustomerContextResponse(
        context=pb.CustomerContext(freshness=fresh, active_handoffs=handoffs),
        caller_role=role)
    return cached + tail.SerializeToString()


def freshness(entry: Entry, *, caught_up: bool, lag: int, served_by: str) -> pb.Freshness:
    return pb.Freshness(version=entry.version, updated_at_ms=entry.updated_at,
                        view_caught_up=caught_up, view_lag_messages=lag, served_by=served_by)


def handoff_pb(h: Handoff) -> pb.Handoff:
    return pb.Handoff(
        handoff_id=h.handoff_id, customer_id=h.customer_id,
        from_channel=mapping.channel(h.from_channel), to_channel=mapping.channel(h.to_channel),
        journey_id=h.journey_id, reason=h.reason, summary=h.summary,
        status=mapping.HANDOFF_STATUS[h.status], created_at_ms=h.created_at,
        expires_at_ms=h.expires_at, closed_at_ms=h.closed_at, created_by=h.created_by,
        closed_by=h.closed_by)


def _serialise(response: bytes | Message) -> bytes:
    return response if isinstance(response, bytes) else response.SerializeToString()


def method_handlers(servicer: Any) -> dict[str, grpc.RpcMethodHandler]:
    """The service's handlers, as the generated ``add_..._to_server`` builds them, except
    that GetCustomerContext's answer is already serialised."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in SERVICE.methods:
        request = getattr(pb, method.input_type.name)
        response = getattr(pb, method.output_type.name)
        make: Callable[..., grpc.RpcMethodHandler] = (
            grpc.unary_stream_rpc_method_handler if method.server_streaming
            else grpc.unary_unary_rpc_method_handler)
        handlers[method.name] = make(
            getattr(servicer, method.name), request_deserializer=request.FromString,
            response_serializer=_serialise if method.name in PRESERIALISED
            else response.SerializeToString)
    return handlers


def add_to_server(servicer: Any, server: grpc.aio.Server) -> None:
    handlers = method_handlers(servicer)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)
