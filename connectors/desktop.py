"""Agent-desktop feed: what AMI does not say (``POST /v1/desktop/events``, Bearer key).

Event ``type``s: ``ivr_authenticated`` (the IVR/agent verified the caller: the trusted
phone link; ``customer_number`` plus optional ``phone``/``card_number``/``id_number``),
``wrapup`` (after-call work: ``agent``, ``acw_s``, ``reason``), ``survey`` (post-call
``score``/``scale_max``/``kind``) and the complaint lifecycle ``complaint_<step>``
(opened, acknowledged, assigned, updated, escalated, extended, resolved, closed,
reopened: ``complaint_id``, ``category``, ``due_at``, ``owner``, ``team``, ``reason``,
``promise``, ``satisfaction``; docs/complaints.md). Every event has an ``id`` unique in
the desktop system, a ``linkedid`` (the call) and ``occurred_at``; a complaint step
without a call names the customer with ``customer_number``.

``erasure_requested`` (``customer_number``; no call needed) is the PIPL deletion request
the bank's service or privacy desk records after verifying the customer: the stream
processors then delete the customer's identifiers and timeline, and keep them deleted on
replay. (WeChat ``unsubscribe`` starts the same path for the OpenID.) The erasure takes
effect at the connector's receive time: the event's ``occurred_at`` is the server clock,
the desk's own time is kept as the ``requested_at`` attribute.

Both ``ivr_authenticated`` and ``erasure_requested`` need a server-trust API key.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import (
    Actor,
    ActorKind,
    CallPayload,
    Channel,
    IdentifierType,
    InteractionEvent,
    SurveyKind,
    SurveyPayload,
)
from backbone.settings import Settings
from connectors import clock, complaint_fields, openapi
from connectors.base import Pipeline
from connectors.feed import choice, feed_handler, untrusted
from connectors.http import create_app as create_base_app
from connectors.http import optional_number, require_str, survey_answer

NAME = "desktop"
TYPES = {
    "ivr_authenticated": v.CALL_IVR_AUTHENTICATED, "wrapup": v.CALL_WRAPUP,
    "survey": v.SURVEY_ANSWERED, "erasure_requested": v.CUSTOMER_ERASURE_REQUESTED,
} | {f"complaint_{step}": etype for step, etype in complaint_fields.STEPS.items()}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "id", "occurred_at"],
    "properties": {
        "type": {"enum": sorted(TYPES)}, "id": {"type": "string"},
        "linkedid": {"type": "string"}, "occurred_at": {"type": ["string", "number"]},
        "agent": {"type": "string"}, "acw_s": {"type": "number"},
        "reason": {"type": "string"}, "customer_number": {"type": "string"},
        "phone": {"type": "string"}, "card_number": {"type": "string"},
        "id_number": {"type": "string"}, "score": {"type": "integer"},
        "scale_max": {"type": "integer"}, "kind": {"enum": ["CSAT", "NPS"]},
        **complaint_fields.PROPERTIES,
    },
}


PROVING = frozenset({"ivr_authenticated", "erasure_requested"})


def map_event(pipeline: Pipeline, source: str, body: dict[str, Any], *,
              trusted: bool = True) -> InteractionEvent:
    """``trusted``: the API key's trust (the HTTP handler passes it; tests default to a
    server key)."""
    kind = choice(body, "type", TYPES)
    if kind in PROVING and not trusted:
        raise untrusted("type", kind)
    ident = require_str(body, "id") or ""
    if kind == "erasure_requested":
        return _erasure(pipeline, source, ident, body)
    complaint = kind.startswith("complaint_")
    linkedid = require_str(body, "linkedid", required=not complaint) or ""
    agent = require_str(body, "agent", required=False, max_len=64)
    fields: dict[str, Any] = {
        "channel": Channel.PHONE, "interaction_id": f"call:{linkedid}",
        "reason": require_str(body, "reason", required=False, max_len=64),
        "actor": Actor(kind=ActorKind.AGENT, id=agent) if agent else Actor(
            kind=ActorKind.SYSTEM),
    }
    proves = kind == "ivr_authenticated"  # the trusted link (a server key, checked above)
    number = require_str(body, "customer_number", required=False)
    if (proves or (complaint and not linkedid)) and not number:
        raise ValidationError("customer_number is required", code="missing_field",
                              field="customer_number")
    idents = [pipeline.opaque(IdentifierType.CUSTOMER_NUMBER, number, verified=proves)]
    for key, make in (("phone", pipeline.phone), ("card_number", pipeline.card),
                      ("id_number", pipeline.id_number)):
        value = require_str(body, key, required=False, max_len=40)
        if value:
            idents.append(make(value, verified=proves))
    if kind in ("ivr_authenticated", "wrapup"):
        fields["payload"] = CallPayload(linkedid=linkedid, agent=agent,
                                        acw_s=optional_number(body, "acw_s"))
    elif kind == "survey":
        survey_kind, score, scale = survey_answer(body)
        fields["payload"] = SurveyPayload(kind=SurveyKind(survey_kind), score=score, scale_max=scale,
                                          about_interaction_id=f"call:{linkedid}")
    else:
        step = kind.removeprefix("complaint_")
        fields["payload"] = complaint_fields.payload(step, body)
        fields["attributes"] = complaint_fields.attributes(step, body)
        if not linkedid:
            fields["interaction_id"] = complaint_fields.interaction(
                fields["payload"].complaint_id)
    return pipeline.event(event_type=TYPES[kind], source_system=source,
                          source_event_id=f"{kind}:{ident}",
                          occurred_at=pipeline.when(body.get("occurred_at"), "occurred_at"),
                          identifiers=idents, **fields)


def _erasure(pipeline: Pipeline, source: str, ident: str,
             body: dict[str, Any]) -> InteractionEvent:
    number = require_str(body, "customer_number", required=False)
    if not number:
        raise ValidationError("customer_number is required", code="missing_field",
                              field="customer_number")
    # Validated like any source time, but only kept: a desk clock ahead of ours must not
    # delete what the customer does next, one behind must not keep what they just did.
    requested = pipeline.when(body.get("occurred_at"), "occurred_at")
    return pipeline.event(
        event_type=v.CUSTOMER_ERASURE_REQUESTED, source_system=source,
        source_event_id=f"erasure_requested:{ident}", channel=Channel.UNKNOWN,
        interaction_id=f"privacy:{ident}", occurred_at=clock.now_ms(),
        attributes={"requested_at": str(requested)},
        identifiers=[pipeline.opaque(IdentifierType.CUSTOMER_NUMBER, number)],
        actor=Actor(kind=ActorKind.SYSTEM, id=require_str(body, "agent", required=False,
                                                          max_len=64)))


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.desktop_document(EVENT_SCHEMA))


def create_app(settings: Settings, *, pipeline: Pipeline | None = None) -> web.Application:
    app = create_base_app(pipeline or Pipeline(settings, NAME))
    app.router.add_post("/v1/desktop/events",
                        feed_handler(lambda p: p.settings.desktop_api_keys, map_event))
    app.router.add_get("/openapi.json", _openapi)
    return app
