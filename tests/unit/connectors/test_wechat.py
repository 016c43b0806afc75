"""WeChat signatures, safe-mode AES (checked against wechatpy), the callback guard (modes,
freshness, replay memory) and push mapping."""

from __future__ import annotations

import hmac
import time
import xml.etree.ElementTree as ET

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import SecretStr
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from backbone.errors import ConfigurationError, ValidationError
from connectors import wechat
from connectors.base import Pipeline
from connectors.dedupe import SeenSignatures
from connectors.wechat import WeChatMapper, parse_xml
from connectors.wechat_crypto import CallbackGuard, WeChatCipher, check, resolve_mode, signature

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_signature_matches_wechatpy():
    sig = signature("token", "1700000000", "nonce")
    check_signature("token", sig, "1700000000", "nonce")  # raises if wrong
    check(sig, "token", "1700000000", "nonce")
    with pytest.raises(ValidationError) as info:
        check("0" * 40, "token", "1700000000", "nonce")
    assert info.value.code == "bad_signature"


def test_aes_interoperates_with_wechatpy_both_ways():
    theirs = WeChatCrypto("tok", KEY, "wxapp")
    envelope = ET.fromstring(theirs.encrypt_message("<xml><A>1</A></xml>", "n", "1700000000"))
    assert WeChatCipher(KEY, "wxapp").decrypt(envelope.findtext("Encrypt")) == \
        b"<xml><A>1</A></xml>"
    mine = WeChatCipher(KEY, "wxapp").encrypt("<xml><B>中文</B></xml>".encode())
    xml = f"<xml><Encrypt><![CDATA[{mine}]]></Encrypt></xml>"
    assert "中文" in theirs.decrypt_message(xml, signature("tok", "1", "n", mine), "1", "n")


def test_message_for_another_app_is_refused():
    other = WeChatCipher(KEY, "wx-other").encrypt(b"<xml/>")
    with pytest.raises(ValidationError) as info:
        WeChatCipher(KEY, "wxapp").decrypt(other)
    assert info.value.code == "bad_encryption"


@pytest.mark.parametrize("raw", [
    b"<xml><a>1</a>", b"<root/>", b"\xff\xfe", b'<!DOCTYPE x [<!ENTITY e "x">]><xml/>'])
def test_bad_xml_is_refused(raw):
    with pytest.raises(ValidationError):
        parse_xml(raw)


@pytest.fixture
def mapper(unit_settings) -> WeChatMapper:
    return WeChatMapper(Pipeline(unit_settings, "test"))


def push(**fields: str) -> dict[str, str]:
    return {"ToUserName": "gh", "FromUserName": "oX", "CreateTime": str(int(time.time()))} \
        | fields


def test_dedupe_key_is_msgid_or_openid_and_create_time(mapper):
    assert mapper.source_id(push(MsgType="text", MsgId="42")) == "msg:42"
    event = push(MsgType="event", Event="subscribe", CreateTime="1700000000")
    assert mapper.source_id(event) == "evt:oX:1700000000:subscribe"


def test_unsubscribe_starts_the_deletion_path(mapper):
    [event], human = mapper.map(push(MsgType="event", Event="unsubscribe"))
    assert event.event_type == "wechat.unsubscribe" and not human
    assert event.identifiers[0].type == "WECHAT_OPENID"
    assert not event.identifiers[0].verified


def test_asking_for_a_human_adds_the_transfer_event(mapper):
    events, human = mapper.map(push(MsgType="text", Content="我要转人工", MsgId="7"))
    assert human
    assert [e.event_type for e in events] == ["wechat.message",
                                              "wechat.transfer_customer_service"]
    assert events[0].payload.text is None


def test_text_is_kept_only_when_allowed(unit_settings):
    keep = WeChatMapper(Pipeline(unit_settings.model_copy(update={"keep_message_text": True}),
                                 "t"))
    [event], _ = keep.map(push(MsgType="text", Content="hello", MsgId="8"))
    assert event.payload.text == "hello"


@pytest.mark.parametrize(("fields", "code"), [
    ({"MsgType": "event", "Event": "teleport"}, "unknown_type"),
    ({"MsgType": "hologram", "MsgId": "1"}, "unknown_type"),
    ({"MsgType": "text", "CreateTime": "yesterday"}, "bad_timestamp"),
    ({"MsgType": "text", "CreateTime": "4102444800"}, "timestamp_in_future"),
    ({"MsgType": "text", "FromUserName": ""}, "missing_field"),
])
def test_bad_pushes(mapper, fields, code):
    with pytest.raises(ValidationError) as info:
        mapper.map(push(**fields))
    assert info.value.code == code


# --- who may call the callback -------------------------------------------------------------

NO_KEY = {"wechat_aes_key": SecretStr("")}


def guard_for(unit_settings, **overrides) -> CallbackGuard:
    return CallbackGuard(unit_settings.model_copy(update=overrides))


def signed(settings_token: str, ts: int | None = None, nonce: str = "n-1") -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {"timestamp": stamp, "nonce": nonce,
            "signature": signature(settings_token, stamp, nonce)}


def code_of(call, *args) -> str:
    with pytest.raises(ValidationError) as info:
        call(*args)
    return info.value.code


@pytest.mark.parametrize(("overrides", "mode"), [
    ({}, "safe"), (NO_KEY, "plaintext"), ({"wechat_mode": "compatible"}, "compatible"),
    ({"wechat_mode": "plaintext"}, "plaintext"),
])
def test_the_mode_defaults_to_safe_when_an_aes_key_is_set(unit_settings, overrides, mode):
    assert resolve_mode(unit_settings.model_copy(update=overrides)) == mode


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_an_encrypted_mode_without_a_key_does_not_start(unit_settings, mode):
    with pytest.raises(ConfigurationError):
        wechat.create_app(unit_settings.model_copy(update=NO_KEY | {"wechat_mode": mode}))


def test_safe_mode_refuses_plaintext_before_anything_else(unit_settings):
    guard = guard_for(unit_settings)
    assert code_of(guard.encrypted, {}) == "plaintext_not_allowed"
    assert code_of(guard.encrypted, {"encrypt_type": "raw"}) == "plaintext_not_allowed"
    assert guard.encrypted({"encrypt_type": "aes"})
    assert code_of(guard.encrypted, {"encrypt_type": "rot13"}) == "bad_encryption"
    assert not guard_for(unit_settings, wechat_mode="compatible").encrypted({})
    assert code_of(guard_for(unit_settings, **NO_KEY).encrypted,
                   {"encrypt_type": "aes"}) == "bad_encryption"


def test_one_plaintext_signature_vouches_for_one_body(unit_settings):
    guard = guard_for(unit_settings, **NO_KEY)
    query = signed(guard.token)
    assert guard.open_plain(query, b"<xml>a</xml>") == b"<xml>a</xml>"
    assert guard.open_plain(query, b"<xml>a</xml>") == b"<xml>a</xml>"  # a retry as sent
    assert code_of(guard.open_plain, query, b"<xml>b</xml>") == "replayed_request"


def test_a_signature_does_not_cross_kinds(unit_settings):
    guard = guard_for(unit_settings, wechat_mode="compatible")
    url_check = signed(guard.token, nonce="n-url") | {"echostr": "e"}
    assert guard.url_check(url_check) == "e"
    assert code_of(guard.open_plain, url_check, b"<xml/>") == "replayed_request"
    # A safe-mode push also carries the plain signature: it must not sign a plaintext body.
    query = signed(guard.token, nonce="n-aes")
    assert guard.cipher is not None
    encrypted = guard.cipher.encrypt(b"<xml>a</xml>")
    aes = query | {"msg_signature": signature(guard.token, query["timestamp"], "n-aes",
                                              encrypted)}
    assert guard.open_encrypted(aes, encrypted) == b"<xml>a</xml>"
    assert guard.open_encrypted(aes, encrypted) == b"<xml>a</xml>"  # a retry as sent
    assert code_of(guard.open_plain, query, b"<xml>b</xml>") == "replayed_request"


def test_another_split_of_the_same_signed_string_is_refused(unit_settings):
    """sha1(sorted+joined) has no separators: (ts, "00") signs like ("0" + ts, "0")."""
    guard = guard_for(unit_settings, **NO_KEY)
    ts = str(int(time.time()))
    assert signature(guard.token, ts, "00") == signature(guard.token, "0" + ts, "0")
    guard.open_plain({"timestamp": ts, "nonce": "00",
                      "signature": signature(guard.token, ts, "00")}, b"<xml>a</xml>")
    shifted = {"timestamp": "0" + ts, "nonce": "0", "signature": signature(guard.token, ts, "00")}
    assert code_of(guard.open_plain, shifted, b"<xml>b</xml>") == "bad_timestamp"


@pytest.mark.parametrize(("offset", "code"), [(-61, "timestamp_too_old"),
                                              (61, "timestamp_in_future")])
def test_signatures_expire_after_the_window(unit_settings, offset, code):
    guard = guard_for(unit_settings, **NO_KEY)
    assert guard.window_s == 60
    assert code_of(guard.open_plain, signed(guard.token, int(time.time()) + offset),
                   b"<xml/>") == code
    guard.open_plain(signed(guard.token, int(time.time()) - 55, nonce="n-2"), b"<xml/>")


def test_an_unsigned_request_leaves_no_trace_in_the_memory(unit_settings):
    guard = guard_for(unit_settings, **NO_KEY)
    query = signed(guard.token)
    assert code_of(guard.open_plain, query | {"signature": "0" * 40}, b"<xml>x</xml>") == \
        "bad_signature"
    assert len(guard.replay) == 0
    guard.open_plain(query, b"<xml>a</xml>")  # the genuine request still gets through


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_seen_signatures_forget_only_what_the_window_refuses_anyway():
    clock = FakeClock(1_000.0)
    seen = SeenSignatures(capacity=10, window_s=60, clock=clock)
    assert seen.see("a", 1_000, "x") == "first"
    assert seen.see("a", 1_000, "x") == "repeat"
    assert seen.see("a", 1_000, "y") == "conflict"
    clock.now = 1_060.0
    assert seen.see("a", 1_000, "y") == "conflict"  # still inside the window
    clock.now = 1_061.0
    assert seen.see("b", 1_061, "x") == "first"
    assert len(seen) == 1  # "a" expired: its timestamp is refused before the memory is asked


def test_a_full_memory_refuses_rather_than_forgets():
    seen = SeenSignatures(capacity=2, window_s=60, clock=FakeClock(1_000.0))
    for key, ts in (("a", 990), ("b", 995), ("c", 999)):
        assert seen.see(key, ts, "x") == "first"
    assert len(seen) == 2
    assert seen.see("a", 990, "y") == "forgotten"  # evicted while replayable: not trusted
    assert seen.see("d", 990, "x") == "forgotten"
    assert seen.see("e", 991, "x") == "first"


async def test_the_bind_token_is_compared_in_constant_time(unit_settings, monkeypatch):
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(wechat.hmac, "compare_digest", spy)
    app = wechat.create_app(unit_settings)
    token = unit_settings.wechat_bind_token.get_secret_value()
    for header in ({"Authorization": f"Bearer {token[:-1]}!"}, {}):
        request = make_mocked_request("POST", "/wechat/bind", headers=header, app=app)
        with pytest.raises(ValidationError) as info:
            await wechat._bind(request)
        assert info.value.code == "unauthorized"
    assert calls == [(f"{token[:-1]}!".encode(), token.encode()), (b"", token.encode())]
