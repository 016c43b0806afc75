"""The ``customer-context`` snapshot: the contract between the stream processors, which
write one per customer (stream_processors/snapshot.py), and the context service, which
reads them into its view (services/context/view.py).

These models are the definition; ``schemas/json/customer_context/v1.json`` is their JSON
Schema, checked in for other readers and compared with the models by a test. Times are
epoch milliseconds. A change a v1 reader cannot read needs ``schema_version`` 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1
SCHEMA_ID = "https://context.backbone.bank/schemas/customer_context/v1.json"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas/json/customer_context/v1.json"

Channel = Literal["UNKNOWN", "PHONE", "APP", "WEB", "WECHAT", "BRANCH"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Identity(_Part):
    type: str
    value: str  # a keyed HMAC for phone, card and ID numbers, never the raw number
    masked: str | None  # display form (138****1234) when the channel gave one
    verified: bool


class ProfileAttribute(_Part):
    """An attribute from a system of record, with its JR/T 0197 data level (the service
    shows the value only to roles cleared for it: backbone/data_levels.py)."""

    name: str  # tier, segment, preferred_language, preferred_channel, vulnerable
    value: str
    level: int
    source: str  # crm, core_banking
    updated_at: int


class Product(_Part):
    product_type: str
    account_number: str | None  # display form only (6228 **** **** 3256)
    status: str | None
    level: int  # of the product type
    account_level: int  # of the (masked) account number
    source: str
    updated_at: int


class Consent(_Part):
    purpose: str  # service, marketing
    channel: str  # ALL, PHONE, SMS, APP, WECHAT, EMAIL, BRANCH
    status: Literal["granted", "withdrawn"]
    source: str | None  # where the customer gave or withdrew it
    at: int


class Traits(_Part):
    """Computed from the customer's log at every snapshot (event time)."""

    contacts_30d_by_channel: dict[str, int]
    last_contact_reason: str | None
    open_complaints: int
    last_complaint_at: int | None
    days_since_last_complaint: int | None
    preferred_channel: str | None  # the channel used most in the last 30 days
    level: int


class Profile(_Part):
    first_seen: int | None
    last_seen: int | None
    channels: list[Channel]
    # From the systems of record (issue 14); absent in snapshots written before.
    attributes: list[ProfileAttribute] = []
    products: list[Product] = []
    consents: list[Consent] = []  # current state per purpose and channel
    consent_history: list[Consent] = []  # newest first
    traits: Traits | None = None


class Actor(_Part):
    kind: str
    id: str | None


class TimelineEntry(_Part):
    event_id: str
    event_type: str
    channel: Channel
    occurred_at: int
    ingested_at: int
    interaction_id: str
    journey_id: str | None
    reason: str | None
    actor: Actor | None
    organisation: dict[str, str] | None
    summary: str
    attributes: dict[str, str]


class Contact(_Part):
    interaction_id: str
    channel: Channel
    started_at: int
    ended_at: int
    outcome: str


class Journey(_Part):
    journey_id: str
    reason: str | None
    status: str
    channels: list[Channel]
    last_channel: Channel
    tried: list[str]
    started_at: int
    updated_at: int
    handoffs: int


class Complaint(_Part):
    complaint_id: str
    status: str
    category: str | None
    opened_at: int | None
    due_at: int | None
    # The complaint book (issue 13): who owns it, what was promised, which tier (15/30/60).
    channel: Channel | None = None
    owner: str | None = None
    team: str | None = None
    tier_days: int | None = None
    escalations: int = 0
    promise: str | None = None
    resolved_at: int | None = None
    closed_at: int | None = None
    satisfaction: int | None = None


class Survey(_Part):
    kind: str
    score: int | None
    scale_max: int | None
    at: int


class Counts(_Part):
    contacts_7d: int
    contacts_30d: int


class HandoffRef(_Part):
    handoff_id: str
    from_channel: str | None
    to_channel: str | None
    status: str
    at: int


class CustomerContext(_Part):
    """The latest context of one customer (key = customer id; a tombstone = erased)."""

    model_config = ConfigDict(title="CustomerContextSnapshot")

    schema_version: Literal[1]
    customer_id: str
    version: int  # grows with every applied event; readers never go back
    updated_at: int  # when the processor published this snapshot
    last_event_ids: list[str]  # the last applied event ids, in apply order
    identities: list[Identity]
    profile: Profile
    timeline: list[TimelineEntry]  # newest first
    contacts: list[Contact]
    journeys: list[Journey]
    complaints: list[Complaint]
    surveys: list[Survey]  # newest first
    counts: Counts
    handoffs: list[HandoffRef]


def parse(raw: bytes | str) -> CustomerContext:
    """A snapshot from its JSON; pydantic.ValidationError when it breaks the contract."""
    return CustomerContext.model_validate_json(raw)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`CustomerContext` as checked in (``SCHEMA_FILE``)."""
    schema = CustomerContext.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema}


def write_schema() -> None:
    """Regenerate ``SCHEMA_FILE`` from the models: ``python -m backbone.snapshot``."""
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_schema()
