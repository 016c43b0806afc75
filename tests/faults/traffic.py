"""Load for the fault tests: Segment batches with unique messageIds through the collector,
an independent tailer of ``interactions``, and the figures every fault prints."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from backbone.settings import Settings

CLIENT_TIMEOUT_S = 5.0
WRITE_KEY = "app-dev-write-key"
RECOVERY_LIMIT_S = 10.0  # the goal: flowing again within 10 s of the fault ending
WAIT_S = 30.0  # how long the suite waits for something before it gives up


@dataclass
class Traffic:
    """Senders that never retry: each request carries fresh messageIds, so a duplicate in
    Kafka is the product's, not a retry's. Records every answer with its time."""

    base_url: str
    senders: int = 3
    batch: int = 10
    users: int = 200
    pause_s: float = 0.0
    acked: set[str] = field(default_factory=set)
    ack_at: dict[str, float] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    ok_times: list[float] = field(default_factory=list)
    slowest_s: float = 0.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(w)) for w in range(self.senders)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _send(self, worker: int) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=self.base_url, timeout=CLIENT_TIMEOUT_S) as http:
            while not self._stop.is_set():
                batch = [{"type": "track", "messageId": f"{self.run}-{worker}-{n}-{i}",
                          "userId": f"u{(n * self.batch + i + worker) % self.users}",
                          "event": "Tapped"} for i in range(self.batch)]
                n += 1
                began = time.monotonic()
                try:
                    resp = await http.post("/v1/batch", auth=(WRITE_KEY, ""),
                                           json={"batch": batch})
                except httpx.TimeoutException:
                    self.statuses["hang"] += 1
                    continue
                except httpx.HTTPError as exc:
                    self.statuses[f"transport:{type(exc).__name__}"] += 1
                    await asyncio.sleep(0.2)
                    continue
                finally:
                    self.slowest_s = max(self.slowest_s, time.monotonic() - began)
                self.statuses[str(resp.status_code)] += 1
                if resp.status_code == 200:
                    now = time.monotonic()
                    for eid in resp.json()["event_ids"]:
                        self.acked.add(eid)
                        self.ack_at.setdefault(eid, now)
                    self.ok_times.append(now)
                    if self.pause_s:
                        await asyncio.sleep(self.pause_s)
                else:
                    await asyncio.sleep(0.2)  # back off a little, as an SDK would

    async def until_acked(self, n: int, timeout_s: float = 30.0) -> None:
        target = len(self.acked) + n
        async with asyncio.timeout(timeout_s):
            while len(self.acked) < target:
                await asyncio.sleep(0.05)

    async def first_ok_after(self, t0: float, timeout_s: float = WAIT_S) -> float:
        """Seconds from ``t0`` to the first 2xx answered after it (inf if none in time)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            later = [t for t in self.ok_times if t >= t0]
            if later:
                return min(later) - t0
            await asyncio.sleep(0.05)
        return float("inf")

    def bad_answers(self) -> dict[str, int]:
        """Anything but 200 and 503: a 500, another code, or a request past its deadline."""
        return {k: v for k, v in self.statuses.items() if k not in ("200", "503")}


class Tailer:
    """Reads ``interactions`` straight from the broker (never through a proxy) on a thread:
    event id → times seen, and when each was first seen."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counts: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> Tailer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        topic = self.settings.topic("interactions")
        consumer = Consumer(self.settings.consumer_config(
            f"fault-tail-{uuid.uuid4().hex[:6]}", **{"log_level": 0}))
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        try:
            while not self._stop.is_set():
                for msg in consumer.consume(500, 0.2):
                    if msg.error():
                        continue
                    eid = dict(msg.headers() or [])["event_id"].decode()
                    with self._lock:
                        self.counts[eid] += 1
                        self.first_seen.setdefault(eid, time.monotonic())
        finally:
            consumer.close()

    async def all_visible(self, ack_at: dict[str, float], t0: float,
                          timeout_s: float = WAIT_S) -> float:
        """The first moment at or after ``t0`` when every event acknowledged by then had
        been seen in Kafka (inf if some acknowledged event does not show up in time)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if ack_at.keys() <= self.first_seen.keys():
                    return settled(ack_at, self.first_seen, t0)
            await asyncio.sleep(0.1)
        return float("inf")

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


def settled(ack_at: dict[str, float], seen_at: dict[str, float], t0: float) -> float:
    """Smallest T >= t0 such that every id acknowledged by T was seen by T."""
    order = sorted(ack_at, key=ack_at.__getitem__)
    at, k, latest = t0, 0, t0
    while True:
        while k < len(order) and ack_at[order[k]] <= at:
            latest = max(latest, seen_at[order[k]])
            k += 1
        if latest <= at:
            return at
        at = latest


def report(fault: str, t0: float, first_ok_s: float, visible_at: float, acked: set[str],
           stored: Counter[str], **extra: object) -> dict[str, float | int]:
    """Print the figures line and return them; the caller asserts."""
    visible_s = max(0.0, visible_at - t0)
    recovery_s = max(first_ok_s, visible_s)
    lost = len(acked - stored.keys())
    duplicates = sum(1 for i in acked if stored[i] > 1)
    more = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"\nfault={fault} recovery_s={recovery_s:.2f} acknowledged={len(acked)} "
          f"stored={sum(stored.values())} lost={lost} duplicates={duplicates} "
          f"first_2xx_s={first_ok_s:.2f} visible_s={visible_s:.2f} {more}".rstrip())
    return {"recovery_s": recovery_s, "lost": lost, "duplicates": duplicates}


def check(figures: dict[str, float | int], traffic: Traffic) -> None:
    """What every fault must keep: only 200/503 within the deadline, nothing acknowledged
    lost or doubled, recovered within the limit."""
    assert traffic.bad_answers() == {}, f"answers other than 200/503: {traffic.statuses}"
    assert figures["lost"] == 0, f"{figures['lost']} acknowledged events not in Kafka"
    assert figures["duplicates"] == 0, f"{figures['duplicates']} acknowledged events twice"
    assert figures["recovery_s"] <= RECOVERY_LIMIT_S, f"recovery took {figures['recovery_s']}s"
