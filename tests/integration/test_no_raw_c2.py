"""No raw C2 value (phone, card, ID number, customer number) nor a channel identifier
(OpenID, UnionID, app user id) reaches a masked role: real connectors → Kafka → worker →
context service, then every response type, serialised, under every masked role."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
from google.protobuf.json_format import MessageToJson

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from connectors import app_web, branch, desktop, wechat
from services.context.server import ContextServer
from tests.integration.stream_processors import harness as h
from tests.integration.stream_processors.conftest import worker_factory  # noqa: F401 - fixture
from tests.support.servers import served

PHONE, CARD, ID_NUMBER = "13912345678", "6228480402564899", "11010519491231002X"
NUMBER, OPENID, UNIONID, APP_USER = "C88001234", "oWx-9f3k2-openid", "uWx-77c1-union", "u-8812"
RAW = (PHONE, CARD, ID_NUMBER, NUMBER, OPENID, UNIONID, APP_USER,
       "139 1234 5678", "6228 4804 0256 4899")
TOKENS = {"agent": "dev-agent-token", "channel_system": "dev-channel-token",
          "auditor": "dev-auditor-token", "supervisor": "dev-supervisor-token"}


async def _feed(settings: Settings) -> None:
    now = int(time.time() * 1000)
    async with served(desktop.create_app(settings)) as http:
        resp = await http.post("/v1/desktop/events", headers={
            "Authorization": "Bearer desktop-dev-key"}, json=[
            {"type": "ivr_authenticated", "id": "ivr-1", "linkedid": "1796.1",
             "customer_number": NUMBER, "phone": PHONE, "card_number": CARD,
             "id_number": ID_NUMBER, "occurred_at": now - 60_000},
            {"type": "complaint_opened", "id": "cmp-1", "linkedid": "1796.1",
             "complaint_id": "CP-1", "category": f"card {CARD} blocked",
             "customer_number": NUMBER, "occurred_at": now - 50_000}])
        assert resp.status_code == 200, resp.text
    async with served(branch.create_app(settings)) as http:
        resp = await http.post("/v1/branch/events", headers={
            "Authorization": "Bearer branch-dev-key"}, json=[
            {"event": "identified", "branch": "SH-1", "ticket_id": "A1", "counter": "05",
             "occurred_at": now - 40_000, "customer": {
                 "id_number": ID_NUMBER, "card_number": CARD, "phone": PHONE,
                 "customer_number": NUMBER}}])
        assert resp.status_code == 200, resp.text
    async with served(wechat.create_app(settings)) as http:
        resp = await http.post("/wechat/bind", headers={
            "Authorization": "Bearer ccb-dev-bind-token"}, json={
            "openid": OPENID, "unionid": UNIONID, "customer_number": NUMBER, "phone": PHONE,
            "bind_id": "b-1", "bound_at": now - 30_000})
        assert resp.status_code == 200, resp.text
    async with served(app_web.create_app(settings)) as http:
        resp = await http.post("/v1/batch", auth=("app-server-dev-write-key", ""), json={
            "batch": [
                {"type": "identify", "messageId": "s-1", "userId": APP_USER,
                 "anonymousId": "dev-1", "traits": {"customer_number": NUMBER,
                                                    "phone": PHONE}},
                {"type": "track", "messageId": "s-2", "userId": APP_USER,
                 "event": "Transfer Failed", "properties": {
                     "reason": f"payee {PHONE} card {CARD}", "payee_mobile": PHONE,
                     "cardNo": CARD, "idCard": ID_NUMBER}}]})
        assert resp.status_code == 200, resp.text


def _clean(what: str, message: object) -> None:
    text = MessageToJson(message) if not isinstance(message, str) else message  # type: ignore[arg-type]
    leaked = [raw for raw in RAW if raw in text]
    assert not leaked, f"{what} shows {leaked}"


async def _scan(port: int) -> int:
    checked = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        api = pb_grpc.CustomerContextServiceStub(channel)

        def auth(role: str) -> tuple[tuple[str, str], ...]:
            return (("authorization", f"Bearer {TOKENS[role]}"),)

        by_phone = pb.CustomerLookup(identifier=pb.IdentifierKey(type="PHONE", value=PHONE))
        for role in ("agent", "channel_system", "auditor", "supervisor"):  # nobody unmasks
            got = await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_phone, purpose="scan"), metadata=auth(role), timeout=10)
            _clean(f"GetCustomerContext as {role}", got)
            cid = got.context.customer_id
            by_id = pb.CustomerLookup(customer_id=cid)
            again = await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id, purpose="scan"), metadata=auth(role), timeout=10)
            _clean(f"GetCustomerContext by id as {role}", again)
            checked += 2
            if role != "auditor":
                watch = api.WatchCustomerContext(pb.WatchCustomerContextRequest(
                    lookup=by_id, purpose="scan"), metadata=auth(role), timeout=10)
                first = await watch.read()
                watch.cancel()
                _clean(f"WatchCustomerContext as {role}", first)
                created = await api.CreateHandoff(pb.CreateHandoffRequest(
                    lookup=by_id, from_channel=pb.CHANNEL_PHONE, to_channel=pb.CHANNEL_APP,
                    reason="card_lost", summary="customer asked"), metadata=auth(role),
                    timeout=10)
                _clean(f"CreateHandoff as {role}", created)
                accepted = await api.AcceptHandoff(pb.AcceptHandoffRequest(
                    token=created.token, channel=pb.CHANNEL_APP, purpose="scan"),
                    metadata=auth(role), timeout=10)
                _clean(f"AcceptHandoff as {role}", accepted)
                checked += 3
            if role in ("auditor", "supervisor"):
                live = await api.GetLiveKpis(pb.GetLiveKpisRequest(), metadata=auth(role),
                                             timeout=10)
                intervals = await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(
                    interval="1d"), metadata=auth(role), timeout=10)
                _clean(f"GetLiveKpis as {role}", live)
                _clean(f"GetKpiIntervals as {role}", intervals)
                checked += 2
    return checked


async def test_no_masked_role_sees_a_raw_c2_value_in_any_response(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:  # noqa: F811
    settings = settings_factory(kpi_publish_interval_s=0.5, grpc_port=0)
    worker = worker_factory(settings)
    worker.start()
    await _feed(settings)
    await asyncio.to_thread(h.wait_idle, settings, worker=worker)
    for topic in ("interactions", "customer-context", "identity-events", "dead-letters",
                  "kpis"):  # what Kafka holds for these roles' data, raw bytes
        raw = b"".join((k or b"") + (v or b"") for k, v in h.read_all(settings, topic))
        leaked = [r for r in (PHONE, CARD, ID_NUMBER) if r.encode() in raw]
        assert not leaked, f"{topic} holds raw {leaked}"
    server = ContextServer(settings, port=0)
    await server.start()
    try:
        assert await server.wait_ready(30.0)
        assert await _scan(server.port) == 21  # responses checked
    finally:
        await server.stop(grace_s=0.5)
