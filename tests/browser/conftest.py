"""Browser tests: the real stack (tests/browser/live.py) and a real headless Chromium
(Debian's ``chromium`` package) driven by Playwright. Screenshots land in
``.stack/screenshots/`` and, with ``CCB_UPDATE_SCREENSHOTS=1``, in ``docs/screenshots/``."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backbone.settings import Settings
from tests.browser.live import ROOT, LiveStack

CHROMIUM = os.environ.get("CCB_CHROMIUM", "/usr/bin/chromium")
# Flags that work in a container without a display, a GPU or a user namespace sandbox;
# Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / ".stack" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
DOCS = frozenset({"desktop.png", "wallboard.png"})  # the two the README shows


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def live(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    from deploy.stack.topics import delete_prefixed, ensure_topics

    settings = stack.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    ensure_topics(settings)
    live = LiveStack(settings, tmp_path_factory.mktemp("browser-stack"))
    try:
        live.up(rate=50, duration_s=35, seed=11)
        yield live
    finally:
        live.down()
        for name in live.procs:
            print(f"--- {name}.log\n{live.tail(name, 1500)}")
        delete_prefixed(stack, [settings.topic_prefix])


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run CCB_WITH_BROWSER=1 deploy/bin/setup "
                    "(apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def pages(browser: Any) -> Iterator[Callable[[], Any]]:
    """New pages at 1280x800, each in its own browser context (own sessionStorage)."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    if os.environ.get("CCB_UPDATE_SCREENSHOTS") == "1" and name in DOCS:
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SHOTS / name)
    return path


def sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#workspace").wait_for(state="visible")
