"""Source trust levels: a key shipped in an app only makes claims; only server-side keys (and
signed assertions, test_segment.py) make verified links. Keys are compared in constant time."""

from __future__ import annotations

import hmac
import time
import uuid

import pytest

from backbone.settings import KeySource, Settings
from connectors import app_web, branch, desktop, http

LOGIN = {"type": "identify", "messageId": "m1", "userId": "attacker", "anonymousId": "dev-a",
         "traits": {"customer_number": "C-VICTIM", "phone": "13812345678"}}


def fresh_settings(**values: object) -> Settings:
    return Settings(schema_registry_url=f"mock://{uuid.uuid4().hex}",  # type: ignore[arg-type]
                    hmac_key="unit-test-key", **values)


def test_dev_defaults_one_client_and_one_server_key_per_source():
    s = fresh_settings()
    assert s.segment_write_keys == {
        "app-dev-write-key": KeySource(source="app", trust="client"),
        "web-dev-write-key": KeySource(source="web", trust="client"),
        "app-server-dev-write-key": KeySource(source="app", trust="server"),
        "web-server-dev-write-key": KeySource(source="web", trust="server")}
    assert s.branch_api_keys == {"branch-dev-key": KeySource(source="qmatic", trust="server")}
    assert s.desktop_api_keys == {
        "desktop-dev-key": KeySource(source="agent-desktop", trust="server")}


def test_the_old_plain_form_keeps_its_meaning(monkeypatch):
    monkeypatch.setenv("CCB_SEGMENT_WRITE_KEYS", '{"k-app": "app", "k-srv": '
                       '{"source": "web", "trust": "server"}, "k-web": {"source": "web"}}')
    monkeypatch.setenv("CCB_BRANCH_API_KEYS", '{"b1": "qmatic", "b2": '
                       '{"source": "kiosk", "trust": "client"}}')
    s = fresh_settings()
    assert s.segment_write_keys == {
        "k-app": KeySource(source="app", trust="client"),   # a write key: public
        "k-srv": KeySource(source="web", trust="server"),
        "k-web": KeySource(source="web", trust="client")}
    assert s.branch_api_keys == {
        "b1": KeySource(source="qmatic", trust="server"),   # an API key: a back end's
        "b2": KeySource(source="kiosk", trust="client")}


def test_keys_are_found_by_comparing_every_one_in_constant_time(monkeypatch):
    keys = {f"key-{i}": i for i in range(5)}
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(http.hmac, "compare_digest", counting)
    assert http.find_key(keys, "key-0") == 0
    assert len(compared) == 5  # no early exit on the first key's match
    assert all(len(a) == len(b) == 32 for a, b in compared)  # digests: lengths never differ
    assert http.find_key(keys, "key-") is None
    assert http.find_key(keys, "key-00") is None
    assert http.find_key(keys, "") is None
    assert http.find_key(keys, None) is None
    assert http.find_key({"": 1}, "") is None  # an empty key never authenticates


async def _post_segment(client, key: str, msg: dict) -> dict:
    resp = await client.post("/v1/batch", json={"batch": [msg]}, auth=_basic(key))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def _basic(key: str):
    from aiohttp import BasicAuth

    return BasicAuth(key, "")


async def test_a_client_write_key_cannot_log_anyone_in(served, unit_settings):
    client, kafka = await served(app_web.create_app, unit_settings, "app_web")
    await _post_segment(client, "app-dev-write-key", LOGIN)
    [event] = kafka.events()
    assert event["event_type"] == "digital.identify"
    assert not any(i["verified"] for i in event["identifiers"])


async def test_a_server_write_key_logs_in(served, unit_settings):
    client, kafka = await served(app_web.create_app, unit_settings, "app_web")
    await _post_segment(client, "app-server-dev-write-key", LOGIN)
    [event] = kafka.events()
    assert event["event_type"] == "digital.login"
    assert all(i["verified"] for i in event["identifiers"])
    assert event["channel"] == "APP"


CLIENT_KEYS = {"branch-client-key": KeySource(source="kiosk", trust="client"),
               "branch-dev-key": KeySource(source="qmatic", trust="server")}


async def test_a_client_branch_key_may_not_identify_customers(served):
    settings = fresh_settings(branch_api_keys=CLIENT_KEYS)
    client, kafka = await served(branch.create_app, settings, "branch")
    now = int(time.time() * 1000)
    identified = {"event": "identified", "branch": "B1", "ticket_id": "A001",
                  "occurred_at": now, "customer": {"id_number": "11010519491231002X"}}
    ticket = {"event": "ticket_issued", "branch": "B1", "ticket_id": "A001", "occurred_at": now}
    refused = await client.post("/v1/branch/events", json=[ticket, identified],
                                headers={"Authorization": "Bearer branch-client-key"})
    body = await refused.json()
    assert refused.status == 400
    assert body["rejected"] == [{"index": 1, "code": "forbidden", "field": "event",
                                 "message": "identified needs an API key with server trust"}]
    assert [e["event_type"] for e in kafka.events()] == ["branch.ticket_issued"]
    ok = await client.post("/v1/branch/events", json=identified,
                           headers={"Authorization": "Bearer branch-dev-key"})
    assert ok.status == 200
    assert all(i["verified"] for i in kafka.events()[-1]["identifiers"])


@pytest.mark.parametrize("kind", ["ivr_authenticated", "erasure_requested"])
async def test_a_client_desktop_key_may_not_authenticate_callers_or_erase(served, kind):
    settings = fresh_settings(desktop_api_keys={
        "desk-client": KeySource(source="softphone", trust="client")})
    client, kafka = await served(desktop.create_app, settings, "desktop")
    now = int(time.time() * 1000)
    resp = await client.post("/v1/desktop/events", headers={"Authorization": "Bearer desk-client"},
                             json={"type": kind, "id": "e1", "linkedid": "1.1",
                                   "customer_number": "C-VICTIM", "occurred_at": now})
    assert resp.status == 400  # refused per event, like any bad event of a batch
    assert (await resp.json())["rejected"][0]["code"] == "forbidden"
    assert kafka.events() == []
    wrapup = await client.post("/v1/desktop/events", headers={"Authorization": "Bearer desk-client"},
                               json={"type": "wrapup", "id": "w1", "linkedid": "1.1",
                                     "acw_s": 20, "occurred_at": now})
    assert wrapup.status == 200  # operational events are fine from any known key
