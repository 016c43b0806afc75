"""At-least-once in the worker: a lost produce stops the commit, a retriable error never
acks its event. The app is built with ``create_app`` (no I/O) and a fake producer."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types.tuples import ConsumerMessage, Message

from backbone.errors import PublishError, SchemaRegistryError, SerializationError
from backbone.settings import Settings
from stream_processors.app import create_app
from stream_processors.deliveries import Deliveries, never_ack_on_retry


def done(exc: BaseException | None = None) -> asyncio.Future[Any]:
    fut = asyncio.get_running_loop().create_future()
    if exc is None:
        fut.set_result("metadata")
    else:
        fut.set_exception(exc)
    return fut


async def test_a_failed_delivery_fails_the_check_until_restart() -> None:
    tracked = Deliveries()
    tracked.track(done())
    pending = asyncio.get_running_loop().create_future()
    tracked.track(pending)
    tracked.track(done(RuntimeError("MessageSizeTooLargeError")))
    asyncio.get_running_loop().call_later(0.01, pending.set_result, "metadata")
    with pytest.raises(PublishError, match="MessageSizeTooLarge"):
        await tracked.check()
    assert pending.done()  # the check waited for the record still in flight
    tracked.track(done())
    with pytest.raises(PublishError):  # no later commit is safe either
        await tracked.check()


async def test_settled_deliveries_are_dropped_so_the_queue_stays_bounded() -> None:
    tracked = Deliveries()
    for _ in range(10_000):
        tracked.track(done())
    assert len(tracked) <= 1
    await tracked.check()
    assert len(tracked) == 0


async def test_app_refuses_to_commit_and_crashes_when_a_produced_record_is_lost(
        unit_settings: Settings) -> None:
    app = create_app(unit_settings)
    sent: list[tuple[str, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes | None, *_: Any) -> asyncio.Future[Any]:
        sent.append((topic, key))
        return done(RuntimeError("MessageSizeTooLargeError"))

    app.producer.send = send  # type: ignore[method-assign]
    [kpi] = [agent for name, agent in app.agents.items() if name.endswith(".kpi")]
    async with kpi.test_context() as agent:
        partial = {"p": 0, "wm": 1_795_744_800_000, "b": {}}
        await agent.put(key=b"PHONE|all", value=json.dumps(partial).encode())
        # faust's Consumer._commit_offsets awaits producer.flush() right before _commit:
        with pytest.raises(PublishError):
            await app.producer.flush()
    assert sent and all(topic.endswith("kpis") for topic, _ in sent)
    assert app.crashed  # the worker stops, exits non-zero and restarts from the last commit


async def test_app_commits_when_every_record_is_delivered(unit_settings: Settings) -> None:
    app = create_app(unit_settings)

    async def send(*_: Any) -> asyncio.Future[Any]:
        return done()

    app.producer.send = send  # type: ignore[method-assign]
    [kpi] = [agent for name, agent in app.agents.items() if name.endswith(".kpi")]
    async with kpi.test_context() as agent:
        await agent.put(key=b"PHONE|all",
                        value=json.dumps({"p": 0, "wm": 1_795_744_800_000, "b": {}}).encode())
        await app.producer.flush()
    assert not app.crashed


class FakeApp:
    should_stop = False

    def __init__(self) -> None:
        self.crashed_with: list[BaseException] = []

    async def crash(self, exc: BaseException) -> None:
        self.crashed_with.append(exc)


class RecordingConsumer:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: Message) -> bool:
        self.acked.append(message.offset)
        return True


def event(offset: int = 41) -> Any:
    message = ConsumerMessage("ccb.interactions", 2, offset, 0.0, 0, None, b"k", b"v", None)
    return SimpleNamespace(message=message)


async def test_a_retriable_error_is_retried_on_the_same_event() -> None:
    app, ev, calls = FakeApp(), event(), []

    async def step() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise SchemaRegistryError("registry down")

    await never_ack_on_retry(app, ev, step, base_s=0.001)  # type: ignore[arg-type]
    assert len(calls) == 3 and app.crashed_with == []
    consumer = RecordingConsumer()
    ev.message.ack(consumer)
    assert consumer.acked == [41]  # succeeded: acked as usual once the agent moves on


async def test_a_persisting_retriable_error_crashes_the_worker_and_never_acks() -> None:
    app, ev = FakeApp(), event()

    async def step() -> None:
        raise SchemaRegistryError("registry down")

    task = asyncio.ensure_future(
        never_ack_on_retry(app, ev, step, attempts=3, base_s=0.001))  # type: ignore[arg-type]
    for _ in range(200):
        if app.crashed_with:
            break
        await asyncio.sleep(0.005)
    assert [type(e) for e in app.crashed_with] == [SchemaRegistryError]
    assert not task.done()  # parked on the event: the agent does not move on
    task.cancel()  # the worker's shutdown
    with pytest.raises(asyncio.CancelledError):
        await task
    consumer = RecordingConsumer()
    ev.message.ack(consumer)  # what faust does when it closes the stream
    assert consumer.acked == []  # offset 41 never becomes committable: redelivered


async def test_cancelled_while_retrying_the_event_stays_unacked() -> None:
    app, ev = FakeApp(), event()

    async def step() -> None:
        raise SchemaRegistryError("registry down")

    task = asyncio.ensure_future(
        never_ack_on_retry(app, ev, step, attempts=5, base_s=10))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    task.cancel()  # a rebalance while waiting to retry
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    consumer = RecordingConsumer()
    ev.message.ack(consumer)
    assert consumer.acked == [] and len(app.crashed_with) == 1


async def test_non_retriable_errors_pass_through_for_the_agent_to_dead_letter() -> None:
    app = FakeApp()

    async def step() -> None:
        raise SerializationError("bad bytes")

    with pytest.raises(SerializationError):
        await never_ack_on_retry(app, event(), step)  # type: ignore[arg-type]
    assert app.crashed_with == []
