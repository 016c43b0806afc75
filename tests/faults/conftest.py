"""Fixtures for the fault suite: a private broker (optionally behind a proxy), a private
registry, the real Segment collector served in-process, and a tailer of the interactions.

Nothing here touches the shared stack: every broker and registry is started on free ports
with the project's own ``deploy.stack`` code and stopped afterwards. The suite only runs
when ``CCB_FAULTS=1`` (``deploy/bin/faults`` sets it), so ``deploy/bin/test`` skips it.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backbone.settings import Settings
from connectors.app_web import create_app
from deploy.stack import kafka, proc, schemas
from deploy.stack.proc import free_port
from deploy.stack.topics import ensure_topics
from tests.support.servers import served

# A short delivery timeout, so a paused broker outlasts it within one test.
FAST_PRODUCER = {"publish_timeout_s": 3.0, "producer_delivery_timeout_ms": 5_000}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CCB_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="fault suite: run deploy/bin/faults (CCB_FAULTS=1)")
    for item in items:
        if "tests/faults" in str(item.fspath):
            item.add_marker(skip)


@dataclass
class PrivateBroker:
    """A throw-away broker. ``settings`` is what the product under test uses (through the
    proxy when there is one); ``direct`` always reaches the broker itself."""

    settings: Settings
    direct: Settings
    name: str
    state_dir: Path
    start_settings: Settings

    @property
    def pid(self) -> int:
        pid = proc.read_pid(self.name)
        assert pid is not None, f"{self.name} is not running"
        return pid

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.pid, sig)

    def start(self) -> None:
        kafka.start(self.start_settings, state_dir=self.state_dir, name=self.name)

    def stop(self) -> None:
        pid = proc.read_pid(self.name)
        if pid is not None:  # a stopped (SIGSTOP) broker ignores SIGTERM until continued
            os.killpg(pid, signal.SIGCONT)
        kafka.stop(self.name)


def _with_direct_listener(direct_port: int, advertised: str | None) -> Callable[..., str]:
    """``kafka.server_properties`` plus a second listener that is never proxied, and the
    main listener advertised at ``advertised`` (the proxy) instead of its own address."""
    original = kafka.server_properties

    def props(settings: Settings, data_dir: Path) -> str:
        lines = original(settings, data_dir).splitlines()
        out = []
        for line in lines:
            if line.startswith("listeners="):
                line += f",DIRECT://127.0.0.1:{direct_port}"
            elif line.startswith("advertised.listeners="):
                main = advertised or line.split("//", 1)[1]
                line = (f"advertised.listeners=PLAINTEXT://{main},"
                        f"DIRECT://127.0.0.1:{direct_port}")
            elif line.startswith("listener.security.protocol.map="):
                line += ",DIRECT:PLAINTEXT"
            out.append(line)
        return "\n".join(out) + "\n"

    return props


@pytest.fixture
def broker_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[Callable[..., PrivateBroker]]:
    """``make(advertised=None, registry=None, **overrides)``: a private broker with the
    catalogue's topics under a unique prefix. ``advertised`` ("host:port", e.g. a proxy)
    is what clients are sent to after bootstrap; they bootstrap there too."""
    started: list[PrivateBroker] = []

    def make(advertised: str | None = None, registry: str | None = None,
             port: int | None = None, **overrides: object) -> PrivateBroker:
        """``port``: the client listener's port, when something (a proxy) must know it
        before the broker starts."""
        name = f"kafka-fault-{uuid.uuid4().hex[:6]}"
        port, direct_port = port or free_port(), free_port()
        monkeypatch.setattr(kafka, "server_properties",
                            _with_direct_listener(direct_port, advertised))
        base = Settings(kafka_bootstrap=f"127.0.0.1:{port}", local_controller_port=free_port(),
                        topic_prefix=f"f{uuid.uuid4().hex[:8]}.",
                        schema_registry_url=registry or f"mock://{uuid.uuid4().hex}",
                        **FAST_PRODUCER)
        base = base.model_copy(update=overrides)
        direct = base.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{direct_port}"})
        product = base.model_copy(update={"kafka_bootstrap": advertised}) if advertised else base
        broker = PrivateBroker(product, direct, name, tmp_path / name, base)
        broker.start()
        started.append(broker)
        ensure_topics(direct)
        if registry is not None:  # what ``deploy.stack up`` does after the topics
            schemas.register_contracts(direct)
        return broker

    yield make
    for broker in started:
        broker.stop()


@dataclass
class PrivateRegistry:
    """A throw-away Apicurio registry (in-memory: a restart forgets every schema)."""

    name: str
    port: int
    log_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    def start(self) -> None:
        from deploy.stack import registry

        jar = registry.fetch_registry(proc.CACHE_DIR)
        popen = proc.spawn(self.name, registry.registry_command(jar, self.port,
                                                               java=registry.find_java()),
                           self.log_dir / f"{self.name}.log")
        registry.wait_registry_ready(f"http://127.0.0.1:{self.port}", 90.0,
                                     alive=lambda: proc.is_alive(popen.pid))

    def kill(self) -> None:
        pid = proc.read_pid(self.name)
        assert pid is not None, "registry is not running"
        os.killpg(pid, signal.SIGKILL)

    def stop(self) -> None:
        proc.stop(self.name)


def _port_pair() -> int:
    """A free port whose successor is free too (the registry's management port)."""
    for _ in range(50):
        port = free_port()
        if proc.port_free("127.0.0.1", port + 1):
            return port
    raise RuntimeError("no free pair of ports")


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[PrivateRegistry]:
    reg = PrivateRegistry(f"registry-fault-{uuid.uuid4().hex[:6]}", _port_pair(), tmp_path)
    try:
        reg.start()
    except Exception as exc:  # noqa: BLE001 - a missing JDK or download is a skip, not a fault
        reg.stop()
        pytest.skip(f"private registry did not start: {exc}")
    yield reg
    reg.stop()


@pytest.fixture
async def collector() -> AsyncIterator[Callable[[Settings], object]]:
    """``await collector(settings)`` → base URL of the real Segment collector."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        async def start(settings: Settings) -> str:
            http = await stack.enter_async_context(served(create_app(settings)))
            return str(http.base_url).rstrip("/")

        yield start
