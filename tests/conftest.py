"""Shared fixtures: the real local stack (session-scoped) and per-test isolated topics.

Integration tests talk to the broker the project starts (``python -m deploy.stack up``),
or to an existing cluster when ``CCB_KAFKA_BOOTSTRAP`` / ``CCB_EXTERNAL_KAFKA=1`` point
at one (the same switch the product uses).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from backbone.settings import Settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """Kafka + registry up (started by the project's own stack code if needed)."""
    from deploy.stack import cli

    settings = Settings()
    cli.up(settings)
    yield settings
    if os.environ.get("CCB_STACK_KEEP") != "1" and os.environ.get("CCB_TEST_STOP_STACK") == "1":
        cli.down()


@pytest.fixture
def settings_factory(stack: Settings) -> Iterator[Callable[..., Settings]]:
    """Settings with a unique topic prefix, topics created: tests never see each other's data.

    The topics (and any a test's processes created under the prefix, e.g. faust changelogs)
    are deleted afterwards so a long test run does not pile thousands of partitions on the
    single local broker.
    """
    from deploy.stack.topics import delete_prefixed, ensure_topics

    prefixes: list[str] = []

    def make(**overrides: object) -> Settings:
        prefix = f"t{uuid.uuid4().hex[:10]}."
        settings = stack.model_copy(update={"topic_prefix": prefix, **overrides})
        ensure_topics(settings)
        prefixes.append(prefix)
        return settings

    yield make
    if prefixes:
        delete_prefixed(stack, prefixes)


@pytest.fixture
def unit_settings() -> Settings:
    """Settings for unit tests: in-process mock registry, no broker needed."""
    return Settings(schema_registry_url=f"mock://{uuid.uuid4().hex}",
                    hmac_key="unit-test-key")  # type: ignore[arg-type]
