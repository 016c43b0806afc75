"""The reference log through the real worker on the real broker: identity, timeline and
KPI outputs equal the known answers exactly."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from backbone.settings import Settings
from stream_processors.identity import known_customer_id as C
from stream_processors.identity import provisional_id as P
from tests.integration.stream_processors import harness as h
from tests.unit.stream_processors import checks
from tests.unit.stream_processors import reference as ref


def test_reference_log_through_real_worker(settings_factory: Callable[..., Settings],
                                           worker_factory: Callable[..., h.WorkerProcess]) -> None:
    settings = settings_factory(kpi_publish_interval_s=0.5)
    worker = worker_factory(settings)
    worker.start()
    for phase in ref.PHASES:
        h.produce(settings, phase)
        h.wait_idle(settings, worker=worker)

    checks.check_context(h.latest(settings, "customer-context"))
    audit = [orjson.loads(v) for _, v in h.read_all(settings, "identity-events") if v]
    checks.check_identity_events(audit)
    erasures = h.latest(settings, "erasures")
    # customers by id, erased identifiers by keyed hash (e:)
    assert {k for k in erasures if not k.startswith("e:")} == {C("C500"), P("WECHAT_OPENID:o-f")}

    def kpis_match() -> bool:
        view = {k: v["values"] for k, v in h.latest(settings, "kpis").items() if v}
        return checks.kpi_mismatches(view) == {}

    assert h.wait_until(kpis_match, 30), checks.kpi_mismatches(
        {k: v["values"] for k, v in h.latest(settings, "kpis").items() if v})
    assert worker.alive()
