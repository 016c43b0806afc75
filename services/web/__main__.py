"""``python -m services.web``: the agent desktop and supervisor wallboard (CCB_WEB_*)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys

from backbone.production import startup_settings
from backbone.settings import Settings
from services.web.server import serve


def _loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(settings: Settings) -> str | None:
    """Production: bearer tokens never cross the network to the context service in clear."""
    target = settings.web_grpc_target or f"{settings.grpc_host}:{settings.grpc_port}"
    if settings.env == "production" and not settings.web_grpc_tls_ca_file \
            and not settings.grpc_allow_insecure and not _loopback(target):
        return (f"CCB_WEB_GRPC_TARGET={target} is not loopback: set CCB_WEB_GRPC_TLS_CA_FILE "
                "(or CCB_GRPC_ALLOW_INSECURE=1 behind a TLS sidecar)")
    return None


def main() -> None:
    settings = startup_settings()  # the web server holds no secret of its own
    problem = check_transport(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
