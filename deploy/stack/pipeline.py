"""Drive the processors on a real broker: produce Avro events, run a worker (subprocess),
read the published outputs back, wait until every stage committed everything. Used by the
integration tests, the fault suite and the benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from backbone.serde import INTERACTION_EVENT, AvroSerde, registry_client
from backbone.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def produce(settings: Settings, events: Iterable[dict[str, Any]], topic: str = "interactions",
            key_field: str = "interaction_id") -> int:
    serde = AvroSerde(registry_client(settings), INTERACTION_EVENT)
    name = settings.topic(topic)
    producer = Producer(settings.producer_config(**{"linger.ms": 5}))
    n = 0
    for ev in events:
        key = ev["attributes"].get("customer_id") if topic == "handoffs" else ev[key_field]
        producer.produce(name, key=key.encode(), value=serde.serialize(name, ev))
        n += 1
        if n % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return n


def produce_raw(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer(settings.producer_config())
    producer.produce(settings.topic(topic), key=key, value=value)
    assert producer.flush(10) == 0


def read_all(settings: Settings, topic: str, timeout_s: float = 5.0) -> list[tuple[bytes | None, bytes | None]]:
    """Every record currently in a topic (from the beginning to the end offsets)."""
    name = settings.topic(topic)
    consumer = Consumer(settings.consumer_config(f"reader-{time.monotonic_ns()}"))
    try:
        md = consumer.list_topics(name, timeout=10).topics[name]
        tps = [TopicPartition(name, p) for p in md.partitions]
        ends = {}
        for tp in tps:
            lo, hi = _watermarks(consumer, tp)
            if hi > lo:
                ends[tp.partition] = hi
        consumer.assign([TopicPartition(name, p, 0) for p in ends])
        out: list[tuple[bytes | None, bytes | None]] = []
        done: set[int] = set()
        deadline = time.monotonic() + timeout_s + len(ends)
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                out.append((msg.key(), msg.value()))
                partition, offset = msg.partition() or 0, msg.offset() or 0
                if offset + 1 >= ends[partition]:
                    done.add(partition)
        return out
    finally:
        consumer.close()


def _watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    for _ in range(20):
        try:
            lo, hi = consumer.get_watermark_offsets(tp, timeout=10)
            return int(lo), int(hi)
        except KafkaException:  # leader not elected yet on a fresh topic
            time.sleep(0.25)
    lo, hi = consumer.get_watermark_offsets(tp, timeout=10)
    return int(lo), int(hi)


def latest(settings: Settings, topic: str) -> dict[str, Any]:
    """Compacted view: key -> last JSON value (None for a tombstone)."""
    view: dict[str, Any] = {}
    for k, v in read_all(settings, topic):
        view[(k or b"").decode()] = orjson.loads(v) if v is not None else None
    return view


def worker_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CCB_TOPIC_PREFIX": settings.topic_prefix,
        "CCB_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CCB_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "CCB_WORKER_DATA_DIR": str(data_dir),
        "CCB_WORKER_STORE": settings.worker_store,
        "CCB_KPI_PUBLISH_INTERVAL_S": str(settings.kpi_publish_interval_s),
        "CCB_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "CCB_WORKER_STALL_S": str(settings.worker_stall_s),
        "CCB_WORKER_STANDBY_REPLICAS": str(settings.worker_standby_replicas),
        "PYTHONPATH": str(ROOT),
    })
    return env


class WorkerProcess:
    """``python -m stream_processors worker`` as a real subprocess."""

    def __init__(self, settings: Settings, data_dir: Path, log_path: Path,
                 instance_id: str | None = None) -> None:
        self.settings = settings
        self.instance_id = instance_id  # static group membership (CCB_WORKER_INSTANCE_ID)
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_processors", "worker", "--loglevel", os.environ.get("CCB_TEST_WORKER_LOGLEVEL", "warning")], cwd=ROOT,
            env=worker_env(self.settings, self.data_dir) | (
                {"CCB_WORKER_INSTANCE_ID": self.instance_id} if self.instance_id else {}),
            stdout=log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process used so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_until(pred: Any, timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval_s)
    return bool(pred())


def group_lag(settings: Settings, topics: Iterable[str]) -> int:
    """Uncommitted records of the processors' consumer group on ``topics``."""
    consumer = Consumer(settings.consumer_config(settings.topic(settings.worker_app_name)))
    try:
        total = 0
        tps = []
        for t in topics:
            name = settings.topic(t)
            md = consumer.list_topics(name, timeout=10).topics[name]
            tps += [TopicPartition(name, p) for p in md.partitions]
        for tp in consumer.committed(tps, timeout=10):
            _, hi = _watermarks(consumer, tp)
            committed = tp.offset if tp.offset >= 0 else 0
            total += max(0, hi - committed)
        return total
    finally:
        consumer.close()


STAGES = ("interactions", "handoffs", "identity-commands", "customer-commands")


def wait_idle(settings: Settings, timeout_s: float = 180.0, worker: WorkerProcess | None = None
              ) -> None:
    """Until every stage has committed everything, twice in a row (a stage may still emit)."""
    deadline = time.monotonic() + timeout_s
    calm = 0
    while time.monotonic() < deadline:
        if worker is not None and not worker.alive():
            raise AssertionError("worker died; see its log")
        calm = calm + 1 if group_lag(settings, STAGES) == 0 else 0
        if calm >= 3:
            return
        time.sleep(1.0)
    raise AssertionError(f"processors not idle after {timeout_s}s (lag {group_lag(settings, STAGES)})")
