"""The whole backbone as real processes on the real broker, for the browser tests: a
faust worker, the gRPC context service, the connectors, the traffic simulator and the
web front end, on free ports under a private topic prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from backbone.settings import Settings
from deploy.stack.proc import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {"agent": "dev-agent-token", "supervisor": "dev-supervisor-token",
          "channel_system": "dev-channel-token"}


def eventually(predicate: Callable[[], Any], timeout_s: float, what: str,
               interval_s: float = 0.5) -> Any:
    """The first truthy value of ``predicate()`` within ``timeout_s``, else AssertionError."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"{what}: not within {timeout_s:.0f}s (last: {last!r})")


@dataclass
class LiveStack:
    settings: Settings
    logs: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    def env(self) -> dict[str, str]:
        p = self.ports
        return os.environ | {
            "PYTHONPATH": str(ROOT), "CCB_TOPIC_PREFIX": self.settings.topic_prefix,
            "CCB_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "CCB_SCHEMA_REGISTRY_URL": self.settings.schema_registry_url,
            "CCB_GRPC_PORT": str(p["grpc"]), "CCB_WEB_PORT": str(p["web"]),
            "CCB_COLLECTOR_PORT": str(p["collector"]), "CCB_WECHAT_PORT": str(p["wechat"]),
            "CCB_BRANCH_PORT": str(p["branch"]), "CCB_DESKTOP_PORT": str(p["desktop"]),
            "CCB_AMI_PORT": str(p["ami"]), "CCB_WORKER_DATA_DIR": str(self.logs / "worker-data"),
        }

    def url(self, web: str = "web") -> str:
        return f"http://127.0.0.1:{self.ports[web]}"

    def start(self, name: str, *args: str, **env: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen([sys.executable, *args], env=self.env() | env,
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def up(self, rate: float, duration_s: float, seed: int) -> None:
        self.ports = {name: free_port() for name in (
            "grpc", "web", "web_kafka", "collector", "wechat", "branch", "desktop", "ami",
            "worker_web")}
        self.start("worker", "-m", "stream_processors", "worker", "--web-port", str(self.ports["worker_web"]))
        self.start("context", "-m", "services.context")
        self.start("connectors", "-m", "connectors")
        self.start("web", "-m", "services.web")  # alerts from WatchAlerts (the default)
        self.start("web_kafka", "-m", "services.web", CCB_WEB_ALERTS_FROM="kafka",
                   CCB_WEB_PORT=str(self.ports["web_kafka"]))
        for web in ("web", "web_kafka"):
            eventually(lambda web=web: self._ready(f"{self.url(web)}/healthz"), 60,
                       f"{web} answering")
        # traffic only once the worker has its partitions and tables and the collector
        # reaches Kafka (a worker still creating its changelogs can refuse early records)
        eventually(lambda: self._ready(f"http://127.0.0.1:{self.ports['worker_web']}/readyz"),
                   120, "worker ready")
        eventually(lambda: self._ready(f"http://127.0.0.1:{self.ports['collector']}/readyz"),
                   60, "connectors ready")
        self.start("simulator", "-m", "connectors.simulator", "--rate", str(rate),
                   "--duration", str(duration_s), "--seed", str(seed), "--ami-wait", "60")

    def _ready(self, url: str) -> bool:
        self.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if name != "simulator" and proc.poll() is not None:
                raise AssertionError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def simulator_done(self) -> bool:
        return self.procs["simulator"].poll() is not None

    def down(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def snapshots(self) -> list[dict[str, Any]]:
        """Latest customer-context snapshot per customer, read back from the compacted topic."""
        topic = self.settings.topic("customer-context")
        consumer = Consumer(self.settings.consumer_config(f"browser-{uuid.uuid4().hex[:8]}"))
        try:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            tps = []
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    tps.append((TopicPartition(topic, p, low), high))
            latest: dict[str, dict[str, Any]] = {}
            for tp, high in tps:
                consumer.assign([tp])
                while True:
                    msg = consumer.poll(5)
                    if msg is None or msg.error() is not None:
                        break
                    key = (msg.key() or b"").decode()
                    if msg.value():
                        latest[key] = json.loads(msg.value())
                    else:
                        latest.pop(key, None)
                    if msg.offset() >= high - 1:
                        break
            return list(latest.values())
        finally:
            consumer.close()


def read_records(settings: Settings, logical: str, predicate: Callable[[dict[str, Any]], bool],
                 timeout_s: float = 15.0) -> list[dict[str, Any]]:
    """JSON records of a topic (from the beginning) that match ``predicate``, waiting until
    at least one does."""
    consumer = Consumer(settings.consumer_config(f"browser-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([settings.topic(logical)])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if found:
                    break
                continue
            if msg.error() is None and msg.value():
                record = json.loads(msg.value())
                if predicate(record):
                    found.append(record)
    finally:
        consumer.close()
    return found
