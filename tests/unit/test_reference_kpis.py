"""The independent KPI references on tiny hand-computed cases, and the scenario generators
they are run on: deterministic per seed, and the AMI and queue_log views of one call plan
describe the same calls."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.support import asterisk_scenario, branch_reference, branch_scenario
from tests.support import queue_log_reference as ref

TZ = ZoneInfo("Asia/Shanghai")
B = int(datetime(2026, 12, 1, 10, 30, tzinfo=TZ).timestamp())   # a 30-minute boundary
MIDNIGHT = int(datetime(2026, 12, 2, tzinfo=TZ).timestamp())     # 2026-12-01 16:00 UTC
T0_MS = (B - 20 * 60) * 1000


def line(t: int, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
    return "|".join([str(t), callid, queue, agent, event, *map(str, data)])


def answered(t: int, callid: str, queue: str, agent: str, hold: int, ring: int, talk: int,
             end: str = "COMPLETECALLER") -> list[str]:
    return [line(t, callid, queue, "NONE", "ENTERQUEUE", "", "13900000001", 1),
            line(t + hold, callid, queue, agent, "CONNECT", hold, f"{callid}-a", ring),
            line(t + hold + talk, callid, queue, agent, end, hold, talk, 1)]


def left(t: int, callid: str, queue: str, wait: int, event: str = "ABANDON") -> list[str]:
    return [line(t, callid, queue, "NONE", "ENTERQUEUE", "", "13900000002", 1),
            line(t + wait, callid, queue, "NONE", event, 1, 1, wait)]


def whole(lines: list[str], wrapups: tuple[dict[str, object], ...] = ()
          ) -> dict[ref.Key, dict[str, float | None]]:
    return ref.kpis(lines, wrapups, interval=None)


# -- the queue_log reference ---------------------------------------------------------
def test_service_level_boundary_holdtime_20_is_met_21_is_not() -> None:
    got = whole(answered(B, "c1", "cards", "A1", hold=20, ring=5, talk=100)
                + answered(B + 1, "c2", "cards", "A2", hold=21, ring=5, talk=50,
                           end="COMPLETEAGENT"))
    q = got[("queue:cards", None)]
    assert q["offered"] == 2 and q["answered"] == 2 and q["handled"] == 2
    assert q["service_level"] == 0.5        # 1 (hold 20) of 2 offered; 21 > 20
    assert q["asa_s"] == 20.5               # (20 + 21) / 2
    assert q["aht_s"] == 75.0               # (100 + 50) / 2, no wrap-ups
    assert q["three_rings_rate"] == 1.0     # ring 5 ≤ 15 for both
    assert got[("all", None)]["contacts"] == 2


def test_abandon_after_exactly_5_s_is_not_short() -> None:
    got = whole(left(B, "a1", "loans", 4) + left(B + 1, "a2", "loans", 5)
                + answered(B + 2, "a3", "loans", "A1", hold=3, ring=2, talk=60))
    q = got[("queue:loans", None)]
    assert q["short_abandons"] == 1         # waittime 4 < 5
    assert q["offered"] == 2                # 3 entries - 1 short abandon
    assert q["abandoned"] == 1              # waittime 5 ≥ 5
    assert q["abandonment_rate"] == 0.5     # 1 / 2
    assert q["answer_rate"] == 0.5          # 1 / 2
    assert q["service_level"] == 0.5        # hold 3 ≤ 20: 1 / 2
    assert got[("all", None)]["contacts"] == 3  # a short abandon is still a call


def test_timeout_is_offered_but_neither_answered_nor_abandoned() -> None:
    got = whole(left(B, "t1", "vip", 90, event="EXITWITHTIMEOUT"))
    q = got[("queue:vip", None)]
    assert (q["offered"], q["answered"], q["abandoned"], q["timeouts"]) == (1, 0, 0, 1)
    assert q["service_level"] == 0.0        # 0 / 1
    assert q["answer_rate"] == 0.0 and q["abandonment_rate"] == 0.0
    assert q["asa_s"] is None and q["aht_s"] is None and q["transfer_rate"] is None


def test_transfer_is_answered_and_transferred_in_queue_1_and_a_new_entry_in_queue_2() -> None:
    lines = [
        line(B, "x1", "cards", "NONE", "ENTERQUEUE", "", "13900000003", 1),
        line(B + 10, "x1", "cards", "A1001", "CONNECT", 10, "x1-a", 4),
        line(B + 70, "x1", "cards", "A1001", "BLINDTRANSFER", "8002", "queues", 10, 60, 1),
        line(B + 72, "x1", "loans", "NONE", "ENTERQUEUE", "", "13900000003", 1),
        line(B + 102, "x1", "loans", "A2001", "CONNECT", 30, "x1-b", 16),
        line(B + 222, "x1", "loans", "A2001", "COMPLETECALLER", 30, 120, 1),
    ]
    wrapups = ({"type": "wrapup", "id": "w1", "linkedid": "x1", "agent": "A1001",
                "acw_s": 20, "occurred_at": (B + 90) * 1000},
               {"type": "wrapup", "id": "w2", "linkedid": "x1", "agent": "A2001",
                "acw_s": 40, "occurred_at": (B + 262) * 1000},
               {"type": "wrapup", "id": "w2", "linkedid": "x1", "agent": "A2001",
                "acw_s": 40, "occurred_at": (B + 262) * 1000})  # a retried duplicate
    got = whole(lines, wrapups)
    cards, loans, total = got[("queue:cards", None)], got[("queue:loans", None)], got[("all", None)]
    assert (cards["offered"], cards["answered"], cards["handled"], cards["transferred"]) == \
        (1, 1, 1, 1)
    assert cards["transfer_rate"] == 1.0
    assert cards["aht_s"] == 80.0           # calltime 60 + A1001's acw 20
    assert cards["avg_acw_s"] == 20.0
    assert (loans["offered"], loans["answered"], loans["handled"], loans["transferred"]) == \
        (1, 1, 1, 0)
    assert loans["aht_s"] == 160.0          # calltime 120 + A2001's acw 40 (counted once)
    assert loans["service_level"] == 0.0    # hold 30 > 20
    assert loans["three_rings_rate"] == 0.0  # ring 16 > 3 × 5
    assert (total["offered"], total["answered"], total["transferred"]) == (2, 2, 1)
    assert total["transfer_rate"] == 0.5    # 1 / 2 handled
    assert total["aht_s"] == 120.0          # (80 + 160) / 2
    assert total["asa_s"] == 20.0           # (10 + 30) / 2
    assert total["contacts"] == 1           # one call, two entries


def test_entries_belong_to_the_30_minute_interval_of_their_enterqueue() -> None:
    before, after = (B - 1800) * 1000, B * 1000
    lines = sorted(
        answered(B - 1, "i1", "cards", "A1", hold=20, ring=3, talk=100)   # answered after B
        + answered(B, "i2", "cards", "A2", hold=5, ring=3, talk=40)      # exactly on B
        + [line(B - 60, "i3", "cards", "NONE", "ENTERQUEUE", "", "13900000004", 1),
           line(B - 50, "i3", "cards", "A3", "CONNECT", 10, "i3-a", 2),
           line(B - 5, "i3", "cards", "A3", "BLINDTRANSFER", "8002", "queues", 10, 45, 1),
           line(B + 1, "i3", "loans", "NONE", "ENTERQUEUE", "", "13900000004", 1),
           line(B + 31, "i3", "loans", "NONE", "ABANDON", 1, 1, 30)],
        key=lambda s: int(s.split("|")[0]))
    wrapups = ({"type": "wrapup", "id": "w", "linkedid": "i1", "agent": "A1", "acw_s": 30,
                "occurred_at": (B + 150) * 1000},)
    got = ref.kpis(lines, wrapups, interval="30m")
    assert set(got) == {("all", before), ("all", after), ("queue:cards", before),
                        ("queue:cards", after), ("queue:loans", after)}
    early, late = got[("all", before)], got[("all", after)]
    assert (early["offered"], early["answered"], early["transferred"]) == (2, 2, 1)  # i1, i3
    assert early["service_level"] == 1.0    # holds 20 and 10, both ≤ 20
    assert early["aht_s"] == 87.5           # (100 + 30 acw, in i1's interval) + 45, / 2
    assert (late["offered"], late["answered"], late["abandoned"]) == (2, 1, 1)  # i2, i3 loans
    assert early["contacts"] == 2 and late["contacts"] == 1  # i3 counts where it started
    assert got[("queue:loans", after)].get("contacts") is None


def test_the_business_day_starts_at_midnight_asia_shanghai() -> None:
    assert ref.interval_start((MIDNIGHT - 1) * 1000, "1d") == (MIDNIGHT - 86_400) * 1000
    assert ref.interval_start(MIDNIGHT * 1000, "1d") == MIDNIGHT * 1000
    assert ref.interval_start((MIDNIGHT - 1) * 1000, "30m") == (MIDNIGHT - 1800) * 1000
    utc_midnight = MIDNIGHT + 8 * 3600  # 08:00 in Shanghai: not a day boundary
    lines = (answered(MIDNIGHT - 1, "d1", "cards", "A1", 5, 2, 60)
             + answered(MIDNIGHT, "d2", "cards", "A2", 6, 2, 60)
             + answered(utc_midnight - 1, "d3", "cards", "A3", 7, 2, 60)
             + answered(utc_midnight, "d4", "cards", "A4", 8, 2, 60))
    got = ref.kpis(sorted(lines, key=lambda s: int(s.split("|")[0])), interval="1d")
    assert {k: v["offered"] for k, v in got.items() if k[0] == "all"} == {
        ("all", (MIDNIGHT - 86_400) * 1000): 1, ("all", MIDNIGHT * 1000): 3}
    assert got[("all", MIDNIGHT * 1000)]["asa_s"] == 7.0  # (6 + 7 + 8) / 3


def test_unrelated_lines_and_entries_seen_half_are_ignored() -> None:
    lines = [line(B - 5, "NONE", "cards", "A1", "ADDMEMBER", ""),
             line(B - 4, "old", "cards", "A1", "COMPLETECALLER", 5, 60, 1),  # began earlier
             *answered(B, "n1", "cards", "A1", 4, 2, 30)]
    q = whole(lines)[("queue:cards", None)]
    assert (q["offered"], q["handled"], q["aht_s"]) == (1, 1, 30.0)


# -- the branch reference --------------------------------------------------------------
def _ticket(branch: str, ticket: str, *steps: tuple[int, str, dict[str, object]]
            ) -> list[dict[str, object]]:
    return [{"event": kind, "branch": branch, "ticket_id": ticket,
             "occurred_at": (B + t) * 1000, **fields} for t, kind, fields in steps]


def test_branch_reference_by_hand() -> None:
    p, w = {"queue": "personal"}, {"queue": "wealth"}
    events = (
        _ticket("B1", "A001", (0, "ticket_issued", p), (600, "called", p),
                (660, "recalled", p), (700, "service_started", p), (1000, "service_ended", p))
        + _ticket("B1", "A002", (10, "ticket_issued", p), (611, "called", p),
                  (670, "recalled", p), (700, "no_show", p))
        + _ticket("B1", "A003", (20, "ticket_issued", p), (120, "called", p),
                  (150, "service_started", p), (450, "transferred", {**p, "to_queue": "wealth"}),
                  (750, "called", w), (800, "service_started", w), (1400, "service_ended", w))
        + _ticket("B2", "A001", (5, "ticket_issued", p))  # same ticket number, other branch
        + [{"event": "counter_opened", "branch": "B1", "counter": "01",
            "occurred_at": (B - 60) * 1000}])
    got = branch_reference.kpis(events, interval=None)
    b1p, b1w = got[("branch:B1/queue:personal", None)], got[("branch:B1/queue:wealth", None)]
    # A002 was called after 601 s but never came (no-show): abandoned, not answered.
    # Answered waits 600 (met) and 100; handles 300 (A001), 300 (A003 to the transfer).
    assert (b1p["offered"], b1p["answered"], b1p["abandoned"]) == (3, 2, 1)
    assert b1p["service_level"] == 2 / 3
    assert b1p["asa_s"] == (600 + 100) / 2
    assert b1p["aht_s"] == 300.0
    assert "contacts" not in b1p
    # the transferred-in entry waits from the transfer (450) to its call (750): 300 s
    assert (b1w["offered"], b1w["answered"], b1w["asa_s"], b1w["aht_s"]) == (1, 1, 300.0, 600.0)
    b1 = got[("branch:B1", None)]
    assert (b1["offered"], b1["answered"], b1["abandoned"], b1["contacts"]) == (4, 3, 1, 3)
    assert b1["service_level"] == 0.75       # 600, 100, 300 met: 3 / 4
    assert b1["asa_s"] == (600 + 100 + 300) / 3
    assert b1["aht_s"] == 400.0              # (300 + 300 + 600) / 3
    b2 = got[("branch:B2/queue:personal", None)]
    assert (b2["offered"], b2["answered"], b2["answer_rate"], b2["asa_s"]) == (1, 0, 0.0, None)
    total = got[("all", None)]
    assert (total["offered"], total["answered"], total["contacts"]) == (5, 3, 4)
    assert total["answer_rate"] == 0.6 and total["abandonment_rate"] == 0.2
    assert total["service_level"] == 0.6     # 3 met / 5 offered
    assert not any(scope.startswith("queue:") for scope, _ in got)  # branches never merge


# -- the generators ---------------------------------------------------------------------
def test_asterisk_scenario_is_deterministic_per_seed() -> None:
    one = asterisk_scenario.generate(1, t0_ms=T0_MS)
    again = asterisk_scenario.generate(1, t0_ms=T0_MS)
    other = asterisk_scenario.generate(2, t0_ms=T0_MS)
    assert (one.frames, one.queue_log, one.wrapups) == (again.frames, again.queue_log,
                                                       again.wrapups)
    assert one.queue_log != other.queue_log
    shifted = asterisk_scenario.generate(1, t0_ms=T0_MS + 7 * 60_000)  # other alignment
    assert ref.kpis(shifted.queue_log, shifted.wrapups, interval=None) == \
        ref.kpis(one.queue_log, one.wrapups, interval=None)


@pytest.fixture(scope="module", params=[1, 2])
def scenario(request: pytest.FixtureRequest) -> asterisk_scenario.Scenario:
    return asterisk_scenario.generate(request.param, t0_ms=T0_MS)


def test_scenario_has_the_edge_cases_and_stays_in_its_time_box(
        scenario: asterisk_scenario.Scenario) -> None:
    found = ref.entries(scenario.queue_log)
    assert len({e.callid for e in found}) == 150
    assert any(e.holdtime == 20 for e in found)
    assert any(e.end == "ABANDON" and e.waittime == 5 for e in found)
    assert any(e.end == "ABANDON" and (e.waittime or 0) < 5 for e in found)
    assert any(e.ringtime == 15 for e in found) and any((e.ringtime or 0) > 15 for e in found)
    assert sum(e.end == "EXITWITHTIMEOUT" for e in found) >= 1
    transfers = sum(e.end == "BLINDTRANSFER" for e in found)
    assert 0.05 <= transfers / 150 <= 0.15
    assert {e.queue for e in found} == {"cards", "loans", "vip"}
    assert any(e.enter_ms == scenario.boundary_ms for e in found)
    assert scenario.t0_ms <= min(e.enter_ms for e in found)
    assert scenario.end_ms <= scenario.t0_ms + asterisk_scenario.MAX_DURATION_MS
    assert max(w["occurred_at"] for w in scenario.wrapups) <= scenario.end_ms
    # every wrap-up finds the entry its agent handled
    ref.attach_wrapups(found, scenario.wrapups)
    assert sum(e.acw_s for e in found) == sum(w["acw_s"] for w in scenario.wrapups)


def test_ami_frames_look_like_asterisk(scenario: asterisk_scenario.Scenario) -> None:
    callers = {e.callid for e in ref.entries(scenario.queue_log)}
    stamps = [float(f["Timestamp"]) for f in scenario.frames]
    assert stamps == sorted(stamps)
    for f in scenario.frames:
        assert len(f["Timestamp"].split(".")[1]) == 6
        if f["Event"] == "BlindTransfer":  # channel fields carry prefixes here
            assert f["Result"] == "Success"
            assert f["TransfereeUniqueid"] in callers
            assert f["TransfereeLinkedid"] == f["TransfererLinkedid"] == f["TransfereeUniqueid"]
            assert f["TransfererUniqueid"] not in callers
            continue
        if f["Event"] == "Cdr":  # no Linkedid on Cdr; UniqueID spelled so
            assert f["UniqueID"] in callers and f["Disposition"] == "ANSWERED"
            continue
        assert {"Uniqueid", "Linkedid", "CallerIDNum", "Channel"} <= set(f)
        assert f["Linkedid"] in callers
        if f["Uniqueid"] == f["Linkedid"]:
            number = f["CallerIDNum"]
            assert len(number) == 11 and number.startswith("139") and number.isdigit()


def _ami_tally(frames: list[dict[str, str]]) -> Counter[tuple[str, str]]:
    """Per-queue counts and sums read from the AMI frames alone."""
    tally: Counter[tuple[str, str]] = Counter()
    pending: dict[str, dict[str, str]] = {}
    for f in frames:
        event, q = f["Event"], f.get("Queue", "")
        if event == "QueueCallerJoin":
            tally[q, "entries"] += 1
        elif event == "AgentConnect":
            tally[q, "answered"] += 1
            tally[q, "hold"] += int(f["HoldTime"])
            tally[q, "ring<=15"] += int(f["RingTime"]) <= 15
        elif event == "AgentComplete":
            tally[q, "handled"] += 1
            tally[q, "talk"] += int(f["TalkTime"])
            tally[q, "transferred"] += f["Reason"] == "transfer"
        elif event == "AgentRingNoAnswer":
            tally[q, "misses"] += 1
            tally[q, "miss_ms"] += int(f["RingTime"])
        elif event == "QueueCallerAbandon":
            pending[f["Uniqueid"]] = f
        elif event == "VarSet" and f["Variable"] == "QUEUESTATUS" and f["Uniqueid"] in pending:
            tally[pending.pop(f["Uniqueid"])["Queue"], "timeouts"] += 1
        elif event == "Hangup" and f["Uniqueid"] in pending:
            gone = pending.pop(f["Uniqueid"])
            short = int(gone["HoldTime"]) < 5
            tally[gone["Queue"], "short" if short else "abandoned"] += 1
    return tally


def _log_tally(lines: list[str]) -> Counter[tuple[str, str]]:
    tally: Counter[tuple[str, str]] = Counter()
    for e in ref.entries(lines):
        q = e.queue
        tally[q, "entries"] += 1
        if e.holdtime is not None:
            tally[q, "answered"] += 1
            tally[q, "hold"] += int(e.holdtime)
            tally[q, "ring<=15"] += (e.ringtime or 0) <= 15
        if e.handled:
            tally[q, "handled"] += 1
            tally[q, "talk"] += int(e.calltime or 0)
            tally[q, "transferred"] += e.end == "BLINDTRANSFER"
        if e.end == "EXITWITHTIMEOUT":
            tally[q, "timeouts"] += 1
        elif e.end == "ABANDON":
            tally[q, "short" if e.short_abandon else "abandoned"] += 1
    for raw in lines:
        _, _, q, _, event, *data = raw.split("|")
        if event == "RINGNOANSWER":
            tally[q, "misses"] += 1
            tally[q, "miss_ms"] += int(data[0])
    return tally


def test_ami_and_queue_log_views_describe_the_same_calls(
        scenario: asterisk_scenario.Scenario) -> None:
    ami, log = _ami_tally(scenario.frames), _log_tally(scenario.queue_log)
    assert +ami == +log
    assert log["cards", "transferred"] > 0 and log["vip", "timeouts"] >= 1
    # a transferred caller joins the next queue on the same channel, after the transfer
    joins = [(f["Uniqueid"], f["Queue"]) for f in scenario.frames
             if f["Event"] == "QueueCallerJoin"]
    for f in scenario.frames:
        if f["Event"] == "BlindTransfer":
            uid = f["TransfereeUniqueid"]
            assert len([q for u, q in joins if u == uid]) == 2


def test_branch_scenario_is_deterministic_and_has_its_cases() -> None:
    one = branch_scenario.generate(1, t0_ms=T0_MS)
    assert one.events == branch_scenario.generate(1, t0_ms=T0_MS).events
    assert one.events != branch_scenario.generate(2, t0_ms=T0_MS).events
    kinds = Counter(e["event"] for e in one.events)
    assert kinds["ticket_issued"] == 60
    assert kinds["no_show"] > 0 and kinds["recalled"] > 0 and kinds["transferred"] > 0
    issued = {(e["branch"], e["ticket_id"]): e["occurred_at"] for e in one.events
              if e["event"] == "ticket_issued"}
    assert ("SH-017", "A001") in issued and ("BJ-002", "A001") in issued
    identified = [e for e in one.events if e["event"] == "identified"]
    assert identified and all(e["occurred_at"] > issued[e["branch"], e["ticket_id"]]
                              for e in identified)
    assert all(one.t0_ms <= e["occurred_at"] <= one.end_ms for e in one.events
               if "ticket_id" in e)
    assert one.end_ms <= one.t0_ms + branch_scenario.MAX_DURATION_MS
    waits = [e.wait_s for v in one.visits for e in v.entries]
    assert 600 in waits and 601 in waits
    got = branch_reference.kpis(one.events, interval=None)
    assert got[("all", None)]["contacts"] == 60
    assert got[("all", None)]["offered"] == sum(len(v.entries) for v in one.visits)
    assert got[("branch:SH-017", None)]["contacts"] + got[("branch:BJ-002", None)]["contacts"] == 60
    assert {s for s, _ in got} >= {"branch:SH-017/queue:personal", "branch:BJ-002/queue:personal"}
