"""Producer health recovers by itself: no latch that only a delivery can clear (issue 11)."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import KafkaError

from backbone.errors import BackpressureError
from backbone.kafka import AsyncPublisher, BrokerHealth
from backbone.settings import Settings


class Cluster:
    """A probe target that answers or not, counting the probes it got."""

    def __init__(self) -> None:
        self.answering = True
        self.probes = 0

    def __call__(self) -> None:
        self.probes += 1
        if not self.answering:
            raise RuntimeError("Local: Timed out")


def test_down_then_up_again_without_any_delivery():
    cluster = Cluster()
    changes: list[bool] = []
    health = BrokerHealth(cluster, interval_s=0.0, on_change=changes.append)
    assert health.check() and health.up  # first round probes at once
    cluster.answering = False
    health.suspicious()  # e.g. error_cb _ALL_BROKERS_DOWN
    assert not health.check()
    assert health.down_since is not None
    # Still down: every round probes again, with no suspicion needed and nothing delivered.
    assert not health.check()
    cluster.answering = True
    assert health.check() and health.up
    assert changes == [False, True]


def test_probes_are_paced_while_down():
    cluster = Cluster()
    cluster.answering = False
    health = BrokerHealth(cluster, interval_s=60.0)
    for _ in range(20):
        health.suspicious()
        health.check()
    assert cluster.probes == 1  # a storm of error callbacks is one metadata request
    assert not health.up


def test_no_probe_while_up_and_quiet():
    cluster = Cluster()
    health = BrokerHealth(cluster, interval_s=0.0)
    health.check()
    for _ in range(5):
        health.check(in_flight=0)
    assert cluster.probes == 1


def test_a_stall_with_records_in_flight_is_probed():
    """A stopped broker keeps its TCP connection: no error comes, records just wait."""
    cluster = Cluster()
    health = BrokerHealth(cluster, interval_s=0.0, stall_s=0.05)
    health.check()
    cluster.answering = False
    health.check(in_flight=3)  # starts the stall clock
    assert health.up
    time.sleep(0.1)
    assert not health.check(in_flight=3)


def test_stats_raise_suspicion_without_an_up_broker():
    cluster = Cluster()
    health = BrokerHealth(cluster, interval_s=0.0)
    health.check()
    health.on_stats({"b/1": {"state": "UP", "source": "learned"}})
    assert not health.suspect
    health.on_stats({"b/1": {"state": "CONNECT", "source": "learned"},
                     "GroupCoordinator": {"state": "UP", "source": "internal"}})
    assert health.suspect
    cluster.answering = False
    assert not health.check()


def test_a_delivery_is_proof_of_reachability():
    cluster = Cluster()
    cluster.answering = False
    health = BrokerHealth(cluster, interval_s=60.0)
    health.check()
    assert not health.up
    health.answered()
    assert health.up


@pytest.mark.parametrize("code", [KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT])
def test_error_callback_makes_the_publisher_probe(code):
    publisher = AsyncPublisher(Settings(), client_id="unit")
    publisher.health.suspect = False
    publisher._on_error(KafkaError(code))
    assert publisher.health.suspect


async def test_unreachable_cluster_refuses_with_retry_after_and_recovers():
    # Port 9 (discard) on loopback: nothing listens, every connection is refused.
    publisher = AsyncPublisher(Settings(kafka_bootstrap="127.0.0.1:9"), client_id="unit-down",
                               probe_interval_s=0.2)
    await publisher.start()
    try:
        async with asyncio.timeout(10):
            while publisher.healthy:
                await asyncio.sleep(0.05)
        with pytest.raises(BackpressureError) as refused:
            publisher.publish("t", b"k", b"v")
        assert refused.value.retry_after_s >= 1.0
        # The cluster answers again: health follows the probe, with nothing delivered.
        publisher._probe = lambda: None  # type: ignore[method-assign]
        publisher.health._probe = publisher._probe
        async with asyncio.timeout(5):
            while not publisher.healthy:
                await asyncio.sleep(0.05)
    finally:
        await publisher.stop(timeout_s=0.5)
