"""``python -m connectors [--channels app_web,wechat,branch,phone]``: run the connectors."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from backbone.metrics import serve_metrics
from backbone.production import USES, startup_settings
from backbone.settings import Settings
from connectors.runner import CHANNELS, OPTIONAL, start


async def _main(settings: Settings, channels: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = await start(settings, channels, stop)
    if settings.metrics_port:  # every HTTP connector serves /metrics too; this is for scrapers
        print(f"metrics  http://127.0.0.1:{serve_metrics(settings.metrics_port)}/metrics",
              flush=True)
    for name, port in running.ports.items():
        print(f"{name:8} http://{settings.connector_host}:{port}", flush=True)
    if running.phone is not None:
        print(f"phone    AMI client -> {settings.ami_host}:{settings.ami_port}", flush=True)
    print(f"publishing to {settings.topic('interactions')} at {settings.kafka_bootstrap}",
          flush=True)
    await stop.wait()
    await running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors", description=__doc__)
    parser.add_argument("--channels", default=",".join(CHANNELS),
                        help=f"comma-separated subset of {','.join(CHANNELS + OPTIONAL)} "
                             "(queue_log needs CCB_QUEUE_LOG_PATH and starts whenever it is set)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    # production refuses weak secrets here, before any connection (exit 2)
    settings = startup_settings("connectors", *(c for c in channels if c in USES))
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up (less event-loop cost per request)
    except ImportError:
        asyncio.run(_main(settings, channels))
    else:
        uvloop.run(_main(settings, channels))


if __name__ == "__main__":
    main()
