"""The complaint RPCs of the context service (docs/complaints.md): list open and overdue
complaints across customers, and drive a complaint's lifecycle.

A step is published as a ``complaint.<step>`` event on the service's event topic (the one
handoff events use, keyed by customer id; the processors route it by the
``customer_id`` attribute) with the caller as its actor, and every call is audited: the
list and the step, fail-closed like every read (services/context/audit.py).
"""

from __future__ import annotations

import uuid

import grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.kafka import AsyncPublisher
from backbone.models import (
    Actor,
    ActorKind,
    Channel,
    ComplaintPayload,
    InteractionEvent,
    event_id,
    now_ms,
)
from backbone.scrub import mask_numbers
from backbone.serde import FastAvroEncoder
from backbone.settings import Settings
from services.context import mapping
from services.context.audit import Access, Auditor
from services.context.auth import Authenticator, Principal, Role
from services.context.complaint_index import Complaint, ComplaintIndex
from services.context.feed import TopicFeed
from services.context.status import RpcFailure, invalid, rpc

SOURCE = "context-service"
STEPS = {"acknowledge": "acknowledged", "assign": "assigned", "update": "updated",
         "escalate": "escalated", "extend": "extended", "resolve": "resolved",
         "close": "closed", "reopen": "reopened"}
# An extension (15 -> 30 -> 60 days) and a reopening are supervisory decisions.
SUPERVISOR_ONLY = frozenset({"extend", "reopen"})
MAX_PAGE = 1000


def record_pb(c: Complaint, now: int) -> pb.ComplaintRecord:
    r = c.record
    due = c.due()
    return pb.ComplaintRecord(
        complaint_id=c.complaint_id, customer_id=c.customer_id, status=r.get("status") or "",
        category=r.get("category") or "", channel=mapping.channel(r.get("channel")),
        owner=r.get("owner") or "", team=r.get("team") or "",
        tier_days=r.get("tier_days") or 0, escalations=r.get("escalations") or 0,
        promise=r.get("promise") or "", opened_at_ms=r.get("opened_at") or 0, due_at_ms=due,
        resolved_at_ms=r.get("resolved_at") or 0, closed_at_ms=r.get("closed_at") or 0,
        satisfaction=r.get("satisfaction") or 0, overdue=c.open and 0 < due < now)


class ComplaintDesk:
    """Publishes complaint steps the way the desk feed would (connectors/desktop.py)."""

    def __init__(self, settings: Settings, publisher: AsyncPublisher, encoder: FastAvroEncoder,
                 instance: str) -> None:
        self._publisher = publisher
        self._encoder = encoder
        self._topic = settings.topic("handoffs")
        self._instance = instance

    async def publish(self, principal: Principal, c: Complaint, step: str,
                      details: dict[str, str], request_id: str = "") -> str:
        at = now_ms()
        once = f"{principal.name}:{request_id}" if request_id else uuid.uuid4().hex
        source_id = f"{c.complaint_id}:{step}:{once}"
        channel = c.record.get("channel") or "UNKNOWN"
        event = InteractionEvent(
            event_id=event_id(SOURCE, source_id), event_type=f"complaint.{step}",
            channel=Channel(channel), occurred_at=at, ingested_at=at, source_system=SOURCE,
            source_event_id=source_id, interaction_id=f"complaint:{c.complaint_id}",
            actor=Actor(kind=ActorKind.AGENT, id=principal.name),
            payload=ComplaintPayload(complaint_id=c.complaint_id, status=step),
            attributes={"customer_id": c.customer_id, "principal": principal.name,
                        "instance": self._instance, **details})
        value = self._encoder.serialize(self._topic, event.to_avro())
        await self._publisher.publish(self._topic, c.customer_id, value)
        return event.event_id


def _details(request: pb.UpdateComplaintRequest, action: str,
             principal: Principal) -> dict[str, str]:
    """The step's attributes (stream_processors/complaints.py); free text masked."""
    problems: dict[str, str] = {}
    if action == "extend" and not request.reason.strip():
        problems["reason"] = "say why the complaint needs more time"
    if request.satisfaction < 0 or request.satisfaction > (request.satisfaction_max or 5) \
            or request.satisfaction_max > 10:
        problems["satisfaction"] = "must be 0..satisfaction_max (at most 10)"
    for name, limit in (("owner", 64), ("team", 64), ("reason", 200), ("promise", 200),
                        ("request_id", 64)):
        if len(getattr(request, name)) > limit:
            problems[name] = f"at most {limit} characters"
    if problems:
        raise invalid(problems)
    out = {f"complaint_{k}": mask_numbers(getattr(request, k).strip())
           for k in ("owner", "team", "reason", "promise") if getattr(request, k).strip()}
    if action == "assign" and "complaint_owner" not in out and "complaint_team" not in out:
        out["complaint_owner"] = principal.name  # "take it": the caller becomes the owner
    if request.satisfaction:
        out["complaint_satisfaction"] = str(request.satisfaction)
        out["complaint_satisfaction_max"] = str(request.satisfaction_max or 5)
    return out


class ComplaintRpcs:
    """Mixed into the servicer, which provides the parts below."""

    _settings: Settings
    _feed: TopicFeed
    _auth: Authenticator
    _auditor: Auditor
    _complaints: ComplaintIndex
    _complaint_desk: ComplaintDesk | None

    def _ready(self) -> None:
        raise NotImplementedError

    @rpc("ListComplaints")
    async def ListComplaints(self, request: pb.ListComplaintsRequest,
                             context: grpc.aio.ServicerContext) -> pb.ListComplaintsResponse:
        principal = self._auth.authorize(context, "ListComplaints")
        bad = [c for c in request.channels if c not in mapping.CHANNEL_NAMES]
        if bad or not 0 <= request.page_size <= MAX_PAGE:
            raise invalid({"channels": f"unknown channel values {bad}"} if bad else
                          {"page_size": f"must be between 0 and {MAX_PAGE}"})
        self._ready()
        now = now_ms()
        access = Access(principal, "complaint.list", request.purpose or "complaint handling",
                        "COMPLAINT_QUERY", "", detail={
                            "owner": request.owner, "team": request.team,
                            "overdue_only": str(request.overdue_only).lower()})
        async with self._auditor.audited(access):
            found = self._complaints.open(
                owner=request.owner, team=request.team, due_before=request.due_before_ms,
                overdue_at=now if request.overdue_only else None,
                channels=[mapping.CHANNEL_NAMES[c] for c in request.channels])
        page = found[: request.page_size or 100]
        return pb.ListComplaintsResponse(
            complaints=[record_pb(c, now) for c in page], total=len(found),
            view_lag_messages=self._feed.lag.get(self._settings.topic("customer-context"), 0))

    @rpc("UpdateComplaint")
    async def UpdateComplaint(self, request: pb.UpdateComplaintRequest,
                              context: grpc.aio.ServicerContext) -> pb.UpdateComplaintResponse:
        principal = self._auth.authorize(context, "UpdateComplaint")
        action = request.action.strip().lower()
        if action not in STEPS:
            raise invalid({"action": f"must be one of {', '.join(STEPS)}"})
        if not request.complaint_id.strip():
            raise invalid({"complaint_id": "required"})
        details = _details(request, action, principal)
        if action in SUPERVISOR_ONLY and principal.role != Role.SUPERVISOR:
            raise RpcFailure(grpc.StatusCode.PERMISSION_DENIED,
                             f"only a supervisor may {action} a complaint",
                             reason="ROLE_NOT_ALLOWED", metadata={"action": action})
        self._ready()
        if self._complaint_desk is None:  # a servicer built without a publisher (tests)
            raise RpcFailure(grpc.StatusCode.UNAVAILABLE, "complaint updates are not set up",
                             reason="NOT_CONFIGURED")
        access = Access(principal, f"complaint.{action}", request.purpose or action,
                        "COMPLAINT_ID", request.complaint_id[:64],
                        detail={k: v for k, v in details.items() if k != "complaint_promise"})
        desk = self._complaint_desk
        async with self._auditor.audited(access):
            found = self._complaints.get(request.complaint_id)
            if found is None:
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, "no such complaint",
                                 reason="COMPLAINT_NOT_FOUND")
            access.customer_id = found.customer_id
            if found.open == (action == "reopen") and action != "update":
                raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION,
                                 f"complaint is {found.record.get('status')}",
                                 reason="COMPLAINT_STATE")
            event = await desk.publish(principal, found, STEPS[action], details,
                                       request.request_id)
            answer = pb.UpdateComplaintResponse(complaint=record_pb(found, now_ms()),
                                                event_id=event)
        return answer

