"""The worker's /readyz verdict: Kafka answering a metadata request, cached, never latched."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stream_processors.probes import Readiness


class Client:
    def __init__(self) -> None:
        self.answering = True
        self.asked = 0

    async def fetch_all_metadata(self) -> object:
        self.asked += 1
        if not self.answering:
            raise OSError("Unable to get cluster metadata over all known brokers")
        return object()


def fake_app(client: Client) -> SimpleNamespace:
    producer = SimpleNamespace(_ensure_producer=lambda: SimpleNamespace(client=client))
    return SimpleNamespace(crashed=False, conf=SimpleNamespace(processors_ready=True),
                           producer=producer)


async def test_ready_follows_the_cluster_both_ways():
    client = Client()
    readiness = Readiness(fake_app(client), cache_s=0.0)
    assert await readiness.check() == (True, "ok")
    client.answering = False
    assert await readiness.check() == (False, "kafka_unreachable")
    client.answering = True
    assert await readiness.check() == (True, "ok")


async def test_probes_are_cached():
    client = Client()
    readiness = Readiness(fake_app(client), cache_s=60.0)
    for _ in range(10):
        await readiness.check()
    assert client.asked == 1


async def test_a_crashed_or_unstarted_worker_is_not_ready():
    app = fake_app(Client())
    app.crashed = True
    assert (await Readiness(app).check())[0] is False
    app = fake_app(Client())
    app.conf.processors_ready = False
    assert await Readiness(app).check() == (False, "starting")


async def test_not_ready_until_the_erasure_log_is_loaded_or_while_the_registry_is_awaited():
    erased = SimpleNamespace(ready=asyncio.Event())
    codecs = SimpleNamespace(waiting=0)
    readiness = Readiness(fake_app(Client()), cache_s=0.0, erased=erased, codecs=codecs)
    assert await readiness.check() == (False, "erasure_log_not_loaded")
    erased.ready.set()
    assert await readiness.check() == (True, "ok")
    codecs.waiting = 1  # a message waits for its writer schema
    assert await readiness.check() == (False, "schemas_not_ready")
    codecs.waiting = 0
    assert await readiness.check() == (True, "ok")
