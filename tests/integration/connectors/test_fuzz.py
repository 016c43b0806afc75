"""Fuzz every HTTP connector endpoint: whatever arrives, no 5xx and the process keeps going.

The default run tries a few dozen requests per endpoint; ``deploy/bin/fuzz`` sets
``CCB_FUZZ_EXAMPLES`` for 10,000+ requests in all and prints how many were sent, how many
were 5xx (must be 0) and that every server still answers afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import json
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from connectors import app_web, branch, desktop, wechat

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | \
    st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12), inner, max_size=5), max_leaves=20)
segment_fields = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["track", "identify", "page", "screen", "alias", "bogus"]) | json_values,
    "messageId": st.text(max_size=20) | json_values, "userId": st.text(max_size=20) | json_values,
    "anonymousId": st.text(max_size=20) | json_values, "event": st.sampled_from(
        ["Chat Requested", "Survey Answered", "Complaint Opened", "Signed In", "x"]) | json_values,
    "timestamp": st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", ""]) | json_values,
    "sentAt": json_values, "properties": json_values, "traits": json_values,
    "context": json_values, "previousId": json_values, "name": json_values})
feed_fields = st.fixed_dictionaries({}, optional={
    "event": st.sampled_from(sorted(branch.EVENTS)) | json_values,
    "type": st.sampled_from(sorted(desktop.TYPES)) | json_values,
    "branch": json_values, "ticket_id": json_values, "counter": json_values,
    "id": json_values, "linkedid": json_values, "customer_number": json_values,
    "occurred_at": st.just(int(time.time() * 1000)) | json_values, "score": json_values,
    "scale_max": json_values, "wait_s": json_values, "customer": json_values,
    "complaint_id": json_values, "due_at": json_values, "acw_s": json_values})


@pytest.fixture(scope="module")
def servers(stack) -> Iterator[dict[str, str]]:
    """All HTTP connectors on one background loop, so hypothesis can drive them synchronously."""
    import uuid

    from deploy.stack.topics import ensure_topics

    cfg = stack.model_copy(update={"topic_prefix": f"fuzz{uuid.uuid4().hex[:6]}."})
    ensure_topics(cfg)
    loop = asyncio.new_event_loop()
    urls: dict[str, str] = {}
    runners: list[web.AppRunner] = []
    ready = threading.Event()

    async def start() -> None:
        for name, module in (("app_web", app_web), ("wechat", wechat), ("branch", branch),
                             ("desktop", desktop)):
            runner = web.AppRunner(module.create_app(cfg), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            urls[name] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()),
                                              loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield urls
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


SENT: collections.Counter[str] = collections.Counter()


def check(resp: httpx.Response) -> None:
    SENT["requests"] += 1
    SENT[f"{resp.status_code // 100}xx"] += 1
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        error = resp.json()["error"]
        assert isinstance(error["code"], str) and error["code"]


FUZZ = hyp_settings(max_examples=int(os.environ.get("CCB_FUZZ_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(path=st.sampled_from(["/v1/batch", "/v1/track", "/v1/identify", "/v1/page",
                             "/v1/screen", "/v1/alias", "/v1/nope"]),
       body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                      st.lists(segment_fields, max_size=5).map(
                          lambda b: json.dumps({"batch": b}).encode()),
                      segment_fields.map(lambda m: json.dumps(m).encode())),
       key=st.sampled_from(["app-dev-write-key", "web-dev-write-key", "wrong", ""]),
       zipped=st.booleans())
def test_collector_never_fails(servers, path, body, key, zipped):
    headers = {"Content-Encoding": "gzip"} if zipped else {}
    with httpx.Client(base_url=servers["app_web"], timeout=20) as http:
        check(http.post(path, content=gzip.compress(body) if zipped else body,
                        auth=(key, "") if key else None, headers=headers))


@FUZZ
@given(which=st.sampled_from(["branch", "desktop"]),
       body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                      st.lists(feed_fields, max_size=4).map(lambda b: json.dumps(b).encode()),
                      feed_fields.map(lambda m: json.dumps(m).encode())),
       authorised=st.booleans())
def test_feeds_never_fail(servers, which, body, authorised):
    key = "branch-dev-key" if which == "branch" else "desktop-dev-key"
    headers = {"Authorization": f"Bearer {key}"} if authorised else {}
    with httpx.Client(base_url=servers[which], timeout=20) as http:
        check(http.post(f"/v1/{which}/events", content=body, headers=headers))


@FUZZ
@given(method=st.sampled_from(["GET", "POST"]),
       params=st.dictionaries(st.sampled_from(["signature", "timestamp", "nonce", "echostr",
                                               "encrypt_type", "msg_signature", "openid"]),
                              st.text(max_size=30), max_size=7),
       body=st.binary(max_size=300) | st.text(max_size=300).map(
           lambda t: f"<xml><Encrypt>{t}</Encrypt><MsgType>{t}</MsgType></xml>".encode()))
def test_wechat_never_fails(servers, method, params, body):
    with httpx.Client(base_url=servers["wechat"], timeout=20) as http:
        check(http.request(method, "/wechat", params=params, content=body))


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                      st.fixed_dictionaries({}, optional={
                          "openid": json_values, "unionid": json_values, "phone": json_values,
                          "customer_number": json_values, "bind_id": json_values,
                          "bound_at": json_values}).map(lambda m: json.dumps(m).encode())),
       token=st.sampled_from(["ccb-dev-bind-token", "wrong", ""]))
def test_wechat_bind_never_fails(servers, body, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=servers["wechat"], timeout=20) as http:
        check(http.post("/wechat/bind", content=body, headers=headers))


@FUZZ
@given(which=st.sampled_from(["app_web", "wechat", "branch", "desktop"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       path=st.sampled_from(["/healthz", "/readyz", "/openapi.json", "/metrics", "/",
                             "/v1/../v1/batch", "/%00", "/v1/branch/events/x"]) | st.text(
           alphabet="abc/%.?=&", max_size=20).map(lambda t: "/" + t),
       body=st.binary(max_size=100))
def test_other_paths_never_fail(servers, which, method, path, body):
    with httpx.Client(base_url=servers[which], timeout=20) as http:
        check(http.request(method, path, content=body))


def test_servers_still_answer_after_fuzzing(servers) -> None:
    """Runs last in this module: the processes kept going (no crash, no hung loop)."""
    for url in servers.values():
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200
    print(f"\nfuzz: {SENT['requests']} requests, {SENT['5xx']} 5xx, "
          f"{SENT['4xx']} 4xx, {SENT['2xx']} 2xx; all {len(servers)} servers still answer")
