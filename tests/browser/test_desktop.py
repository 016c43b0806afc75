"""The agent desktop in a real Chromium against the real stack, driven by the simulator."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser import customers
from tests.browser.conftest import screenshot, sign_in
from tests.browser.live import TOKENS, LiveStack
from tests.browser.test_wallboard import live_kpis, shown


def live_values(live: LiveStack, scope: str, window: str) -> dict[str, float]:
    return live_kpis(live, window).get(("PHONE", scope), {})


def look_up(page: Any, kind: str, value: str) -> None:
    page.get_by_label("Look up by").select_option(kind)
    page.get_by_label("Value").fill(value)
    page.get_by_role("button", name="Look up").click()


def test_the_desktop_shows_a_simulated_customer_masked_with_journey_and_contacts(
        live: LiveStack, pages: Any) -> None:
    snap = customers.pick(live)
    number = customers.customer_number(snap)
    page = pages()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    sign_in(page, f"{live.web_url}/desktop", TOKENS["agent"])
    look_up(page, "CUSTOMER_NUMBER", number)

    expect(page.locator("#customer-id")).to_have_text(snap["customer_id"])
    # identities are masked for an agent: the display forms, never the stored values
    identities = page.locator("#identities")
    expect(identities.locator("[data-type=CUSTOMER_NUMBER]")).to_contain_text(customers.mask(number))
    phones = [i for i in snap["identities"] if i["type"] == "PHONE" and i.get("masked")]
    for phone in phones[:2]:
        expect(identities).to_contain_text(phone["masked"])
    text = page.locator("body").inner_text()
    assert number not in text
    assert not any(i["value"] in text for i in snap["identities"] if len(i["value"]) > 6)

    # the open journey with its reason and what was tried
    journey = customers.open_journeys(snap)[0]
    card = page.locator(f"[data-journey='{journey['journey_id']}']")
    expect(card.locator(".journey-reason")).to_have_text(journey["reason"])
    for tried in journey["tried"][:3]:
        expect(card.locator(".tried")).to_contain_text(tried)
    for complaint in [c for c in snap.get("complaints") or () if c["status"] != "closed"][:2]:
        expect(page.locator(f"[data-complaint='{complaint['complaint_id']}']")).to_be_visible()

    # the answered call as one contact with its queue and wait
    call = customers.answered_call(snap)
    assert call is not None
    contact = page.locator(f"li.contact[data-interaction='{call['interaction_id']}']")
    expect(contact).to_have_attribute("data-kind", "call")
    expect(contact.locator("[data-field=queues]")).to_contain_text(call["organisation"]["queue"])
    wait = re.search(r"after (\d+)s", call["summary"])
    assert wait is not None, call["summary"]
    expect(contact.locator("[data-field=wait]")).to_contain_text(
        f"{int(wait.group(1))} s" if int(wait.group(1)) < 60 else "min")
    # live: the stream is connected (an update arrived)
    expect(page.locator("#live-status")).to_contain_text("Live", timeout=30_000)
    screenshot(page, "desktop.png")
    # the token travels in headers only, and stays in this tab's sessionStorage
    assert urls and not any(TOKENS["agent"] in url for url in urls)
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("sessionStorage.getItem('ccb.token')") == TOKENS["agent"]
    assert unlabelled(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # fits 1280x800


def unlabelled(page: Any) -> list[str]:
    """Form controls a screen reader could not name."""
    return page.evaluate("""[...document.querySelectorAll('input, select, textarea, button')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map(e => e.id || e.outerHTML.slice(0, 60))""")


def test_a_supervisor_sees_the_kpis_of_the_customers_queue(live: LiveStack, pages: Any) -> None:
    snap = customers.pick(live)
    queues = {f"queue:{t['organisation']['queue']}" for t in snap["timeline"]
              if (t.get("organisation") or {}).get("queue")}
    page = pages()
    sign_in(page, f"{live.web_url}/desktop", TOKENS["supervisor"])
    look_up(page, "CUSTOMER_NUMBER", customers.customer_number(snap))
    expect(page.locator("#customer-id")).to_have_text(snap["customer_id"])
    scope = page.locator("#queue-select").input_value()
    assert scope in queues  # the queue of the customer's latest call is preselected
    want = live_values(live, scope, "today")
    assert want.get("offered"), want  # the simulator's calls reached this queue
    for name in ("offered", "answered", "service_level", "asa_s"):
        expect(page.locator(f"#queue-kpis [data-kpi={name}][data-window=today]")).to_have_text(
            shown(name, want.get(name)), timeout=15_000)


def test_a_handoff_created_on_one_desktop_is_accepted_on_another(
        live: LiveStack, pages: Any) -> None:
    snap = customers.pick(live)
    leaving, arriving = pages(), pages()
    sign_in(leaving, f"{live.web_url}/desktop", TOKENS["agent"])
    look_up(leaving, "CUSTOMER_NUMBER", customers.customer_number(snap))
    expect(leaving.locator("#customer-id")).to_have_text(snap["customer_id"])

    leaving.get_by_label("Hand over to").select_option("BRANCH")
    leaving.get_by_label("Reason").fill("card_replacement")
    leaving.get_by_label("What was promised or done").fill("Promised a new card at the branch")
    leaving.get_by_role("button", name="Create handoff").click()
    code = leaving.locator("#handoff-code")
    expect(code).to_have_text(re.compile(r"^\d{8}$"))
    # the handoff.created event reaches this desktop live, through Kafka and the watch
    expect(leaving.locator("#contacts")).to_contain_text("Handoff PHONE→BRANCH created",
                                                         timeout=30_000)

    sign_in(arriving, f"{live.web_url}/desktop", TOKENS["agent"])
    arriving.get_by_label("My channel").select_option("BRANCH")
    look_up(arriving, "HANDOFF_CODE", code.inner_text())
    expect(arriving.locator("#lookup-note")).to_contain_text("Handoff accepted")
    expect(arriving.locator("#lookup-note")).to_contain_text("Promised a new card at the branch")
    expect(arriving.locator("#customer-id")).to_have_text(snap["customer_id"])
    # the leaving desktop sees the acceptance live too
    expect(leaving.locator("#contacts")).to_contain_text("Handoff PHONE→BRANCH accepted",
                                                         timeout=30_000)
    screenshot(arriving, "handoff-accepted.png")

    # single use: the same code again is refused
    look_up(arriving, "HANDOFF_CODE", code.inner_text())
    expect(arriving.locator("#lookup-error")).to_contain_text("HANDOFF_ALREADY_ACCEPTED")
