"""One event through every layer, as real processes on the real broker:
Segment HTTP call → app/web connector → Kafka → faust worker → gRPC GetCustomerContext."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from deploy.stack.proc import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def process_factory(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, args: list[str], settings: Settings, **env: str) -> subprocess.Popen[bytes]:
        environ = os.environ | {
            "PYTHONPATH": str(ROOT), "CCB_TOPIC_PREFIX": settings.topic_prefix,
            "CCB_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CCB_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        } | env
        log = (tmp_path / f"{name}.log").open("wb")
        popen = subprocess.Popen([sys.executable, *args], env=environ, stdout=log,
                                 stderr=subprocess.STDOUT, cwd=ROOT)
        started.append(popen)
        return popen

    yield start
    for popen in started:
        popen.terminate()
    for popen in started:
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
    for log in tmp_path.glob("*.log"):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")


def test_an_app_login_reaches_the_agent_desktop_and_an_erasure_removes_it(
        tmp_path: Path, settings_factory: Callable[..., Settings],
        process_factory: Callable[..., subprocess.Popen[bytes]]) -> None:
    settings = settings_factory()
    collector, grpc_port = free_port(), free_port()
    worker = process_factory("worker", ["-m", "stream_processors", "worker"], settings,
                             CCB_WORKER_DATA_DIR=str(tmp_path / "worker-data"))
    service = process_factory("service", ["-m", "services.context"], settings,
                              CCB_GRPC_PORT=str(grpc_port))
    desktop = free_port()
    connectors = process_factory("connectors", ["-m", "connectors", "--channels", "app_web,phone"],
                                 settings, CCB_COLLECTOR_PORT=str(collector),
                                 CCB_DESKTOP_PORT=str(desktop), CCB_AMI_PORT=str(free_port()))

    # The connector acknowledges only after Kafka has the records; retry until it listens.
    batch = {"batch": [
        {"type": "identify", "messageId": "skeleton-1", "userId": "u-5001",
         "anonymousId": "anon-5001", "traits": {"customer_number": "CN00005001"},
         "context": {"device": {"id": "device-5001"}}},
        {"type": "track", "event": "Transfer Failed", "messageId": "skeleton-2",
         "userId": "u-5001", "properties": {"error_code": "E42"}},
    ]}
    deadline = time.monotonic() + 90
    while True:
        assert connectors.poll() is None, "connector process exited"
        try:
            resp = httpx.post(f"http://127.0.0.1:{collector}/v1/batch", json=batch,
                              auth=("app-server-dev-write-key", ""), timeout=10)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "collector never started listening"
            time.sleep(0.5)
    assert resp.status_code == 200, resp.text
    event_ids = resp.json()["event_ids"]
    assert len(event_ids) == 2

    # The agent desktop asks for the customer by the identifier it knows, passing the
    # connector's acknowledgement as a read-your-writes watermark.
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = pb_grpc.CustomerContextServiceStub(channel)
    request = pb.GetCustomerContextRequest(
        lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="APP_USER", value="u-5001")),
        purpose="walking_skeleton", min_freshness=pb.Watermark(event_ids=event_ids))
    deadline = time.monotonic() + 120
    while True:
        assert worker.poll() is None and service.poll() is None, "a process exited"
        try:
            context = stub.GetCustomerContext(
                request, timeout=10, metadata=(("authorization", "Bearer dev-agent-token"),)).context
            break
        except grpc.RpcError as exc:
            retriable = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND,
                         grpc.StatusCode.DEADLINE_EXCEEDED)
            assert exc.code() in retriable, f"{exc.code()}: {exc.details()}"
            assert time.monotonic() < deadline, f"context never became visible: {exc.details()}"
            time.sleep(1)

    assert {e.event_id for e in context.timeline} >= set(event_ids)
    failed = next(e for e in context.timeline if e.event_id == event_ids[1])
    assert failed.channel == pb.CHANNEL_APP and failed.event_type == "digital.track"
    types = {i.type for i in context.identities}
    assert {"APP_USER", "CUSTOMER_NUMBER"} <= types
    # An agent sees masked identifiers only.
    assert all(i.masked for i in context.identities)
    assert "CN00005001" not in str(list(context.identities))

    # PIPL erasure request recorded by the service desk: the customer disappears from the
    # context service (the processors tombstone it), for every identifier.
    resp = httpx.post(f"http://127.0.0.1:{desktop}/v1/desktop/events", timeout=10,
                      headers={"authorization": "Bearer desktop-dev-key"},
                      json={"type": "erasure_requested", "id": "privacy-5001",
                            "customer_number": "CN00005001", "occurred_at": int(time.time() * 1000)})
    assert resp.status_code == 200, resp.text
    deadline = time.monotonic() + 60
    while True:
        try:
            stub.GetCustomerContext(request.__class__(lookup=request.lookup, purpose="erasure_check"),
                                    timeout=5, metadata=(("authorization", "Bearer dev-agent-token"),))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                break
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
        assert time.monotonic() < deadline, "customer still visible after the erasure request"
        time.sleep(0.5)
