"""Customer-context snapshots for the benchmarks, built with the contract's models
(backbone/snapshot.py), so a benchmark measures what the processors really publish."""

from __future__ import annotations

from backbone import snapshot as contract

T0 = 1_790_000_000_000
CHANNELS: tuple[contract.Channel, ...] = ("APP", "PHONE", "WEB", "WECHAT")


def _event(i: int, customer: str) -> contract.TimelineEntry:
    return contract.TimelineEntry(
        event_id=f"{customer}-e{i}", event_type="digital.track", channel=CHANNELS[i % 4],
        occurred_at=T0 + i * 1000, ingested_at=T0 + i * 1000 + 5, interaction_id=f"s{i // 5}",
        journey_id=None, reason="transfer_failed",
        actor=contract.Actor(kind="CUSTOMER", id=None), organisation=None,
        summary=f"Transfer screen, step {i}", attributes={"screen": "transfer"})


def snapshot(customer_id: str, version: int, *, events: int = 50,
             phone_hash: str = "h:k1:phone") -> contract.CustomerContext:
    """A customer with ``events`` timeline entries (newest first), an open journey, an open
    complaint and survey answers."""
    timeline = [_event(i, customer_id) for i in range(events)][::-1]
    return contract.CustomerContext(
        schema_version=1, customer_id=customer_id, version=version,
        updated_at=T0 + version, last_event_ids=[t.event_id for t in timeline][::-1][-100:],
        identities=[
            contract.Identity(type="PHONE", value=phone_hash, masked="138****1234",
                              verified=True),
            contract.Identity(type="WECHAT_OPENID", value=f"oWx-{customer_id}", masked=None,
                              verified=True)],
        profile=contract.Profile(first_seen=T0, last_seen=T0 + events * 1000,
                                 channels=list(CHANNELS)),
        timeline=timeline, contacts=[],
        journeys=[contract.Journey(
            journey_id="j1", reason="transfer_failed", status="open", channels=["APP", "PHONE"],
            last_channel="PHONE", tried=["APP: failed (E42)", "PHONE: transferred"],
            started_at=T0, updated_at=T0 + version, handoffs=0)],
        complaints=[contract.Complaint(complaint_id="k1", status="opened", category="fees",
                                       opened_at=T0, due_at=T0 + 15 * 86_400_000)],
        surveys=[contract.Survey(kind="CSAT", score=4, scale_max=5, at=T0 + 20)],
        counts=contract.Counts(contacts_7d=3, contacts_30d=5), handoffs=[])


def wire(snap: contract.CustomerContext) -> bytes:
    """The snapshot as it travels on ``customer-context``."""
    return snap.model_dump_json().encode()
