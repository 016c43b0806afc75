"""``python -m connectors [--channels app_web,wechat,branch,phone]``: run the connectors."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from backbone.settings import get_settings
from connectors.runner import CHANNELS, start


async def _main(channels: list[str]) -> None:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = await start(settings, channels, stop)
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
                        help=f"comma-separated subset of {','.join(CHANNELS)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_main([c.strip() for c in args.channels.split(",") if c.strip()]))


if __name__ == "__main__":
    main()
