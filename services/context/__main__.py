"""``python -m services.context``: run the gRPC context service with settings from CCB_*."""

from __future__ import annotations

import asyncio
import logging

from services.context.server import serve


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve())


if __name__ == "__main__":
    main()
