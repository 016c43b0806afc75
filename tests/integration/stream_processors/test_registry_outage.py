"""A schema-registry outage makes the worker wait and retry the same message: good data
is never dead-lettered and the worker does not die; it catches up once the registry
answers. The worker reaches the shared registry through a private proxy kept closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from backbone.settings import Settings
from stream_processors.identity import known_customer_id as C
from stream_processors.synthetic import event, ident
from tests.integration.connectors.test_registry_outage import RegistryProxy
from tests.integration.stream_processors import harness as h

T0 = 1_795_744_800_000


@pytest.fixture
def registry_proxy(stack: Settings) -> Iterator[RegistryProxy]:
    proxy = RegistryProxy(stack.schema_registry_url)
    try:
        yield proxy
    finally:
        proxy.close()


def test_worker_waits_out_a_registry_outage_and_dead_letters_nothing(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess], registry_proxy: RegistryProxy) -> None:
    settings = settings_factory()
    good = event("digital.login", "APP", T0, "outage-1", identifiers=[
        ident("CUSTOMER_NUMBER", "C77", verified=True)])
    h.produce(settings, [good])  # written (and registered) through the shared registry
    worker = worker_factory(settings.model_copy(
        update={"schema_registry_url": registry_proxy.url}))
    worker.start()
    assert h.wait_until(lambda: "registry unavailable decoding" in worker.log_path.read_text(),
                        120), "the worker never tried to fetch the writer schema"
    assert worker.alive()  # waiting, not crashed
    assert not [v for _, v in h.read_all(settings, "dead-letters") if v]

    registry_proxy.up()
    h.wait_idle(settings, worker=worker)
    context = h.latest(settings, "customer-context")
    assert [e["event_id"] for e in context[C("C77")]["timeline"]] == [good["event_id"]]
    assert not [v for _, v in h.read_all(settings, "dead-letters") if v]
    assert worker.alive()
