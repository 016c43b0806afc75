"""The web server: static pages, the desktop and wallboard APIs, security headers.

``WebServer`` is built without I/O; ``start()`` opens the gRPC channel, the alert source
and the HTTP listener (port 0 picks a free port, for tests); ``stop()`` closes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from backbone.settings import Settings
from services.web.alerts import AlertSource, KafkaAlertSource
from services.web.backend import ContextClient, UpstreamError
from services.web.desktop import DesktopApi
from services.web.sse import StreamLimit
from services.web.wallboard import WallboardApi
from services.web.watch_alerts import WatchAlertsSource

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PAGES = {"/desktop": "desktop.html", "/wallboard": "wallboard.html"}
# No inline script or style, nothing from another origin, never framed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, body: dict[str, object], retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; API errors as JSON with the upstream code."""
    try:
        response = await handler(request)
    except UpstreamError as exc:
        response = _error(exc.status, exc.to_json(), exc.retry_after_s)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"]
                  for e in exc.errors(include_input=False, include_url=False)}
        response = _error(400, {"error": {"code": "INVALID_ARGUMENT", "reason": "BAD_REQUEST",
                                          "message": "; ".join(f"{k}: {v}" for k, v in fields.items()),
                                          "fields": fields}})
    except json.JSONDecodeError:
        response = _error(400, {"error": {"code": "INVALID_ARGUMENT", "reason": "BAD_JSON",
                                          "message": "the body must be JSON"}})
    if not response.prepared:
        response.headers.update({
            "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
    return response


class WebServer:
    def __init__(self, settings: Settings, *, host: str | None = None, port: int | None = None,
                 grpc_target: str | None = None, alert_source: AlertSource | None = None):
        self.settings = settings
        self.host = host or settings.web_host
        self.port = settings.web_port if port is None else port
        self.client = ContextClient(settings, grpc_target)
        self.alerts: AlertSource = alert_source or (
            KafkaAlertSource(settings) if settings.web_alerts_from == "kafka"
            else WatchAlertsSource(self.client))
        self._streams = StreamLimit(settings.web_max_streams)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def create_app(self) -> web.Application:
        app = web.Application(middlewares=[_guard], client_max_size=64 * 1024)
        desktop = DesktopApi(self.client, self._streams)
        wallboard = WallboardApi(self.client, self.alerts, self._streams,
                                 self.settings.web_refresh_interval_s)
        app.add_routes([*desktop.routes(), *wallboard.routes(),
                        web.get("/", self._home), web.get("/healthz", self._health),
                        web.get("/api/config", self._config),
                        *[web.get(path, self._page) for path in PAGES],
                        web.static("/static", STATIC)])
        return app

    async def _home(self, _request: web.Request) -> web.Response:
        raise web.HTTPFound("/desktop")

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / PAGES[request.path])

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "context_service": self.client.target})

    async def _config(self, _request: web.Request) -> web.Response:
        """What the pages need to draw: targets and thresholds, never a credential."""
        s = self.settings
        return web.json_response({
            "env": s.env, "refresh_ms": int(s.web_refresh_interval_s * 1000),
            "sl_target": s.kpi_sl_target, "sl_threshold_s": s.kpi_sl_threshold_s,
            "business_tz": s.business_tz})

    async def start(self) -> None:
        await self.client.start()
        await self.alerts.start()
        self._runner = web.AppRunner(self.create_app(), access_log=None,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("web front end on %s (context service %s)", self.url, self.client.target)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.alerts.stop()
        await self.client.stop()


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM."""
    import signal

    server = WebServer(settings)
    await server.start()
    print(f"web front end: {server.url}/desktop  {server.url}/wallboard", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
