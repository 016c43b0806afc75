"""Audit records on the real broker: failed lookups leave a trace, a lost record fails the read."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from backbone.context.v1 import context_pb2 as pb
from backbone.identifiers import Hasher
from backbone.kafka import AsyncPublisher
from backbone.settings import Settings
from tests.integration.services.conftest import ServerFactory
from tests.integration.services.support import (
    SnapshotWriter,
    auth,
    by_id,
    error_details,
    read_topic,
    snapshot,
    stub,
)

SHARED_PHONE = "13800131234"  # a family phone two customers verified
UNKNOWN_PHONE = "13900009999"


def _by_phone(number: str) -> pb.GetCustomerContextRequest:
    return pb.GetCustomerContextRequest(
        lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="PHONE", value=number)),
        purpose="inbound_call")




async def test_not_found_and_ambiguous_lookups_leave_audit_records(
        server_factory: ServerFactory, writer: SnapshotWriter) -> None:
    server = await server_factory(instance="ctx-audit")
    hasher = Hasher.from_settings(server.settings)
    shared = hasher.hash("PHONE", SHARED_PHONE)
    writer.put("cust-a1", snapshot("cust-a1", 1, phone_hash=shared))
    writer.put("cust-a2", snapshot("cust-a2", 1, phone_hash=shared))
    channel, api = stub(server.port)
    async with channel:
        for cid in ("cust-a1", "cust-a2"):  # both in the view: the phone is ambiguous
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id(cid), purpose="warm_up",
                min_freshness=pb.Watermark(min_version=1)), metadata=auth("agent"), timeout=15)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(_by_phone(UNKNOWN_PHONE), metadata=auth("agent"),
                                         timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(_by_phone(f"+86 {SHARED_PHONE}"),
                                         metadata=auth("agent"), timeout=5)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(err.value)[0] == "AMBIGUOUS_IDENTIFIER"

    # one principal, one partition: the records are in call order
    raw = read_topic(server.settings, "audit", expect=4)
    records = [json.loads(v) for _, v in raw][2:]
    probes = [(r["action"], r["outcome"], r["reason"], r["lookup"], r["customer_id"])
              for r in records]
    assert probes == [
        ("read", "NOT_FOUND", "CUSTOMER_NOT_FOUND",
         {"type": "PHONE", "hash": hasher.hash("PHONE", UNKNOWN_PHONE)}, ""),
        ("read", "FAILED_PRECONDITION", "AMBIGUOUS_IDENTIFIER",
         {"type": "PHONE", "hash": shared}, "")]
    assert all((r["principal"], r["role"], r["purpose"]) == ("agent-dev", "agent", "inbound_call")
               for r in records)
    # the number itself is in no record, in any form the caller typed it
    assert not any(n.encode() in v for _, v in raw for n in (UNKNOWN_PHONE, SHARED_PHONE))


async def _dead_publisher(settings: Settings) -> AsyncPublisher:
    """A real producer whose broker does not exist: nothing it sends is ever acknowledged."""
    dead = AsyncPublisher(settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"}),
                          client_id="dead-audit", **{"message.timeout.ms": 60_000})
    await dead.start()
    return dead


async def test_a_read_whose_audit_record_is_not_acknowledged_fails_unavailable(
        ctx_settings: Settings, server_factory: ServerFactory, writer: SnapshotWriter,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = await server_factory(ctx_settings.model_copy(update={"grpc_audit_timeout_s": 0.5}),
                                  instance="ctx-audit-down")
    writer.put("cust-a3", snapshot("cust-a3", 1))
    channel, api = stub(server.port)
    dead = await _dead_publisher(server.settings)
    try:
        async with channel:
            ok = await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("cust-a3"), purpose="t", min_freshness=pb.Watermark(min_version=1)),
                metadata=auth("agent"), timeout=15)
            assert ok.context.customer_id == "cust-a3"
            monkeypatch.setattr(server.auditor, "_publisher", dead)
            calls: dict[str, Any] = {
                "masked read": api.GetCustomerContext(pb.GetCustomerContextRequest(
                    lookup=by_id("cust-a3"), purpose="t"), metadata=auth("agent"), timeout=5),
                "unknown customer": api.GetCustomerContext(pb.GetCustomerContextRequest(
                    lookup=by_id("nobody"), purpose="t"), metadata=auth("agent"), timeout=5),
                "watch": api.WatchCustomerContext(pb.WatchCustomerContextRequest(
                    lookup=by_id("cust-a3"), purpose="t"), metadata=auth("agent"),
                    timeout=5).read(),
            }
            for name, call in calls.items():
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                # no data, and not even whether the customer exists
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE, name
                reason, delay = error_details(err.value)
                assert (reason, delay) == ("AUDIT_UNAVAILABLE", 1.0), name
    finally:
        await dead.stop(timeout_s=0.1)
