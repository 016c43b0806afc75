"""Topics the stack creates carry the configured replication and min.insync.replicas."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin import NewTopic

from backbone.settings import Settings
from backbone.topics import CATALOGUE
from deploy.stack import topics


class _Done:
    def result(self) -> None:
        return None


class _Admin:
    created: list[NewTopic] = []

    def __init__(self, conf: dict[str, Any]):
        self.conf = conf

    def list_topics(self, timeout: float) -> Any:
        return type("Metadata", (), {"topics": {}})()

    def create_topics(self, wanted: list[NewTopic], operation_timeout: float) -> dict[str, _Done]:
        _Admin.created = wanted
        return {t.topic: _Done() for t in wanted}


@pytest.mark.parametrize(("replication", "insync"), [(1, "1"), (2, "2"), (3, "2"), (5, "2")])
def test_min_insync_replicas_is_min_of_two_and_the_replication(
        monkeypatch: pytest.MonkeyPatch, replication: int, insync: str) -> None:
    monkeypatch.setattr(topics, "AdminClient", _Admin)
    settings = Settings(external_kafka=True, topic_replication=replication)
    assert len(topics.ensure_topics(settings)) == len(CATALOGUE)
    for new in _Admin.created:
        assert new.replication_factor == replication, new.topic
        assert new.config["min.insync.replicas"] == insync, new.topic
