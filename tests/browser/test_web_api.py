"""The web server's API against the real stack: it forwards the user's own token, so the
context service decides, masks and audits; it never answers for a missing token itself."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.browser import customers
from tests.browser.live import TOKENS, LiveStack, read_records


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def test_a_desktop_read_is_the_users_own_audited_call(live: LiveStack) -> None:
    snap = customers.pick(live)
    purpose = f"browser_audit_{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=live.web_url, timeout=15) as http:
        resp = http.post("/api/context", headers=bearer("agent"), json={
            "type": "CUSTOMER_NUMBER", "value": customers.customer_number(snap),
            "purpose": purpose})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["caller_role"] == "AGENT"
    assert body["context"]["customer_id"] == snap["customer_id"]
    assert all(i["masked"] for i in body["context"]["identities"])
    assert customers.customer_number(snap) not in resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    records = read_records(live.settings, "audit", lambda r: r.get("purpose") == purpose)
    assert [(r["principal"], r["role"], r["action"], r["customer_id"], r["outcome"])
            for r in records] == [("agent-dev", "agent", "read", snap["customer_id"], "OK")]


def test_no_token_a_wrong_token_and_a_role_without_rights_are_refused(live: LiveStack) -> None:
    with httpx.Client(base_url=live.web_url, timeout=15) as http:
        missing = http.post("/api/context", json={"customer_id": "c:x"})
        assert missing.status_code == 401
        assert missing.json()["error"]["reason"] == "NO_CREDENTIALS"
        wrong = http.post("/api/session", headers={"Authorization": "Bearer not-a-token"},
                          json={})
        assert (wrong.status_code, wrong.json()["error"]["reason"]) == (401, "UNKNOWN_TOKEN")
        ivr_kpis = http.post("/api/kpis", headers=bearer("channel_system"), json={})
        assert (ivr_kpis.status_code, ivr_kpis.json()["error"]["reason"]) == (
            403, "ROLE_NOT_ALLOWED")
        assert http.post("/api/session", headers=bearer("channel_system"), json={}).json() == {
            "ok": True, "may_read_kpis": False}
        # an agent reads its queue's KPIs (aggregates, no customer data)
        assert http.post("/api/session", headers=bearer("agent"), json={}).json() == {
            "ok": True, "may_read_kpis": True}
        assert http.post("/api/session", headers=bearer("supervisor"), json={}).json() == {
            "ok": True, "may_read_kpis": True}
        unmask = http.post("/api/context", headers=bearer("agent"), json={
            "customer_id": "c:x", "unmask": True})
        assert unmask.status_code == 403  # the service refuses an agent's unmask
        bad = http.post("/api/context", headers=bearer("agent"), json={"type": "PHONE"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_ARGUMENT"
        # the wallboard stream of a channel system ends with the service's refusal
        with http.stream("POST", "/api/wallboard/stream", headers=bearer("channel_system"),
                         json={}) as stream:
            text = "".join(stream.iter_text())
        assert text.startswith("event: error\n")
        assert json.loads(text.split("data: ", 1)[1])["error"]["code"] == "PERMISSION_DENIED"


def test_pages_forbid_inline_script_framing_and_foreign_origins(live: LiveStack) -> None:
    with httpx.Client(base_url=live.web_url, timeout=15) as http:
        for path in ("/desktop", "/wallboard"):
            resp = http.get(path)
            assert resp.status_code == 200
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "<script>" not in resp.text and "http" not in resp.text.split("<body>")[0]
        config = http.get("/api/config").json()
        assert not any("token" in key for key in config)  # no credential in the config
