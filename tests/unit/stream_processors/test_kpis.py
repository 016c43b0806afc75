"""The contact model and KPI formulas (docs/contact-model.md, docs/kpis.md) on small,
hand-computed cases fed through the in-memory pipeline (router → resolver → customer)."""

from __future__ import annotations

from typing import Any

from backbone import models
from stream_processors import formulas, kpis, windows
from stream_processors.identity import known_customer_id as C
from stream_processors.synthetic import event, ident
from tests.unit.stream_processors.engine import Engine

T0 = 1_795_744_800_000  # 2026-11-27 10:00 Asia/Shanghai
S = 1000
MIN = 60 * S
DAY = kpis.DAY_MS
PHONE = [ident("PHONE", "h:k1:caller1")]


def call(t: int, etype: str, iid: str, queue: str | None = "q1", ids: Any = None,
         attributes: dict[str, str] | None = None, **payload: Any) -> dict[str, Any]:
    return event(etype, "PHONE", t, iid, identifiers=PHONE if ids is None else ids,
                 queue=queue, attributes=attributes,
                 payload=models.CallPayload(**payload) if payload else None)


def run(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    eng = Engine()
    eng.feed(events)
    return eng.kpi_values()


def test_a_transfer_is_answered_and_transferred_in_q1_and_a_new_entry_of_q2() -> None:
    c = "call-1"
    v = run([
        call(T0, "call.queued", c),
        call(T0 + 12 * S, "call.answered", c, wait_s=12.0, ring_s=4.0, agent="A"),
        call(T0 + 72 * S, "call.transferred", c, queue=None, ids=[], transfer_to="700@q"),
        call(T0 + 72 * S, "call.completed", c, wait_s=12.0, talk_s=60.0, hold_s=0.0,
             agent="A", attributes={"reason": "transfer"}),
        call(T0 + 73 * S, "call.queued", c, queue="q2"),
        call(T0 + 98 * S, "call.answered", c, queue="q2", wait_s=25.0, ring_s=16.0, agent="B"),
        call(T0 + 198 * S, "call.completed", c, queue="q2", talk_s=90.0, hold_s=10.0,
             agent="B"),
        call(T0 + 230 * S, "call.wrapup", c, queue=None, ids=[], agent="B", acw_s=30.0),
    ])
    q1, q2, all_ = (v["PHONE|queue:q1|today"], v["PHONE|queue:q2|today"],
                    v["PHONE|all|today"])
    assert (q1["offered"], q1["answered"], q1["handled"], q1["transferred"]) == (1, 1, 1, 1)
    assert q1["transfer_rate"] == 1.0 and q1["aht_s"] == 60.0 and q1["service_level"] == 1.0
    # q2 counts its own entry: wait 25 s (> 20 s), handle 90 + 10 + 30 after-call work.
    assert (q2["offered"], q2["answered"], q2["transferred"]) == (1, 1, 0)
    assert q2["service_level"] == 0.0 and q2["asa_s"] == 25.0 and q2["aht_s"] == 130.0
    assert q2["avg_hold_s"] == 10.0 and q2["avg_acw_s"] == 30.0
    # Overall: two queue entries, one call (customer-facing contact).
    assert all_["offered"] == 2 and all_["contacts"] == 1
    assert all_["aht_s"] == 95.0 and all_["transfer_rate"] == 0.5
    assert all_["three_rings_rate"] == 0.5  # rings 4 s and 16 s against 3 x 5 s


def test_boundaries_sl_at_threshold_abandon_at_five_seconds_and_timeouts() -> None:
    ev = []
    for n, wait in enumerate((20.0, 21.0)):
        iid = f"ans-{n}"
        ev += [call(T0 + n * MIN, "call.queued", iid),
               call(T0 + n * MIN + int(wait * S), "call.answered", iid, wait_s=wait)]
    for n, wait in enumerate((5.0, 4.0)):
        iid = f"ab-{n}"
        ev += [call(T0 + (3 + n) * MIN, "call.queued", iid),
               call(T0 + (3 + n) * MIN + int(wait * S), "call.abandoned", iid, wait_s=wait)]
    ev += [call(T0 + 6 * MIN, "call.queued", "tmo"),
           call(T0 + 8 * MIN, "call.timed_out", "tmo", wait_s=120.0, timeout=True)]
    q = run(ev)["PHONE|queue:q1|today"]
    # 5 entries offered (the 4 s abandon is short and left out), 1 of them within 20 s.
    assert (q["offered"], q["short_abandons"], q["abandoned"], q["timeouts"]) == (4, 1, 1, 1)
    assert q["service_level"] == 0.25 and q["answer_rate"] == 0.5
    assert q["abandonment_rate"] == 0.25 and q["asa_s"] == 20.5


def wx(t: int, etype: str, *, agent: str | None = None) -> dict[str, Any]:
    return event(etype, "WECHAT", t, "wechat:o-1", identifiers=[ident("WECHAT_OPENID", "o-1")],
                 actor="AGENT" if agent else "CUSTOMER",
                 payload=models.ChatPayload(session_id="wechat:o-1", agent=agent))


def test_wechat_sessions_a_day_apart_are_two_contacts_with_their_own_handle_time() -> None:
    v = run([
        wx(T0, "wechat.message"), wx(T0 + 5 * S, "wechat.transfer_customer_service"),
        wx(T0 + 15 * S, "wechat.kf_create_session", agent="kf1"),
        wx(T0 + 135 * S, "wechat.kf_close_session", agent="kf1"),
        # the next day: an agent session with no request seen (wait unknown)
        wx(T0 + DAY, "wechat.kf_create_session", agent="kf2"),
        wx(T0 + DAY + 120 * S, "wechat.kf_close_session", agent="kf2"),
    ])
    first = v[f"WECHAT|all|1d@{windows.business_day_start(T0, kpis.KpiConfig())}"]
    assert first["contacts"] == 1 and first["aht_s"] == 120.0 and first["asa_s"] == 10.0
    assert first["service_level"] == 1.0
    second = v["WECHAT|all|today"]
    assert second["contacts"] == 1 and second["aht_s"] == 120.0
    # Unknown wait is never "met": answered, but outside the service level, no ASA.
    assert second["service_level"] == 0.0 and "asa_s" not in second


def test_chat_first_response_and_app_browsing_is_self_service_not_offered() -> None:
    chat = [event(et, "WEB", T0 + off, "webchat:c1", identifiers=[ident("COOKIE", "k1")],
                  payload=models.ChatPayload(session_id="c1", agent=agent))
            for et, off, agent in (("chat.requested", 0, None),
                                   ("chat.agent_joined", 40 * S, "w1"),
                                   ("chat.message", 70 * S, "w1"),
                                   ("chat.closed", 300 * S, "w1"))]
    app = [event("digital.screen", "APP", T0 + n * MIN, "app:u1",
                 identifiers=[ident("APP_USER", "u1")],
                 payload=models.DigitalPayload(name="home")) for n in range(3)]
    v = run(chat + app)
    web = v["WEB|all|today"]
    assert web["first_response_s"] == 70.0 and web["asa_s"] == 40.0 and web["aht_s"] == 260.0
    assert web["service_level"] == 0.0  # 40 s against the 30 s digital threshold
    apps = v["APP|all|today"]
    assert apps["contacts"] == 1 and apps["self_service"] == 1 and "offered" not in apps


def ticket(t: int, kind: str, branch: str, tk: str, *, ids: Any = None, **payload: Any
           ) -> dict[str, Any]:
    return event(kind, "BRANCH", t, f"branch:{branch}:{tk}", identifiers=ids or [],
                 queue="personal", branch=branch,
                 payload=models.BranchPayload(ticket_id=tk, **payload))


def test_branch_scopes_never_merge_and_a_visit_identified_late_counts_once() -> None:
    # Identified by ID card only (no customer number yet): the resolver picks the customer.
    card = [ident("ID_NUMBER", "h:k1:id1", verified=True)]
    v = run([
        ticket(T0, "branch.ticket_issued", "b1", "A1"),
        ticket(T0 + 4 * MIN, "branch.called", "b1", "A1"),
        ticket(T0 + 5 * MIN, "branch.service_started", "b1", "A1"),
        ticket(T0 + 5 * MIN + 1, "branch.identified", "b1", "A1", ids=card),
        ticket(T0 + 15 * MIN, "branch.service_ended", "b1", "A1", service_s=590.0),
        ticket(T0, "branch.ticket_issued", "b2", "A1"),
        ticket(T0 + 20 * MIN, "branch.no_show", "b2", "A1"),
    ])
    b1 = v["BRANCH|branch:b1|today"]
    assert b1["contacts"] == 1 and b1["offered"] == 1 and b1["asa_s"] == 240.0
    # handle = service started -> ended from the timestamps (the system said 590 s)
    assert b1["aht_s"] == 600.0 and v["BRANCH|branch:b1/queue:personal|today"]["offered"] == 1
    b2 = v["BRANCH|branch:b2/queue:personal|today"]
    assert b2["offered"] == 1 and b2["abandoned"] == 1 and b2["answer_rate"] == 0.0
    assert v["BRANCH|all|today"]["contacts"] == 2 and v["BRANCH|all|today"]["offered"] == 2


def test_fcr_repeat_at_exactly_seven_days_counts_and_one_ms_later_does_not() -> None:
    cn = [ident("CUSTOMER_NUMBER", "C1", verified=True)]

    def contact(t: int, iid: str) -> dict[str, Any]:
        return event("digital.track", "APP", t, iid, identifiers=cn, reason="card_lost",
                     payload=models.DigitalPayload(name="card"))

    eng = Engine()
    eng.feed([contact(T0, "app:session:s1"), contact(T0 + 7 * DAY, "app:session:s2"),
              contact(T0 + 14 * DAY + 1, "app:session:s3")])
    state = eng.customers[C("C1")]
    total = windows.sum_window([{k.split("|", 2)[2]: v for k, v in kpis.facts(
        state, kpis.KpiConfig()).items() if k.startswith("APP|all")}], 0)
    # s1 -> s2 exactly 7 days: a repeat; s2 -> s3 7 days + 1 ms: not; s3 has no successor.
    assert total["fcr_eligible"] == 3 and total["repeat"] == 1
    assert formulas.formulas(total)["fcr"] == round(2 / 3, 4)


def test_intervals_are_clock_aligned_in_the_business_time_zone() -> None:
    v = run([call(T0 + 29 * MIN + 59 * S, "call.queued", "i1"),
             call(T0 + 30 * MIN, "call.queued", "i2")])
    starts = {int(k.rsplit("@", 1)[1]) for k in v if k.startswith("PHONE|all|30m@")}
    assert starts == {T0, T0 + 30 * MIN}  # 10:00-10:30 and 10:30-11:00 local
    day = windows.business_day_start(T0, kpis.KpiConfig())
    assert day == T0 - 10 * 3_600_000  # midnight in Asia/Shanghai
    assert v[f"PHONE|all|1d@{day}"]["offered"] == 2


def test_counters_apply_differences_so_reapplying_a_state_counts_once() -> None:
    eng = Engine()
    eng.feed([call(T0, "call.queued", "c1"), call(T0 + 9 * S, "call.answered", "c1",
                                                   wait_s=9.0)])
    (state,) = [s for s in eng.customers.values() if s.get("contacts")]
    part = kpis.PartitionCounters()
    f = kpis.facts(state, kpis.KpiConfig())
    part.apply({}, f)
    part.apply(f, f)  # a replayed, deduplicated event: no change
    total = windows.sum_window([part.scope_partial("PHONE|queue:q1", 0)], 0)
    assert total["answered"] == 1 and total["sl_met"] == 1
    part.apply(f, {})  # the customer erased or merged away
    assert windows.sum_window([part.scope_partial("PHONE|queue:q1", 0)], 0) == {}


def test_csat_top2_nps_on_its_scale_and_complaint_sla() -> None:
    v = formulas.formulas({"csat_n": 4, "csat_top2": 3, "nps_n": 10, "nps_pro": 5,
                           "nps_det": 2, "complaints_closed": 3, "complaints_on_time": 2,
                           "contacts": 20, "complaints_opened": 1}, overdue_open=1)
    assert v["csat"] == 0.75 and v["nps"] == 30.0 and v["complaint_sla"] == 0.5
    assert v["complaint_rate"] == 0.05
    f = kpis.facts({"contacts": {}, "surveys": [
        {"kind": "NPS", "score": 5, "max": 5, "at": T0, "ch": "APP", "id": "a"},
        {"kind": "NPS", "score": 3, "max": 5, "at": T0, "ch": "APP", "id": "b"}]},
        kpis.KpiConfig())
    (counts,) = f.values()
    assert counts == {"nps_n": 2, "nps_pro": 1, "nps_det": 1}  # 5/5 -> 10, 3/5 -> 6


def test_empty_denominators_are_none_and_meaningless_kpis_are_not_shown() -> None:
    v = formulas.formulas({})
    assert v["service_level"] is None and v["fcr"] is None and v["nps"] is None
    shown = formulas.meaningful(formulas.formulas({"contacts": 3, "self_service": 3}))
    assert "offered" not in shown and "service_level" not in shown
    assert shown["contacts"] == 3 and shown["self_service_rate"] == 1.0


def test_ring_time_falls_back_to_agent_called_until_agent_connect() -> None:
    q = run([
        call(T0, "call.queued", "r1"),
        call(T0 + 10 * S, "call.agent_ringing", "r1", agent="A"),
        call(T0 + 26 * S, "call.answered", "r1", wait_s=26.0, agent="A"),  # no RingTime
        call(T0 + MIN, "call.queued", "r2"),
        call(T0 + MIN + 5 * S, "call.agent_ringing", "r2", agent="B"),
        call(T0 + MIN + 20 * S, "call.answered", "r2", wait_s=20.0, agent="B"),
    ])["PHONE|queue:q1|today"]
    assert q["three_rings_rate"] == 0.5  # 16 s rang (> 15 s), 15 s rang (within three rings)


def test_a_transfer_without_agent_complete_is_still_handled_in_the_first_queue() -> None:
    c = "call-t"
    q1 = run([
        call(T0, "call.queued", c),
        call(T0 + 10 * S, "call.answered", c, wait_s=10.0, agent="A"),
        call(T0 + 70 * S, "call.transferred", c, ids=[], transfer_to="700@q"),  # no Complete
        call(T0 + 71 * S, "call.queued", c, queue="q2"),
    ])["PHONE|queue:q1|today"]
    assert (q1["handled"], q1["transferred"], q1["transfer_rate"]) == (1, 1, 1.0)
    assert q1["aht_s"] == 60.0  # answer -> transfer
