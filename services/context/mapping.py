"""Context snapshots (the stream processor's JSON) to protobuf messages, masked by role.

Tolerant on input (ms integers, seconds or ISO strings; missing sections) because the
snapshot is another team's contract; strict on output (the .proto).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from backbone.context.v1 import context_pb2 as pb
from services.context.view import Entry

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


def channel(value: Any) -> pb.Channel:
    return CHANNELS.get(str(value or "").upper(), pb.CHANNEL_UNSPECIFIED)


def ms(value: Any) -> int:
    """Epoch milliseconds from ms, seconds or an ISO-8601 string; 0 when absent."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value * 1000) if value < 100_000_000_000 else int(value)
    try:
        return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
    except ValueError:
        return 0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "/".join(f"{k}:{v}" for k, v in value.items() if v)
    return str(value)


def mask_value(value: str) -> str:
    """A generic mask for identifiers without a display form: keep 3 + 2 characters."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:3]}****{value[-2:]}"


def identities(data: dict[str, Any], unmask: bool) -> list[pb.Identity]:
    out = []
    for ident in data.get("identities") or ():
        value = str(ident.get("value") or "")
        if unmask:
            shown, masked = value, False
        else:
            shown, masked = str(ident.get("masked") or mask_value(value)), True
        out.append(pb.Identity(type=str(ident.get("type") or "UNKNOWN"), value=shown,
                               masked=masked, verified=bool(ident.get("verified"))))
    return out


def timeline_entry(t: dict[str, Any]) -> pb.TimelineEntry:
    attrs = t.get("attributes") or {}
    return pb.TimelineEntry(
        event_id=str(t.get("event_id") or ""), event_type=str(t.get("event_type") or ""),
        channel=channel(t.get("channel")), occurred_at_ms=ms(t.get("occurred_at")),
        ingested_at_ms=ms(t.get("ingested_at")), interaction_id=_text(t.get("interaction_id")),
        journey_id=_text(t.get("journey_id")), reason=_text(t.get("reason")),
        actor=_actor(t.get("actor")), organisation=_text(t.get("organisation")),
        summary=_text(t.get("summary")),
        attributes={str(k): _text(v) for k, v in attrs.items() if k not in INTERNAL_ATTRIBUTES}
        if isinstance(attrs, dict) else {})


def _actor(value: Any) -> str:
    if isinstance(value, dict):
        kind, ident = value.get("kind") or "", value.get("id") or ""
        return f"{kind}:{ident}" if ident else str(kind)
    return _text(value)


class EntryCache:
    """Built timeline entries by event id, reused across snapshot versions.

    A new snapshot usually adds one event to 49 the previous version already had; the
    entry is rebuilt only when its source dict differs (a C-level comparison).
    Used from the event loop only.
    """

    def __init__(self, max_entries: int = 50_000):
        self._max = max_entries
        self._built: dict[str, tuple[dict[str, Any], pb.TimelineEntry]] = {}

    def get(self, t: dict[str, Any]) -> pb.TimelineEntry:
        key = str(t.get("event_id") or "")
        hit = self._built.get(key)
        if hit is not None and hit[0] == t:
            return hit[1]
        built = timeline_entry(t)
        if len(self._built) >= self._max:
            self._built.clear()  # crude but bounded; hot customers refill it at once
        self._built[key] = (t, built)
        return built


def journey(j: dict[str, Any]) -> pb.Journey:
    handoffs = j.get("handoffs") or 0
    count = len(handoffs) if isinstance(handoffs, list | tuple) else int(handoffs)
    return pb.Journey(
        journey_id=str(j.get("journey_id") or ""), reason=_text(j.get("reason")),
        status=_text(j.get("status")), channels=[channel(c) for c in j.get("channels") or ()],
        last_channel=channel(j.get("last_channel")), tried=[_text(x) for x in j.get("tried") or ()],
        started_at_ms=ms(j.get("started_at")), updated_at_ms=ms(j.get("updated_at")),
        handoff_count=count)


def is_open_journey(j: dict[str, Any]) -> bool:
    return str(j.get("status") or "open").lower() in OPEN_JOURNEY


def survey(s: dict[str, Any] | None) -> pb.SurveyAnswer | None:
    if not s:
        return None
    return pb.SurveyAnswer(kind=str(s.get("kind") or ""), score=int(s.get("score") or 0),
                           scale_max=int(s.get("scale_max") or 0), at_ms=ms(s.get("at")))


def last_survey(data: dict[str, Any], kind: str) -> pb.SurveyAnswer | None:
    answers = [s for s in data.get("surveys") or () if str(s.get("kind", "")).upper() == kind]
    return survey(max(answers, key=lambda s: ms(s.get("at")))) if answers else None


def filtered_timeline(data: dict[str, Any], query: pb.TimelineQuery) -> list[dict[str, Any]]:
    wanted = {CHANNEL_NAMES[c] for c in query.channels if c in CHANNEL_NAMES}
    out = []
    for t in data.get("timeline") or ():
        if wanted and str(t.get("channel") or "").upper() not in wanted:
            continue
        at = ms(t.get("occurred_at"))
        if query.since_ms and at < query.since_ms:
            continue
        if query.until_ms and at >= query.until_ms:
            continue
        out.append(t)
    return out


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


def page(entries: list[dict[str, Any]], query: pb.TimelineQuery
         ) -> tuple[list[dict[str, Any]], str]:
    """One page, newest first; raises ValueError when the page token no longer matches."""
    size = query.page_size or DEFAULT_PAGE
    start = 0
    if query.page_token:
        after = decode_page_token(query.page_token)
        ids = [str(t.get("event_id")) for t in entries]
        if after not in ids:
            raise ValueError("the page token's entry left the timeline; start again")
        start = ids.index(after) + 1
    chunk = entries[start:start + size]
    more = start + size < len(entries)
    return chunk, encode_page_token(str(chunk[-1].get("event_id"))) if more and chunk else ""


def freshness(entry: Entry, *, caught_up: bool, lag: int, served_by: str) -> pb.Freshness:
    return pb.Freshness(version=entry.version, updated_at_ms=ms(entry.updated_at),
                        view_caught_up=caught_up, view_lag_messages=lag, served_by=served_by)


def customer_context(entry: Entry, *, unmask: bool, timeline: list[dict[str, Any]],
                     fresh: pb.Freshness | None, handoffs: list[pb.Handoff],
                     cache: EntryCache | None = None) -> pb.CustomerContext:
    data = entry.data
    profile = data.get("profile") or {}
    counts = data.get("counts") or {}
    complaints = [c for c in data.get("complaints") or ()
                  if str(c.get("status") or "open").lower() not in CLOSED_COMPLAINT]
    return pb.CustomerContext(
        customer_id=entry.customer_id,
        identities=identities(data, unmask),
        profile=pb.ProfileSummary(first_seen_ms=ms(profile.get("first_seen")),
                                  last_seen_ms=ms(profile.get("last_seen")),
                                  channels=[channel(c) for c in profile.get("channels") or ()]),
        timeline=[cache.get(t) if cache else timeline_entry(t) for t in timeline],
        open_journeys=[journey(j) for j in data.get("journeys") or () if is_open_journey(j)],
        open_complaints=[pb.Complaint(
            complaint_id=str(c.get("complaint_id") or ""), status=_text(c.get("status")),
            category=_text(c.get("category")), opened_at_ms=ms(c.get("opened_at")),
            due_at_ms=ms(c.get("due_at"))) for c in complaints],
        last_csat=last_survey(data, "CSAT"), last_nps=last_survey(data, "NPS"),
        counts=pb.ContactCounts(contacts_7d=int(counts.get("contacts_7d") or 0),
                                contacts_30d=int(counts.get("contacts_30d") or 0)),
        active_handoffs=handoffs, freshness=fresh)
