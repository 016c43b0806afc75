"""The supervisor wallboard in a real Chromium: its figures are GetLiveKpis' figures, its
gauges are coloured against the target, alerts appear when they fire and go when they clear."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest
from confluent_kafka import Producer
from playwright.sync_api import expect

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from tests.browser.conftest import screenshot, sign_in
from tests.browser.live import TOKENS, LiveStack, eventually

RATIOS = {"service_level", "answer_rate", "abandonment_rate", "csat"}
TILE = ("offered", "answered", "answer_rate", "abandonment_rate", "asa_s", "aht_s", "contacts",
        "csat", "service_level")
QUEUE = ("offered", "answered", "abandonment_rate", "asa_s", "aht_s", "service_level")
NAMES = {pb.CHANNEL_PHONE: "PHONE", pb.CHANNEL_APP: "APP", pb.CHANNEL_WEB: "WEB",
         pb.CHANNEL_WECHAT: "WECHAT", pb.CHANNEL_BRANCH: "BRANCH"}


def shown(name: str, value: float | None) -> str:
    """How the wallboard must print a KPI (the rule of common.js ``kpi``)."""
    if value is None:
        return "—"
    if name in RATIOS:
        return f"{value * 100:.1f}%"
    if name.endswith("_s"):
        return f"{value:.1f} s"
    return str(round(value))


def live_kpis(live: LiveStack, window: str) -> dict[tuple[str, str], dict[str, float]]:
    with grpc.insecure_channel(f"127.0.0.1:{live.ports['grpc']}") as channel:
        reply = pb_grpc.CustomerContextServiceStub(channel).GetLiveKpis(
            pb.GetLiveKpisRequest(window=window), timeout=10,
            metadata=(("authorization", f"Bearer {TOKENS['supervisor']}"),))
    return {(NAMES[s.channel], s.scope): {v.name: v.value for v in s.values}
            for s in reply.snapshots if s.channel in NAMES}


def board_figures(page: Any, window: str) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(channel, scope, kpi) -> (data-value, text) of every figure the board shows."""
    cells = page.locator(f"[data-kpi][data-window='{window}']").evaluate_all(
        "els => els.map(e => [e.dataset.channel, e.dataset.scope, e.dataset.kpi,"
        " e.dataset.value ?? null, e.textContent.trim()])")
    return {(c, s, k): (v, t) for c, s, k, v, t in cells}


def mismatches(live: LiveStack, page: Any, window: str) -> list[str]:
    """Every figure GetLiveKpis returns for the window that the board shows otherwise."""
    figures = board_figures(page, window)
    wrong = []
    for (channel, scope), values in live_kpis(live, window).items():
        names = TILE if scope == "all" else QUEUE
        for name in names:
            got = figures.get((channel, scope, name))
            value = values.get(name)
            raw = None if got is None or got[0] is None else float(got[0])
            gauge = scope == "all" and name == "service_level"  # drawn, text inside the SVG
            if got is None or raw != value or (not gauge and got[1] != shown(name, value)):
                wrong.append(f"{channel} {scope} {name}: board {got}, GetLiveKpis {value}")
    return wrong


def test_the_wallboard_shows_exactly_what_get_live_kpis_returns(live: LiveStack,
                                                                pages: Any) -> None:
    eventually(live.simulator_done, 150, "simulated traffic finished", interval_s=2)
    page = pages()
    sign_in(page, f"{live.web_url}/wallboard", TOKENS["supervisor"])
    # The trailing hour, not "today": the simulator back-dates its calls by 25 minutes, so
    # in the first 25 minutes of the business day (16:00 UTC) "today" has no calls yet.
    page.get_by_label("Window").select_option("1h")
    expect(page.locator("#board-status")).to_contain_text("Live")
    # Values still settle for a moment after the traffic ends: compare until they agree.
    deadline = time.monotonic() + 30
    while (wrong := mismatches(live, page, "1h")) and time.monotonic() < deadline:
        time.sleep(1)
    assert not wrong, "\n".join(wrong[:20])
    phone = live_kpis(live, "1h")[("PHONE", "all")]
    assert phone["offered"] > 0  # the simulator's calls are on the board, not an empty page
    expect(page.locator("[data-channel=PHONE] > [data-kpi=service_level]")).to_have_attribute(
        "data-grade", "ok" if phone["service_level"] >= live.settings.kpi_sl_target else
        ("warn" if phone["service_level"] >= live.settings.kpi_sl_target - 0.1 else "bad"))
    if live_kpis(live, "today").get(("PHONE", "all"), {}).get("offered"):
        expect(page.locator("#chart svg rect").first).to_be_attached()  # today's intervals
    # pushed at least once a second, without a reload
    status = page.locator("#board-status")
    before = status.inner_text()
    expect(status).not_to_have_text(before, timeout=2_500)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # fits 1280x800
    screenshot(page, "wallboard.png")


@pytest.mark.parametrize("web", ["web", "web_kafka"],
                         ids=["from WatchAlerts", "from the alerts topic"])
def test_alerts_appear_when_they_fire_and_go_when_they_clear(live: LiveStack, pages: Any,
                                                             web: str) -> None:
    page = pages()
    sign_in(page, f"{live.url(web)}/wallboard", TOKENS["supervisor"])
    producer = Producer(live.settings.producer_config())
    now = int(time.time() * 1000)
    # an AlertTransition of schemas/json/alert/v1.json
    alert = {"schema_version": 1, "alert": "service_level_below_target", "channel": "PHONE",
             "scope": f"queue:{web}", "at": now, "since": now - 300_000, "severity": "critical",
             "value": 0.5, "threshold": 0.8, "message": "service level under 80% for 5 minutes"}

    def publish(state: str) -> None:
        # as the stream processors' KPI stage writes them
        producer.produce(live.settings.topic("alerts"),
                         key=f"{alert['alert']}|PHONE|queue:{web}".encode(),
                         value=json.dumps(alert | {"state": state}).encode())
        assert producer.flush(10) == 0

    publish("firing")
    active = page.locator(f"#alerts-active [data-scope='PHONE|queue:{web}']")
    expect(active).to_contain_text("service level below target", timeout=15_000)
    expect(active).to_contain_text("under 80% for 5 minutes")
    expect(active).to_contain_text("critical")
    publish("resolved")
    expect(active).to_have_count(0, timeout=15_000)
    expect(page.locator(f"#alerts-recent [data-scope='PHONE|queue:{web}'][data-state=resolved]")
           ).to_be_visible()
