"""Segment-spec messages (identify, track, page, screen, alias) to canonical events.

Pure mapping, no I/O: the HTTP side lives in :mod:`connectors.app_web`.

Conventions the bank's app and web code follow (documented in the README):
- ``identify`` with both ``userId`` and ``anonymousId`` is the login moment →
  ``digital.login`` (verified APP_USER/WEB_LOGIN + DEVICE/COOKIE, plus
  ``traits.customer_number`` / ``traits.phone`` when the back end knows them); so is a
  ``track`` named "Signed In" / "Logged In".
- Web chat lifecycle is ``track`` with ``properties.chat_id``: "Chat Requested",
  "Chat Queued", "Chat Agent Joined", "Chat Message", "Chat Transferred", "Chat Closed",
  "Chat Abandoned".
- "Survey Answered" (kind CSAT|NPS, score, scale_max) and "Complaint Opened|Extended|
  Closed" (complaint_id, category, due_at) are tracks too.
"""

from __future__ import annotations

import math
from typing import Any

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import ActorKind, Channel, IdentifierType
from connectors import clock
from connectors import records as rec
from connectors.base import Pipeline
from connectors.http import require_object, require_str, survey_answer
from connectors.records import Prepared, Record

TYPES = frozenset({"identify", "track", "page", "screen", "alias", "group"})
CHAT_EVENTS = {
    "chat requested": v.CHAT_REQUESTED, "chat queued": v.CHAT_QUEUED,
    "chat agent joined": v.CHAT_AGENT_JOINED, "chat message": v.CHAT_MESSAGE,
    "chat message sent": v.CHAT_MESSAGE, "chat transferred": v.CHAT_TRANSFERRED,
    "chat closed": v.CHAT_CLOSED, "chat ended": v.CHAT_CLOSED,
    "chat abandoned": v.CHAT_ABANDONED,
}
LOGIN_EVENTS = frozenset({"signed in", "logged in", "login succeeded"})
COMPLAINT_EVENTS = {
    "complaint opened": v.COMPLAINT_OPENED, "complaint extended": v.COMPLAINT_EXTENDED,
    "complaint closed": v.COMPLAINT_CLOSED,
}
# Property keys that may hold personal data or free text: never copied into events.
SENSITIVE_KEYS = frozenset({
    "phone", "mobile", "email", "card", "card_number", "cardnumber", "id_number", "idnumber",
    "id_card", "password", "pin", "cvv", "cvn", "name", "full_name", "address", "text",
    "message", "body", "content", "account", "account_number",
})
MAX_PROPERTIES = 50
CUSTOMER = rec.actor(ActorKind.CUSTOMER.value)
EVENT_TYPES = {"identify": v.DIGITAL_IDENTIFY, "page": v.DIGITAL_PAGE,
               "screen": v.DIGITAL_SCREEN, "alias": v.DIGITAL_ALIAS,
               "group": v.DIGITAL_TRACK, "track": v.DIGITAL_TRACK}


def _prop_str(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    if isinstance(value, str):
        return value[:200]
    return None


def _safe_properties(props: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in props.items():
        if len(out) >= MAX_PROPERTIES:
            break
        if not isinstance(key, str) or key.lower() in SENSITIVE_KEYS or len(key) > 64:
            continue
        text = _prop_str(value)
        if text is not None:
            out[key] = text
    return out


class SegmentMapper:
    """Maps one Segment message, for one source (app or web), to an encoded canonical event
    (:class:`~connectors.records.Prepared`; attribute access gives the pydantic view)."""

    def __init__(self, pipeline: Pipeline):
        self.p = pipeline

    def occurred_at(self, msg: dict[str, Any], sent_at: object, received_ms: int) -> int:
        """Segment's clock-skew rule: timestamp = receivedAt - (sentAt - originalTimestamp)."""
        base_field = "originalTimestamp" if msg.get("originalTimestamp") else "timestamp"
        if msg.get(base_field) is None:
            return received_ms
        base = clock.parse_ms(msg[base_field], base_field)
        sent = msg.get("sentAt") or sent_at
        if sent is not None:
            base += received_ms - clock.parse_ms(sent, "sentAt")
        return clock.check_window(base, base_field,
                                  max_age_s=self.p.settings.connector_max_event_age_s,
                                  max_skew_s=self.p.settings.connector_max_clock_skew_s,
                                  now=received_ms)

    def map(self, raw: object, channel: Channel, *, sent_at: object, received_ms: int,
            msg_type: str | None = None) -> Prepared:
        msg = require_object(raw, "message")
        kind = msg_type or require_str(msg, "type")
        if kind not in TYPES:
            raise ValidationError(f"unknown message type {str(kind)[:40]!r}",
                                  code="unknown_type", field="type")
        message_id = require_str(msg, "messageId")
        user_id = require_str(msg, "userId", required=False)
        anon_id = require_str(msg, "anonymousId", required=False)
        if user_id is None and anon_id is None:
            raise ValidationError("userId or anonymousId is required", code="missing_field",
                                  field="userId")
        context = require_object(msg.get("context") or {}, "context")
        props = require_object(msg.get("properties") or {}, "properties")
        traits = require_object(msg.get("traits") or context.get("traits") or {}, "traits")
        occurred = self.occurred_at(msg, sent_at, received_ms)
        app = channel == Channel.APP
        user_type = IdentifierType.APP_USER if app else IdentifierType.WEB_LOGIN
        anon_type = IdentifierType.DEVICE if app else IdentifierType.COOKIE
        device = require_object(context.get("device") or {}, "context.device")
        name = kind
        event_type = EVENT_TYPES[kind]
        if kind == "track":
            name = require_str(msg, "event") or ""
        elif kind in ("page", "screen"):
            name = require_str(msg, "name", required=False) or kind
        lowered = name.lower()
        login = (kind == "identify" and user_id is not None and anon_id is not None) or (
            kind == "track" and lowered in LOGIN_EVENTS and user_id is not None)
        # Built verified only at login, so the trust rule never has to copy them back.
        opaque = self.p.opaque_record
        idents: list[Record | None] = [
            opaque(user_type, user_id, verified=login),
            opaque(anon_type, anon_id, verified=login),
        ]
        if app and device.get("id") and device.get("id") != anon_id:
            idents.append(opaque(IdentifierType.DEVICE, device.get("id"), verified=login))
        if login:
            event_type = v.DIGITAL_LOGIN
            number = traits.get("customer_number") or traits.get("customerNumber")
            idents.append(opaque(IdentifierType.CUSTOMER_NUMBER, number, verified=True))
            if isinstance(traits.get("phone"), str):
                idents.append(self.p.phone_record(traits["phone"], verified=True))
        if kind == "alias":
            previous = require_str(msg, "previousId")
            idents.append(opaque(user_type, previous))

        session = (require_str(props, "session_id", "properties.", required=False)
                   or require_str(context, "session_id", "context.", required=False))
        who = user_id or anon_id
        interaction = f"{channel.value.lower()}:session:{session}" if session else \
            f"{channel.value.lower()}:{who}"
        fields: dict[str, Any] = {
            "channel": channel.value, "interaction_id": interaction,
            "actor": CUSTOMER,
            "reason": require_str(props, "reason", "properties.", required=False, max_len=64),
            "correlation_id": require_str(props, "correlation_id", "properties.",
                                          required=False),
            "security_level": "C2",
        }
        if kind == "track" and lowered in CHAT_EVENTS:
            event_type = CHAT_EVENTS[lowered]
            chat_id = require_str(props, "chat_id", "properties.")
            agent = require_str(props, "agent", "properties.", required=False)
            fields["interaction_id"] = f"webchat:{chat_id}"
            if event_type == v.CHAT_AGENT_JOINED and agent:
                fields["actor"] = rec.actor(ActorKind.AGENT.value, agent)
            text = props.get("text") if isinstance(props.get("text"), str) else None
            wait = props.get("wait_s")
            fields["payload"] = rec.chat_payload(
                session_id=str(chat_id), agent=agent, msg_type="text" if text else None,
                msg_id=require_str(props, "message_id", "properties.", required=False),
                text=text, wait_s=float(wait) if _number(wait) else None)  # type: ignore[arg-type]
        elif kind == "track" and lowered == "survey answered":
            event_type = v.SURVEY_ANSWERED
            fields["payload"] = _survey(props)
        elif kind == "track" and lowered in COMPLAINT_EVENTS:
            event_type = COMPLAINT_EVENTS[lowered]
            due = props.get("due_at")
            fields["payload"] = rec.complaint_payload(
                complaint_id=require_str(props, "complaint_id", "properties.") or "",
                status=lowered.split()[-1],
                category=require_str(props, "category", "properties.", required=False),
                due_at=clock.parse_ms(due, "properties.due_at") if due is not None else None)
        else:
            fields["payload"] = rec.digital_payload(
                name=name[:200], session_id=session,
                screen=name[:200] if kind in ("page", "screen") else None,
                outcome=_prop_str(props.get("outcome") or props.get("status")),
                error_code=_prop_str(props.get("error_code") or props.get("errorCode")),
                properties=_safe_properties(props))
        return self.p.record(event_type=event_type,
                            source_system=f"segment-{channel.value.lower()}",
                            source_event_id=message_id or "", occurred_at=occurred,
                            identifiers=idents, **fields)


def _number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value < 10_000_000)


def _survey(props: dict[str, Any]) -> Record:
    kind, score, scale = survey_answer(props, "properties.")
    return rec.survey_payload(kind=kind, score=score, scale_max=scale,
                              about_interaction_id=require_str(
                                  props, "about_interaction_id", "properties.", required=False))
