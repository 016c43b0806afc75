"""WeChat signatures, safe-mode AES (checked against wechatpy) and push mapping."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from backbone.errors import ValidationError
from connectors.base import Pipeline
from connectors.wechat import WeChatMapper, parse_xml
from connectors.wechat_crypto import WeChatCipher, check, signature

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
