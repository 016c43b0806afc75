"""Live KPIs reconcile with the switch's own figures, through the real path on the real broker.

A seeded scenario goes in the way production sees it (AMI frames over TCP into the phone
connector, wrap-ups through the agent-desktop feed, or the same calls as Asterisk
queue_log lines, or branch queue-ticket events over HTTP); one real worker computes the
KPIs; the compacted ``kpis`` topic must equal the independent references in tests/support
for every clock-aligned 30-minute interval and business day, per queue and overall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backbone.settings import Settings
from connectors.ami_server import AmiServer
from connectors.branch import create_app as create_branch
from connectors.desktop import create_app as create_desktop
from connectors.phone import PhoneConnector
from connectors.queue_log import QueueLogConnector
from tests.integration.stream_processors import harness as h
from tests.support import asterisk_scenario, branch_reference, branch_scenario
from tests.support import queue_log_reference as ref
from tests.support.servers import served

TZ = ref.BUSINESS_TZ
TOLERANCE = 1e-3
WAIT_S = 60
PHONE_INTERVALS = ("30m", "1d")
INTERVAL_MS = {"15m": 15 * 60_000, "30m": 30 * 60_000, "1d": 86_400_000}
Expected = dict[str, dict[str, Any]]


# -- when the scenarios happen ---------------------------------------------------------
def _local_midnight(ms: int) -> int:
    local = datetime.fromtimestamp(ms / 1000, TZ)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def phone_t0(seed: int) -> int:
    """Seed 1 straddles a business-day boundary (its edge cases sit on midnight); the others
    are the last 75 minutes. Either way the scenario is over before now."""
    now = int(time.time() * 1000)
    if seed != 1:
        return now - 75 * 60_000
    midnight = _local_midnight(now - 55 * 60_000)
    return midnight - 20 * 60_000


def branch_t0() -> int:
    """09:00 at the branches today, or yesterday before 13:00: one business day, all past."""
    now = datetime.now(TZ)
    day = now if now.hour >= 13 else now - timedelta(days=1)
    return int(day.replace(hour=9, minute=0, second=0, microsecond=0).timestamp() * 1000)


# -- what the KPI topic must say -------------------------------------------------------
def expected_phone(scenario: asterisk_scenario.Scenario,
                   intervals: Iterable[str] = PHONE_INTERVALS) -> Expected:
    out: Expected = {}
    for interval in intervals:
        found = ref.kpis(scenario.queue_log, scenario.wrapups, interval=interval)
        for (scope, start), values in found.items():
            out[f"PHONE|{scope}|{interval}@{start}"] = {
                "interval": interval, "start": start, "values": values}
    return out


def expected_branch(scenario: branch_scenario.BranchScenario) -> Expected:
    names = (*branch_reference.KPIS, "contacts")
    return {f"BRANCH|{scope}|1d@{start}": {
        "interval": "1d", "start": start,
        "values": {k: v for k, v in values.items() if k in names}}
        for (scope, start), values in branch_reference.kpis(scenario.events).items()}


def _same(name: str, want: Any, got: Any) -> bool:
    if isinstance(want, str) or isinstance(got, str):  # "<absent>"
        return want == got
    if want is None or got is None:
        return want is None and got is None
    if name in ref.COUNTS or name in branch_reference.COUNTS:
        return got == want
    return abs(float(got) - float(want)) <= TOLERANCE


def mismatches(expected: Expected, view: dict[str, Any], channel: str
               ) -> list[tuple[str, str, Any, Any]]:
    """(key, what, expected, got) for every difference, including intervals nobody expects."""
    bad: list[tuple[str, str, Any, Any]] = []
    for key, want in expected.items():
        record = view.get(key)
        if not record:
            bad.append((key, "<record>", "present", "missing"))
            continue
        end = want["start"] + INTERVAL_MS[want["interval"]]
        for what, x in (("window_start", want["start"]), ("window_end", end),
                        ("interval", want["interval"])):
            if record.get(what) != x:
                bad.append((key, what, x, record.get(what)))
        got = record.get("values") or {}
        for name, x in want["values"].items():
            y = got.get(name, "<absent>")
            if not _same(name, x, y):
                bad.append((key, name, x, y))
    compared = {want["interval"] for want in expected.values()}
    for key, record in view.items():
        parts = key.split("|")
        if (record and parts[0] == channel and len(parts) == 3 and key not in expected
                and "@" in parts[2] and parts[2].split("@")[0] in compared
                and any((record.get("values") or {}).get(n) for n in ("offered", "answered"))):
            bad.append((key, "<record>", "absent", "unexpected entries"))
    return bad


def diff_table(bad: list[tuple[str, str, Any, Any]], limit: int = 80) -> str:
    rows = []
    for key, what, want, got in sorted(bad, key=lambda b: (b[0], b[1]))[:limit]:
        channel, scope, window = (key.split("|") + ["", ""])[:3]
        interval, _, start = window.partition("@")
        when = (datetime.fromtimestamp(int(start) / 1000, TZ).strftime("%m-%d %H:%M")
                if start.isdigit() else start)
        rows.append(f"  {channel:6} {scope:32} {interval:4} {when:11} {what:18} "
                    f"expected={want!r:<22} got={got!r}")
    more = f"\n  ... and {len(bad) - limit} more" if len(bad) > limit else ""
    return "\n".join(rows) + more


def _view(settings: Settings) -> dict[str, Any]:
    return h.latest(settings, "kpis")


async def wait_for_kpis(settings: Settings, expected: Expected, channel: str,
                        worker: h.WorkerProcess) -> dict[str, Any]:
    """Until the topic equals the reference (WAIT_S); fails with the remaining differences."""

    def matches() -> bool:
        return worker.alive() and not mismatches(expected, _view(settings), channel)

    if not await asyncio.to_thread(h.wait_until, matches, WAIT_S, 1.0):
        view = _view(settings)
        bad = mismatches(expected, view, channel)
        log = worker.log_path.read_text(errors="replace")[-2000:] if worker.log_path.exists() \
            else ""
        pytest.fail(f"{channel} KPIs differ from the reference in {len(bad)} places "
                    f"({len(view)} kpis records; worker alive: {worker.alive()}):\n"
                    f"{diff_table(bad)}\n--- worker log tail\n{log}", pytrace=False)
    return _view(settings)


# -- feeding the connectors ------------------------------------------------------------
class _CountingPhone(PhoneConnector):
    """The phone connector, counting the frames it has handled (mapped and sent on)."""

    handled = 0

    async def handle(self, frame: dict[str, str]) -> None:
        await super().handle(frame)
        self.handled += 1


async def feed_ami(settings: Settings, frames: list[dict[str, str]]) -> int:
    """Stream the frames from a scripted AMI peer; returns the events Kafka acknowledged."""
    server = AmiServer(settings.ami_username, settings.ami_secret.get_secret_value())
    await server.start()
    phone = _CountingPhone(settings, host="127.0.0.1", port=server.port)
    stop = asyncio.Event()
    task = asyncio.create_task(phone.run(stop))
    try:
        await server.wait_client()
        await server.send(frames)
        async with asyncio.timeout(30):
            while phone.handled < len(frames):
                await asyncio.sleep(0.05)
        await phone.drain()
    finally:
        stop.set()
        await task
        await server.stop()
    return phone.acked


async def post_all(http: httpx.AsyncClient, path: str, key: str,
                   events: list[dict[str, Any]], batch: int = 100) -> int:
    accepted = 0
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        resp = await http.post(path, headers={"Authorization": f"Bearer {key}"}, json=chunk)
        assert resp.status_code == 200, resp.text
        assert len(resp.json()["event_ids"]) == len(chunk)
        accepted += len(chunk)
    return accepted


async def feed_wrapups(settings: Settings, wrapups: list[dict[str, Any]]) -> None:
    async with served(create_desktop(settings)) as http:
        assert await post_all(http, "/v1/desktop/events", "desktop-dev-key",
                              wrapups) == len(wrapups)


def assert_no_dead_letters(settings: Settings) -> None:
    dead = h.read_all(settings, "dead-letters", timeout_s=2.0)
    assert dead == [], f"{len(dead)} events refused, e.g. {dead[0]!r:.400}"


async def phone_via_ami(settings: Settings, scenario: asterisk_scenario.Scenario) -> None:
    assert await feed_ami(settings, scenario.frames) > 0
    await feed_wrapups(settings, scenario.wrapups)
    assert_no_dead_letters(settings)


# -- the tests ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2])
async def test_phone_kpis_reconcile_with_queue_log(
        seed: int, settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    scenario = asterisk_scenario.generate(seed, t0_ms=phone_t0(seed))
    assert scenario.end_ms < time.time() * 1000
    settings = settings_factory(kpi_publish_interval_s=0.5)
    worker = worker_factory(settings)
    worker.start()
    await phone_via_ami(settings, scenario)
    expected = expected_phone(scenario)
    if seed == 1:  # the business-day boundary is really crossed
        assert len({e["start"] for e in expected.values() if e["interval"] == "1d"}) == 2
    await wait_for_kpis(settings, expected, "PHONE", worker)


@pytest.mark.parametrize("seed", [1, 2])
async def test_queue_log_path_equals_ami_path(
        seed: int, tmp_path: Path, settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    scenario = asterisk_scenario.generate(seed, t0_ms=phone_t0(seed))
    via_ami = settings_factory(kpi_publish_interval_s=0.5)
    via_log = settings_factory(kpi_publish_interval_s=0.5)
    ami_worker, log_worker = worker_factory(via_ami, "ami"), worker_factory(via_log, "log")
    ami_worker.start()
    log_worker.start()
    # The queue_log path gets the desktop's wrap-ups first, as when the tailer lags behind
    # the desktop feed: the KPIs must not depend on which feed arrives first.
    await feed_wrapups(via_log, scenario.wrapups)
    path = tmp_path / "queue_log"
    path.write_text("".join(f"{line}\n" for line in scenario.queue_log))
    connector = QueueLogConnector(via_log, path=path,
                                  state_path=tmp_path / "queue_log.state")
    stop = asyncio.Event()
    tailing = asyncio.create_task(connector.run(stop))
    try:
        await phone_via_ami(via_ami, scenario)
        expected = expected_phone(scenario)
        from_log = await wait_for_kpis(via_log, expected, "PHONE", log_worker)
        assert connector.acked > 0
        assert_no_dead_letters(via_log)
    finally:
        stop.set()
        await tailing
    from_ami = await wait_for_kpis(via_ami, expected, "PHONE", ami_worker)
    # Beyond the reference: every clock-aligned interval (15 minutes too) agrees across paths.
    names = (*ref.KPIS, "contacts")
    bad = []
    for key in sorted(k for k in from_ami.keys() | from_log.keys()
                      if k.startswith("PHONE|") and "@" in k):
        a = (from_ami.get(key) or {}).get("values") or {}
        b = (from_log.get(key) or {}).get("values") or {}
        bad += [(key, n, a.get(n, "<absent>"), b.get(n, "<absent>")) for n in names
                if (n in a or n in b) and not _same(n, a.get(n), b.get(n, "<absent>"))]
    assert not bad, "AMI path (expected) vs queue_log path (got):\n" + diff_table(bad)


async def test_branch_kpis_reconcile(settings_factory: Callable[..., Settings],
                                     worker_factory: Callable[..., h.WorkerProcess]) -> None:
    scenario = branch_scenario.generate(1, t0_ms=branch_t0())
    assert scenario.end_ms < time.time() * 1000
    settings = settings_factory(kpi_publish_interval_s=0.5)
    worker = worker_factory(settings)
    worker.start()
    async with served(create_branch(settings)) as http:
        assert await post_all(http, "/v1/branch/events", "branch-dev-key",
                              scenario.events) == len(scenario.events)
    assert_no_dead_letters(settings)
    expected = expected_branch(scenario)
    view = await wait_for_kpis(settings, expected, "BRANCH", worker)
    # Two branches' "personal" queues are two scopes, never one.
    merged = [k for k in view if k.startswith("BRANCH|queue:")]
    assert merged == [], merged[:5]
