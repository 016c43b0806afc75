"""Running a worker: uvloop, a quiet root logger and faust's Worker around ``create_app``.

The root logger is reset to WARNING once the worker started because faust's progress
spinner sets it to DEBUG, after which aiokafka and faust build log records per event
(BRIEF §9: a measurable share of throughput).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from backbone.settings import Settings


def _quiet_logs() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_worker(settings: Settings, *, web_port: int | None = None,
               loglevel: str = "warning") -> int:
    """Blocks until the worker stops; returns its exit code."""
    import mode.loop

    mode.loop.use("uvloop")
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from stream_processors import erasures
    from stream_processors.app import broker_credentials, create_app

    # faust creates only the last level of its data directory; a fresh clone has none.
    Path(settings.worker_data_dir).mkdir(parents=True, exist_ok=True)
    # The whole erasure log before the app starts: no agent ever waits for it.
    erased = erasures.ErasureLog()
    auth = credentials_to_aiokafka_auth(broker_credentials(settings))
    asyncio.run(erasures.follow(erased, settings.kafka_bootstrap, settings.topic("erasures"),
                                auth))
    app = create_app(settings, web_port=web_port, erasure_log=erased)

    @app.task
    async def _after_start() -> None:
        _quiet_logs()

    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
