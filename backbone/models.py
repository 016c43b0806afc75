"""Pydantic mirror of the Avro contracts, for typed construction in connectors.

The ``.avsc`` files are the source of truth; ``tests/unit/test_contracts.py`` fails when
these models and the newest schema disagree on a field, its type or its optionality.
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

NAMESPACE = "bank.ccb.v1"


class Channel(StrEnum):
    UNKNOWN = "UNKNOWN"
    PHONE = "PHONE"
    APP = "APP"
    WEB = "WEB"
    WECHAT = "WECHAT"
    BRANCH = "BRANCH"


class IdentifierType(StrEnum):
    UNKNOWN = "UNKNOWN"
    PHONE = "PHONE"
    APP_USER = "APP_USER"
    DEVICE = "DEVICE"
    WEB_LOGIN = "WEB_LOGIN"
    COOKIE = "COOKIE"
    WECHAT_OPENID = "WECHAT_OPENID"
    WECHAT_UNIONID = "WECHAT_UNIONID"
    CARD = "CARD"
    ID_NUMBER = "ID_NUMBER"
    CUSTOMER_NUMBER = "CUSTOMER_NUMBER"
    ANONYMOUS = "ANONYMOUS"


class ActorKind(StrEnum):
    UNKNOWN = "UNKNOWN"
    CUSTOMER = "CUSTOMER"
    AGENT = "AGENT"
    TELLER = "TELLER"
    BOT = "BOT"
    SYSTEM = "SYSTEM"


class SecurityLevel(StrEnum):
    C1 = "C1"
    C2 = "C2"


class SurveyKind(StrEnum):
    CSAT = "CSAT"
    NPS = "NPS"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)


class Identifier(_Record):
    type: IdentifierType = IdentifierType.UNKNOWN
    value: str = Field(min_length=1, max_length=200)
    masked: str | None = None
    verified: bool = False


class Actor(_Record):
    kind: ActorKind = ActorKind.UNKNOWN
    id: str | None = None


class Organisation(_Record):
    branch: str | None = None
    queue: str | None = None
    counter: str | None = None


class CallPayload(_Record):
    avro_name: ClassVar[str] = "CallPayload"
    linkedid: str | None = None
    uniqueid: str | None = None
    agent: str | None = None
    wait_s: float | None = None
    ring_s: float | None = None
    talk_s: float | None = None
    hold_s: float | None = None
    acw_s: float | None = None
    position: int | None = None
    original_position: int | None = None
    cause: str | None = None
    transfer_to: str | None = None
    timeout: bool = False


class DigitalPayload(_Record):
    avro_name: ClassVar[str] = "DigitalPayload"
    name: str
    session_id: str | None = None
    screen: str | None = None
    outcome: str | None = None
    error_code: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)


class ChatPayload(_Record):
    avro_name: ClassVar[str] = "ChatPayload"
    session_id: str
    agent: str | None = None
    msg_type: str | None = None
    msg_id: str | None = None
    text: str | None = None
    event_key: str | None = None
    wait_s: float | None = None


class BranchPayload(_Record):
    avro_name: ClassVar[str] = "BranchPayload"
    ticket_id: str
    service: str | None = None
    wait_s: float | None = None
    service_s: float | None = None
    to_queue: str | None = None
    to_counter: str | None = None


class SurveyPayload(_Record):
    avro_name: ClassVar[str] = "SurveyPayload"
    kind: SurveyKind
    score: int
    scale_max: int
    about_interaction_id: str | None = None


class ComplaintPayload(_Record):
    avro_name: ClassVar[str] = "ComplaintPayload"
    complaint_id: str
    status: str
    category: str | None = None
    due_at: int | None = None


class HandoffPayload(_Record):
    avro_name: ClassVar[str] = "HandoffPayload"
    handoff_id: str
    from_channel: Channel
    to_channel: Channel
    status: str
    summary: str | None = None


Payload = (
    CallPayload | DigitalPayload | ChatPayload | BranchPayload | SurveyPayload
    | ComplaintPayload | HandoffPayload
)


class InteractionEvent(_Record):
    event_id: str = Field(min_length=1, max_length=128)
    event_type: str = Field(min_length=3, max_length=64)
    channel: Channel = Channel.UNKNOWN
    occurred_at: int
    ingested_at: int
    source_system: str
    source_event_id: str
    interaction_id: str
    journey_id: str | None = None
    correlation_id: str | None = None
    reason: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    actor: Actor = Field(default_factory=Actor)
    organisation: Organisation | None = None
    security_level: SecurityLevel = SecurityLevel.C2
    payload: Payload | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        """A dict fastavro writes unambiguously (the payload names its union branch)."""
        record = self.model_dump()
        if self.payload is not None:
            record["payload"]["-type"] = f"{NAMESPACE}.{self.payload.avro_name}"
        return record


class DeadLetter(_Record):
    dead_letter_id: str
    source: str
    reason: str
    detail: str = ""
    received_at: int
    raw: bytes
    raw_size: int
    truncated: bool = False
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    attributes: dict[str, str] = Field(default_factory=dict)


def event_id(source_system: str, source_event_id: str) -> str:
    """Deterministic idempotency key: the same source event always gets the same id."""
    return hashlib.sha256(f"{source_system}\x1f{source_event_id}".encode()).hexdigest()[:32]


def now_ms() -> int:
    return int(time.time() * 1000)


DEFAULT_RAW_CAP = 16 * 1024


def dead_letter(
    source: str, reason: str, raw: bytes, *, detail: str = "", cap: int = DEFAULT_RAW_CAP,
    attributes: dict[str, str] | None = None, topic: str | None = None,
    partition: int | None = None, offset: int | None = None,
) -> DeadLetter:
    """Build a dead-letter record with the raw payload capped at ``cap`` bytes."""
    received = now_ms()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return DeadLetter(
        dead_letter_id=f"{source}:{received}:{digest}", source=source, reason=reason,
        detail=detail[:2000], received_at=received, raw=raw[:cap], raw_size=len(raw),
        truncated=len(raw) > cap, topic=topic, partition=partition, offset=offset,
        attributes=attributes or {},
    )
