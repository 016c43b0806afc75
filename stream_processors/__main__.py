"""``python -m stream_processors worker [--web-port N]``: run one faust worker.

Settings come from ``CCB_*`` environment variables; each worker needs its own
``CCB_WORKER_DATA_DIR`` when the store is rocksdb.
"""

from __future__ import annotations

import argparse
import logging
import sys

from backbone.production import startup_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_processors")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run one faust worker")
    worker.add_argument("--web-port", type=int, default=None,
                        help="faust web server port (metrics at /metrics); off when omitted")
    worker.add_argument("--loglevel", default="warning")
    args = parser.parse_args(argv)
    settings = startup_settings("worker")  # production: exit 2 on weak secrets, before I/O
    from stream_processors.runner import run_worker

    return run_worker(settings, web_port=args.web_port, loglevel=args.loglevel)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
