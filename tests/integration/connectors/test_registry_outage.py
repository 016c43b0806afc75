"""A schema-registry outage: the connector stays up, says not ready, refuses with 503 and
recovers by itself; its event loop never waits on the registry.

The shared registry must stay up for everyone else, so the connector talks to it through
a private proxy on its own port, which this test keeps closed (connection refused), then
opens without answering (a hung registry), then lets through.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from connectors.app_web import create_app
from deploy.stack.proc import free_port
from tests.integration.connectors.conftest import aread_topic

APP_KEY = "app-dev-write-key"


class RegistryProxy:
    """``down`` (nothing listens), ``hung`` (accepts, never answers) or ``up`` (forwards)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path
        self.port = free_port()
        self.released = threading.Event()
        self.forwarding = False
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def hang(self) -> None:
        self._listen()

    def up(self) -> None:
        self.forwarding = True
        self.released.set()
        self._listen()

    def _listen(self) -> None:
        if self._server is not None:
            return
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if not proxy.forwarding:
                    proxy.released.wait(30)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = urllib.request.Request(  # noqa: S310 - our own loopback registry
                    proxy.origin + self.path, data=body or None, method=self.command,
                    headers={k: v for k, v in self.headers.items()
                             if k.lower() in ("content-type", "accept")})
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                        status, data, ctype = answer.status, answer.read(), \
                            answer.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as exc:
                    status, data, ctype = exc.code, exc.read(), \
                        exc.headers.get("Content-Type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def close(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def registry_proxy(stack) -> Iterator[RegistryProxy]:
    proxy = RegistryProxy(stack.schema_registry_url)
    try:
        yield proxy
    finally:
        proxy.close()


def _track(message_id: str) -> dict[str, object]:
    return {"type": "track", "messageId": message_id, "anonymousId": "dev-outage",
            "event": "Outage Probe"}


async def _assert_degraded(http: httpx.AsyncClient, message_id: str) -> None:
    """Not ready, requests refused with 503 + Retry-After in time, the loop answering."""
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["reason"] == "schemas_not_loaded"
    refused = await http.post("/v1/track", json=_track(message_id), auth=(APP_KEY, ""),
                              timeout=2.0)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "schemas_not_ready"
    assert int(refused.headers["Retry-After"]) >= 1
    for _ in range(10):  # the background retries never hold the event loop
        started = time.perf_counter()
        assert (await http.get("/healthz", timeout=1.0)).status_code == 200
        assert time.perf_counter() - started < 0.1
        await asyncio.sleep(0.05)


async def test_registry_outage_at_start_is_not_ready_then_recovers(
        settings_factory, serve, registry_proxy):
    settings = settings_factory(schema_registry_url=registry_proxy.url)
    started = time.perf_counter()
    base = await serve(create_app(settings))
    assert time.perf_counter() - started < 10  # the server comes up without the registry
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=base) as http:
        await _assert_degraded(http, f"down-{run}")  # connection refused
        registry_proxy.hang()
        await asyncio.sleep(0.5)
        await _assert_degraded(http, f"hung-{run}")  # accepts, never answers

        registry_proxy.up()
        deadline = time.monotonic() + 12
        while (await http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready 12 s after the registry came up"
            await asyncio.sleep(0.1)
        sent = [f"up-{run}-{i}" for i in range(3)]
        for message_id in sent:
            answer = await http.post("/v1/track", json=_track(message_id), auth=(APP_KEY, ""))
            assert answer.status_code == 200, answer.text

    stored = await aread_topic(settings, "interactions")
    assert sorted(e["source_event_id"] for e in stored) == sorted(sent)  # refused ones: none


async def test_phone_connector_waits_out_a_registry_outage_and_loses_nothing(
        settings_factory, registry_proxy):
    from connectors.ami_server import AmiServer
    from connectors.phone import PhoneConnector
    from tests.integration.connectors.test_phone import call_answered

    settings = settings_factory(schema_registry_url=registry_proxy.url)
    server = AmiServer(settings.ami_username, settings.ami_secret.get_secret_value())
    await server.start()
    phone = PhoneConnector(settings, host="127.0.0.1", port=server.port)
    stop = asyncio.Event()
    task = asyncio.create_task(phone.run(stop))
    try:
        await server.wait_client()
        await server.send(call_answered("1700000099.1", time.time() - 300))
        await asyncio.sleep(1.5)  # several background attempts fail meanwhile
        assert not task.done()  # the AMI client is alive, not ended by the registry
        assert not phone.pipeline.ready and phone.acked == 0  # reading paused, nothing lost

        registry_proxy.up()
        deadline = time.monotonic() + 15
        while phone.acked < 11:
            assert time.monotonic() < deadline, f"only {phone.acked} of 11 events published"
            assert not task.done()
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await server.stop()
    events = await aread_topic(settings, "interactions", idle_s=1.5)
    assert sum(e["interaction_id"] == "call:1700000099.1" for e in events) == 11
