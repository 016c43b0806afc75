"""Bounded memories for protocols that retry (WeChat): published source ids, signed requests.

``RecentIds``: a retry that arrives while the first attempt is still waiting for Kafka waits
for that same attempt instead of publishing again; a failed attempt is forgotten so a retry
can succeed. Downstream deduplication by event id still covers restarts and evictions.
``SeenSignatures``: within a freshness window, one request signature vouches for one body.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar

from backbone import metrics

T = TypeVar("T")


class RecentIds(Generic[T]):
    def __init__(self, capacity: int, *, name: str = "recent_ids"):
        self.capacity = capacity
        self._entries: OrderedDict[str, asyncio.Future[T]] = OrderedDict()
        metrics.CACHE_ENTRIES.labels(name).set_function(lambda: len(self._entries))

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


Sighting = Literal["first", "repeat", "conflict", "forgotten"]


class SeenSignatures:
    """Signatures seen in the last ``window_s`` seconds of their signed timestamp.

    ``see`` answers ``first`` (remembered now), ``repeat`` (same key, same fingerprint: the
    same request again, e.g. a retry), ``conflict`` (same key, another fingerprint: the
    signature is being reused for something it never signed) or ``forgotten``. Callers
    refuse timestamps outside the window before asking, so an entry is needed only until
    its timestamp leaves the window. When full, the oldest entry goes and everything signed
    at or before its timestamp is ``forgotten`` (refused) from then on rather than trusted:
    the cache never vouches for a signature it may have seen.
    """

    def __init__(self, capacity: int, window_s: float,
                 clock: Callable[[], float] = time.time, *, name: str = "seen_signatures"):
        self.capacity = capacity
        self.window_s = window_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[int, str]] = OrderedDict()
        metrics.CACHE_ENTRIES.labels(name).set_function(lambda: len(self._entries))
        self._floor = -1  # timestamps at or below it can no longer be vouched for

    def __len__(self) -> int:
        return len(self._entries)

    def see(self, key: str, timestamp_s: int, fingerprint: str) -> Sighting:
        now = self._clock()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is not None:
            return "repeat" if entry[1] == fingerprint else "conflict"
        if timestamp_s <= self._floor:
            return "forgotten"
        self._entries[key] = (timestamp_s, fingerprint)
        while len(self._entries) > self.capacity:
            _, (oldest, _) = self._entries.popitem(last=False)
            if oldest + self.window_s >= now:
                self._floor = max(self._floor, oldest)
        return "first"

    def _expire(self, now: float) -> None:
        # Insertion order is close to timestamp order; a straggler behind a younger entry
        # just waits for it (the window check refuses its requests meanwhile).
        while self._entries:
            timestamp_s, _ = next(iter(self._entries.values()))
            if timestamp_s + self.window_s >= now:
                return
            self._entries.popitem(last=False)
