"""The customer-context snapshot contract: what the processors write validates against the
checked-in JSON Schema and the pydantic models, the two agree, and the service refuses
snapshots that break it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
import pytest
from pydantic import ValidationError

from backbone import models
from backbone import snapshot as contract
from services.context.view import ContextView
from stream_processors.synthetic import event, ident, workload
from tests.integration.services.support import snapshot as service_test_snapshot
from tests.unit.stream_processors.engine import Engine

T = 1_795_744_800_000
CN = [ident("CUSTOMER_NUMBER", "C1", verified=True), ident("PHONE", "h:k1:abc", masked="138****1234")]


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(contract.SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _side_events() -> list[dict[str, Any]]:
    """Every kind of snapshot section: complaints, surveys, handoffs, journeys, contacts."""
    return [
        event("call.queued", "PHONE", T, "c1", identifiers=CN, queue="q1", reason="card_lost"),
        event("call.answered", "PHONE", T + 15_000, "c1", identifiers=CN,
              payload=models.CallPayload(wait_s=15.0)),
        event("complaint.opened", "BRANCH", T + 20_000, "b1", identifiers=CN, branch="b9",
              payload=models.ComplaintPayload(complaint_id="K1", status="opened",
                                              category="fees")),
        event("survey.answered", "PHONE", T + 30_000, "c1", identifiers=CN,
              payload=models.SurveyPayload(kind=models.SurveyKind("CSAT"), score=4,
                                           scale_max=5)),
        event("handoff.created", "PHONE", T + 40_000, "h1", identifiers=CN, journey_id="j1",
              payload=models.HandoffPayload(handoff_id="H1", from_channel=models.Channel("PHONE"),
                                            to_channel=models.Channel("APP"), status="created"),
              attributes={"expires_at": str(T + 10**6)}, actor="AGENT"),
        event("digital.track", "APP", T + 50_000, "s1", identifiers=CN, journey_id="j1"),
    ]


def _written() -> list[dict[str, Any]]:
    """Snapshots as the processors build them, from a mixed workload and the side events."""
    engine = Engine()
    engine.feed(workload(20, 6) + _side_events())
    snaps = [s for s in engine.context.values() if s is not None]
    assert len(snaps) >= 20
    assert any(s["complaints"] and s["surveys"] and s["handoffs"] and s["journeys"]
               for s in snaps), "the side events reached one customer"
    return snaps


def test_the_schema_file_is_what_the_models_define() -> None:
    """Drift: regenerate with `python -m backbone.snapshot` after changing the models."""
    assert json.loads(contract.SCHEMA_FILE.read_text()) == contract.json_schema()


def test_what_the_processors_write_validates_against_the_schema_file_and_the_models() -> None:
    validator = _validator()
    for snap in _written():
        wire = orjson.dumps(snap)  # as the worker publishes it
        validator.validate(json.loads(wire))
        parsed = contract.parse(wire)
        assert parsed.schema_version == contract.SCHEMA_VERSION
        assert parsed.model_dump(mode="json") == json.loads(wire)  # nothing lost or renamed


def test_the_service_tests_write_contract_snapshots_too() -> None:
    data = service_test_snapshot("c", 1, n_events=5)
    _validator().validate(data)
    contract.CustomerContext.model_validate(data)


@pytest.mark.parametrize("change", [
    {"schema_version": 2}, {"schema_version": None}, {"surprise": 1}, {"version": "3"},
    {"updated_at": 1.5}, {"timeline": [{"event_id": "x"}]},
])
def test_snapshots_breaking_the_contract_are_refused(change: dict[str, Any]) -> None:
    data = service_test_snapshot("c", 1) | change
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValidationError):
        contract.parse(json.dumps(data))
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(data)


def test_the_view_skips_a_broken_snapshot_and_keeps_the_last_good_one() -> None:
    class Msg:
        def __init__(self, value: bytes):
            self._value = value

        def key(self) -> bytes:
            return b"c"

        def value(self) -> bytes:
            return self._value

        def topic(self) -> str:
            return "customer-context"

        def partition(self) -> int:
            return 0

        def offset(self) -> int:
            return 7

    view = ContextView()
    good = service_test_snapshot("c", 1)
    view.apply_batch([Msg(json.dumps(good).encode())])  # type: ignore[list-item]
    old_style = {k: v for k, v in service_test_snapshot("c", 2).items() if k != "schema_version"}
    view.apply_batch([Msg(json.dumps(old_style).encode()), Msg(b"{not json")])  # type: ignore[list-item]
    assert view.decode_errors == 2
    entry = view.get("c")
    assert entry is not None and entry.version == 1
