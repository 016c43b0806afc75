"""Dead letters keep no personal data: nothing from a caller that never authenticated, and
phone, card and ID numbers masked in what an authenticated caller got refused."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from aiohttp import BasicAuth

from backbone.errors import ValidationError
from connectors import app_web, branch
from connectors import metrics as m
from connectors.base import Pipeline
from tests.unit.connectors.conftest import RecordingPublisher

PII = {"phone": "13812345678", "card": "6228480402564899", "id": "11010519491231002X"}
BODY = json.dumps({"batch": [{"type": "identify", "userId": "u", "traits": {
    "phone": PII["phone"], "note": f"card {PII['card']} id {PII['id']}"}}]}).encode()


def rejected(connector: str, reason: str) -> float:
    return m.REJECTED.labels(connector, reason)._value.get()


@pytest.mark.parametrize("case", ["wrong key", "no key", "no key, unreadable body",
                                  "key in body, wrong"])
async def test_unauthenticated_requests_leave_no_dead_letter(served, unit_settings, case):
    client, kafka = await served(app_web.create_app, unit_settings, "app_web")
    before = rejected("app_web", "unauthorized")
    if case == "wrong key":
        resp = await client.post("/v1/batch", data=BODY, auth=BasicAuth("guess", ""))
    elif case == "no key":
        resp = await client.post("/v1/batch", data=BODY)
    elif case == "no key, unreadable body":
        resp = await client.post("/v1/batch", data=b"{" + BODY)
    else:
        resp = await client.post("/v1/track", json={"writeKey": "guess", "event": PII["card"]})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    assert kafka.records == []  # neither an event nor a dead letter
    assert rejected("app_web", "unauthorized") == before + 1


async def test_unauthenticated_feed_requests_leave_no_dead_letter(served, unit_settings):
    client, kafka = await served(branch.create_app, unit_settings, "branch")
    resp = await client.post("/v1/branch/events", data=BODY,
                             headers={"Authorization": "Bearer guess"})
    assert resp.status == 401
    assert kafka.records == []


async def test_authenticated_bad_input_is_dead_lettered_with_numbers_masked(served, unit_settings):
    client, kafka = await served(app_web.create_app, unit_settings, "app_web")
    auth = BasicAuth("app-dev-write-key", "")
    whole = await client.post("/v1/batch", data=b"{" + BODY, auth=auth)  # malformed JSON
    item = await client.post("/v1/batch", auth=auth, data=gzip.compress(BODY),
                             headers={"Content-Encoding": "gzip"})  # no messageId
    assert (whole.status, item.status) == (400, 400)
    letters = kafka.dead_letters()
    assert sorted(d["reason"] for d in letters) == ["malformed_json", "missing_field"]
    for letter in letters:
        stored = letter["raw"] + letter["detail"].encode() + json.dumps(
            letter["attributes"]).encode()
        for value in PII.values():
            assert value.encode() not in stored
        assert b"138****5678" in letter["raw"] and b"6228 **** **** 4899" in letter["raw"]
        assert b"110***********002X" in letter["raw"]


async def test_pipeline_masks_raw_detail_and_attributes(unit_settings):
    kafka = RecordingPublisher()
    pipeline = Pipeline(unit_settings, "desktop", publisher=kafka)  # type: ignore[arg-type]
    kafka.pipeline = pipeline
    error = ValidationError(f"unknown type '{PII['phone']}'", code="unknown_type", field="type")
    raw = f'{{"type": "{PII["phone"]}", "id_number": "{PII["id"]}", "at": {int(time.time())}}}'
    await pipeline.reject(error, raw.encode(), attributes={"path": f"/x/{PII['card']}"})
    [letter] = kafka.dead_letters()
    assert letter["detail"] == "unknown type '138****5678'"
    assert letter["attributes"] == {"path": "/x/6228 **** **** 4899", "field": "type"}
    assert PII["id"].encode() not in letter["raw"]
    assert str(int(time.time()))[:6].encode() in letter["raw"]  # timestamps stay readable
