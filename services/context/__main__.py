"""``python -m services.context``: run the gRPC context service with settings from CCB_*."""

from __future__ import annotations

import asyncio
import logging
import sys

from backbone.errors import ConfigurationError
from backbone.production import startup_settings
from services.context.server import serve


def main() -> None:
    settings = startup_settings("context")  # production: exit 2 on weak secrets, before I/O
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(serve(settings))
    except ConfigurationError as exc:  # transport settings (TLS, plaintext bind): exit 2
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
