"""Builders for synthetic interaction events (tests, the reference harness, the benchmark).

They go through the pydantic contract models, so every synthetic event is one a real
connector could have produced.
"""

from __future__ import annotations

from typing import Any

from backbone import models


def ident(typ: str, value: str, *, verified: bool = False, masked: str | None = None
          ) -> dict[str, Any]:
    return {"type": typ, "value": value, "verified": verified, "masked": masked}


def event(event_type: str, channel: str, at: int, interaction_id: str, *,
          identifiers: list[dict[str, Any]] | None = None, event_id: str | None = None,
          payload: models.Payload | None = None, reason: str | None = None,
          journey_id: str | None = None, queue: str | None = None, branch: str | None = None,
          attributes: dict[str, str] | None = None, actor: str = "CUSTOMER",
          ingested_at: int | None = None) -> dict[str, Any]:
    """One Avro-ready InteractionEvent dict (``payload`` carries its union branch name)."""
    source_event_id = event_id or f"{interaction_id}:{event_type}:{at}"
    org = models.Organisation(queue=queue, branch=branch) if queue or branch else None
    model = models.InteractionEvent(
        event_id=event_id or models.event_id("synthetic", source_event_id),
        event_type=event_type, channel=models.Channel(channel), occurred_at=at,
        ingested_at=ingested_at if ingested_at is not None else at + 50,
        source_system="synthetic", source_event_id=source_event_id,
        interaction_id=interaction_id, journey_id=journey_id, reason=reason,
        identifiers=[models.Identifier(**i) for i in identifiers or ()],
        actor=models.Actor(kind=models.ActorKind(actor)), organisation=org, payload=payload,
        attributes=attributes or {},
    )
    return model.to_avro()
