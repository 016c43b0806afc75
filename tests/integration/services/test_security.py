"""Authentication, roles, masking, audit records and TLS / mutual TLS."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from backbone import kpi_record
from backbone.context.v1 import context_pb2 as pb
from backbone.settings import Settings
from services.context.server import ContextServer
from tests.integration.services.conftest import ServerFactory
from tests.integration.services.support import (
    SnapshotWriter,
    auth,
    by_id,
    read_topic,
    snapshot,
    stub,
)
from tests.integration.services.tls import make_pki


def _get(cid: str, unmask: bool = False, purpose: str = "inbound_call"
         ) -> pb.GetCustomerContextRequest:
    return pb.GetCustomerContextRequest(lookup=by_id(cid), purpose=purpose, unmask=unmask,
                                        min_freshness=pb.Watermark(min_version=1))


async def test_roles_decide_calls_and_masking_and_reads_are_audited(
        server: ContextServer, writer: SnapshotWriter) -> None:
    writer.put("cust-s", snapshot("cust-s", 1))
    channel, api = stub(server.port)
    async with channel:
        agent = await api.GetCustomerContext(_get("cust-s"), metadata=auth("agent"), timeout=15)
        shown = {i.type: (i.value, i.masked) for i in agent.context.identities}
        assert shown["PHONE"] == ("138****1234", True)
        assert shown["WECHAT_OPENID"] == ("oWx****id", True)
        assert all(i.masked for i in agent.context.identities)

        sup = await api.GetCustomerContext(_get("cust-s", unmask=True, purpose="fraud_review"),
                                           metadata=auth("supervisor"), timeout=5)
        shown = {i.type: (i.value, i.masked) for i in sup.context.identities}
        assert shown["PHONE"] == ("h:k1:phonehash", False)  # the HMAC; raw C2 is never stored

        auditor = await api.GetCustomerContext(_get("cust-s", purpose="quarterly_audit"),
                                               metadata=auth("auditor"), timeout=5)
        assert all(i.masked for i in auditor.context.identities)

        failures = {
            "no credentials": (api.GetCustomerContext(_get("cust-s"), timeout=5),
                               grpc.StatusCode.UNAUTHENTICATED),
            "unknown token": (api.GetCustomerContext(
                _get("cust-s"), metadata=(("authorization", "Bearer nope"),), timeout=5),
                grpc.StatusCode.UNAUTHENTICATED),
            "agent unmask": (api.GetCustomerContext(
                _get("cust-s", unmask=True), metadata=auth("agent"), timeout=5),
                grpc.StatusCode.PERMISSION_DENIED),
            "auditor handoff": (api.CreateHandoff(pb.CreateHandoffRequest(
                lookup=by_id("cust-s"), from_channel=pb.CHANNEL_PHONE,
                to_channel=pb.CHANNEL_APP), metadata=auth("auditor"), timeout=5),
                grpc.StatusCode.PERMISSION_DENIED),
            "channel system kpis": (api.GetLiveKpis(
                pb.GetLiveKpisRequest(), metadata=auth("channel_system"), timeout=5),
                grpc.StatusCode.PERMISSION_DENIED),
            "auditor watch": (api.WatchCustomerContext(pb.WatchCustomerContextRequest(
                lookup=by_id("cust-s"), purpose="x"), metadata=auth("auditor"), timeout=5
                ).read(), grpc.StatusCode.PERMISSION_DENIED),
        }
        for name, (call, code) in failures.items():
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == code, name

    # the refused unmask is recorded too (before any lookup: no customer named)
    records = [json.loads(v) for _, v in read_topic(server.settings, "audit", expect=4)]
    assert [(r["principal"], r["role"], r["customer_id"], r["purpose"], r["unmasked"],
             r["outcome"], r["reason"]) for r in sorted(records, key=lambda r: r["at"])] == [
        ("agent-dev", "agent", "cust-s", "inbound_call", False, "OK", ""),
        ("supervisor-dev", "supervisor", "cust-s", "fraud_review", True, "OK", ""),
        ("auditor-dev", "auditor", "cust-s", "quarterly_audit", False, "OK", ""),
        ("agent-dev", "agent", "", "inbound_call", True, "PERMISSION_DENIED",
         "UNMASK_NOT_ALLOWED")]
    assert all(r["lookup"]["type"] == "CUSTOMER_ID" and "cust-s" not in r["lookup"]["hash"]
               for r in records)


async def test_live_kpis_health_and_reflection(server: ContextServer,
                                               writer: SnapshotWriter) -> None:
    at = 1_790_000_000_000
    writer.put_kpi("PHONE|queue:cards|15m", kpi_record.window_record(
        "PHONE", "queue:cards", "15m", window_start=at - 840_000, as_of=at,
        values={"service_level": 0.8, "asa_s": 14.5}))
    writer.put_kpi("APP|all|1m", kpi_record.window_record(
        "APP", "all", "1m", window_start=at, as_of=at, values={"offered": 12}))
    writer.put("cust-k", snapshot("cust-k", 1))  # a marker: once visible, the KPIs are too
    channel, api = stub(server.port)
    async with channel:
        await api.GetCustomerContext(_get("cust-k"), metadata=auth("agent"), timeout=15)
        kpis = await api.GetLiveKpis(pb.GetLiveKpisRequest(channels=[pb.CHANNEL_PHONE]),
                                     metadata=auth("supervisor"), timeout=5)
        assert [(s.scope, s.window) for s in kpis.snapshots] == [("queue:cards", "15m")]
        values = {v.name: v for v in kpis.snapshots[0].values}
        assert values["service_level"].value == 0.8 and values["asa_s"].value == 14.5

        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(
            service="backbone.context.v1.CustomerContextService"), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = refl.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        async for response in responses:
            names = {s.name for s in response.list_services_response.service}
            assert "backbone.context.v1.CustomerContextService" in names
            break


async def test_mutual_tls_authenticates_by_client_certificate(
        ctx_settings: Settings, server_factory: ServerFactory, writer: SnapshotWriter,
        tmp_path: Path) -> None:
    pki = make_pki(tmp_path, client_cn="branch-queue-system-sh001")
    settings = ctx_settings.model_copy(update={
        "grpc_tls_cert_file": str(pki.server_cert), "grpc_tls_key_file": str(pki.server_key),
        "grpc_tls_client_ca_file": str(pki.ca_cert), "grpc_tls_require_client_cert": True,
        "grpc_cert_roles": {"branch-queue-system-sh001": "channel_system"}})
    server = await server_factory(settings, instance="ctx-tls")
    writer.put("cust-t", snapshot("cust-t", 1))
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.read_bytes(), private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes())
    channel, api = stub(server.port, with_cert)
    async with channel:
        answer = await api.GetCustomerContext(_get("cust-t"), timeout=15)
        assert answer.caller_role == pb.ROLE_CHANNEL_SYSTEM
    without_cert = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
    channel, api = stub(server.port, without_cert)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(_get("cust-t"), metadata=auth("agent"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # handshake refused
