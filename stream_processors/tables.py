"""A faust table whose changelog is written once per changed key per flush.

faust writes a changelog record for every ``table[key] = value``: a customer changed by
five commands within a flush interval costs five full-state records (3-4 KB each). A
:class:`CoalescedTable` changes the table's local store directly (``table.data``, which
for RocksDB is the store itself) and remembers the key with its partition; ``flush``
writes each changed key's latest value once, to the changelog partition of the input
record that changed it, through the worker's own producer, so the commit guard checks
its delivery before any input offset is committed. Recovery, standbys and RocksDB's
persisted offsets work as for faust's own writes: the records are the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from typing import Any, Protocol

import orjson

Send = Callable[[Any, bytes, bytes | None, int], Awaitable[Any]]  # (table, key, value, p)


class StateStore(Protocol):
    """What a stage needs of its table (a :class:`CoalescedTable`, or a dict in tests)."""

    def get(self, key: bytes) -> Any: ...
    def set(self, partition: int, key: bytes, value: Any) -> None: ...
    def delete(self, partition: int, key: bytes) -> None: ...
    def items(self) -> Iterable[tuple[bytes, Any]]: ...


def _dumps(value: Any) -> bytes:
    # faust's "json" codec (what the table's changelog and its recovery use) is orjson
    # with these options.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


class CoalescedTable:
    def __init__(self, table: Any, send: Send) -> None:
        self._table = table
        self._send = send
        self._dirty: dict[bytes, tuple[int, int]] = {}  # key -> (changelog partition, seq)
        self._seq = 0

    @property
    def _data(self) -> Any:
        return self._table.data

    def get(self, key: bytes) -> Any:
        return self._data.get(key)

    def __contains__(self, key: bytes) -> bool:
        return key in self._data

    def items(self) -> Iterator[tuple[bytes, Any]]:
        return iter(self._data.items())

    def _mark(self, partition: int, key: bytes) -> None:
        self._seq += 1
        self._dirty[key] = (partition, self._seq)

    def set(self, partition: int, key: bytes, value: Any) -> None:
        self._data[key] = value
        self._mark(partition, key)

    def delete(self, partition: int, key: bytes) -> None:
        if key in self._data:
            del self._data[key]
            self._mark(partition, key)

    def __len__(self) -> int:
        return len(self._dirty)

    def forget(self, partitions: Collection[int]) -> None:
        """Partitions revoked: faust flushed (so wrote) everything before revoking; never
        write a stale mark later, when the store no longer holds those keys."""
        for key in [k for k, (p, _) in self._dirty.items() if p in partitions]:
            del self._dirty[key]

    async def flush(self) -> None:
        """Write the latest value (or a tombstone) of every key changed since the last
        flush. A key whose write fails stays dirty (the commit guard fails the commit)."""
        for key, mark in list(self._dirty.items()):
            value = self._data.get(key)
            await self._send(self._table, key, None if value is None else _dumps(value),
                             mark[0])
            if self._dirty.get(key) == mark:  # not changed again while we were sending
                del self._dirty[key]
