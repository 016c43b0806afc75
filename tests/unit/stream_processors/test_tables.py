"""The customer table's coalesced changelog: one record per changed key per flush, to the
partition of the input that changed it, the latest value (or a tombstone), and nothing
lost when a key changes again while its record is being sent."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson

from stream_processors.tables import CoalescedTable


def fake_table() -> SimpleNamespace:
    return SimpleNamespace(data={}, changelog_topic=SimpleNamespace(
        get_topic_name=lambda: "app-customers-changelog"))


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, Any, int]] = []
        self.during_send: Any = None

    async def __call__(self, table: Any, key: bytes, value: bytes | None, partition: int) -> None:
        self.records.append((key, orjson.loads(value) if value else None, partition))
        if self.during_send is not None:
            hook, self.during_send = self.during_send, None
            hook()
        await asyncio.sleep(0)


async def test_five_changes_of_one_customer_are_one_record_with_the_last_state():
    table, send = fake_table(), Recorder()
    store = CoalescedTable(table, send)
    for version in range(5):
        store.set(3, b"c:1", {"v": version})
    store.set(1, b"c:2", {"v": 0})
    await store.flush()
    assert send.records == [(b"c:1", {"v": 4}, 3), (b"c:2", {"v": 0}, 1)]
    await store.flush()  # nothing changed since
    assert len(send.records) == 2


async def test_a_delete_is_a_tombstone_and_the_store_forgets_the_key():
    table, send = fake_table(), Recorder()
    store = CoalescedTable(table, send)
    store.set(2, b"c:1", {"v": 1})
    store.delete(2, b"c:1")
    await store.flush()
    assert send.records == [(b"c:1", None, 2)]
    assert store.get(b"c:1") is None


async def test_a_change_while_its_record_is_sent_is_written_by_the_next_flush():
    table, send = fake_table(), Recorder()
    store = CoalescedTable(table, send)
    store.set(0, b"c:1", {"v": 1})
    send.during_send = lambda: store.set(0, b"c:1", {"v": 2})
    await store.flush()
    await store.flush()
    assert send.records == [(b"c:1", {"v": 1}, 0), (b"c:1", {"v": 2}, 0)]


async def test_revoked_partitions_are_never_written_later():
    table, send = fake_table(), Recorder()
    store = CoalescedTable(table, send)
    store.set(4, b"c:1", {"v": 1})
    store.set(5, b"c:2", {"v": 1})
    store.forget({4})
    table.data.pop(b"c:1")  # faust drops the revoked partition's keys afterwards
    await store.flush()
    assert send.records == [(b"c:2", {"v": 1}, 5)]  # no tombstone for c:1
