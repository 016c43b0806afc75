"""Fixtures: a real worker subprocess on per-test topics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backbone.settings import Settings
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
