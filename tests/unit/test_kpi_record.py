"""The ``kpis`` topic's contract (schemas/json/kpi/v1.json): every record the KPI stage
publishes follows it and the context service serves it; a record outside it is refused,
and the service keeps serving the good ones around it."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import jsonschema
import pytest
from confluent_kafka import Message

from backbone import kpi_record, models
from backbone.context.v1 import context_pb2 as pb
from backbone.errors import ValidationError
from services.context.kpis import KpiView
from stream_processors import kpis
from stream_processors.codec import dumps
from stream_processors.stages.kpis import KpiStage
from stream_processors.synthetic import event, ident, workload
from tests.unit.stream_processors.engine import Engine

T = 1_795_744_800_000  # 2026-11-27 10:00 Asia/Shanghai
S = 1000
CN = [ident("CUSTOMER_NUMBER", "C1", verified=True)]


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(kpi_record.SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _side_events() -> list[dict[str, Any]]:
    """The channels and KPIs the workload lacks: chat, branch, surveys, complaints."""
    def chat(et: str, off: int, agent: str | None = None) -> dict[str, Any]:
        return event(et, "WECHAT", T + off * S, "wechat:o-1", identifiers=[
            ident("WECHAT_OPENID", "o-1")], actor="AGENT" if agent else "CUSTOMER",
            payload=models.ChatPayload(session_id="wechat:o-1", agent=agent))

    def ticket(et: str, off: int, **payload: Any) -> dict[str, Any]:
        return event(et, "BRANCH", T + off * S, "branch:b1:A1", identifiers=CN,
                     queue="personal", branch="b1",
                     payload=models.BranchPayload(ticket_id="A1", **payload))

    return [
        chat("wechat.message", 0), chat("wechat.transfer_customer_service", 5),
        chat("wechat.kf_create_session", 15, "kf1"), chat("wechat.kf_close_session", 135, "kf1"),
        ticket("branch.ticket_issued", 0), ticket("branch.called", 240),
        ticket("branch.service_started", 300), ticket("branch.service_ended", 900),
        event("complaint.opened", "BRANCH", T + 950 * S, "b1", identifiers=CN, branch="b1",
              payload=models.ComplaintPayload(complaint_id="K1", status="opened",
                                              category="fees")),
        event("survey.answered", "PHONE", T + 30 * S, "c1", identifiers=CN,
              payload=models.SurveyPayload(kind=models.SurveyKind("CSAT"), score=4,
                                           scale_max=5)),
        event("survey.answered", "APP", T + 40 * S, "a1", identifiers=CN,
              payload=models.SurveyPayload(kind=models.SurveyKind("NPS"), score=9,
                                           scale_max=10)),
    ]


class TopicSink:
    def __init__(self) -> None:
        self.kpis: list[tuple[bytes, bytes | None]] = []

    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        if name == "kpis":
            self.kpis.append((key, value))


def _published() -> list[tuple[bytes, bytes | None]]:
    """What the real KPI stage writes on ``kpis`` for a mixed morning of traffic."""
    cfg = kpis.KpiConfig()
    engine = Engine()
    engine.feed(workload(30, 8) + _side_events())
    part, wm = kpis.PartitionCounters(), 0
    for state in engine.customers.values():
        part.apply({}, kpis.facts(state, cfg))
        wm = max(wm, state.get("now", 0))
    sink = TopicSink()
    stage = KpiStage(sink, cfg, clock=lambda: wm)  # type: ignore[arg-type]
    for scope in sorted(part.dirty):
        stage.take(scope.encode(), dumps({"p": 0, "wm": wm, "b": part.scope_partial(scope, 0)}))
    asyncio.run(stage.flush())
    return sink.kpis


class Msg:
    def __init__(self, key: str, value: bytes | None) -> None:
        self._key, self._value = key.encode(), value

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def topic(self) -> str:
        return "kpis"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7


def batch(*msgs: Msg) -> list[Message]:
    """Consumer messages as the service's feed hands them over."""
    return cast("list[Message]", list(msgs))


def test_every_record_the_kpi_stage_publishes_follows_the_contract_and_is_served() -> None:
    written = _published()
    validator = _validator()
    records = []
    for key, value in written:
        if value is None:  # a tombstone deletes an emptied interval: not a record
            continue
        record = json.loads(value)
        validator.validate(record)
        assert key == kpi_record.key(record["channel"], record["scope"], record["window"])
        records.append(record)
    # The input reached every channel, both record kinds and every interval size.
    assert {r["channel"] for r in records} >= {"PHONE", "APP", "WEB", "WECHAT", "BRANCH"}
    assert {r.get("interval") for r in records} == {None, "15m", "30m", "1d"}

    view = KpiView()
    view.apply_batch(batch(*(Msg(k.decode(), v) for k, v in written)))
    assert view.rejected == 0
    today = {(s.channel, s.scope): {v.name: v.value for v in s.values}
             for s in view.query(set(), "", "today")}
    assert today[(pb.CHANNEL_PHONE, "all")]["offered"] > 0
    assert today[(pb.CHANNEL_WECHAT, "all")]["aht_s"] == 120.0
    assert today[(pb.CHANNEL_BRANCH, "branch:b1")]["asa_s"] == 240.0
    assert view.intervals({pb.CHANNEL_PHONE}, "all", "30m", 0, 2**62)


def _window(**change: Any) -> dict[str, Any]:
    record = kpi_record.window_record("PHONE", "all", "15m", window_start=T, as_of=T + 60 * S,
                                      values={"offered": 12, "service_level": 0.8333})
    return {k: v for k, v in (record | change).items() if v is not None}


def _interval(**change: Any) -> dict[str, Any]:
    record = kpi_record.interval_record("PHONE", "all", "30m", window_start=T,
                                        window_end=T + 1_800_000, as_of=T + 60 * S,
                                        values={"offered": 12})
    return {k: v for k, v in (record | change).items() if v is not None}


@pytest.mark.parametrize("record", [
    _window(schema_version=2), _window(schema_version=None), _window(updated_at=T),
    _window(window_start=None), _window(window_start=str(T)), _window(as_of=1.5),
    _window(window="2h"), _window(window_end=T + 1),
    _window(values={"offered": "12"}), _window(values={"asa_s": None}),
    _window(values={"service_level": {"value": 0.8, "numerator": 80, "denominator": 100}}),
    _interval(window_end=None), _interval(interval="20m"), _interval(window="15m"),
], ids=lambda r: json.dumps(r, sort_keys=True)[:60])
def test_records_outside_the_contract_are_refused(record: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        kpi_record.parse(json.dumps(record).encode())  # the reader's written-out check
    with pytest.raises(ValidationError):
        kpi_record.check(record)  # the JSON Schema itself says the same


def test_the_contract_accepts_both_kinds_and_refuses_what_is_not_json() -> None:
    assert kpi_record.parse(json.dumps(_window()).encode())["values"]["offered"] == 12
    assert kpi_record.parse(json.dumps(_interval()).encode())["window"] == f"30m@{T}"
    with pytest.raises(ValidationError):
        kpi_record.parse(b"{not json")


def test_the_service_skips_a_bad_record_and_keeps_serving_good_ones() -> None:
    view = KpiView()
    good, interval = _window(), _interval()
    view.apply_batch(batch(
        Msg("PHONE|all|15m", json.dumps(good).encode()),
        Msg("APP|all|15m", json.dumps(_window(channel="APP", schema_version=None)).encode()),
        Msg(f"PHONE|all|30m@{T}", json.dumps(interval).encode()),
        Msg("WEB|all|15m", b"\x00garbage"),
    ))
    # A later record breaking the contract does not replace the last good one.
    view.apply_batch(batch(Msg("PHONE|all|15m",
                               json.dumps(_window(values={"offered": "x"})).encode())))
    assert view.rejected == 3
    (live,) = view.query(set(), "", "15m")
    assert (live.channel, live.window_start_ms, live.updated_at_ms) == (pb.CHANNEL_PHONE, T,
                                                                        T + 60 * S)
    assert {v.name: v.value for v in live.values} == {"offered": 12.0, "service_level": 0.8333}
    (half_hour,) = view.intervals(set(), "", "30m", T, T + 1)
    assert half_hour.window_end_ms == T + 1_800_000
    # A tombstone is not a bad record: the interval it names is gone.
    view.apply_batch(batch(Msg(f"PHONE|all|30m@{T}", None)))
    assert view.intervals(set(), "", "30m", T, T + 1) == [] and view.rejected == 3
