"""A bounded memory of recently published source ids, for protocols that retry (WeChat).

A retry that arrives while the first attempt is still waiting for Kafka waits for that
same attempt instead of publishing again; a failed attempt is forgotten so a retry can
succeed. Downstream deduplication by event id still covers restarts and evictions.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RecentIds(Generic[T]):
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[str, asyncio.Future[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    async def once(self, key: str, action: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``action`` once per key; returns its result and whether this was a repeat."""
        existing = self._entries.get(key)
        if existing is not None:
            self._entries.move_to_end(key)
            return await asyncio.shield(existing), True
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._entries[key] = fut
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        try:
            result = await action()
        except BaseException as exc:
            self._entries.pop(key, None)
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiting repeats re-raise it themselves
            raise
        fut.set_result(result)
        return result, False
