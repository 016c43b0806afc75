"""Branch queue-ticket (叫号) feed over HTTP JSON: ``POST /v1/branch/events``.

One event or a list; Bearer API key. Each event: ``event`` (ticket_issued, called,
recalled, no_show, transferred, service_started, service_ended, rating_submitted,
identified, counter_opened, counter_closed, complaint_opened), ``branch``, ``ticket_id``
(not for counter events; optional for a complaint), ``occurred_at`` (ISO-8601 or epoch), optional ``queue``, ``counter``,
``service``, ``teller``, ``wait_s``, ``service_s``, ``to_queue``, ``to_counter``,
``reason``, ``score``/``scale_max`` (rating) and ``customer`` {``id_number``,
``card_number``, ``customer_number``, ``phone``} (identified: the trusted counter check,
accepted only with a server-trust API key). ``complaint_opened`` is the counter app
recording a complaint (``complaint_id``, ``category``, ``promise``; docs/complaints.md):
with the ticket it routes like the visit, without one ``customer`` must name the customer.
Ticket numbers restart daily, so the interaction is branch + ticket + local day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import (
    Actor,
    ActorKind,
    BranchPayload,
    Channel,
    ComplaintPayload,
    Identifier,
    IdentifierType,
    InteractionEvent,
    Organisation,
    SurveyKind,
    SurveyPayload,
)
from backbone.settings import Settings
from connectors import complaint_fields, openapi
from connectors.base import Pipeline
from connectors.feed import choice, feed_handler, untrusted
from connectors.http import create_app as create_base_app
from connectors.http import optional_number, require_object, require_str, survey_answer

NAME = "branch"
EVENTS = {
    "ticket_issued": v.BRANCH_TICKET_ISSUED, "called": v.BRANCH_CALLED,
    "recalled": v.BRANCH_RECALLED, "no_show": v.BRANCH_NO_SHOW,
    "transferred": v.BRANCH_TRANSFERRED, "service_started": v.BRANCH_SERVICE_STARTED,
    "service_ended": v.BRANCH_SERVICE_ENDED, "rating_submitted": v.SURVEY_ANSWERED,
    "identified": v.BRANCH_IDENTIFIED, "counter_opened": v.BRANCH_COUNTER_OPENED,
    "counter_closed": v.BRANCH_COUNTER_CLOSED, "complaint_opened": v.COMPLAINT_OPENED,
}
COUNTER_EVENTS = frozenset({"counter_opened", "counter_closed"})
LOCAL = timedelta(hours=8)  # branch business days are China Standard Time days
# Ticket numbers restart every business day, so the day is part of a visit's id. The
# day rolls over at 04:00, not midnight: a visit from 23:50 to 00:10 (a 24-hour branch,
# a late rating) stays one visit, and no branch opens before 04:00.
DAY_ROLLOVER = timedelta(hours=4)

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["event", "branch", "occurred_at"],
    "properties": {
        "event": {"enum": sorted(EVENTS)}, "branch": {"type": "string"},
        "ticket_id": {"type": "string"}, "occurred_at": {"type": ["string", "number"]},
        "queue": {"type": "string"}, "counter": {"type": "string"},
        "service": {"type": "string"}, "teller": {"type": "string"},
        "wait_s": {"type": "number"}, "service_s": {"type": "number"},
        "to_queue": {"type": "string"}, "to_counter": {"type": "string"},
        "score": {"type": "integer"}, "scale_max": {"type": "integer"},
        "customer": {"type": "object", "properties": {
            "id_number": {"type": "string"}, "card_number": {"type": "string"},
            "customer_number": {"type": "string"}, "phone": {"type": "string"}}},
        **complaint_fields.PROPERTIES,
    },
}


def business_day(occurred_ms: int) -> str:
    """The branch business day (ISO date) an event at ``occurred_ms`` belongs to."""
    return (datetime.fromtimestamp(occurred_ms / 1000, UTC) + LOCAL - DAY_ROLLOVER
            ).date().isoformat()


def map_event(pipeline: Pipeline, source: str, body: dict[str, Any], *,
              trusted: bool = True) -> InteractionEvent:
    """``trusted``: the API key's trust (the HTTP handler passes it; tests default to a
    server key)."""
    kind = choice(body, "event", EVENTS)
    if kind == "identified" and not trusted:
        raise untrusted("event", kind)
    branch = require_str(body, "branch", max_len=64) or ""
    occurred = pipeline.when(body.get("occurred_at"), "occurred_at")
    day = business_day(occurred)
    counter = require_str(body, "counter", required=False, max_len=32)
    teller = require_str(body, "teller", required=False, max_len=64)
    org = Organisation(branch=branch, queue=require_str(body, "queue", required=False,
                                                          max_len=64), counter=counter)
    if kind in COUNTER_EVENTS:
        if counter is None:
            raise ValidationError("counter is required", code="missing_field", field="counter")
        return pipeline.event(
            event_type=EVENTS[kind], source_system=source,
            source_event_id=f"{branch}/counter-{counter}/{kind}/{occurred}",
            occurred_at=occurred, channel=Channel.BRANCH, organisation=org,
            interaction_id=f"branch:{branch}:counter:{counter}:{day}",
            actor=Actor(kind=ActorKind.TELLER, id=teller), security_level="C1")
    complaint = kind == "complaint_opened"
    ticket = require_str(body, "ticket_id", required=not complaint, max_len=32) or ""
    idents: list[Identifier | None] = []
    customer = require_object(body.get("customer") or {}, "customer")
    proves = kind == "identified"  # the trusted link (a server key, checked above)
    for key, make in (("id_number", pipeline.id_number), ("card_number", pipeline.card),
                      ("phone", pipeline.phone)):
        value = require_str(customer, key, "customer.", required=False, max_len=40)
        if value:
            idents.append(make(value, verified=proves))
    idents.append(pipeline.opaque(IdentifierType.CUSTOMER_NUMBER,
                                  require_str(customer, "customer_number", "customer.",
                                              required=False), verified=proves))
    if proves and not any(idents):
        raise ValidationError("identified needs customer.id_number, card_number or "
                              "customer_number", code="missing_field", field="customer")
    if complaint and not ticket and not any(idents):
        raise ValidationError("a complaint without ticket_id needs customer", field="customer",
                              code="missing_field")
    interaction = f"branch:{branch}:{ticket}:{day}"
    payload: BranchPayload | SurveyPayload | ComplaintPayload
    if complaint:
        payload = complaint_fields.payload("opened", body)
        attrs = complaint_fields.attributes("opened", body)
        if not ticket:
            interaction = complaint_fields.interaction(payload.complaint_id)
    elif kind == "rating_submitted":
        kind_, score, scale = survey_answer(body, kinds=("CSAT",))
        payload = SurveyPayload(kind=SurveyKind(kind_), score=score, scale_max=scale,
                                about_interaction_id=f"branch:{branch}:{ticket}:{day}")
    else:
        payload = BranchPayload(
            ticket_id=ticket, service=require_str(body, "service", required=False, max_len=64),
            wait_s=optional_number(body, "wait_s"), service_s=optional_number(body, "service_s"),
            to_queue=require_str(body, "to_queue", required=False, max_len=64),
            to_counter=require_str(body, "to_counter", required=False, max_len=32))
    actor = Actor(kind=ActorKind.TELLER, id=teller) if teller else Actor(
        kind=ActorKind.CUSTOMER)
    return pipeline.event(
        event_type=EVENTS[kind], source_system=source,
        source_event_id=f"{branch}/{ticket}/{kind}/{occurred}", occurred_at=occurred,
        channel=Channel.BRANCH, organisation=org, identifiers=idents,
        interaction_id=interaction, actor=actor, payload=payload,
        reason=require_str(body, "reason", required=False, max_len=64),
        attributes=attrs if complaint else {})


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.branch_document(EVENT_SCHEMA))


def create_app(settings: Settings, *, pipeline: Pipeline | None = None) -> web.Application:
    app = create_base_app(pipeline or Pipeline(settings, NAME))
    app.router.add_post("/v1/branch/events",
                        feed_handler(lambda p: p.settings.branch_api_keys, map_event))
    app.router.add_get("/openapi.json", _openapi)
    return app
