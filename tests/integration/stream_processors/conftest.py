"""Fixtures: a real worker subprocess on per-test topics, and cleanup of those topics.

Each test creates ~100 partitions (catalogue + faust changelogs); deleting them afterwards
keeps the shared broker under its open-file limit (it died of "Too many open files" at
~20k partitions once).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from deploy.stack.proc import free_port
from deploy.stack.topics import delete_prefixed
from tests.integration.stream_processors import harness as h
from tests.integration.stream_processors.harness import WorkerProcess


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[Settings], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(settings: Settings, name: str = "w1") -> WorkerProcess:
        w = WorkerProcess(settings, tmp_path / f"data-{name}", tmp_path / f"{name}.log")
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()
    if os.environ.get("CCB_TEST_KEEP_TOPICS") != "1":
        for prefix in {w.settings.topic_prefix for w in started}:
            delete_prefixed(next(w.settings for w in started if w.settings.topic_prefix == prefix))


@pytest.fixture
def running(tmp_path: Path, settings_factory: Callable[..., Settings]
            ) -> Iterator[tuple[Settings, pb_grpc.CustomerContextServiceStub]]:
    """A worker and a context-service process on per-test topics, and a stub to it."""
    settings = settings_factory()
    worker = h.WorkerProcess(settings, tmp_path / "worker", tmp_path / "worker.log")
    worker.start()
    port = free_port()
    log = (tmp_path / "service.log").open("wb")
    service = subprocess.Popen(
        [sys.executable, "-m", "services.context"], cwd=h.ROOT, stdout=log,
        stderr=subprocess.STDOUT, env=h.worker_env(settings, tmp_path) | {
            "CCB_GRPC_PORT": str(port)})
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield settings, pb_grpc.CustomerContextServiceStub(channel)
    finally:
        channel.close()
        service.terminate()
        service.wait(15)
        worker.stop()
        for name in ("worker.log", "service.log"):
            print(f"--- {name}\n{(tmp_path / name).read_text(errors='replace')[-3000:]}")
