"""Freeze the broker (SIGSTOP) for longer than the producer's delivery timeout, then thaw
it: the collector must refuse with 503 + Retry-After meanwhile and accept again within
seconds after, with no delivery needed to notice (issue 11).

A stopped broker keeps its TCP connections open and answers nothing, unlike a killed one
(test_broker_restart.py). It runs on a private broker: the shared one stays untouched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import pytest

from backbone.settings import Settings
from connectors.app_web import create_app
from deploy.stack import kafka, proc
from deploy.stack.proc import free_port
from deploy.stack.topics import ensure_topics

DELIVERY_TIMEOUT_MS = 5_000
# Well past the delivery timeout, so records in flight fail meanwhile; the 75 s
# (past librdkafka's 60 s socket timeout, which brings _ALL_BROKERS_DOWN) via the env.
PAUSE_S = float(os.environ.get("CCB_TEST_BROKER_PAUSE_S", "12"))
RECOVERY_BUDGET_S = 10.0


@pytest.fixture
def paused_broker(stack, tmp_path):
    """A private broker; yields (settings, pid) and always thaws and stops it after."""
    name = f"kafka-pause-{uuid.uuid4().hex[:6]}"
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}",
                        local_controller_port=free_port(), topic_prefix="pause.",
                        schema_registry_url=f"mock://{uuid.uuid4().hex}",
                        publish_timeout_s=3.0,
                        producer_delivery_timeout_ms=DELIVERY_TIMEOUT_MS)
    kafka.start(settings, state_dir=tmp_path / "kafka", name=name)
    ensure_topics(settings)
    pid = proc.read_pid(name)
    assert pid is not None
    try:
        yield settings, pid
    finally:
        os.killpg(pid, signal.SIGCONT)
        kafka.stop(name)


def batch(n: int) -> dict[str, object]:
    return {"batch": [{"type": "track", "messageId": f"pause-{n}-{i}", "userId": f"u{i}",
                       "event": "Tapped"} for i in range(5)]}


async def test_collector_refuses_during_a_freeze_and_recovers_by_itself(paused_broker, serve):
    settings, pid = paused_broker
    base = await serve(create_app(settings))
    auth = ("app-dev-write-key", "")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        n = 0

        async def post() -> httpx.Response:
            nonlocal n
            n += 1
            return await http.post("/v1/batch", auth=auth, json=batch(n))

        assert (await post()).status_code == 200  # flowing before the freeze

        os.killpg(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        during: list[httpx.Response] = []
        while time.monotonic() - frozen_at < PAUSE_S:
            resp = await post()
            if time.monotonic() - frozen_at < PAUSE_S:  # answered while still frozen
                during.append(resp)
            await asyncio.sleep(0.2)
        ready_while_frozen = await http.get("/readyz")
        os.killpg(pid, signal.SIGCONT)
        thawed_at = time.monotonic()

        recovered_after: float | None = None
        while time.monotonic() - thawed_at < RECOVERY_BUDGET_S + 5:
            resp = await post()
            if resp.status_code == 200:
                recovered_after = time.monotonic() - thawed_at
                break
            assert resp.status_code == 503, resp.text
            await asyncio.sleep(0.2)
        ready_after = await http.get("/readyz")

    print(f"frozen {PAUSE_S:.0f}s (delivery.timeout.ms={DELIVERY_TIMEOUT_MS}): "
          f"{len(during)} answers during ({sum(r.status_code == 503 for r in during)} x 503), "
          f"/readyz {ready_while_frozen.status_code} while frozen, accepting again "
          f"{'never' if recovered_after is None else f'{recovered_after:.2f}s'} after SIGCONT")
    assert during, "no request was answered during the freeze"
    assert all(r.status_code == 503 for r in during), [r.status_code for r in during]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in during)
    assert ready_while_frozen.status_code == 503
    assert "Retry-After" in ready_while_frozen.headers
    assert recovered_after is not None and recovered_after < RECOVERY_BUDGET_S
    assert ready_after.status_code == 200
