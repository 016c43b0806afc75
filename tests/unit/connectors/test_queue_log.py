"""Asterisk queue_log: every event mapped with the AMI path's meaning, and the file followed
like ``tail -F`` (appends, partial lines, rotation, truncation, restarts) without a broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backbone.errors import BackpressureError, ConfigurationError, PublishError, ValidationError
from connectors.base import Pipeline
from connectors.calls import CallMapper, transfer_target
from connectors.queue_log import QueueLogConnector
from connectors.queue_log_mapper import QueueLogMapper

T = int(time.time()) - 600
CALLER = "13912345678"


def ql(at: float, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
    return "|".join([str(T + at), callid, queue, agent, event, *map(str, data)])


def view(event: Any) -> dict[str, Any]:
    """What a KPI reads from an event, flattened."""
    r = event.record
    p = r["payload"] or {}
    talk = None if p.get("talk_s") is None else p["talk_s"] + (p.get("hold_s") or 0.0)
    return {"type": r["event_type"], "iid": r["interaction_id"],
            "queue": (r["organisation"] or {}).get("queue"), "wait_s": p.get("wait_s"),
            "talk_s": talk, "ring_s": p.get("ring_s"), "transfer_to": p.get("transfer_to"),
            "reason": r["attributes"].get("reason")}


@dataclass(frozen=True)
class Dialled:
    number: str


@pytest.fixture
def pipeline(unit_settings) -> Pipeline:
    return Pipeline(unit_settings, "test")


@pytest.fixture
def mapper(pipeline) -> QueueLogMapper:
    return QueueLogMapper(pipeline)


# -- mapping ------------------------------------------------------------------------------

def test_enterqueue_is_call_queued_with_the_callers_phone(mapper):
    [event] = mapper.map(ql(0, "1.1", "q1", "NONE", "ENTERQUEUE", "", CALLER, 1) + "\n")
    r = event.record
    assert (r["event_type"], r["channel"], r["interaction_id"]) == ("call.queued", "PHONE",
                                                                    "call:1.1")
    assert r["organisation"]["queue"] == "q1" and r["actor"] == {"kind": "CUSTOMER", "id": None}
    assert r["payload"]["position"] == 1 and r["occurred_at"] == T * 1000
    assert r["source_system"] == "asterisk-queue_log"
    [ident] = event.identifiers
    assert ident.type == "PHONE" and ident.masked == "139****5678" and not ident.verified
    assert CALLER not in ident.value


@pytest.mark.parametrize(("line", "expected"), [
    (ql(5, "1.1", "q1", "Alice", "RINGNOANSWER", 15000),
     {"type": "call.ring_no_answer", "ring_s": 15.0}),
    (ql(12, "1.1", "q1", "Alice", "CONNECT", 12, "1.2", 3),
     {"type": "call.answered", "wait_s": 12.0, "ring_s": 3.0}),
    (ql(99, "1.1", "q1", "Alice", "COMPLETEAGENT", 12, 95, 1),
     {"type": "call.completed", "wait_s": 12.0, "talk_s": 95.0, "reason": "agent"}),
    (ql(99, "1.1", "q1", "Alice", "COMPLETECALLER", 12, 95, 1),
     {"type": "call.completed", "wait_s": 12.0, "talk_s": 95.0, "reason": "caller"}),
])
def test_agent_events(mapper, line, expected):
    mapper.map(ql(0, "1.1", "q1", "NONE", "ENTERQUEUE", "", CALLER))
    [event] = mapper.map(line)
    got = view(event)
    assert {k: got[k] for k in expected} == expected
    assert (got["iid"], got["queue"]) == ("call:1.1", "q1")
    assert event.record["actor"] == {"kind": "AGENT", "id": "Alice"}
    assert event.record["payload"]["agent"] == "Alice"
    assert len(event.identifiers) == 1  # the caller's phone, remembered from ENTERQUEUE
    if expected["type"] == "call.completed":
        assert event.payload.hold_s == 0.0  # queue_log knows no hold: talk_s is all of it


def test_abandon_and_timeout(mapper):
    [abandon] = mapper.map(ql(40, "2.1", "q1", "NONE", "ABANDON", 3, 5, 40))
    [timeout] = mapper.map(ql(300, "3.1", "q1", "NONE", "EXITWITHTIMEOUT", 2, 4, 300))
    assert abandon.event_type == "call.abandoned" and not abandon.payload.timeout
    assert (abandon.payload.position, abandon.payload.original_position,
            abandon.payload.wait_s) == (3, 5, 40.0)
    assert timeout.event_type == "call.timed_out" and timeout.payload.timeout
    assert (timeout.payload.position, timeout.payload.original_position,
            timeout.payload.wait_s) == (2, 4, 300.0)
    assert abandon.identifiers == [] and timeout.interaction_id == "call:3.1"


@pytest.mark.parametrize(("line", "target"), [
    (ql(107, "1.1", "q1", "Alice", "BLINDTRANSFER", "8002", "queues", 12, 95, 1),
     "8002@queues"),
    (ql(107, "1.1", "q1", "Alice", "ATTENDEDTRANSFER", "BRIDGE",
        "5c1a9e2b-77d4-4b3e-a0f1-c3e2d4b5a6f7", 12, 95, 1),
     "5c1a9e2b-77d4-4b3e-a0f1-c3e2d4b5a6f7"),
    (ql(107, "1.1", "q1", "Alice", "ATTENDEDTRANSFER", "LINK", "PJSIP/1002-0000000a",
        "Local/8003@queues-00000002;1", 12, 95, 1),
     "PJSIP/1002-0000000a|Local/8003@queues-00000002;1"),
    (ql(107, "1.1", "q1", "Alice", "BLINDTRANSFER", "013912345678", "outbound", 12, 95, 1),
     Dialled("013912345678")),
    (ql(107, "1.1", "q1", "Alice", "ATTENDEDTRANSFER", "APP",
        "Local/+86 139 1234 5678@outbound-00000003;1", 12, 95, 1), Dialled("13912345678")),
])
def test_transfer_is_completed_plus_transferred(mapper, line, target):
    if isinstance(target, Dialled):  # a number dialled out: its PHONE token, never the digits
        target = mapper.p.phone(target.number).value
        assert target.startswith("h:k1:")
    transferred, completed = mapper.map(line)
    assert view(transferred) == {
        "type": "call.transferred", "iid": "call:1.1", "queue": "q1", "wait_s": None,
        "talk_s": None, "ring_s": None, "transfer_to": target, "reason": None}
    assert view(completed) == {
        "type": "call.completed", "iid": "call:1.1", "queue": "q1", "wait_s": 12.0,
        "talk_s": 95.0, "ring_s": None, "transfer_to": None, "reason": "transfer"}
    assert completed.payload.hold_s == 0.0
    assert transferred.event_id != completed.event_id


def test_event_ids_are_deterministic_and_epochs_may_be_fractional(pipeline):
    line = ql(12.25, "1.1", "q1", "Alice", "CONNECT", 12, "1.2", 3)
    first = QueueLogMapper(pipeline).map(line)[0]
    again = QueueLogMapper(pipeline).map(line)[0]  # as after a restart
    assert first.event_id == again.event_id
    assert first.source_event_id == f"1.1:CONNECT:q1:{T + 12}.25:Alice"
    assert first.occurred_at == T * 1000 + 12250


@pytest.mark.parametrize("line", [
    ql(0, "1.1", "q1", "NONE", "EXITEMPTY", 1, 1, 30),
    ql(0, "1.1", "q1", "NONE", "EXITWITHKEY", 5, 1, 1, 30),
    ql(0, "NONE", "q1", "NONE", "QUEUESTART", ""),
    ql(0, "NONE", "NONE", "NONE", "CONFIGRELOAD", ""),
    ql(0, "NONE", "q1", "PJSIP/1001", "ADDMEMBER", ""),
    ql(0, "NONE", "q1", "Alice", "PAUSE", "lunch"),
    ql(0, "NONE", "NONE", "Agent/1001", "AGENTLOGIN", "PJSIP/1001"),
    ql(0, "1.1", "q1", "Alice", "SYSCOMPAT", ""),
    ql(0, "1.1", "q1", "NONE", "INFO", "whatever"),
    "", "  \r\n",
])
def test_other_lines_are_ignored(mapper, line):
    assert mapper.map(line) == []


@pytest.mark.parametrize(("line", "code", "field"), [
    ("garbage", "missing_field", "callid"),
    (ql(0, "1.1", "q1", "Alice", "CONNECT", 12), "missing_field", "bridged_uniqueid"),
    (ql(0, "1.1", "q1", "NONE", "ENTERQUEUE"), "missing_field", "url"),
    ("soon|1.1|q1|Alice|CONNECT|12|1.2|3", "bad_timestamp", "epoch"),
    ("99|1.1|q1|Alice|CONNECT|12|1.2|3", "timestamp_too_old", "epoch"),
    (ql(0, "1.1", "q1", "Alice", "CONNECT", "twelve", "1.2", 3), "invalid_field", "holdtime"),
    (ql(0, "1.1", "q1", "Alice", "COMPLETEAGENT", 12, "nan", 1), "invalid_field", "calltime"),
    (ql(0, "1.1", "q1", "NONE", "ABANDON", "first", 1, 3), "invalid_field", "position"),
    (ql(0, "1.1", "q1", "Alice", "RINGNOANSWER", -5), "invalid_field", "ringtime_ms"),
    (ql(0, "NONE", "q1", "Alice", "CONNECT", 12, "1.2", 3), "missing_field", "callid"),
])
def test_bad_lines_are_refused_with_a_clear_code(mapper, line, code, field):
    with pytest.raises(ValidationError) as info:
        mapper.map(line)
    assert (info.value.code, info.value.field) == (code, field)
    assert mapper.map(ql(1, "1.1", "q1", "Alice", "CONNECT", 1, "1.2", 1))  # still maps


# -- the AMI path means the same ---------------------------------------------------------

def test_ami_and_queue_log_give_the_same_call_with_a_transfer_to_a_second_queue(pipeline):
    c = {"Uniqueid": "1.1", "Linkedid": "1.1", "CallerIDNum": CALLER}
    frames = [
        {"Event": "Newchannel", **c, "Exten": "95588"},
        {"Event": "QueueCallerJoin", **c, "Queue": "q1", "Position": "1"},
        {"Event": "AgentCalled", **c, "Queue": "q1", "MemberName": "Alice"},
        {"Event": "AgentConnect", **c, "Queue": "q1", "MemberName": "Alice",
         "HoldTime": "12", "RingTime": "3"},
        {"Event": "BlindTransfer", "Result": "Success", "TransfererUniqueid": "1.2",
         "TransfererLinkedid": "1.1", "TransfereeUniqueid": "1.1",
         "TransfereeLinkedid": "1.1", "Extension": "8002", "Context": "queues"},
        {"Event": "AgentComplete", **c, "Queue": "q1", "MemberName": "Alice",
         "HoldTime": "12", "TalkTime": "95", "Reason": "transfer"},
        {"Event": "QueueCallerJoin", **c, "Queue": "q2", "Position": "1"},
        {"Event": "AgentCalled", **c, "Queue": "q2", "MemberName": "Bob"},
        {"Event": "AgentConnect", **c, "Queue": "q2", "MemberName": "Bob",
         "HoldTime": "30", "RingTime": "4"},
        {"Event": "AgentComplete", **c, "Queue": "q2", "MemberName": "Bob",
         "HoldTime": "30", "TalkTime": "200", "Reason": "caller"},
        {"Event": "Hangup", **c, "Cause": "16"},
    ]
    lines = [
        ql(0, "1.1", "q1", "NONE", "ENTERQUEUE", "", CALLER, 1),
        ql(12, "1.1", "q1", "Alice", "CONNECT", 12, "1.2", 3),
        ql(107, "1.1", "q1", "Alice", "BLINDTRANSFER", "8002", "queues", 12, 95, 1),
        ql(107, "1.1", "q2", "NONE", "ENTERQUEUE", "", CALLER, 1),
        ql(137, "1.1", "q2", "Bob", "CONNECT", 30, "1.3", 4),
        ql(337, "1.1", "q2", "Bob", "COMPLETECALLER", 30, 200, 1),
    ]
    ami = CallMapper(pipeline)
    no_line_for = {"call.started", "call.agent_ringing", "call.ended"}  # AMI-only events
    from_ami = [view(e) for f in frames for e in ami.map(f) if e.event_type not in no_line_for]
    mapper = QueueLogMapper(pipeline)
    from_file_events = [e for line in lines for e in mapper.map(line)]
    assert from_ami == [view(e) for e in from_file_events]
    assert [v["type"] for v in from_ami] == [
        "call.queued", "call.answered", "call.transferred", "call.completed",
        "call.queued", "call.answered", "call.completed"]
    assert from_ami[2]["queue"] == "q1" and from_ami[3]["reason"] == "transfer"
    assert all(len(e.identifiers) == 1 for e in from_file_events)


def test_ami_transfer_targets_are_keyed_hashes_of_the_number(pipeline):
    ami = CallMapper(pipeline)
    [attended] = ami.map({"Event": "AttendedTransfer", "Result": "Success",
                          "OrigTransfererUniqueid": "1.2", "OrigTransfererLinkedid": "1.1",
                          "TransferTargetCallerIDNum": "13812345678"})
    [blind] = ami.map({"Event": "BlindTransfer", "Result": "Success",
                       "TransfererUniqueid": "1.2", "TransfereeLinkedid": "1.1",
                       "Extension": "0085212345678", "Context": "outbound"})
    # The same number always gives the same token: the PHONE identifier's own HMAC.
    assert attended.payload.transfer_to == pipeline.phone("138-1234-5678").value
    assert blind.payload.transfer_to == pipeline.phone("0085212345678").value
    assert attended.payload.transfer_to != blind.payload.transfer_to
    for event in (attended, blind):
        raw = json.dumps(event.to_avro())
        assert "13812345678" not in raw and "12345678" not in raw
    assert attended.organisation is None  # never answered in a queue: no queue to name
    hasher = pipeline.hasher
    assert transfer_target("PJSIP/1002-00000012", hasher) == "PJSIP/1002-00000012"
    assert transfer_target("8002@queues", hasher) == "8002@queues"
    assert transfer_target("021-12345678@out", hasher) == \
        transfer_target("02112345678@other", hasher) == pipeline.phone("02112345678").value


def test_dialled_numbers_in_newchannel_and_cdr_are_hashed(pipeline):
    ami = CallMapper(pipeline)
    out = {"Uniqueid": "9.1", "Linkedid": "9.1", "CallerIDNum": "8001"}
    [started] = ami.map({"Event": "Newchannel", **out, "Exten": "013912345678"})
    [inbound] = ami.map({"Event": "Newchannel", "Uniqueid": "9.2", "Linkedid": "9.2",
                         "CallerIDNum": "13912345679", "Exten": "95588"})
    [cdr] = ami.map({"Event": "Cdr", "UniqueID": "9.1", "Disposition": "ANSWERED",
                     "DestinationChannel": "Local/013912345678@outbound-0000000a;1"})
    token = pipeline.phone("013912345678").value
    assert started.attributes["exten"] == token
    assert inbound.attributes["exten"] == "95588"  # the bank's own service number stays
    assert cdr.source_event_id.startswith(f"9.1:Cdr:Local/{token}@outbound-0000000a;1:")
    for event in (started, cdr):
        assert "13912345678" not in json.dumps(event.to_avro())


# -- following the file ------------------------------------------------------------------

class FakeKafka:
    """The publisher's contract: a future per record, acknowledged at once unless held."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, bytes]] = []
        self.down = False
        self.hold = False
        self.fail_next = 0
        self.refused = 0
        self.healthy = True
        self.pipeline: Any = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def publish(self, topic: str, key: Any, value: bytes,
                headers: Any = None) -> asyncio.Future[int]:
        if self.down:
            self.refused += 1
            raise BackpressureError("Kafka unreachable; retry later")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.records.append((topic, key, value))
        if self.fail_next:
            self.fail_next -= 1
            fut.set_exception(PublishError("delivery failed"))
        elif not self.hold:
            fut.set_result(len(self.records))
        return fut


async def eventually(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Harness:
    def __init__(self, settings, tmp_path: Path) -> None:
        self.settings = settings
        self.path = tmp_path / "queue_log"
        self.state = tmp_path / "state" / "queue_log.state"

    def connector(self, kafka: FakeKafka) -> QueueLogConnector:
        pipeline = Pipeline(self.settings, "queue_log", publisher=kafka)  # type: ignore[arg-type]
        kafka.pipeline = pipeline  # its registry knows the schema ids (mock registries don't share)
        return QueueLogConnector(self.settings, path=self.path, state_path=self.state,
                                 pipeline=pipeline, poll_interval_s=0.01)

    @contextlib.asynccontextmanager
    async def running(self, kafka: FakeKafka) -> AsyncIterator[QueueLogConnector]:
        connector = self.connector(kafka)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            yield connector
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    def events(self, kafka: FakeKafka) -> list[str]:
        """Source ids of the interaction events Kafka holds, in publish order."""
        pipe = kafka.pipeline
        return [pipe._events.deserialize(topic, value)["source_event_id"]
                for topic, _, value in kafka.records if topic == pipe.topic]

    def dead_letters(self, kafka: FakeKafka) -> list[dict[str, Any]]:
        pipe = kafka.pipeline
        return [pipe._dead.deserialize(topic, value)
                for topic, _, value in kafka.records if topic == pipe.dead_topic]

    def append(self, *lines: str, path: Path | None = None) -> None:
        with (path or self.path).open("a") as out:
            out.write("".join(f"{line}\n" for line in lines))

    def checkpoint(self) -> dict[str, Any]:
        return json.loads(self.state.read_text())


def connect(n: int) -> str:
    return ql(n, f"{n}.1", "q1", "Alice", "CONNECT", 10, f"{n}.2", 2)


def cid(n: int) -> str:
    return f"{n}.1:CONNECT:q1:{T + n}:Alice"


@pytest.fixture
def harness(unit_settings, tmp_path) -> Harness:
    return Harness(unit_settings.model_copy(update={"publish_timeout_s": 0.3}), tmp_path)


async def test_waits_for_the_file_and_for_a_line_to_be_complete(harness):
    kafka = FakeKafka()
    async with harness.running(kafka) as connector:
        await asyncio.sleep(0)  # the follower starts before the file exists
        harness.append(connect(1))
        await eventually(lambda: connector.acked == 1)
        with harness.path.open("a") as out:
            out.write(connect(2)[:-3])  # "...|10|2.2|" without the ring time and newline
        size = harness.path.stat().st_size
        await eventually(lambda: connector._tail.read_to == size)  # read, but held back
        assert connector.lines == 1 and connector.acked == 1
        with harness.path.open("a") as out:
            out.write(connect(2)[-3:] + "\n")
        await eventually(lambda: connector.acked == 2)
    assert harness.events(kafka) == [cid(1), cid(2)]
    assert connector.lines == 2


async def test_rotation_finishes_the_old_file_then_reads_the_new_one(harness):
    kafka = FakeKafka()
    harness.append(connect(1), connect(2))
    async with harness.running(kafka) as connector:
        await eventually(lambda: connector.acked == 2)
        kafka.down = True  # hold the follower on line 3 while the file is rotated
        harness.append(connect(3))
        await eventually(lambda: kafka.refused > 0)
        harness.append(connect(4))
        with harness.path.open("a") as out:
            out.write(connect(5))  # the old file's last line never gets its newline
        harness.path.rename(harness.path.with_name("queue_log.1"))
        harness.append(connect(6), connect(7))
        kafka.down = False
        await eventually(lambda: connector.acked == 7)
    assert harness.events(kafka) == [cid(n) for n in range(1, 8)]
    assert harness.checkpoint() == {"path": str(harness.path), "inode": harness.path.stat().st_ino,
                                    "offset": harness.path.stat().st_size}


async def test_truncation_starts_again_at_the_beginning(harness):
    kafka = FakeKafka()
    harness.append(connect(1), connect(2), connect(3))
    async with harness.running(kafka) as connector:
        await eventually(lambda: connector.acked == 3)
        with harness.path.open("w") as out:  # copytruncate
            out.write(f"{connect(4)}\n")
        await eventually(lambda: connector.acked == 4)
        harness.append(connect(5))
        await eventually(lambda: connector.acked == 5)
    assert harness.events(kafka) == [cid(n) for n in range(1, 6)]
    assert harness.checkpoint()["offset"] == harness.path.stat().st_size


async def test_restart_resumes_from_the_checkpoint_without_duplicates(harness):
    first = FakeKafka()
    harness.append(connect(1), connect(2), connect(3))
    async with harness.running(first) as connector:
        await eventually(lambda: connector.acked == 3)
    assert harness.checkpoint()["offset"] == harness.path.stat().st_size
    harness.append(connect(4))
    second = FakeKafka()
    async with harness.running(second) as connector:
        harness.append(connect(5))
        await eventually(lambda: connector.acked == 2)
    assert harness.events(first) == [cid(1), cid(2), cid(3)]
    assert harness.events(second) == [cid(4), cid(5)]


async def test_unacknowledged_lines_are_read_again_after_a_restart(harness):
    silent = FakeKafka()
    silent.hold = True  # Kafka takes the records but never acknowledges
    harness.append(connect(1), connect(2))
    async with harness.running(silent) as connector:
        await eventually(lambda: connector.lines == 2)
    assert connector.acked == 0 and harness.checkpoint()["offset"] == 0
    kafka = FakeKafka()
    async with harness.running(kafka) as connector:
        await eventually(lambda: connector.acked == 2)
    assert harness.events(kafka) == [cid(1), cid(2)]


async def test_kafka_down_or_failing_delays_events_but_loses_none(harness):
    kafka = FakeKafka()
    kafka.down = True
    harness.append(connect(1), connect(2))
    async with harness.running(kafka) as connector:
        await eventually(lambda: kafka.refused >= 2)  # refused and retried, not dropped
        assert connector.acked == 0
        kafka.fail_next = 1  # then one delivery fails: handed over again
        kafka.down = False
        await eventually(lambda: connector.acked == 2)
        harness.append(connect(3))
        await eventually(lambda: connector.acked == 3)
    published = harness.events(kafka)
    assert sorted(published) == [cid(1), cid(1), cid(2), cid(3)]  # the failed one sent again
    assert harness.checkpoint()["offset"] == harness.path.stat().st_size


async def test_a_bad_line_is_a_dead_letter_and_the_next_one_still_maps(harness):
    kafka = FakeKafka()
    harness.append(ql(0, "1.1", "q1", "Alice", "CONNECT", "x", "1.2", 3), "garbage",
                   ql(0, "NONE", "q1", "NONE", "QUEUESTART", ""), connect(2))
    async with harness.running(kafka) as connector:
        await eventually(lambda: connector.acked == 1)
    assert connector.lines == 4 and harness.events(kafka) == [cid(2)]
    dead = harness.dead_letters(kafka)
    assert [(d["reason"], d["attributes"]) for d in dead] == [
        ("invalid_field", {"event": "CONNECT", "field": "holdtime"}),
        ("missing_field", {"event": "", "field": "callid"})]
    assert dead[1]["raw"] == b"garbage"


def test_a_file_is_required(unit_settings):
    with pytest.raises(ConfigurationError):
        QueueLogConnector(unit_settings)


def test_building_the_connector_does_no_io(unit_settings, tmp_path):
    connector = QueueLogConnector(unit_settings, path=tmp_path / "nope" / "queue_log",
                                  state_path=tmp_path / "nope" / "state")
    assert connector.acked == connector.lines == 0
    assert not (tmp_path / "nope").exists()
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("state", [
    lambda path: {"inode": path.stat().st_ino, "offset": 7},  # mid-line: a reused inode
    lambda path: {"inode": path.stat().st_ino + 1, "offset": len(connect(1)) + 1},
    lambda path: "{not json",
])
async def test_a_checkpoint_that_does_not_fit_the_file_starts_it_over(harness, state):
    harness.append(connect(1), connect(2))
    harness.state.parent.mkdir(parents=True)
    value = state(harness.path)
    harness.state.write_text(value if isinstance(value, str) else json.dumps(value))
    kafka = FakeKafka()
    async with harness.running(kafka) as connector:
        await eventually(lambda: connector.acked == 2)
    assert harness.events(kafka) == [cid(1), cid(2)]


async def test_an_endless_line_is_refused_not_buffered(harness):
    kafka = FakeKafka()
    with harness.path.open("w") as out:
        out.write("x" * 100_000 + "\n" + connect(1) + "\n")
    async with harness.running(kafka) as connector:
        await eventually(lambda: connector.acked == 1)
    assert harness.events(kafka) == [cid(1)]
    assert {d["reason"] for d in harness.dead_letters(kafka)} == {"missing_field"}
    assert len(connector._tail.partial) <= 16 * 1024
