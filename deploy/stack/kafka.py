"""Fetch Apache Kafka from Maven Central and run one KRaft broker+controller on loopback."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from backbone.errors import StackError
from backbone.settings import Settings
from deploy.stack import proc

POM = proc.ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J = proc.ROOT / "deploy" / "kafka" / "log4j2.properties"
NAME = "kafka"


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise StackError(f"no <kafka.version> in {POM}")
    return match.group(1)


def require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"`{tool}` is not on PATH. {hint}")
    return path


def fetch(cache_dir: Path = proc.CACHE_DIR) -> Path:
    """Download the broker jars once (Maven's local repository caches across clones)."""
    libs = cache_dir / f"kafka-{kafka_version()}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = require_tool("mvn", "Install Maven (apt-get install maven) to fetch Kafka from Maven Central.")
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
           f"-DoutputDirectory={libs}", "-Dmdep.includeScope=runtime"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
        raise StackError(
            "Downloading Kafka from Maven Central failed (is the registry reachable? "
            f"`{' '.join(cmd)}`):\n{(result.stdout + result.stderr)[-2000:]}")
    marker.write_text(kafka_version())
    return libs


def _split(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    return host or "127.0.0.1", int(port)


def server_properties(settings: Settings, data_dir: Path) -> str:
    host, port = _split(settings.kafka_bootstrap)
    cport = settings.local_controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{cport}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=6",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=12",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.retention.check.interval.ms=60000",
        "log.cleaner.backoff.ms=5000",
        "",
    ])


def wait_ready(settings: Settings, timeout_s: float, pid: int | None = None,
               log_path: Path | None = None) -> None:
    """Ready means the broker answers a metadata request, not just that the port is open."""
    admin = AdminClient(settings.kafka_common() | {"socket.timeout.ms": 2000, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if pid is not None and not proc.is_alive(pid):
            raise StackError(
                f"Kafka died during start-up. Last lines of {log_path}:\n"
                f"{proc.tail(log_path) if log_path else ''}")
        try:
            md = admin.list_topics(timeout=2)
            if md.brokers:
                return
        except Exception as exc:  # KafkaException while the broker is still booting
            last = str(exc)
        time.sleep(0.3)
    raise StackError(f"Kafka at {settings.kafka_bootstrap} did not answer within "
                     f"{timeout_s:.0f}s ({last})")


def start(settings: Settings, *, timeout_s: float = 90.0, state_dir: Path | None = None,
          name: str = NAME) -> int:
    """Start the broker if it is not running; returns its pid.

    ``state_dir`` and ``name`` (pid-file name) let a test run a second, private broker
    next to the shared one (different ports in ``settings``) and stop only that one.
    """
    running = proc.read_pid(name)
    if running is not None:
        wait_ready(settings, timeout_s, running)
        return running
    java = require_tool("java", "Install a Java 17+ runtime (apt-get install openjdk-17-jre-headless).")
    libs = fetch()
    host, port = _split(settings.kafka_bootstrap)
    proc.require_port(host, port, "Kafka broker")
    proc.require_port(host, settings.local_controller_port, "Kafka controller")
    base = state_dir or proc.STATE_DIR / "kafka"
    data, logs = base / "data", base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    props = base / "server.properties"
    props.write_text(server_properties(settings, data))
    classpath = f"{libs}/*"
    jvm = [java, "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
           "-Djava.awt.headless=true", f"-Dkafka.logs.dir={logs}",
           f"-Dlog4j2.configurationFile={LOG4J}", "-cp", classpath]
    if not (data / "meta.properties").exists():
        cluster = subprocess.run(jvm + ["kafka.tools.StorageTool", "random-uuid"],
                                 capture_output=True, text=True, check=True).stdout.split()[-1]
        fmt = subprocess.run(jvm + ["kafka.tools.StorageTool", "format", "-t", cluster,
                                    "-c", str(props)], capture_output=True, text=True, check=False)
        if fmt.returncode != 0:
            raise StackError(f"formatting KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
    log_path = logs / "stdout.log"
    popen = proc.spawn(name, jvm + ["kafka.Kafka", str(props)], log_path)
    wait_ready(settings, timeout_s, popen.pid, logs / "server.log")
    return popen.pid


def stop(name: str = NAME) -> bool:
    return proc.stop(name, timeout_s=30)
