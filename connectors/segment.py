"""Segment-spec messages (identify, track, page, screen, alias) to canonical events.

Pure mapping, no I/O: the HTTP side lives in :mod:`connectors.app_web`.

Conventions the bank's app and web code follow (documented in connectors/README.md):
- ``identify`` with both ``userId`` and ``anonymousId`` is the login moment; so is a
  ``track`` named "Signed In" / "Logged In". It is a ``digital.login`` (verified
  APP_USER/WEB_LOGIN + DEVICE/COOKIE + customer number) only with proof: a write key
  with server trust (``traits.customer_number`` / ``traits.phone`` are then the back
  end's word), or a valid signed assertion in ``traits.ccb_assertion``
  (:mod:`connectors.assertion`; the asserted customer number, and nothing the client
  stated, is linked). Without proof it stays ``digital.identify`` / ``digital.track``,
  its customer number and phone unverified claims that never link anyone.
- Web chat lifecycle is ``track`` with ``properties.chat_id``: "Chat Requested",
  "Chat Queued", "Chat Agent Joined", "Chat Message", "Chat Transferred", "Chat Closed",
  "Chat Abandoned".
- "Survey Answered" (kind CSAT|NPS, score, scale_max) and "Complaint <Step>" (Opened,
  Acknowledged, Assigned, Updated, Escalated, Extended, Resolved, Closed, Reopened:
  complaint_id, category, due_at, owner, team, reason, promise, satisfaction) are tracks.
- Only the properties in :data:`PROPERTIES` are kept (the others are dropped and
  counted), and every kept string has its phone, card and ID numbers hashed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import ActorKind, Channel, IdentifierType
from backbone.settings import Trust
from connectors import assertion, clock, complaint_fields
from connectors import records as rec
from connectors.assertion import AssertionVerifier
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
# What the customer's own app or page may say (a client write key is public).
CUSTOMER_STEPS = frozenset({"opened", "reopened", "updated"})
COMPLAINT_EVENTS = {f"complaint {step}": etype for step, etype in complaint_fields.STEPS.items()}
# The properties kept, by message type: an allow-list, since a deny-list always misses a
# spelling ("phone_number", "cardNo", "payee_mobile"...). Anything else is dropped and
# counted in ccb_connector_dropped_properties_total.
_COMMON = frozenset({
    "session_id", "correlation_id", "reason", "outcome", "status", "error_code", "errorCode",
    "screen", "step", "product", "channel",
})
_TRACK = _COMMON | {
    "amount", "amount_band",                                # "Transfer Started", ...
    "chat_id", "agent", "wait_s", "message_id", "text",     # "Chat *"
    "kind", "score", "scale_max", "about_interaction_id",   # "Survey Answered"
    "complaint_id", "category", "due_at", "owner", "team",  # "Complaint *"
    "promise", "satisfaction", "satisfaction_max",
}
_PAGE = _COMMON | {"name", "title", "path", "category"}  # never url/search/referrer
_OTHER = frozenset({"session_id", "correlation_id", "reason"})  # the fields every event has
PROPERTIES: dict[str, frozenset[str]] = {
    "track": _TRACK, "page": _PAGE, "screen": _PAGE,
    "identify": _OTHER, "alias": _OTHER, "group": _OTHER,
}
# Read by "Chat Message" alone (kept only with keep_message_text), never a property.
TEXT = frozenset({"text"})
DROPPED = Counter(
    "ccb_connector_dropped_properties_total",
    "Segment properties refused by the allow-list (or not a scalar), dropped.", ["connector"],
)
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


@dataclass(frozen=True, slots=True)
class Proof:
    """Why a login is verified: the asserted customer number, or None when the write key
    itself has server trust (its traits are then the back end's word)."""

    asserted: str | None = None


class SegmentMapper:
    """Maps one Segment message, for one source (app or web), to an encoded canonical event
    (:class:`~connectors.records.Prepared`; attribute access gives the pydantic view).
    Built once per collector: it holds the assertion keys."""

    def __init__(self, pipeline: Pipeline, assertions: AssertionVerifier | None = None):
        self.p = pipeline
        self.assertions = assertions or AssertionVerifier.from_settings(pipeline.settings)
        self._dropped = DROPPED.labels(pipeline.name)

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

    def proof(self, traits: dict[str, Any], trust: Trust) -> Proof | None:
        """What verifies a login, or None (then it is a claim). An assertion, when sent,
        decides for any key: an invalid one never verifies, not even from a server key."""
        if assertion.FIELD in traits:
            verdict = self.assertions.verify(traits[assertion.FIELD])
            return Proof(verdict.customer_number) if verdict.valid else None
        return Proof() if trust == "server" else None

    def map(self, raw: object, channel: Channel, *, sent_at: object, received_ms: int,
            msg_type: str | None = None, trust: Trust = "client") -> Prepared:
        """``trust``: the write key's (client unless the collector says otherwise)."""
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
        claimed = (kind == "identify" and user_id is not None and anon_id is not None) or (
            kind == "track" and lowered in LOGIN_EVENTS and user_id is not None)
        proof = self.proof(traits, trust) if claimed else None
        login = proof is not None
        # Built verified only at a proven login, so the trust rule never copies them back.
        opaque = self.p.opaque_record
        idents: list[Record | None] = [
            opaque(user_type, user_id, verified=login),
            opaque(anon_type, anon_id, verified=login),
        ]
        if app and device.get("id") and device.get("id") != anon_id:
            idents.append(opaque(IdentifierType.DEVICE, device.get("id"), verified=login))
        if login:
            event_type = v.DIGITAL_LOGIN
        if claimed:
            idents += self._customer(traits, proof)
        if kind == "alias":
            previous = require_str(msg, "previousId")
            idents.append(opaque(user_type, previous))

        allowed = PROPERTIES[kind]
        dropped = sum(1 for key in props if key not in allowed)
        scrub = self.p.scrub
        session = scrub(require_str(props, "session_id", "properties.", required=False)
                        or require_str(context, "session_id", "context.", required=False))
        who = user_id or anon_id
        interaction = f"{channel.value.lower()}:session:{session}" if session else \
            self.p.person_interaction(channel.value.lower(), str(who))
        fields: dict[str, Any] = {
            "channel": channel.value, "interaction_id": interaction,
            "actor": CUSTOMER,
            "reason": scrub(require_str(props, "reason", "properties.", required=False,
                                        max_len=64)),
            "correlation_id": scrub(require_str(props, "correlation_id", "properties.",
                                                required=False)),
            "security_level": "C2",
        }
        if kind == "track" and lowered in CHAT_EVENTS:
            event_type = CHAT_EVENTS[lowered]
            chat_id = scrub(require_str(props, "chat_id", "properties."))
            agent = scrub(require_str(props, "agent", "properties.", required=False))
            fields["interaction_id"] = f"webchat:{chat_id}"
            if event_type == v.CHAT_AGENT_JOINED and agent:
                fields["actor"] = rec.actor(ActorKind.AGENT.value, agent)
            text = props.get("text") if isinstance(props.get("text"), str) else None
            wait = props.get("wait_s")
            fields["payload"] = rec.chat_payload(  # the text: dropped or scrubbed by record()
                session_id=str(chat_id), agent=agent, msg_type="text" if text else None,
                msg_id=scrub(require_str(props, "message_id", "properties.", required=False)),
                text=text, wait_s=float(wait) if _number(wait) else None)  # type: ignore[arg-type]
        elif kind == "track" and lowered == "survey answered":
            event_type = v.SURVEY_ANSWERED
            fields["payload"] = self._survey(props)
        elif kind == "track" and lowered in COMPLAINT_EVENTS:
            event_type = COMPLAINT_EVENTS[lowered]
            due = props.get("due_at")
            step = lowered.split()[-1]
            if step not in CUSTOMER_STEPS and trust != "server":
                raise ValidationError(f"{name[:40]!r} needs a server write key: a client "
                                      "may open, reopen or rate a complaint only",
                                      code="forbidden", field="event")
            fields["payload"] = rec.complaint_payload(
                complaint_id=scrub(require_str(props, "complaint_id", "properties.")) or "",
                status=step,
                category=scrub(require_str(props, "category", "properties.", required=False)),
                due_at=clock.parse_ms(due, "properties.due_at") if due is not None else None)
            fields["attributes"] = {k: scrub(val) or "" for k, val in
                                    complaint_fields.attributes(step, props,
                                                                "properties.").items()}
        else:
            kept, refused = self._properties(props, allowed)
            dropped += refused
            fields["payload"] = rec.digital_payload(
                name=scrub(name[:200]) or "", session_id=session,
                screen=scrub(name[:200]) if kind in ("page", "screen") else None,
                outcome=scrub(_prop_str(props.get("outcome") or props.get("status"))),
                error_code=scrub(_prop_str(props.get("error_code") or props.get("errorCode"))),
                properties=kept)
        if dropped:
            self._dropped.inc(dropped)
        return self.p.record(event_type=event_type,
                            source_system=f"segment-{channel.value.lower()}",
                            source_event_id=message_id or "", occurred_at=occurred,
                            identifiers=idents, **fields)

    def _customer(self, traits: dict[str, Any], proof: Proof | None) -> list[Record | None]:
        """The customer number and phone of a claimed login.

        Proven by an assertion: the asserted number only. In a login event every
        identifier is linked to the customer, so a number or phone the client merely
        stated would hand its owner's calls to whoever sent it. Proven by a server key:
        the traits, verified. Not proven: the traits as unverified claims (routing anchors
        and links only verified customer numbers, and only from trusted event types).
        """
        if proof is not None and proof.asserted is not None:
            return [self.p.opaque_record(IdentifierType.CUSTOMER_NUMBER, proof.asserted,
                                         verified=True)]
        verified = proof is not None
        number = traits.get("customer_number") or traits.get("customerNumber")
        out = [self.p.opaque_record(IdentifierType.CUSTOMER_NUMBER, number, verified=verified)]
        if isinstance(traits.get("phone"), str):
            out.append(self.p.phone_record(traits["phone"], verified=verified))
        return out

    def _properties(self, props: dict[str, Any],
                    allowed: frozenset[str]) -> tuple[dict[str, str], int]:
        """The allowed scalar properties as (scrubbed) strings, and how many were refused."""
        kept: dict[str, str] = {}
        refused = 0
        for key, value in props.items():
            if key not in allowed:
                continue  # counted by the caller
            text = _prop_str(value) if key not in TEXT else None
            if text is None:
                refused += 1
            else:
                kept[key] = self.p.scrub(text) or ""
        return kept, refused

    def _survey(self, props: dict[str, Any]) -> Record:
        kind, score, scale = survey_answer(props, "properties.")
        about = require_str(props, "about_interaction_id", "properties.", required=False)
        return rec.survey_payload(kind=kind, score=score, scale_max=scale,
                                  about_interaction_id=self.p.scrub(about))


def _number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value < 10_000_000)
