"""Container health check with only the image's Python: ``healthcheck.py URL``.

``http://host:port/path`` passes on a 2xx answer; ``grpc://host:port`` passes when the
standard gRPC health service reports SERVING. Exit code 0 = healthy, 1 = not.
"""

from __future__ import annotations

import sys
import urllib.request


def check(url: str) -> bool:
    if url.startswith("grpc://"):
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(url.removeprefix("grpc://")) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=3)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - fixed local URL
        return 200 <= resp.status < 300


if __name__ == "__main__":
    try:
        sys.exit(0 if check(sys.argv[1]) else 1)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: {exc}", file=sys.stderr)
        sys.exit(1)
