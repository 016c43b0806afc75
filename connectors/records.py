"""The connectors' fast path: canonical events as plain dicts in the Avro record's shape.

Building an ``InteractionEvent`` pydantic model, dumping it and letting fastavro
rediscover every union branch cost ~150 µs per event; the busy connectors (app/web,
phone) build these dicts directly (a few µs) and :class:`~backbone.serde.FastAvroEncoder`
writes them (~10 µs). Every builder here sets every field of its record with the
pydantic model's default, so ``InteractionEvent.model_validate`` of a record gives the
same Avro bytes (``tests/unit/connectors/test_fast_path.py`` proves it per channel).

The pydantic models remain the contract's typed mirror for the slower feeds, the tests
and anything that wants attribute access: :attr:`Prepared.model` (and attribute access
on a :class:`Prepared`, which delegates to it) is that view.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from backbone.models import NAMESPACE, InteractionEvent

Record = dict[str, Any]

CALL = f"{NAMESPACE}.CallPayload"
DIGITAL = f"{NAMESPACE}.DigitalPayload"
CHAT = f"{NAMESPACE}.ChatPayload"
BRANCH = f"{NAMESPACE}.BranchPayload"
SURVEY = f"{NAMESPACE}.SurveyPayload"
COMPLAINT = f"{NAMESPACE}.ComplaintPayload"
HANDOFF = f"{NAMESPACE}.HandoffPayload"


def identifier(kind: str, value: str, masked: str | None = None,
               verified: bool = False) -> Record:
    return {"type": kind, "value": value, "masked": masked, "verified": verified}


def actor(kind: str = "UNKNOWN", id: str | None = None) -> Record:  # noqa: A002 - Avro name
    return {"kind": kind, "id": id}


def organisation(branch: str | None = None, queue: str | None = None,
                 counter: str | None = None) -> Record:
    return {"branch": branch, "queue": queue, "counter": counter}


def call_payload(linkedid: str | None = None, uniqueid: str | None = None,
                 agent: str | None = None, wait_s: float | None = None,
                 ring_s: float | None = None, talk_s: float | None = None,
                 hold_s: float | None = None, acw_s: float | None = None,
                 position: int | None = None, original_position: int | None = None,
                 cause: str | None = None, transfer_to: str | None = None,
                 timeout: bool = False) -> Record:
    return {"linkedid": linkedid, "uniqueid": uniqueid, "agent": agent, "wait_s": wait_s,
            "ring_s": ring_s, "talk_s": talk_s, "hold_s": hold_s, "acw_s": acw_s,
            "position": position, "original_position": original_position, "cause": cause,
            "transfer_to": transfer_to, "timeout": timeout, "-type": CALL}


def digital_payload(name: str, session_id: str | None = None, screen: str | None = None,
                    outcome: str | None = None, error_code: str | None = None,
                    properties: dict[str, str] | None = None) -> Record:
    return {"name": name, "session_id": session_id, "screen": screen, "outcome": outcome,
            "error_code": error_code, "properties": properties or {}, "-type": DIGITAL}


def chat_payload(session_id: str, agent: str | None = None, msg_type: str | None = None,
                 msg_id: str | None = None, text: str | None = None,
                 event_key: str | None = None, wait_s: float | None = None) -> Record:
    return {"session_id": session_id, "agent": agent, "msg_type": msg_type, "msg_id": msg_id,
            "text": text, "event_key": event_key, "wait_s": wait_s, "-type": CHAT}


def survey_payload(kind: str, score: int, scale_max: int,
                   about_interaction_id: str | None = None) -> Record:
    return {"kind": kind, "score": score, "scale_max": scale_max,
            "about_interaction_id": about_interaction_id, "-type": SURVEY}


def complaint_payload(complaint_id: str, status: str, category: str | None = None,
                      due_at: int | None = None) -> Record:
    return {"complaint_id": complaint_id, "status": status, "category": category,
            "due_at": due_at, "-type": COMPLAINT}


def without_type_hints(record: Record) -> Record:
    """The record as pydantic takes it (the payload's ``-type`` is fastavro's hint only)."""
    payload = record.get("payload")
    if isinstance(payload, dict) and "-type" in payload:
        record = record | {"payload": {k: v for k, v in payload.items() if k != "-type"}}
    return record


class Prepared:
    """One canonical event, validated, mapped, de-identified and already Avro-encoded.

    ``value`` is the Kafka record value (Confluent wire format), ``record`` the dict it was
    written from. Attribute access (``event.payload.wait_s``) goes to :attr:`model`, the
    pydantic view, built (and validated) only when someone asks.
    """

    def __init__(self, record: Record, value: bytes):
        self.record = record
        self.value = value
        self.event_id: str = record["event_id"]
        self.interaction_id: str = record["interaction_id"]

    @cached_property
    def model(self) -> InteractionEvent:
        return InteractionEvent.model_validate(without_type_hints(self.record))

    def to_avro(self) -> Record:
        return self.record

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return f"Prepared({self.record['event_type']} {self.event_id})"
