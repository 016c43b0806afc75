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


def workload(customers: int, events_per_customer: int, *, seed: int = 7, t0: int = 1_795_744_800_000,
             duplicate_share: float = 0.02) -> list[dict[str, Any]]:
    """A realistic mixed stream: anonymous web visits that later log in, calls with a
    verified customer number, app sessions; a share of duplicates (connector retries) and
    locally shuffled order (late events). Customers never share identifiers, so the final
    state does not depend on how partitions interleave."""
    import random

    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    per: list[list[dict[str, Any]]] = []
    for i in range(customers):
        cn = ident("CUSTOMER_NUMBER", f"N{i:07d}", verified=True)
        cookie = ident("COOKIE", f"ck{i:07d}")
        at = t0 + rnd.randrange(0, 3_600_000)
        evs = [event("digital.page", "WEB", at, f"w{i}", identifiers=[cookie],
                     reason="transfer_failed",
                     payload=models.DigitalPayload(name="transfer", outcome="failed")),
               event("digital.login", "WEB", at + 20_000, f"w{i}", identifiers=[
                   cookie, ident("WEB_LOGIN", f"wl{i}", verified=True), cn])]
        k = 0
        while len(evs) < events_per_customer:
            at += rnd.randrange(30_000, 600_000)
            k += 1
            if k % 2:
                wait = float(rnd.randrange(1, 60))
                iid = f"c{i}-{k}"
                phone = ident("PHONE", f"h:k1:p{i:07d}")
                evs.append(event("call.queued", "PHONE", at, iid, identifiers=[phone, cn],
                                 queue=f"q{i % 3}", reason="card_lost"))
                if wait < 50:
                    evs.append(event("call.answered", "PHONE", at + int(wait * 1000), iid,
                                     identifiers=[phone, cn], queue=f"q{i % 3}",
                                     payload=models.CallPayload(wait_s=wait)))
                    evs.append(event("call.completed", "PHONE", at + 300_000, iid,
                                     identifiers=[phone, cn], queue=f"q{i % 3}",
                                     payload=models.CallPayload(talk_s=float(rnd.randrange(60, 600)))))
                else:
                    evs.append(event("call.abandoned", "PHONE", at + int(wait * 1000), iid,
                                     identifiers=[phone, cn], queue=f"q{i % 3}",
                                     payload=models.CallPayload(wait_s=wait)))
            else:
                evs.append(event("digital.screen", "APP", at, f"a{i}-{k}", identifiers=[
                    ident("APP_USER", f"u{i}", verified=True), cn],
                    payload=models.DigitalPayload(name="balance")))
        per.append(evs[:events_per_customer])
    # Interleave customers, keeping each customer's anonymous-then-login order.
    stream: list[dict[str, Any]] = []
    cursors = [0] * customers
    live = list(range(customers))
    while live:
        i = rnd.choice(live)
        stream.append(per[i][cursors[i]])
        cursors[i] += 1
        if cursors[i] >= len(per[i]):
            live.remove(i)
    dups = [stream[rnd.randrange(len(stream))] for _ in range(int(len(stream) * duplicate_share))]
    for d in dups:
        stream.insert(rnd.randrange(len(stream) // 2, len(stream) + 1), d)
    return stream
