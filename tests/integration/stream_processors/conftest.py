"""Fixtures: a real worker subprocess on per-test topics, and cleanup of those topics.

Each test creates ~100 partitions (catalogue + faust changelogs); deleting them afterwards
keeps the shared broker under its open-file limit (it died of "Too many open files" at
~20k partitions once).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backbone.settings import Settings
from deploy.stack.topics import delete_prefixed
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
