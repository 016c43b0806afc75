"""WeChat Official Account callback endpoint (safe, compatible or plaintext mode).

GET ``/wechat`` answers the URL check; POST ``/wechat`` takes pushes as the account's mode
allows (``wechat_crypto.CallbackGuard``: signature, freshness window, one body per
signature), decrypts safe-mode bodies, dedupes WeChat's retries (MsgId, or
FromUserName + CreateTime + Event), publishes, and only then answers "success" (or the
passive reply). A text asking for a human (settings.wechat_transfer_keywords) is
answered with ``transfer_customer_service``; one with a complaint keyword, or a menu
CLICK on a complaint key, also opens a complaint (``complaint.opened``). Accepted event ids go back in the
``X-Event-Ids`` header, since WeChat dictates the body. POST ``/wechat/bind`` is for the
bank's own binding back end (Bearer token): it is the trusted OpenID → customer link.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import xml.etree.ElementTree as ET  # noqa: S405 - DTDs are refused before parsing
from typing import Any

from aiohttp import web

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import (
    Actor,
    ActorKind,
    Channel,
    ChatPayload,
    ComplaintPayload,
    IdentifierType,
    InteractionEvent,
)
from backbone.settings import Settings
from connectors import clock, complaint_fields
from connectors import metrics as m
from connectors.base import Pipeline
from connectors.dedupe import RecentIds
from connectors.http import (
    PIPELINE,
    accepted,
    bearer,
    decode_utf8,
    parse_json,
    read_body,
    require_object,
    require_str,
)
from connectors.http import (
    create_app as create_base_app,
)
from connectors.wechat_crypto import CallbackGuard, signature

NAME = "wechat"
MESSAGE_TYPES = frozenset({"text", "image", "voice", "video", "shortvideo", "location",
                           "link", "file", "miniprogrampage"})
EVENT_TYPES = {
    "subscribe": v.WECHAT_SUBSCRIBE, "unsubscribe": v.WECHAT_UNSUBSCRIBE,
    "SCAN": v.WECHAT_EVENT, "LOCATION": v.WECHAT_EVENT, "CLICK": v.WECHAT_EVENT,
    "VIEW": v.WECHAT_EVENT, "view_miniprogram": v.WECHAT_EVENT,
    "scancode_push": v.WECHAT_EVENT, "scancode_waitmsg": v.WECHAT_EVENT,
    "location_select": v.WECHAT_EVENT, "TEMPLATESENDJOBFINISH": v.WECHAT_EVENT,
    "kf_create_session": v.WECHAT_KF_CREATE, "kf_close_session": v.WECHAT_KF_CLOSE,
    "kf_switch_session": v.WECHAT_KF_SWITCH,
}
PUBLISH_BUDGET_S = 4.0  # WeChat gives up after 5 s and retries
RECENT = web.AppKey("wechat_recent", RecentIds)
GUARD = web.AppKey("wechat_guard", CallbackGuard)

Reply = tuple[list[str], bytes | None]


def parse_xml(raw: bytes) -> dict[str, str]:
    """A flat dict of the <xml> children; DTDs and entities are refused outright."""
    text = decode_utf8(raw)
    if "<!" in text.replace("<![CDATA[", ""):
        raise ValidationError("DTDs and entities are not allowed", code="malformed_xml")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD can reach here
    except ET.ParseError as exc:
        raise ValidationError(f"malformed XML: {exc}", code="malformed_xml") from exc
    if root.tag != "xml":
        raise ValidationError("root element must be <xml>", code="malformed_xml")
    return {child.tag: (child.text or "").strip() for child in root}


def reply_xml(to_user: str, from_user: str, msg_type: str) -> bytes:
    root = ET.Element("xml")
    for tag, value in (("ToUserName", to_user), ("FromUserName", from_user),
                       ("CreateTime", str(int(time.time()))), ("MsgType", msg_type)):
        ET.SubElement(root, tag).text = value
    return ET.tostring(root, encoding="utf-8")


def complaint_id_for(source_id: str) -> str:
    """The id of the complaint a push opens (``source_id``: msg:<MsgId> or evt:...)."""
    return "WX-" + hashlib.sha256(source_id.encode()).hexdigest()[:12].upper()


class WeChatMapper:
    def __init__(self, pipeline: Pipeline):
        self.p = pipeline
        self.source = f"wechat-oa:{pipeline.settings.wechat_app_id}"
        self.keywords = tuple(k.lower() for k in pipeline.settings.wechat_transfer_keywords)
        self.complaint_words = tuple(k.lower() for k in
                                     pipeline.settings.wechat_complaint_keywords)
        self.complaint_keys = frozenset(pipeline.settings.wechat_complaint_menu_keys)

    def source_id(self, msg: dict[str, str]) -> str:
        openid = self._need(msg, "FromUserName")
        if msg.get("MsgId"):
            return f"msg:{msg['MsgId']}"
        return f"evt:{openid}:{self._need(msg, 'CreateTime')}:{msg.get('Event', '')}"

    @staticmethod
    def _need(msg: dict[str, str], key: str) -> str:
        if not msg.get(key):
            raise ValidationError(f"{key} is required", code="missing_field", field=key)
        return msg[key]

    def map(self, msg: dict[str, str]) -> tuple[list[InteractionEvent], bool]:
        """The events for one push, and whether to hand the chat to a human."""
        openid = self._need(msg, "FromUserName")
        created = self._need(msg, "CreateTime")
        if not created.isdigit():
            raise ValidationError("CreateTime must be epoch seconds", code="bad_timestamp",
                                  field="CreateTime")
        occurred = self.p.when(int(created) * 1000, "CreateTime")
        msg_type = self._need(msg, "MsgType")
        source_id = self.source_id(msg)
        ident = self.p.opaque(IdentifierType.WECHAT_OPENID, openid)
        session = self.p.person_interaction("wechat", openid)
        base: dict[str, Any] = {
            "channel": Channel.WECHAT, "interaction_id": session, "occurred_at": occurred,
            "source_system": self.source, "identifiers": [ident],
            "actor": Actor(kind=ActorKind.CUSTOMER), "attributes": {"account": msg.get(
                "ToUserName", "")[:64]},
        }
        if msg_type == "event":
            event = self._need(msg, "Event")
            if event not in EVENT_TYPES:
                raise ValidationError(f"unknown event {event[:40]!r}", code="unknown_type",
                                      field="Event")
            agent = msg.get("KfAccount") or msg.get("ToKfAccount") or None
            if agent:
                base["actor"] = Actor(kind=ActorKind.AGENT, id=agent[:64])
            if msg.get("FromKfAccount"):
                base["attributes"]["from_agent"] = msg["FromKfAccount"][:64]
            payload = ChatPayload(session_id=session, agent=agent, msg_type=event,
                                  event_key=(msg.get("EventKey") or None))
            if event == "unsubscribe":
                # Starts a deletion, which takes effect when we receive it (server time);
                # the CreateTime WeChat stamped is kept beside it.
                base["attributes"]["created_at"] = str(occurred)
                base["occurred_at"] = clock.now_ms()
            events = [self.p.event(event_type=EVENT_TYPES[event], source_event_id=source_id,
                                   payload=payload, **base)]
            if event == "CLICK" and msg.get("EventKey") in self.complaint_keys:
                events.append(self._complaint(source_id, base))
            return events, False
        if msg_type not in MESSAGE_TYPES:
            raise ValidationError(f"unknown MsgType {msg_type[:40]!r}", code="unknown_type",
                                  field="MsgType")
        text = msg.get("Content") if msg_type == "text" else None
        payload = ChatPayload(session_id=session, msg_type=msg_type, msg_id=msg.get("MsgId"),
                              text=text)
        events = [self.p.event(event_type=v.WECHAT_MESSAGE, source_event_id=source_id,
                               payload=payload, **base)]
        if text and any(k in text.lower() for k in self.complaint_words):
            events.append(self._complaint(source_id, base))
        wants_human = bool(text) and any(k in (text or "").lower() for k in self.keywords)
        if wants_human:
            handover = ChatPayload(session_id=session, msg_type="transfer_customer_service",
                                   msg_id=msg.get("MsgId"))
            base["actor"] = Actor(kind=ActorKind.BOT)
            events.append(self.p.event(event_type=v.WECHAT_TRANSFER_TO_AGENT,
                                       source_event_id=f"{source_id}:transfer",
                                       payload=handover, **base))
        return events, wants_human


    def _complaint(self, source_id: str, base: dict[str, Any]) -> InteractionEvent:
        """A complaint opened by this push; its id follows from the push, so WeChat's
        retries open it once. The complaint keeps its own interaction (it outlives the
        chat) and the OpenID routes it to the customer."""
        complaint_id = complaint_id_for(source_id)
        fields = base | {"interaction_id": complaint_fields.interaction(complaint_id),
                         "attributes": base["attributes"] | {
                             "origin_interaction": base["interaction_id"]}}
        return self.p.event(event_type=v.COMPLAINT_OPENED,
                            source_event_id=f"{source_id}:complaint",
                            payload=ComplaintPayload(complaint_id=complaint_id,
                                                     status="opened"),
                            **fields)


async def _verify_url(request: web.Request) -> web.Response:
    return web.Response(text=request.app[GUARD].url_check(request.query))


async def _push(request: web.Request) -> web.Response:
    pipeline = request.app[PIPELINE]
    guard = request.app[GUARD]
    q = request.query
    raw = await read_body(request)
    pipeline.received()
    safe = guard.encrypted(q)
    if safe:  # compatible mode adds plaintext fields to the envelope: only Encrypt counts
        msg = parse_xml(guard.open_encrypted(q, parse_xml(raw).get("Encrypt", "")))
    else:
        msg = parse_xml(guard.open_plain(q, raw))
    mapper = WeChatMapper(pipeline)

    async def publish() -> Reply:
        events, wants_human = mapper.map(msg)
        ids = await pipeline.publish(events, PUBLISH_BUDGET_S)
        if not wants_human:
            return ids, None
        return ids, reply_xml(msg["FromUserName"], msg.get("ToUserName", ""),
                              "transfer_customer_service")

    recent: RecentIds[Reply] = request.app[RECENT]
    (event_ids, reply), repeat = await recent.once(mapper.source_id(msg), publish)
    if repeat:
        m.DUPLICATES.labels(NAME).inc()
    headers = {"X-Event-Ids": ",".join(event_ids)}
    if reply is None:
        return web.Response(text="success", headers=headers)
    if safe and guard.cipher is not None:
        encrypted = guard.cipher.encrypt(reply)
        ts, reply_nonce = str(int(time.time())), q.get("nonce", "")
        root = ET.Element("xml")
        for tag, value in (("Encrypt", encrypted),
                           ("MsgSignature", signature(guard.token, ts, reply_nonce, encrypted)),
                           ("TimeStamp", ts), ("Nonce", reply_nonce)):
            ET.SubElement(root, tag).text = value
        reply = ET.tostring(root, encoding="utf-8")
    return web.Response(body=reply, content_type="application/xml", headers=headers)


async def _bind(request: web.Request) -> web.Response:
    """The bank's binding back end reports a verified OpenID ↔ customer-number link."""
    pipeline = request.app[PIPELINE]
    expected = pipeline.settings.wechat_bind_token.get_secret_value().encode()
    given = (bearer(request) or "").encode()
    if not expected or not hmac.compare_digest(given, expected):  # constant time
        raise ValidationError("missing or wrong bearer token", code="unauthorized")
    body = require_object(parse_json(await read_body(request)))
    pipeline.received()
    openid = require_str(body, "openid")
    phone = require_str(body, "phone", required=False, max_len=32)
    event = pipeline.event(
        event_type=v.WECHAT_BIND, source_system=f"wechat-bind:{pipeline.settings.wechat_app_id}",
        source_event_id=require_str(body, "bind_id") or "",
        occurred_at=pipeline.when(body.get("bound_at"), "bound_at"),
        channel=Channel.WECHAT, interaction_id=pipeline.person_interaction("wechat", openid or ""),
        actor=Actor(kind=ActorKind.SYSTEM),
        identifiers=[
            pipeline.opaque(IdentifierType.WECHAT_OPENID, openid, verified=True),
            pipeline.opaque(IdentifierType.WECHAT_UNIONID, body.get("unionid"), verified=True),
            pipeline.opaque(IdentifierType.CUSTOMER_NUMBER,
                            require_str(body, "customer_number"), verified=True),
            pipeline.phone(phone, verified=True) if phone else None,
        ])
    return accepted(await pipeline.publish([event]))


def create_app(settings: Settings, *, pipeline: Pipeline | None = None) -> web.Application:
    guard = CallbackGuard(settings)  # refuses a mode the settings cannot serve, before I/O
    app = create_base_app(pipeline or Pipeline(settings, NAME))
    app[GUARD] = guard
    app[RECENT] = RecentIds(settings.connector_dedupe_cache)
    app.router.add_get("/wechat", _verify_url)
    app.router.add_post("/wechat", _push)
    app.router.add_post("/wechat/bind", _bind)
    return app
