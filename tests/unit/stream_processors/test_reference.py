"""The reference log through the pure pipeline (no broker): identity, timeline and KPI
outputs equal the hand-written answers."""

from __future__ import annotations

from stream_processors.identity import known_customer_id as C
from stream_processors.identity import provisional_id as P
from tests.unit.stream_processors import checks
from tests.unit.stream_processors import reference as ref
from tests.unit.stream_processors.engine import Engine


def run() -> Engine:
    engine = Engine()
    for phase in ref.PHASES:
        engine.feed(phase)
    return engine


def test_reference_context_matches_known_answers() -> None:
    checks.check_context(run().context)


def test_reference_identity_events_match_known_answers() -> None:
    checks.check_identity_events(run().identity_events)


def test_reference_kpis_match_known_answers() -> None:
    assert checks.kpi_mismatches(run().kpi_values()) == {}


def test_reference_erasure_is_recorded_and_stays_deleted() -> None:
    engine = run()
    assert [e["customer_id"] for e in engine.erasures] == [C("C500"), P("WECHAT_OPENID:o-f")]
    assert engine.identities["WECHAT_OPENID:o-e"]["c"] == []
    # Replaying the whole log again changes nothing: deletions hold, duplicates are ignored.
    before = {k: v for k, v in engine.context.items()}
    for phase in ref.PHASES:
        engine.feed(phase)
    assert engine.context[C("C500")] is None
    assert engine.context == before
