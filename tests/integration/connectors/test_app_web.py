"""The app/web collector against the real broker, driven by Segment's own Python SDK."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid

import httpx
import segment.analytics as segment_sdk
from segment.analytics.client import Client as SegmentClient

from backbone.models import event_id
from connectors.app_web import create_app
from tests.integration.connectors.conftest import read_topic

APP_KEY = "app-dev-write-key"  # shipped in the app: client trust
SERVER_KEY = "app-server-dev-write-key"  # the bank's login back end: server trust


async def test_official_segment_sdk_sends_unchanged(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    anon, user = f"dev-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"

    def app_code() -> None:  # the SDK is synchronous: run it off the server's loop
        client = SegmentClient(APP_KEY, host=base, sync_mode=True, gzip=True, max_retries=1)
        client.track(anonymous_id=anon, event="Transfer Failed",
                     properties={"error_code": "E-LIMIT", "reason": "transfer_failed",
                                 "phone": "13812345678"}, message_id="m-track-1")
        client.screen(user_id=user, name="Transfer", message_id="m-screen-1")
        client.flush()
        # The login back end reports the login it checked, with its own key.
        backend = SegmentClient(SERVER_KEY, host=base, sync_mode=True, max_retries=1)
        backend.identify(user_id=user, anonymous_id=anon,
                         traits={"customer_number": "C0001", "phone": "13812345678"},
                         message_id="m-identify-1")
        backend.flush()

    await asyncio.to_thread(app_code)

    events = {e["source_event_id"]: e for e in read_topic(settings, "interactions", expect=3)}
    assert set(events) == {"m-track-1", "m-identify-1", "m-screen-1"}
    failed = events["m-track-1"]
    assert failed["event_type"] == "digital.track"
    assert failed["reason"] == "transfer_failed"
    assert failed["payload"]["error_code"] == "E-LIMIT"
    assert "phone" not in failed["payload"]["properties"]  # personal data never copied
    assert not any(i["verified"] for i in failed["identifiers"])

    login = events["m-identify-1"]
    assert login["event_type"] == "digital.login"
    assert login["event_id"] == event_id("segment-app", "m-identify-1")
    by_type = {i["type"]: i for i in login["identifiers"]}
    assert by_type["APP_USER"]["value"] == user and by_type["APP_USER"]["verified"]
    assert by_type["DEVICE"]["value"] == anon and by_type["DEVICE"]["verified"]
    assert by_type["CUSTOMER_NUMBER"]["value"] == "C0001"
    assert by_type["PHONE"]["value"].startswith("h:k1:")
    assert by_type["PHONE"]["masked"] == "138****5678"
    assert "13812345678" not in json.dumps(login)


async def test_batch_answers_with_the_stored_event_ids(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    batch = [{"type": "page", "messageId": f"p{i}", "anonymousId": "cookie-1",
              "name": f"Page {i}", "properties": {"session_id": "s-1"}} for i in range(20)]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.post("/v1/batch", auth=("web-dev-write-key", ""),
                               content=gzip.compress(json.dumps({"batch": batch}).encode()),
                               headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 200
    ids = resp.json()["event_ids"]
    stored = read_topic(settings, "interactions", expect=20)
    assert sorted(e["event_id"] for e in stored) == sorted(ids)
    assert {e["channel"] for e in stored} == {"WEB"}
    assert {e["_key"] for e in stored} == {"web:session:s-1"}  # one interaction, one partition
    assert len({e["_partition"] for e in stored}) == 1


async def test_web_chat_lifecycle_and_text_dropped(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    names = ["Chat Requested", "Chat Queued", "Chat Agent Joined", "Chat Message",
             "Chat Transferred", "Chat Closed"]
    batch = [{"type": "track", "messageId": f"c{i}", "userId": "w-1", "event": name,
              "properties": {"chat_id": "chat-9", "agent": "agent-7", "text": "my card 6228"}}
             for i, name in enumerate(names)]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.post("/v1/batch", auth=("web-dev-write-key", ""), json={"batch": batch})
    assert resp.status_code == 200
    stored = read_topic(settings, "interactions", expect=6)
    assert sorted(e["event_type"] for e in stored) == sorted(
        ["chat.requested", "chat.queued", "chat.agent_joined", "chat.message",
         "chat.transferred", "chat.closed"])
    assert all(e["payload"]["session_id"] == "chat-9" for e in stored)
    assert all(e["payload"]["text"] is None for e in stored)


async def test_bad_input_gets_reasons_and_dead_letters(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    auth = ("app-dev-write-key", "")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        cases = {
            "malformed_json": await http.post("/v1/batch", auth=auth, content=b"{nope"),
            "invalid_utf8": await http.post("/v1/batch", auth=auth, content=b'{"a":"\xff"}'),
            "unauthorized": await http.post("/v1/batch", auth=("wrong", ""), json={"batch": []}),
            "payload_too_large": await http.post(
                "/v1/batch", auth=auth, content=b"[" + b" " * (settings.connector_max_body_bytes + 10) + b"]"),
            "timestamp_in_future": await http.post("/v1/track", auth=auth, json={
                "messageId": "f1", "userId": "u", "event": "X",
                "timestamp": "2999-01-01T00:00:00Z"}),
            "unknown_type": await http.post("/v1/batch", auth=auth, json={
                "batch": [{"type": "explode", "messageId": "x", "userId": "u"}]}),
        }
        partial = await http.post("/v1/batch", auth=auth, json={"batch": [
            {"type": "track", "messageId": "ok-1", "userId": "u", "event": "Fine"},
            {"type": "track", "userId": "u", "event": "No id"}]})
        still_up = await http.get("/healthz")
    for code, resp in cases.items():
        assert 400 <= resp.status_code < 500, code
        assert resp.json()["error"]["code"] == code
    assert cases["payload_too_large"].status_code == 413
    assert cases["unauthorized"].status_code == 401
    assert partial.status_code == 400
    body = partial.json()
    assert body["rejected"] == [{"index": 1, "code": "missing_field",
                                 "message": "messageId is required", "field": "messageId"}]
    assert body["event_ids"] == [event_id("segment-app", "ok-1")]
    assert still_up.status_code == 200

    # Every refusal but the unauthenticated one is a dead letter (test_attacks.py: why).
    dead = read_topic(settings, "dead-letters", expect=len(cases))
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == sorted([*(c for c in cases if c != "unauthorized"), "missing_field"])
    assert all(d["source"] == "app_web" for d in dead)
    too_big = next(d for d in dead if d["reason"] == "malformed_json")
    assert too_big["raw"] == b"{nope"


async def test_openapi_document_describes_the_batch_endpoint(settings_factory, serve):
    base = await serve(create_app(settings_factory()))
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        doc = (await http.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/batch" in doc["paths"] and "/v1/identify" in doc["paths"]


def test_module_level_sdk_is_configurable():
    # The SDK's module-level API is what most app back ends use: host is all they change.
    segment_sdk.host = "http://127.0.0.1:1"
    assert segment_sdk.host.endswith(":1")
    segment_sdk.host = None
