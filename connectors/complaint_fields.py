"""Complaint lifecycle fields every feed shares (docs/complaints.md): the step names, the
``ComplaintPayload`` and the event attributes that carry owner, team, reason, promise and
satisfaction (the Avro payload keeps its v1 fields; the details travel as attributes).
"""

from __future__ import annotations

from typing import Any

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import ComplaintPayload
from connectors import clock
from connectors.http import require_str

STEPS: dict[str, str] = {
    "opened": v.COMPLAINT_OPENED, "acknowledged": v.COMPLAINT_ACKNOWLEDGED,
    "assigned": v.COMPLAINT_ASSIGNED, "updated": v.COMPLAINT_UPDATED,
    "escalated": v.COMPLAINT_ESCALATED, "extended": v.COMPLAINT_EXTENDED,
    "resolved": v.COMPLAINT_RESOLVED, "closed": v.COMPLAINT_CLOSED,
    "reopened": v.COMPLAINT_REOPENED,
}
# Input field -> event attribute (stream_processors/complaints.py reads them).
DETAILS = {"owner": "complaint_owner", "team": "complaint_team",
           "reason": "complaint_reason", "promise": "complaint_promise"}
PROPERTIES: dict[str, Any] = {
    "complaint_id": {"type": "string"}, "category": {"type": "string"},
    "due_at": {"type": ["string", "number"]}, "owner": {"type": "string"},
    "team": {"type": "string"}, "promise": {"type": "string"},
    "satisfaction": {"type": "integer"}, "satisfaction_max": {"type": "integer"},
}


def payload(step: str, body: dict[str, Any], prefix: str = "") -> ComplaintPayload:
    due = body.get("due_at")
    return ComplaintPayload(
        complaint_id=require_str(body, "complaint_id", prefix, max_len=64) or "",
        status=step, category=require_str(body, "category", prefix, required=False,
                                          max_len=64),
        due_at=clock.parse_ms(due, f"{prefix}due_at") if due is not None else None)


def attributes(step: str, body: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The step's details; an extension needs its reason, an assignment its owner or team."""
    out: dict[str, str] = {}
    for key, attr in DETAILS.items():
        value = require_str(body, key, prefix, required=False,
                            max_len=200 if key in ("promise", "reason") else 64)
        if value:
            out[attr] = value
    if step == "extended" and "complaint_reason" not in out:
        raise ValidationError(f"{prefix}reason is required to extend a complaint",
                              code="missing_field", field=f"{prefix}reason")
    if step == "assigned" and not ({"complaint_owner", "complaint_team"} & out.keys()):
        raise ValidationError(f"{prefix}owner or {prefix}team is required",
                              code="missing_field", field=f"{prefix}owner")
    score, top = body.get("satisfaction"), body.get("satisfaction_max", 5)
    if score is not None:
        if not (isinstance(score, int) and isinstance(top, int) and not isinstance(score, bool)
                and 0 <= score <= top <= 10):
            raise ValidationError(f"{prefix}satisfaction must be an integer 0..{prefix}"
                                  "satisfaction_max (at most 10)", code="out_of_range",
                                  field=f"{prefix}satisfaction")
        out["complaint_satisfaction"] = str(score)
        out["complaint_satisfaction_max"] = str(top)
    return out


def interaction(complaint_id: str) -> str:
    """Every step of one complaint shares one interaction: it outlives any call or chat."""
    return f"complaint:{complaint_id}"
