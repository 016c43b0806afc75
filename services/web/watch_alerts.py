"""Alerts from the context service's WatchAlerts rpc: one watch per wallboard stream,
opened with the user's own token, so the context service authorises it (supervisors and
auditors) and the web server needs no access to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from backbone.context.v1 import context_pb2 as pb
from services.web.alerts import AlertBoard
from services.web.backend import ContextClient, UpstreamError

log = logging.getLogger(__name__)


def alert_dict(alert: pb.Alert) -> dict[str, Any]:
    """The AlertTransition fields (schemas/json/alert/v1.json) the board keeps."""
    return {"alert": alert.alert, "channel": alert.channel, "scope": alert.scope,
            "state": alert.state, "severity": alert.severity, "at": alert.at_ms,
            "since": alert.since_ms, "value": alert.value if alert.has_value else None,
            "threshold": alert.threshold, "message": alert.message}


class WatchAlertsSource:
    def __init__(self, client: ContextClient, retry_s: float = 2.0):
        self._client = client
        self._retry_s = retry_s

    async def start(self) -> None:
        """Nothing shared to start: every stream opens its own watch."""

    async def stop(self) -> None:
        """Nothing shared to stop: a stream's watch ends with the stream."""

    @contextlib.asynccontextmanager
    async def board(self, token: str) -> AsyncIterator[AlertBoard]:
        board = AlertBoard()
        task = asyncio.create_task(self._follow(board, token))
        try:
            yield board
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, board: AlertBoard, token: str) -> None:
        """Watch until cancelled: the firing alerts replace the board at every (re)connect,
        then each transition is applied. A refused token or role ends the watch (the
        stream's own KPI reads report that refusal to the page)."""
        while True:
            firing: list[dict[str, Any]] = []
            try:
                async for update in self._client.stream("WatchAlerts", pb.WatchAlertsRequest(),
                                                        token):
                    if update.caught_up:
                        board.replace(firing)
                    elif update.initial:
                        firing.append(alert_dict(update.alert))
                    elif update.HasField("alert"):
                        board.apply(alert_dict(update.alert))
            except UpstreamError as exc:
                if not exc.retriable:
                    log.info("WatchAlerts refused: %s", exc.code)
                    return
                log.warning("WatchAlerts unavailable (%s); retrying", exc.code)
            await asyncio.sleep(self._retry_s)
