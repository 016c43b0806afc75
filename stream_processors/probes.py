"""The worker's probes: ``/healthz`` (alive, its event loop answers) and ``/readyz`` (it
can work now: started, the erasure log loaded, no message waiting for the schema
registry, and Kafka answers a metadata request)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class Readiness:
    """Kafka reachability by a metadata request on the worker's own producer connection,
    asked at most every ``cache_s`` however often the probe is called, never latched."""

    def __init__(self, app: Any, *, timeout_s: float = 1.0, cache_s: float = 2.0,
                 erased: Any = None, codecs: Any = None):
        self._app = app
        self._erased = erased  # erasures.ErasureLog: the agents wait until it is loaded
        self._codecs = codecs  # codec.Codecs: ``waiting`` > 0 while the registry is down
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._checked_at = 0.0
        self._verdict: tuple[bool, str] = (False, "starting")

    async def check(self) -> tuple[bool, str]:
        """(ready, reason); the reason says what a red probe waits for."""
        if self._app.crashed:
            return False, "crashed"
        if not getattr(self._app.conf, "processors_ready", False):
            return False, "starting"
        if self._erased is not None and not self._erased.ready.is_set():
            return False, "erasure_log_not_loaded"
        if self._codecs is not None and self._codecs.waiting:
            return False, "schemas_not_ready"
        now = time.monotonic()
        if now - self._checked_at < self.cache_s:
            return self._verdict
        self._checked_at = now
        try:
            client = self._app.producer._ensure_producer().client  # noqa: SLF001 - aiokafka's
            await asyncio.wait_for(client.fetch_all_metadata(), self.timeout_s)
        except Exception:  # noqa: BLE001 - any failure to answer means not ready
            self._verdict = (False, "kafka_unreachable")
        else:
            self._verdict = (True, "ok")
        return self._verdict
