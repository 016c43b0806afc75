"""A poison record goes to the dead-letter topic with its reason; its partition keeps
flowing."""

from __future__ import annotations

from collections.abc import Callable

from backbone.serde import DEAD_LETTER, AvroSerde, registry_client
from backbone.settings import Settings
from stream_processors.identity import known_customer_id as C
from stream_processors.synthetic import event, ident
from tests.integration.stream_processors import harness as h

T0 = 1_795_744_800_000


def test_poison_message_is_dead_lettered_and_partition_keeps_flowing(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    settings = settings_factory()
    worker = worker_factory(settings)
    key = "same-interaction"  # same key: the poison and the good event share a partition
    h.produce_raw(settings, "interactions", key.encode(), b"\x00\x00\x00\x00\x07garbage")
    h.produce_raw(settings, "interactions", key.encode(), b"not even wire format")
    good = event("digital.login", "APP", T0, key, identifiers=[
        ident("CUSTOMER_NUMBER", "C9", verified=True)])
    h.produce(settings, [good])
    worker.start()
    h.wait_idle(settings, worker=worker)

    context = h.latest(settings, "customer-context")
    assert [e["event_id"] for e in context[C("C9")]["timeline"]] == [good["event_id"]]
    serde = AvroSerde(registry_client(settings), DEAD_LETTER)
    letters = [serde.deserialize(settings.topic("dead-letters"), v)
               for _, v in h.read_all(settings, "dead-letters") if v]
    assert len(letters) == 2
    assert {d["reason"] for d in letters} <= {"serialization", "unknown_schema"}
    assert all(d["source"] == "processor.router" and d["topic"] == settings.topic("interactions")
               and d["detail"] for d in letters)
    assert {bytes(d["raw"]) for d in letters} == {b"\x00\x00\x00\x00\x07garbage",
                                                  b"not even wire format"}
    assert worker.alive()
