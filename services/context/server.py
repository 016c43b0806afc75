"""Building (``create_server``) and running (``serve``) the context service.

Building does no I/O, so tests construct a server on port 0 and start it themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from aiohttp import web
from confluent_kafka import Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backbone.avro_reader import EventDecoder
from backbone.context.v1 import context_pb2
from backbone.errors import ConfigurationError
from backbone.kafka import AsyncPublisher
from backbone.serde import INTERACTION_EVENT, FastAvroEncoder, SchemaIds, registry_client
from backbone.settings import Settings, get_settings
from services.context import heap, responses
from services.context.alert_rpcs import LOOKBACK_MS, AlertBoard
from services.context.audit import Auditor
from services.context.complaint_index import ComplaintIndex
from services.context.complaint_rpcs import ComplaintDesk
from services.context.drain import stop_server
from services.context.feed import Source, TopicFeed
from services.context.handoff import HandoffDesk
from services.context.handoff_book import HandoffBook
from services.context.kpis import KpiView
from services.context.servicer import ContextServicer
from services.context.view import ContextView

log = logging.getLogger(__name__)
SERVICE_NAME = context_pb2.DESCRIPTOR.services_by_name["CustomerContextService"].full_name


_REGISTRIES: dict[str, SchemaRegistryClient] = {}


def _shared_registry(settings: Settings) -> SchemaRegistryClient:
    """One client per registry URL, so in-process ``mock://`` registries are shared."""
    url = settings.schema_registry_url
    if url not in _REGISTRIES:
        _REGISTRIES[url] = registry_client(settings)
    return _REGISTRIES[url]


class ContextServer:
    """The gRPC server plus the view feed, publishers and background duties it needs."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 instance: str | None = None, port: int | None = None,
                 expiry_interval_s: float = 0.5, manage_gc: bool = False):
        """``manage_gc``: tune the process's garbage collector and freeze the loaded view
        (services/context/heap.py); for a process that runs only this service."""
        self.settings = settings
        self._manage_gc = manage_gc
        self.instance = instance or settings.grpc_instance_id or \
            f"{socket.gethostname()}-{os.getpid()}"
        self._requested_port = settings.grpc_port if port is None else port
        self._clock = clock
        self._expiry_interval_s = expiry_interval_s
        registry = _shared_registry(settings)
        # Handoff and complaint events are written with the compiled encoder, its schema
        # id resolved in the background at start (never on a call: the registry may be
        # down); readiness waits for it.
        self._encoder = FastAvroEncoder(registry, INTERACTION_EVENT)
        self._schemas = SchemaIds([(self._encoder, settings.topic("handoffs"))],
                                  name=f"context-{self.instance}")
        self.view = ContextView()
        self.kpis = KpiView()
        self.book = HandoffBook(EventDecoder(registry), settings.topic("handoffs"),
                                retention_s=settings.handoff_retention_s,
                                max_size=settings.handoff_book_max)
        lookback_ms = int((settings.handoff_max_ttl_s + settings.handoff_expiry_grace_s
                           + 60) * 1000)
        self.complaints = ComplaintIndex()  # ListComplaints across customers
        self.alerts = AlertBoard()  # WatchAlerts
        self.feed = TopicFeed(settings, [
            Source(settings.topic("customer-context"), self._apply_contexts),
            Source(settings.topic("alerts"), self.alerts.apply_batch,
                   since_ms=int(time.time() * 1000) - LOOKBACK_MS),
            Source(settings.topic("kpis"), self.kpis.apply_batch),
            Source(settings.topic("handoffs"), self.book.apply_batch,
                   since_ms=int(time.time() * 1000) - lookback_ms),
        ], client_id=f"context-{self.instance}")
        self.view.is_live = lambda: self.feed.caught_up
        self._events = AsyncPublisher(settings, client_id=f"context-{self.instance}-events",
                                      **{"linger.ms": 0})
        self._audit = AsyncPublisher(settings, client_id=f"context-{self.instance}-audit",
                                     **{"linger.ms": 2})  # every read waits for its record
        self.desk = HandoffDesk(settings, self.book, self._events, self._encoder,
                                instance=self.instance, clock=clock)
        self.auditor = Auditor(settings, self._audit, self._events, instance=self.instance)
        self.servicer = ContextServicer(settings, view=self.view, kpis=self.kpis, feed=self.feed,
                                        book=self.book, desk=self.desk, auditor=self.auditor,
                                        instance=self.instance, clock=clock,
                                        complaints=self.complaints, alerts=self.alerts,
                                        complaint_desk=ComplaintDesk(
                                            settings, self._events, self._encoder,
                                            self.instance))
        self.health = health.aio.HealthServicer() if hasattr(health, "aio") else \
            health.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._probes: web.AppRunner | None = None
        self._draining = False
        self._serving = False  # what gRPC health currently says
        self.port = 0

    def _apply_contexts(self, messages: list[Message]) -> None:
        self.view.apply_batch(messages)
        self.complaints.apply_batch(messages)

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> int:
        credentials = server_credentials(self.settings)  # refuses a bad transport before I/O
        if self._manage_gc:
            heap.tune()
        self._draining = False
        self._serving = False
        self.servicer.drain.reset()
        loop = asyncio.get_running_loop()
        self.view.bind(loop)
        self.book.bind(loop)
        self.alerts.bind(loop)
        await self._events.start()
        await self._audit.start()
        self._schemas.start()
        await self.feed.start()
        server = grpc.aio.server(options=server_options(self.settings),
                                 maximum_concurrent_rpcs=self.settings.grpc_max_concurrent_rpcs)
        responses.add_to_server(self.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), server)
        address = f"{self.settings.grpc_host}:{self._requested_port}"
        if credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, credentials)
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await server.start()
        self._server = server
        self._tasks = [asyncio.create_task(self._watch_readiness(), name="readiness"),
                       asyncio.create_task(self._expire_loop(), name="handoff-expiry")]
        if self._manage_gc:
            self._tasks.append(asyncio.create_task(self._freeze_when_loaded(), name="gc-freeze"))
        log.info("context service %s listening on %s:%s", self.instance,
                 self.settings.grpc_host, self.port)
        return self.port

    async def stop(self, grace_s: float = 5.0) -> None:
        """Drain in-flight calls, then stop the feed and flush the publishers."""
        self._draining = True  # readiness stays red from here on
        if self._server is not None:
            await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
            # UNAVAILABLE for every call the stop refuses, never CANCELLED (drain.py).
            await stop_server(self._server, self.servicer.drain,
                              drain_s=self.settings.grpc_drain_s, grace_s=grace_s)
            self._server = None
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._schemas.stop()
        self.book.close()
        await self.feed.stop()
        await self._events.stop()
        await self._audit.stop()
        if self._probes is not None:
            await self._probes.cleanup()
            self._probes = None

    async def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """True once the view has read every input topic to its end and the service
        reports SERVING (health follows readiness, so probes agree with this answer)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        if not await self.feed.wait_caught_up(timeout_s):
            return False
        while not self._serving:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> ContextServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- background duties -----------------------------------------------------------
    async def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            result = self.health.set(name, status)
            if asyncio.iscoroutine(result):
                await result

    @property
    def ready(self) -> bool:
        """Can take calls now: view caught up and Kafka answering both publishers (every
        read writes an audit record first, so no Kafka means no context)."""
        return (not self._draining and self.feed.caught_up and self._events.healthy
                and self._audit.healthy and self._schemas.ready)

    async def _watch_readiness(self, interval_s: float = 0.5) -> None:
        """Keep gRPC health in step with :attr:`ready`, both ways: NOT_SERVING while
        Kafka is unreachable, SERVING again once the publishers' probes see it answer."""
        while True:
            ready = self.ready
            if ready != self._serving and not self._draining:
                await self._set_health(health_pb2.HealthCheckResponse.SERVING if ready
                                       else health_pb2.HealthCheckResponse.NOT_SERVING)
                log.info("context service %s %s", self.instance,
                         "serving" if ready else "not serving (Kafka unreachable)")
                self._serving = ready
            await asyncio.sleep(0.02 if not self._serving and self.feed.caught_up
                                else interval_s)

    # -- HTTP probes -----------------------------------------------------------------
    async def serve_probes(self, port: int, host: str | None = None) -> int:
        """``/healthz``, ``/readyz`` and ``/metrics`` over HTTP on the metrics port, served
        on this event loop: a ``/healthz`` answer proves the loop turns. Returns the port."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", _metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host or self.settings.metrics_host, port)
        await site.start()
        self._probes = runner
        sockets = getattr(site._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"ready": True})
        reason = ("draining" if self._draining
                  else "schemas_not_ready" if not self._schemas.ready
                  or self.book.waiting_for_registry
                  else "loading" if not self.feed.caught_up else "kafka_unreachable")
        return web.json_response({"ready": False, "reason": reason}, status=503,
                                 headers={"Retry-After": "2"})

    async def _freeze_when_loaded(self) -> None:
        """Once the view has caught up, what start-up loaded is frozen for the collector."""
        while not await self.feed.wait_caught_up(3600.0):
            pass
        frozen = heap.freeze()
        log.info("context service %s: view loaded, %d objects frozen for the collector",
                 self.instance, frozen)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self._expiry_interval_s)
            if not self.feed.caught_up:
                continue
            try:
                await self.desk.expire_due()
            except Exception:
                log.exception("handoff expiry round failed; retrying")


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel options; connections older than the maximum age get GOAWAY (after a grace
    for calls in flight), so clients reconnect and balancers spread them again."""
    return [("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", 4 << 20),
            ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms",
             int(settings.grpc_max_connection_age_grace_s * 1000))]


async def _metrics(_: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp


def is_loopback(host: str) -> bool:
    """Only 127.0.0.0/8, ::1 and ``localhost``; "", 0.0.0.0, :: and names may be reachable."""
    name = host.strip().removeprefix("[").removesuffix("]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{setting}={path!r}: {exc.strerror or exc}") from exc


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS when a certificate is configured, mutual TLS when a client CA is; plaintext
    (None) only on loopback or with ``grpc_allow_insecure``.

    grpc python offers two client-certificate modes only: never request one, or request
    *and require* a verified one (``ssl_server_credentials(require_client_auth=False)``
    is GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, also with root certificates). Optional
    client certificates therefore cannot work: a client CA is refused unless
    ``grpc_tls_require_client_cert`` is set too.
    """
    if not settings.grpc_tls_cert_file:
        if settings.grpc_tls_client_ca_file or settings.grpc_tls_require_client_cert:
            raise ConfigurationError(
                "CCB_GRPC_TLS_CLIENT_CA_FILE / CCB_GRPC_TLS_REQUIRE_CLIENT_CERT need TLS: "
                "set CCB_GRPC_TLS_CERT_FILE and CCB_GRPC_TLS_KEY_FILE")
        if not (is_loopback(settings.grpc_host) or settings.grpc_allow_insecure):
            raise ConfigurationError(
                f"refusing plaintext gRPC on CCB_GRPC_HOST={settings.grpc_host!r} (not "
                "loopback): set CCB_GRPC_TLS_CERT_FILE and CCB_GRPC_TLS_KEY_FILE, or "
                "CCB_GRPC_ALLOW_INSECURE=1 when TLS is terminated in front of the service")
        return None
    if not settings.grpc_tls_key_file:
        raise ConfigurationError("CCB_GRPC_TLS_CERT_FILE is set but CCB_GRPC_TLS_KEY_FILE is not")
    ca_file = settings.grpc_tls_client_ca_file
    if bool(ca_file) != settings.grpc_tls_require_client_cert:
        raise ConfigurationError(
            "mutual TLS needs both CCB_GRPC_TLS_CLIENT_CA_FILE and "
            "CCB_GRPC_TLS_REQUIRE_CLIENT_CERT=1: grpc python cannot request a client "
            "certificate without requiring it, so a client CA alone would never see one; "
            "unset both for TLS with bearer tokens")
    key = _read("CCB_GRPC_TLS_KEY_FILE", settings.grpc_tls_key_file)
    cert = _read("CCB_GRPC_TLS_CERT_FILE", settings.grpc_tls_cert_file)
    ca = _read("CCB_GRPC_TLS_CLIENT_CA_FILE", ca_file) if ca_file else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                       require_client_auth=ca is not None)


def create_server(settings: Settings | None = None, **kwargs: object) -> ContextServer:
    """Build (not start) the service; keyword arguments go to :class:`ContextServer`."""
    return ContextServer(settings or get_settings(), **kwargs)  # type: ignore[arg-type]


async def serve(settings: Settings | None = None) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully."""
    settings = settings or get_settings()
    server = create_server(settings, manage_gc=True)
    await server.start()
    if settings.metrics_port:  # /metrics plus the HTTP probes
        await server.serve_probes(settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    caught_up = await server.wait_ready(60.0)
    log.info("context service %s on port %s, view %s", server.instance, server.port,
             "caught up" if caught_up else "still loading")
    await stop.wait()
    log.info("context service %s stopping: draining calls, flushing audit records",
             server.instance)
    await server.stop()
    log.info("context service %s stopped", server.instance)
