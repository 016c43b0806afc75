"""The handoff log's rule: the first terminal event of a handoff wins; credentials are
derived, never published (no broker)."""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import SecretStr

from backbone import vocabulary
from backbone.avro_reader import EventDecoder
from backbone.serde import INTERACTION_EVENT, AvroSerde, FastAvroEncoder, registry_client
from backbone.settings import Settings
from services.context.auth import Principal, Role
from services.context.handoff import HandoffDesk
from services.context.handoff_book import Handoff, HandoffBook, closed_event_id


def _event(kind: str, attempt: str, at: int = 2) -> dict[str, Any]:
    return {"event_type": kind, "occurred_at": at, "journey_id": None, "reason": None,
            "payload": {"handoff_id": "h1", "from_channel": "PHONE", "to_channel": "APP",
                        "summary": None},
            "attributes": {"customer_id": "c", "attempt_id": attempt, "principal": attempt,
                           "expires_at": "100", "token_hash": "t", "code_hash": "k"}}


def test_first_terminal_event_in_log_order_wins() -> None:
    book = HandoffBook(decoder=None, topic="handoffs")  # type: ignore[arg-type]
    book.apply(_event(vocabulary.HANDOFF_CREATED, "create", at=1))
    book.apply(_event(vocabulary.HANDOFF_ACCEPTED, "first"))
    book.apply(_event(vocabulary.HANDOFF_CANCELLED, "second"))
    book.apply(_event(vocabulary.HANDOFF_ACCEPTED, "third"))
    h = book.get("h1")
    assert isinstance(h, Handoff)
    assert (h.status, h.winning_attempt, h.closed_by) == ("accepted", "first", "first")
    assert book.by_token("t") is h and book.by_code("k") == [h]
    assert book.active_for("c") == []


def test_every_terminal_attempt_shares_one_event_id() -> None:
    assert closed_event_id("h1") == closed_event_id("h1") != closed_event_id("h2")


class _Publisher:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def publish(self, topic: str, key: Any, value: bytes) -> asyncio.Future[int]:
        self.values.append(value)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(len(self.values))
        return future


def _desk(settings: Settings, client: SchemaRegistryClient, publisher: _Publisher
          ) -> tuple[HandoffDesk, HandoffBook]:
    """What the service builds: the compiled encoder writes, the fastavro reader reads."""
    book = HandoffBook(EventDecoder(client), settings.topic("handoffs"))
    encoder = FastAvroEncoder(client, INTERACTION_EVENT)
    return HandoffDesk(settings, book, publisher, encoder, instance="a",  # type: ignore[arg-type]
                       clock=lambda: 1_790_000_000.0), book


async def test_created_events_carry_no_credentials_yet_a_restarted_instance_redeems(
        unit_settings: Settings) -> None:
    client = registry_client(unit_settings)  # one in-process registry for all of them
    serde = AvroSerde(client, INTERACTION_EVENT)
    publisher = _Publisher()
    desk, _ = _desk(unit_settings, client, publisher)
    agent = Principal("agent-1", Role.AGENT, "token")
    handoff, token, code, _ = await desk.create(agent, "cust-1", "PHONE", "APP", "j1", "r",
                                                "s", 0)
    assert len(code) == 8 and code.isdigit() and len(token) == 32
    assert (token, code) == desk.credentials(handoff.handoff_id)
    event = serde.deserialize(unit_settings.topic("handoffs"), publisher.values[0])
    assert set(event["attributes"]) == {"customer_id", "attempt_id", "principal", "instance",
                                        "expires_at"}
    for secret in (token, code, handoff.token_hash, handoff.code_hash):
        assert secret.encode() not in publisher.values[0]

    fresh, book = _desk(unit_settings, client, _Publisher())  # another instance, or a restart
    book.apply(event)
    assert fresh.find(token, "").handoff_id == handoff.handoff_id
    assert fresh.find("", code[:4] + " " + code[4:]).handoff_id == handoff.handoff_id
    other_key = unit_settings.model_copy(update={"handoff_key": SecretStr("another-key")})
    assert _desk(other_key, client, _Publisher())[0].credentials(handoff.handoff_id) != \
        (token, code)
