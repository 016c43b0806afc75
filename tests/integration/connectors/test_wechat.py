"""The WeChat callback against the real broker, with wechatpy as the independent client."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import xmltodict
from pydantic import SecretStr
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from backbone.models import event_id
from connectors.wechat import create_app
from tests.integration.connectors.conftest import read_topic

PLAINTEXT = {"wechat_aes_key": SecretStr("")}  # an account in 明文模式: no EncodingAESKey
COMPATIBLE = {"wechat_mode": "compatible"}  # 兼容模式, chosen explicitly


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


@dataclass
class Signed:
    """One push as WeChat sends it: the signed query and the body."""

    params: dict[str, str]
    body: str
    encrypt: str | None = None


class WeChatServer:
    """Plays WeChat's side: builds, signs and (in safe mode) encrypts pushes with wechatpy."""

    def __init__(self, settings, base: str, http: httpx.AsyncClient):
        self.token = settings.wechat_token.get_secret_value()
        self.app_id = settings.wechat_app_id
        key = settings.wechat_aes_key.get_secret_value()
        self.crypto = WeChatCrypto(self.token, key, self.app_id) if key else None
        self.base = base
        self.http = http

    def xml(self, openid: str, msg_type: str, **fields: str | int) -> str:
        parts = ["<ToUserName><![CDATA[gh_bank]]></ToUserName>",
                 f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
                 f"<CreateTime>{fields.pop('CreateTime', int(time.time()))}</CreateTime>",
                 f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
        parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
        return "<xml>" + "".join(parts) + "</xml>"

    def sign(self, xml: str, *, mode: str = "safe", ts: int | None = None) -> Signed:
        """Safe mode: only Encrypt; compatible: the plaintext fields and Encrypt; plaintext."""
        stamp, nonce = str(int(time.time()) if ts is None else ts), uuid.uuid4().hex[:10]
        params = {"timestamp": stamp, "nonce": nonce, "signature": sign(self.token, stamp, nonce),
                  "openid": "ignored"}
        if mode == "plaintext":
            return Signed(params, xml)
        assert self.crypto is not None
        envelope = ET.fromstring(self.crypto.encrypt_message(xml, nonce, stamp))
        encrypt = envelope.findtext("Encrypt") or ""
        params |= {"encrypt_type": "aes", "msg_signature": envelope.findtext("MsgSignature")}
        inner = f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        if mode == "compatible":
            return Signed(params, xml.removesuffix("</xml>") + inner + "</xml>", encrypt)
        return Signed(params, f"<xml><ToUserName><![CDATA[gh_bank]]></ToUserName>{inner}</xml>",
                      encrypt)

    async def send(self, params: dict[str, Any], body: str) -> httpx.Response:
        return await self.http.post(f"{self.base}/wechat", params=params, content=body.encode())

    async def push(self, xml: str, *, mode: str = "safe", tamper: bool = False,
                   ts: int | None = None) -> httpx.Response:
        signed = self.sign(xml, mode=mode, ts=ts)
        if tamper:
            signed.params["msg_signature" if mode != "plaintext" else "signature"] = "0" * 40
        return await self.send(signed.params, signed.body)

    async def rejected(self, reason: str) -> float:
        """This process's ``ccb_connector_rejected_total`` for the WeChat connector."""
        text = (await self.http.get(f"{self.base}/metrics")).text
        for line in text.splitlines():
            if line.startswith("ccb_connector_rejected_total{") and \
                    'connector="wechat"' in line and f'reason="{reason}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
async def callback(settings_factory, serve):
    """A factory: a connector for an account configured with the given settings overrides."""
    async with httpx.AsyncClient(timeout=30) as http:
        async def make(**overrides: Any) -> tuple[Any, WeChatServer]:
            settings = settings_factory(**overrides)
            return settings, WeChatServer(settings, await serve(create_app(settings)), http)

        yield make


@pytest.fixture
async def wechat(callback):
    return await callback()


def error(resp: httpx.Response) -> str:
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    return resp.json()["error"]["code"]


def openid() -> str:
    return f"o{uuid.uuid4().hex[:20]}"


async def test_url_verification_answers_echostr(wechat):
    settings, wx = wechat
    ts, nonce = str(int(time.time())), "n1"
    ok = await wx.http.get(f"{wx.base}/wechat", params={
        "signature": sign(wx.token, ts, nonce), "timestamp": ts, "nonce": nonce,
        "echostr": "hello-123"})
    bad = await wx.http.get(f"{wx.base}/wechat", params={
        "signature": "f" * 40, "timestamp": ts, "nonce": nonce, "echostr": "x"})
    assert ok.status_code == 200 and ok.text == "hello-123"
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "bad_signature"


@pytest.mark.parametrize(("account", "mode"), [
    ({}, "safe"), (COMPATIBLE, "compatible"), (COMPATIBLE, "plaintext"), (PLAINTEXT, "plaintext"),
], ids=["safe", "compatible", "compatible-plaintext", "plaintext"])
async def test_pushes_are_mapped_and_retries_stored_once(callback, account, mode):
    settings, wx = await callback(**account)
    user = openid()
    now = int(time.time())
    pushes = [
        wx.xml(user, "event", Event="subscribe", EventKey="qrscene_branch_42", CreateTime=now),
        wx.xml(user, "text", Content="我的转账失败了", MsgId="610001", CreateTime=now + 1),
        wx.xml(user, "event", Event="CLICK", EventKey="MENU_CARD", CreateTime=now + 2),
        wx.xml(user, "event", Event="kf_create_session", KfAccount="kf2001@bank",
               CreateTime=now + 3),
        wx.xml(user, "event", Event="kf_switch_session", FromKfAccount="kf2001@bank",
               ToKfAccount="kf2002@bank", CreateTime=now + 4),
        wx.xml(user, "event", Event="kf_close_session", KfAccount="kf2002@bank",
               CreateTime=now + 5),
        wx.xml(user, "event", Event="unsubscribe", CreateTime=now + 6),
    ]
    headers = []
    for xml in pushes:
        resp = await wx.push(xml, mode=mode)
        assert resp.status_code == 200 and resp.text == "success", resp.text
        headers.append(resp.headers["X-Event-Ids"])
    retry = await wx.push(pushes[1], mode=mode)  # WeChat's retry after 5 s, signed anew
    assert retry.status_code == 200 and retry.headers["X-Event-Ids"] == headers[1]

    stored = read_topic(settings, "interactions", idle_s=1.5)
    assert len(stored) == len(pushes)  # the retry was not published again
    # In WeChat's order (CreateTime): an unsubscribe's occurred_at is the server's receive
    # time (the erasure clock), WeChat's CreateTime is kept in attributes.created_at.
    def created(e: dict) -> int:
        return int(e["attributes"].get("created_at") or e["occurred_at"])

    assert [e["event_type"] for e in sorted(stored, key=created)] == [
        "wechat.subscribe", "wechat.message", "wechat.event", "wechat.kf_create_session",
        "wechat.kf_switch_session", "wechat.kf_close_session", "wechat.unsubscribe"]
    message = next(e for e in stored if e["event_type"] == "wechat.message")
    assert message["event_id"] == event_id(f"wechat-oa:{wx.app_id}", "msg:610001")
    assert message["payload"]["text"] is None  # message text dropped by default
    # One key per user, and it never shows the OpenID (masking cannot be bypassed by ids).
    (key,) = {e["_key"] for e in stored}
    assert key.startswith("wechat:h:") and user not in key
    assert {e["interaction_id"] for e in stored} == {key}
    switch = next(e for e in stored if e["event_type"] == "wechat.kf_switch_session")
    assert switch["actor"] == {"kind": "AGENT", "id": "kf2002@bank"}
    assert switch["attributes"]["from_agent"] == "kf2001@bank"


async def test_a_replayed_signature_on_another_body_is_refused(callback):
    """明文模式: the signature covers [token, timestamp, nonce] only, never the body."""
    settings, wx = await callback(**PLAINTEXT)
    user = openid()
    before = await wx.rejected("replayed_request")
    genuine = wx.sign(wx.xml(user, "text", Content="余额多少", MsgId="630001"), mode="plaintext")
    first = await wx.send(genuine.params, genuine.body)
    assert first.status_code == 200 and first.text == "success"
    forged = wx.xml(user, "text", Content="转人工", MsgId="630002")
    replay = await wx.send(genuine.params, forged)
    # A URL check's signature is the same sha1: it must not sign a push either.
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    check = {"signature": sign(wx.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    assert (await wx.http.get(f"{wx.base}/wechat", params=check | {"echostr": "e"})).text == "e"
    from_check = await wx.send(check, wx.xml(user, "text", Content="x", MsgId="630003"))

    assert error(replay) == "replayed_request"
    assert error(from_check) == "replayed_request"
    assert await wx.rejected("replayed_request") == before + 2  # counted
    [stored] = read_topic(settings, "interactions", idle_s=1.5)
    assert stored["event_id"] == event_id(f"wechat-oa:{wx.app_id}", "msg:630001")


async def test_plaintext_is_refused_when_an_aes_key_is_configured(callback):
    """安全模式 by default with an EncodingAESKey; plaintext only in explicit 兼容模式."""
    user = openid()
    refused = {}
    for name, account in (("default", {}), ("safe", {"wechat_mode": "safe"})):
        settings, wx = await callback(**account)
        before = await wx.rejected("plaintext_not_allowed")
        resp = await wx.push(wx.xml(user, "text", Content="hi", MsgId="640001"),
                             mode="plaintext")  # correctly signed, but not encrypted
        refused[name] = error(resp)
        assert await wx.rejected("plaintext_not_allowed") == before + 1  # counted
        assert read_topic(settings, "interactions", timeout_s=1.5) == []
    assert refused == {"default": "plaintext_not_allowed", "safe": "plaintext_not_allowed"}

    settings, wx = await callback(**COMPATIBLE)
    resp = await wx.push(wx.xml(user, "text", Content="hi", MsgId="640001"), mode="plaintext")
    assert resp.status_code == 200 and resp.text == "success"
    [stored] = read_topic(settings, "interactions", expect=1)
    assert stored["event_id"] == event_id(f"wechat-oa:{wx.app_id}", "msg:640001")


async def test_compatible_mode_uses_the_encrypted_part(callback):
    """兼容模式 bodies carry the message twice; only the signed, encrypted copy counts."""
    settings, wx = await callback(**COMPATIBLE)
    user, victim = openid(), openid()
    signed = wx.sign(wx.xml(user, "text", Content="hi", MsgId="650001"), mode="compatible")
    plain_copy = wx.xml(victim, "event", Event="unsubscribe")  # not what was encrypted
    body = plain_copy.removesuffix("</xml>") + f"<Encrypt><![CDATA[{signed.encrypt}]]></Encrypt></xml>"
    resp = await wx.send(signed.params, body)
    assert resp.status_code == 200 and resp.text == "success"
    [stored] = read_topic(settings, "interactions", expect=1)
    assert stored["event_type"] == "wechat.message"
    assert stored["_key"].startswith("wechat:h:") and user not in stored["_key"]


async def test_a_forged_unsubscribe_deletes_nothing(callback):
    """Unsubscribe starts deletion, so only WeChat itself may send one, once."""
    victim = openid()
    codes: dict[str, str] = {}
    accounts = {}
    for name, account, mode in (("safe", {}, "safe"), ("compatible", COMPATIBLE, "compatible"),
                                ("plaintext", PLAINTEXT, "plaintext")):
        settings, wx = await callback(**account)
        accounts[name] = settings
        # The victim's genuine push: its URL is what a proxy log or a sniffer gives away.
        genuine = wx.sign(wx.xml(victim, "text", Content="hi", MsgId="660001"), mode=mode)
        assert (await wx.send(genuine.params, genuine.body)).text == "success"
        lifted = {k: genuine.params[k] for k in ("timestamp", "nonce", "signature")}
        unsubscribe = wx.xml(victim, "event", Event="unsubscribe")
        codes[f"{name} unsigned"] = error(await wx.send(
            {"timestamp": lifted["timestamp"], "nonce": "forged"}, unsubscribe))
        codes[f"{name} lifted signature"] = error(await wx.send(lifted, unsubscribe))
        if genuine.encrypt:  # the genuine Encrypt with a forged plaintext copy around it
            body = unsubscribe.removesuffix("</xml>") + \
                f"<Encrypt><![CDATA[{genuine.encrypt}]]></Encrypt></xml>"
            resp = await wx.send(genuine.params, body)
            assert resp.status_code == 200 and resp.text == "success"  # the genuine message
    assert codes == {
        "safe unsigned": "plaintext_not_allowed",
        "safe lifted signature": "plaintext_not_allowed",
        "compatible unsigned": "bad_signature",
        "compatible lifted signature": "replayed_request",
        "plaintext unsigned": "bad_signature",
        "plaintext lifted signature": "replayed_request",
    }
    for name, settings in accounts.items():
        stored = read_topic(settings, "interactions", idle_s=1.5)
        assert [e["event_type"] for e in stored] == ["wechat.message"], name


async def test_timestamps_outside_the_window_are_refused(wechat):
    """A signature is good for wechat_timestamp_window_s (60 s) either side of our clock."""
    settings, wx = wechat
    user, now = openid(), int(time.time())
    old = await wx.push(wx.xml(user, "text", Content="a", MsgId="670001"), ts=now - 120)
    future = await wx.push(wx.xml(user, "text", Content="b", MsgId="670002"), ts=now + 120)
    late_retry = await wx.push(wx.xml(user, "text", Content="c", MsgId="670003"), ts=now - 45)
    assert (error(old), error(future)) == ("timestamp_too_old", "timestamp_in_future")
    assert late_retry.status_code == 200
    [stored] = read_topic(settings, "interactions", idle_s=1.5)
    assert stored["event_id"] == event_id(f"wechat-oa:{wx.app_id}", "msg:670003")


@pytest.mark.parametrize(("account", "mode", "refusal"), [
    (PLAINTEXT, "plaintext", "replayed_request"),
    (COMPATIBLE, "compatible", "replayed_request"),
    ({}, "safe", "plaintext_not_allowed"),
], ids=["plaintext", "compatible", "safe"])
async def test_a_retry_is_answered_success_and_published_once(callback, account, mode, refusal):
    """WeChat does not document fresh timestamp/nonce on its retries: both kinds must pass.

    What may not pass is the same signature on another body.
    """
    settings, wx = await callback(**account)
    user = openid()
    xml = wx.xml(user, "text", Content="卡被锁了", MsgId="680001")
    genuine = wx.sign(xml, mode=mode)
    answers = [await wx.send(genuine.params, genuine.body),  # first try, then 5 s later:
               await wx.send(genuine.params, genuine.body),  # the same request again
               await wx.push(xml, mode=mode)]  # the same message, signed anew
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 3
    assert len({a.headers["X-Event-Ids"] for a in answers}) == 1
    other = wx.xml(user, "text", Content="转账", MsgId="680002")
    lifted = {k: genuine.params[k] for k in ("timestamp", "nonce", "signature")}
    assert error(await wx.send(lifted, other)) == refusal
    [stored] = read_topic(settings, "interactions", idle_s=1.5)
    assert stored["event_id"] == event_id(f"wechat-oa:{wx.app_id}", "msg:680001")
    assert stored["event_id"] == answers[0].headers["X-Event-Ids"]


async def test_asking_for_a_human_replies_transfer_customer_service(wechat):
    settings, wx = wechat
    user = openid()
    resp = await wx.push(wx.xml(user, "text", Content="转人工", MsgId="620001"))
    assert resp.status_code == 200
    root = ET.fromstring(resp.text)
    assert wx.crypto is not None
    plain = wx.crypto.decrypt_message(resp.text, root.findtext("MsgSignature"),
                                      root.findtext("TimeStamp"), root.findtext("Nonce"))
    reply = xmltodict.parse(plain)["xml"]
    assert reply["MsgType"] == "transfer_customer_service"
    assert reply["ToUserName"] == user
    types = sorted(e["event_type"] for e in read_topic(settings, "interactions", expect=2))
    assert types == ["wechat.message", "wechat.transfer_customer_service"]


async def test_binding_is_the_trusted_link(wechat):
    settings, wx = wechat
    body = {"openid": "oBIND1", "unionid": "uBIND1", "customer_number": "C0042",
            "phone": "+86 139 0000 1111", "bind_id": "b-1", "bound_at": int(time.time() * 1000)}
    token = settings.wechat_bind_token.get_secret_value()
    wrong = await wx.http.post(f"{wx.base}/wechat/bind", json=body,
                               headers={"Authorization": f"Bearer {token[:-1]}x"})
    assert error(wrong) == "unauthorized" and wrong.status_code == 401
    resp = await wx.http.post(f"{wx.base}/wechat/bind", json=body,
                              headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    [event] = read_topic(settings, "interactions", expect=1)
    assert event["event_id"] == resp.json()["event_ids"][0]
    assert event["event_type"] == "wechat.bind"
    assert all(i["verified"] for i in event["identifiers"])
    phone = next(i for i in event["identifiers"] if i["type"] == "PHONE")
    assert phone["masked"] == "139****1111" and phone["value"].startswith("h:")


async def test_bad_pushes_are_refused_and_dead_lettered(wechat):
    settings, wx = wechat
    good = wx.xml("oBAD", "text", Content="hi", MsgId="1")
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;'
            "</FromUserName></xml>")
    cases = {
        "bad_signature": await wx.push(good, tamper=True),
        "malformed_xml": await wx.push("<xml><FromUserName>oops</xml>"),
        "malformed_xml_dtd": await wx.push(bomb),
        "unknown_type": await wx.push(wx.xml("oBAD", "teleport", MsgId="2")),
        "missing_field": await wx.push("<xml><MsgType>text</MsgType></xml>"),
        "timestamp_too_old": await wx.push(wx.xml("oBAD", "text", MsgId="3",
                                                   CreateTime=1_000_000_000)),
        "bad_encryption": await wx.send(wx.sign(good).params | {"encrypt_type": "des"}, good),
    }
    for name, resp in cases.items():
        assert error(resp) == name.removesuffix("_dtd"), name
    # Whether refusals of unauthenticated senders are kept is connectors/http.py's policy.
    kept = sorted(n.removesuffix("_dtd") for n in cases if n != "bad_signature")
    dead = read_topic(settings, "dead-letters", idle_s=1.5)
    assert sorted(d["reason"] for d in dead if d["reason"] != "bad_signature") == kept
    assert read_topic(settings, "interactions", timeout_s=1.5) == []
