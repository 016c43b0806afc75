"""Context snapshots (backbone/snapshot.py, the processors' contract) to protobuf messages,
masked by role, and timeline paging."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from backbone import snapshot as contract
from backbone.context.v1 import context_pb2 as pb
from services.context import profile as profile_view

CHANNELS: dict[str, pb.Channel] = {"PHONE": pb.CHANNEL_PHONE, "APP": pb.CHANNEL_APP, "WEB": pb.CHANNEL_WEB,
            "WECHAT": pb.CHANNEL_WECHAT, "BRANCH": pb.CHANNEL_BRANCH}
CHANNEL_NAMES: dict[int, str] = {int(v): k for k, v in CHANNELS.items()}
OPEN_JOURNEY = frozenset({"open", "in_progress", "pending", "waiting", "handed_off", "active"})
CLOSED_COMPLAINT = frozenset({"closed", "resolved", "withdrawn"})
HANDOFF_STATUS = {"created": pb.HANDOFF_STATUS_CREATED, "accepted": pb.HANDOFF_STATUS_ACCEPTED,
                  "cancelled": pb.HANDOFF_STATUS_CANCELLED, "expired": pb.HANDOFF_STATUS_EXPIRED}
DEFAULT_PAGE = 20
MAX_PAGE = 200
# Handoff credential hashes that handoff.created events carried before the service stopped
# publishing them; timelines may still hold such entries, callers never see them.
INTERNAL_ATTRIBUTES = frozenset({"token_hash", "code_hash"})


def channel(value: str | None) -> pb.Channel:
    return CHANNELS.get(value or "", pb.CHANNEL_UNSPECIFIED)


def mask_value(value: str) -> str:
    """A generic mask for identifiers without a display form: keep 3 + 2 characters."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:3]}****{value[-2:]}"


def identities(snap: contract.CustomerContext, unmask: bool) -> list[pb.Identity]:
    return [pb.Identity(type=i.type, value=i.value if unmask else i.masked or mask_value(i.value),
                        masked=not unmask, verified=i.verified) for i in snap.identities]


def timeline_entry(t: contract.TimelineEntry) -> pb.TimelineEntry:
    actor = t.actor
    return pb.TimelineEntry(
        event_id=t.event_id, event_type=t.event_type, channel=channel(t.channel),
        occurred_at_ms=t.occurred_at, ingested_at_ms=t.ingested_at,
        interaction_id=t.interaction_id, journey_id=t.journey_id or "", reason=t.reason or "",
        actor=(f"{actor.kind}:{actor.id}" if actor.id else actor.kind) if actor else "",
        organisation="/".join(f"{k}:{v}" for k, v in (t.organisation or {}).items() if v),
        summary=t.summary,
        attributes={k: v for k, v in t.attributes.items() if k not in INTERNAL_ATTRIBUTES})


def journey(j: contract.Journey) -> pb.Journey:
    return pb.Journey(
        journey_id=j.journey_id, reason=j.reason or "", status=j.status,
        channels=[channel(c) for c in j.channels], last_channel=channel(j.last_channel),
        tried=j.tried, started_at_ms=j.started_at, updated_at_ms=j.updated_at,
        handoff_count=j.handoffs)


def is_open_journey(j: contract.Journey) -> bool:
    return j.status.lower() in OPEN_JOURNEY


def last_survey(snap: contract.CustomerContext, kind: str) -> pb.SurveyAnswer | None:
    answers = [s for s in snap.surveys if s.kind.upper() == kind]
    if not answers:
        return None
    s = max(answers, key=lambda s: s.at)
    return pb.SurveyAnswer(kind=s.kind, score=s.score or 0, scale_max=s.scale_max or 0,
                           at_ms=s.at)


def filtered_timeline(snap: contract.CustomerContext, query: pb.TimelineQuery
                      ) -> list[contract.TimelineEntry]:
    wanted = {CHANNEL_NAMES[c] for c in query.channels if c in CHANNEL_NAMES}
    since, until = query.since_ms, query.until_ms
    return [t for t in snap.timeline
            if (not wanted or t.channel in wanted) and (not since or t.occurred_at >= since)
            and (not until or t.occurred_at < until)]


def encode_page_token(after_event_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_event_id}).encode()).decode()


def decode_page_token(token: str) -> str:
    """The event id the previous page ended with; ValueError on a forged or broken token."""
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError("not a page token from this service") from exc
    if not isinstance(after, str):
        raise ValueError("not a page token from this service")  # noqa: TRY004
    return after


def page(entries: Sequence[contract.TimelineEntry], query: pb.TimelineQuery
         ) -> tuple[Sequence[contract.TimelineEntry], str]:
    """One page, newest first; raises ValueError when the page token no longer matches."""
    size = query.page_size or DEFAULT_PAGE
    start = 0
    if query.page_token:
        after = decode_page_token(query.page_token)
        ids = [t.event_id for t in entries]
        if after not in ids:
            raise ValueError("the page token's entry left the timeline; start again")
        start = ids.index(after) + 1
    chunk = entries[start:start + size]
    more = start + size < len(entries)
    return chunk, encode_page_token(chunk[-1].event_id) if more and chunk else ""


def customer_context(customer_id: str, snap: contract.CustomerContext, *, unmask: bool,
                     timeline: Sequence[contract.TimelineEntry],
                     clearance: int = 1) -> pb.CustomerContext:
    """The context without freshness and handoffs (those change between calls); profile
    values above data level ``clearance`` withheld (services/context/profile.py)."""
    counts = snap.counts
    return pb.CustomerContext(
        customer_id=customer_id,
        identities=identities(snap, unmask),
        profile=profile_view.summary(snap.profile, clearance),
        timeline=[timeline_entry(t) for t in timeline],
        open_journeys=[journey(j) for j in snap.journeys if is_open_journey(j)],
        open_complaints=[pb.Complaint(
            complaint_id=c.complaint_id, status=c.status, category=c.category or "",
            opened_at_ms=c.opened_at or 0, due_at_ms=c.due_at or 0, owner=c.owner or "",
            team=c.team or "", promise=c.promise or "", tier_days=c.tier_days or 0,
            escalations=c.escalations, channel=channel(c.channel))
            for c in snap.complaints if c.status.lower() not in CLOSED_COMPLAINT],
        last_csat=last_survey(snap, "CSAT"), last_nps=last_survey(snap, "NPS"),
        counts=pb.ContactCounts(contacts_7d=counts.contacts_7d,
                                contacts_30d=counts.contacts_30d))
