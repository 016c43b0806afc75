"""The WeChat callback against the real broker, with wechatpy as the independent client."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from backbone.models import event_id
from connectors.wechat import create_app
from tests.integration.connectors.conftest import read_topic


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


class WeChatServer:
    """Plays WeChat's side: builds, signs and (in safe mode) encrypts pushes with wechatpy."""

    def __init__(self, settings, base: str):
        self.token = settings.wechat_token.get_secret_value()
        self.app_id = settings.wechat_app_id
        self.crypto = WeChatCrypto(self.token, settings.wechat_aes_key.get_secret_value(),
                                   self.app_id)
        self.base = base

    def xml(self, openid: str, msg_type: str, **fields: str | int) -> str:
        parts = ["<ToUserName><![CDATA[gh_bank]]></ToUserName>",
                 f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
                 f"<CreateTime>{fields.pop('CreateTime', int(time.time()))}</CreateTime>",
                 f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
        parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
        return "<xml>" + "".join(parts) + "</xml>"

    async def push(self, http: httpx.AsyncClient, xml: str, *, safe: bool = True,
                   tamper: bool = False) -> httpx.Response:
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"timestamp": ts, "nonce": nonce, "signature": sign(self.token, ts, nonce),
                  "openid": "ignored"}
        if safe:
            envelope = self.crypto.encrypt_message(xml, nonce, ts)
            root = ET.fromstring(envelope)
            params |= {"encrypt_type": "aes", "msg_signature": root.findtext("MsgSignature")}
            body = (f"<xml><ToUserName><![CDATA[gh_bank]]></ToUserName><Encrypt><![CDATA["
                    f"{root.findtext('Encrypt')}]]></Encrypt></xml>")
        else:
            body = xml
        if tamper:
            params["msg_signature" if safe else "signature"] = "0" * 40
        return await http.post(f"{self.base}/wechat", params=params, content=body.encode())


@pytest.fixture
async def wechat(settings_factory, serve):
    settings = settings_factory()
    base = await serve(create_app(settings))
    async with httpx.AsyncClient(timeout=30) as http:
        yield settings, WeChatServer(settings, base), http


async def test_url_verification_answers_echostr(wechat):
    settings, wx, http = wechat
    ts, nonce = str(int(time.time())), "n1"
    ok = await http.get(f"{wx.base}/wechat", params={
        "signature": sign(wx.token, ts, nonce), "timestamp": ts, "nonce": nonce,
        "echostr": "hello-123"})
    bad = await http.get(f"{wx.base}/wechat", params={
        "signature": "f" * 40, "timestamp": ts, "nonce": nonce, "echostr": "x"})
    assert ok.status_code == 200 and ok.text == "hello-123"
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "bad_signature"


@pytest.mark.parametrize("safe", [True, False], ids=["aes", "plaintext"])
async def test_pushes_are_mapped_and_retries_stored_once(wechat, safe):
    settings, wx, http = wechat
    openid = f"o{uuid.uuid4().hex[:20]}"
    now = int(time.time())
    pushes = [
        wx.xml(openid, "event", Event="subscribe", EventKey="qrscene_branch_42", CreateTime=now),
        wx.xml(openid, "text", Content="我的转账失败了", MsgId="610001", CreateTime=now + 1),
        wx.xml(openid, "event", Event="CLICK", EventKey="MENU_CARD", CreateTime=now + 2),
        wx.xml(openid, "event", Event="kf_create_session", KfAccount="kf2001@bank",
               CreateTime=now + 3),
        wx.xml(openid, "event", Event="kf_switch_session", FromKfAccount="kf2001@bank",
               ToKfAccount="kf2002@bank", CreateTime=now + 4),
        wx.xml(openid, "event", Event="kf_close_session", KfAccount="kf2002@bank",
               CreateTime=now + 5),
        wx.xml(openid, "event", Event="unsubscribe", CreateTime=now + 6),
    ]
    headers = []
    for xml in pushes:
        resp = await wx.push(http, xml, safe=safe)
        assert resp.status_code == 200 and resp.text == "success"
        headers.append(resp.headers["X-Event-Ids"])
    retry = await wx.push(http, pushes[1], safe=safe)  # WeChat's retry after 5 s
    assert retry.status_code == 200 and retry.headers["X-Event-Ids"] == headers[1]

    stored = read_topic(settings, "interactions", idle_s=1.5)
    assert len(stored) == len(pushes)  # the retry was not published again
    assert [e["event_type"] for e in sorted(stored, key=lambda e: e["occurred_at"])] == [
        "wechat.subscribe", "wechat.message", "wechat.event", "wechat.kf_create_session",
        "wechat.kf_switch_session", "wechat.kf_close_session", "wechat.unsubscribe"]
    message = next(e for e in stored if e["event_type"] == "wechat.message")
    assert message["event_id"] == event_id(f"wechat-oa:{wx.app_id}", "msg:610001")
    assert message["payload"]["text"] is None  # message text dropped by default
    assert {e["_key"] for e in stored} == {f"wechat:{openid}"}
    switch = next(e for e in stored if e["event_type"] == "wechat.kf_switch_session")
    assert switch["actor"] == {"kind": "AGENT", "id": "kf2002@bank"}
    assert switch["attributes"]["from_agent"] == "kf2001@bank"


async def test_asking_for_a_human_replies_transfer_customer_service(wechat):
    settings, wx, http = wechat
    openid = f"o{uuid.uuid4().hex[:20]}"
    resp = await wx.push(http, wx.xml(openid, "text", Content="转人工", MsgId="620001"))
    assert resp.status_code == 200
    root = ET.fromstring(resp.text)
    plain = wx.crypto.decrypt_message(resp.text, root.findtext("MsgSignature"),
                                      root.findtext("TimeStamp"), root.findtext("Nonce"))
    reply = xmltodict.parse(plain)["xml"]
    assert reply["MsgType"] == "transfer_customer_service"
    assert reply["ToUserName"] == openid
    types = sorted(e["event_type"] for e in read_topic(settings, "interactions", expect=2))
    assert types == ["wechat.message", "wechat.transfer_customer_service"]


async def test_binding_is_the_trusted_link(wechat):
    settings, wx, http = wechat
    resp = await http.post(f"{wx.base}/wechat/bind", headers={
        "Authorization": f"Bearer {settings.wechat_bind_token.get_secret_value()}"}, json={
        "openid": "oBIND1", "unionid": "uBIND1", "customer_number": "C0042",
        "phone": "+86 139 0000 1111", "bind_id": "b-1", "bound_at": int(time.time() * 1000)})
    assert resp.status_code == 200
    [event] = read_topic(settings, "interactions", expect=1)
    assert event["event_id"] == resp.json()["event_ids"][0]
    assert event["event_type"] == "wechat.bind"
    assert all(i["verified"] for i in event["identifiers"])
    phone = next(i for i in event["identifiers"] if i["type"] == "PHONE")
    assert phone["masked"] == "139****1111" and phone["value"].startswith("h:")


async def test_bad_pushes_are_refused_and_dead_lettered(wechat):
    settings, wx, http = wechat
    good = wx.xml("oBAD", "text", Content="hi", MsgId="1")
    cases = {
        "bad_signature": await wx.push(http, good, tamper=True),
        "malformed_xml": await wx.push(http, "<xml><FromUserName>oops</xml>", safe=False),
        "unknown_type": await wx.push(http, wx.xml("oBAD", "teleport", MsgId="2")),
        "missing_field": await wx.push(http, "<xml><MsgType>text</MsgType></xml>"),
        "timestamp_too_old": await wx.push(http, wx.xml("oBAD", "text", MsgId="3",
                                                         CreateTime=1_000_000_000)),
    }
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;'
            "</FromUserName></xml>")
    cases["malformed_xml_dtd"] = await wx.push(http, bomb, safe=False)
    for name, resp in cases.items():
        assert 400 <= resp.status_code < 500, name
        assert resp.json()["error"]["code"] == name.removesuffix("_dtd")
    dead = read_topic(settings, "dead-letters", expect=len(cases))
    assert sorted(d["reason"] for d in dead) == sorted(
        n.removesuffix("_dtd") for n in cases)
    assert read_topic(settings, "interactions", timeout_s=1.5) == []
