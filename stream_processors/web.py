"""The worker's web pages on faust's web server: ``/metrics``, ``/healthz``, ``/readyz``."""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream_processors.lag import StallWatch
from stream_processors.probes import Readiness


def install(app: faust.App, readiness: Readiness, stall: StallWatch) -> None:
    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: faust's web server runs on the worker's loop, so answering proves it turns;
        a consumer stalled on a partition (see ``lag.StallWatch``) is not alive."""
        if stall.stalled:
            return web.json({"status": "stalled",
                             "partitions": [f"{t}:{p}" for t, p in stall.stalled]}, status=503)
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready, reason = await readiness.check()
        if ready:
            return web.json({"ready": True})
        return web.json({"ready": False, "reason": reason}, status=503,
                        headers={"Retry-After": "2"})
