"""The reference log: a generated event log with hand-written known answers.

Three phases are produced one after the other (each waits until the previous one is
processed), so cross-partition races that the design resolves "first come, first served"
(two customers claiming one app user id) have a defined order. Phase 3 holds the late,
out-of-order and duplicate events.
"""

from __future__ import annotations

from typing import Any

from backbone import models
from stream_processors.identity import known_customer_id as C
from stream_processors.identity import provisional_id as P
from stream_processors.synthetic import event, ident

T0 = 1_795_744_800_000  # 2026-11-27 02:00 UTC = 10:00 China Standard Time
MIN = 60_000
DAY = 86_400_000

PHONE_A = "h:k1:aaaaphone"  # the family phone: A and B both authenticate with it
CK_A, WL_A, APP_A = "ck-a-123", "wl-a", "u-a"


def _cn(n: str) -> dict[str, Any]:
    return ident("CUSTOMER_NUMBER", n, verified=True)


def _call(t: int, etype: str, iid: str, ids: list[dict[str, Any]], **payload: Any) -> dict[str, Any]:
    return event(etype, "PHONE", t, iid, identifiers=ids, queue="q1",
                 reason="transfer_failed" if iid == "call-a1" else "card_lost",
                 payload=models.CallPayload(**payload) if payload else None)


phone = [ident("PHONE", PHONE_A, masked="138****1234")]

A_PAGE = event("digital.page", "WEB", T0, "w-a1", identifiers=[ident("COOKIE", CK_A)],
               reason="transfer_failed",
               payload=models.DigitalPayload(name="transfer", outcome="failed", error_code="E102"))
A_LOGIN = event("digital.login", "WEB", T0 + MIN, "w-a1", identifiers=[
    ident("COOKIE", CK_A), ident("WEB_LOGIN", WL_A, verified=True), _cn("C100")])
A_APP_LOGIN = event("digital.login", "APP", T0 + 2 * MIN, "app-a1", identifiers=[
    ident("APP_USER", APP_A, verified=True), _cn("C100"), ident("DEVICE", "0000000")])
A_QUEUED = _call(T0 + 10 * MIN, "call.queued", "call-a1", phone)
A_AUTH = event("call.ivr_authenticated", "PHONE", T0 + 10 * MIN + 5000, "call-a1",
               identifiers=phone + [_cn("C100")])
A_ANSWERED = _call(T0 + 10 * MIN + 12_000, "call.answered", "call-a1", phone, wait_s=12.0)
A_COMPLETED = _call(T0 + 16 * MIN, "call.completed", "call-a1", phone, talk_s=300.0,
                    hold_s=20.0)
A_WRAPUP = _call(T0 + 17 * MIN, "call.wrapup", "call-a1", phone, acw_s=40.0)
A_SURVEY = event("survey.answered", "PHONE", T0 + 18 * MIN, "call-a1", identifiers=phone,
                 payload=models.SurveyPayload(kind=models.SurveyKind.CSAT, score=5, scale_max=5))
A_LATE_TRACK = event("digital.track", "WEB", T0 + 30_000, "w-a1",
                     identifiers=[ident("COOKIE", CK_A)],
                     payload=models.DigitalPayload(name="transfer_retry", outcome="failed"))

D_IDS = [ident("ID_NUMBER", "h:k1:iddddd", verified=True), _cn("C400")]
D_TICKET = event("branch.ticket_issued", "BRANCH", T0 + 120 * MIN, "tk-d1", branch="b1",
                 identifiers=[], payload=models.BranchPayload(ticket_id="A017"))
D_CALLED = event("branch.called", "BRANCH", T0 + 125 * MIN, "tk-d1", branch="b1",
                 identifiers=D_IDS, payload=models.BranchPayload(ticket_id="A017", wait_s=300.0))
D_IDENT = event("branch.identified", "BRANCH", T0 + 126 * MIN, "tk-d1", branch="b1",
                identifiers=D_IDS, payload=models.BranchPayload(ticket_id="A017"))
D_ENDED = event("branch.service_ended", "BRANCH", T0 + 135 * MIN, "tk-d1", branch="b1",
                identifiers=D_IDS,
                payload=models.BranchPayload(ticket_id="A017", service_s=600.0))
D_COMPLAINT = event("complaint.opened", "BRANCH", T0 + 136 * MIN, "cmp-d1", identifiers=D_IDS,
                    payload=models.ComplaintPayload(complaint_id="CP-1", status="opened",
                                                    category="fees", due_at=T0 + 15 * DAY))
D_CLOSED = event("complaint.closed", "BRANCH", T0 + 170 * MIN, "cmp-d1", identifiers=D_IDS,
                 payload=models.ComplaintPayload(complaint_id="CP-1", status="closed"))

E_IDS = [ident("WECHAT_OPENID", "o-e"), _cn("C500")]
E_BIND = event("wechat.bind", "WECHAT", T0 + 5 * MIN, "wx-e1", identifiers=E_IDS)
E_MSG = event("wechat.message", "WECHAT", T0 + 6 * MIN, "wx-e1",
              identifiers=[ident("WECHAT_OPENID", "o-e")],
              payload=models.ChatPayload(session_id="wx-e1", msg_type="text"))
E_ERASE = event("customer.erasure_requested", "APP", T0 + 60 * MIN, "erase-e",
                identifiers=[_cn("C500")])
E_LATE_MSG = event("wechat.message", "WECHAT", T0 + 7 * MIN, "wx-e1",
                   identifiers=[ident("WECHAT_OPENID", "o-e")],
                   payload=models.ChatPayload(session_id="wx-e1", msg_type="image"))

F_SUB = event("wechat.subscribe", "WECHAT", T0 + 3 * MIN, "wx-f1",
              identifiers=[ident("WECHAT_OPENID", "o-f")])
F_MSG = event("wechat.message", "WECHAT", T0 + 4 * MIN, "wx-f1",
              identifiers=[ident("WECHAT_OPENID", "o-f")],
              payload=models.ChatPayload(session_id="wx-f1", msg_type="text"))
F_UNSUB = event("wechat.unsubscribe", "WECHAT", T0 + 50 * MIN, "wx-f1",
                identifiers=[ident("WECHAT_OPENID", "o-f")])

B_AUTH = event("call.ivr_authenticated", "PHONE", T0 + 60 * MIN, "call-b0",
               identifiers=phone + [_cn("C200")])
C_APP_LOGIN = event("digital.login", "APP", T0 + 65 * MIN, "app-c1", identifiers=[
    ident("APP_USER", APP_A, verified=True), _cn("C300")])
B1_QUEUED = _call(T0 + 70 * MIN, "call.queued", "call-b1", phone)
B1_ABANDON = _call(T0 + 70 * MIN + 3000, "call.abandoned", "call-b1", phone, wait_s=3.0)
b_ids = phone + [_cn("C200")]
B2_QUEUED = _call(T0 + 80 * MIN, "call.queued", "call-b2", b_ids)
B2_ANSWERED = _call(T0 + 80 * MIN + 40_000, "call.answered", "call-b2", b_ids, wait_s=40.0)
B2_COMPLETED = _call(T0 + 83 * MIN, "call.completed", "call-b2", b_ids, talk_s=100.0)

PHASES: list[list[dict[str, Any]]] = [
    [A_PAGE, A_LOGIN, A_APP_LOGIN, A_QUEUED, A_AUTH, A_ANSWERED, A_COMPLETED, A_WRAPUP,
     A_SURVEY, D_TICKET, D_CALLED, D_IDENT, D_ENDED, D_COMPLAINT, D_CLOSED, E_BIND, E_MSG,
     F_SUB, F_MSG, A_PAGE],  # A_PAGE twice: a connector retry
    [B_AUTH, C_APP_LOGIN, E_ERASE, F_UNSUB],
    [B1_QUEUED, B1_ABANDON, B2_QUEUED, B2_ANSWERED, B2_COMPLETED, A_LATE_TRACK, E_LATE_MSG,
     A_ANSWERED, E_BIND],  # late events, a duplicate, a replayed bind after the erasure
]


def ids(*events: dict[str, Any]) -> list[str]:
    return [e["event_id"] for e in events]


# ---------------------------------------------------------------- known answers
# customer id -> timeline event ids, newest first (ordered by event time).
EXPECTED_TIMELINES: dict[str, list[str]] = {
    C("C100"): ids(A_SURVEY, A_WRAPUP, A_COMPLETED, A_ANSWERED, A_AUTH, A_QUEUED, A_APP_LOGIN,
                  A_LOGIN, A_LATE_TRACK, A_PAGE),
    C("C200"): ids(B2_COMPLETED, B2_ANSWERED, B2_QUEUED, B_AUTH),
    C("C300"): ids(C_APP_LOGIN),
    # The ticket was issued before anyone knew who it was: the counter identification
    # claims it for C400 (one visit, counted once).
    C("C400"): ids(D_CLOSED, D_COMPLAINT, D_ENDED, D_IDENT, D_CALLED, D_TICKET),
}
EXPECTED_IDENTITIES: dict[str, set[tuple[str, str]]] = {
    C("C100"): {("COOKIE", CK_A), ("WEB_LOGIN", WL_A), ("CUSTOMER_NUMBER", "C100"),
               ("APP_USER", APP_A), ("PHONE", PHONE_A)},
    C("C200"): {("CUSTOMER_NUMBER", "C200"), ("PHONE", PHONE_A)},
    C("C300"): {("CUSTOMER_NUMBER", "C300")},
    C("C400"): {("CUSTOMER_NUMBER", "C400"), ("ID_NUMBER", "h:k1:iddddd")},
}
# Keys whose latest customer-context record is a tombstone: merged anonymous history and
# erased customers. The unattributed ticket (key i:...) never publishes a context.
EXPECTED_TOMBSTONES = {P("COOKIE:" + CK_A), P("PHONE:" + PHONE_A), C("C500"),
                       P("WECHAT_OPENID:o-f")}
EXPECTED_IDENTITY_EVENTS: set[tuple[str, str, str]] = {
    ("merge", "COOKIE:" + CK_A, C("C100")),
    ("merge", "PHONE:" + PHONE_A, C("C100")),
    ("shared", "PHONE:" + PHONE_A, C("C200")),
    ("conflict", "APP_USER:" + APP_A, C("C300")),
    ("deleted", "WECHAT_OPENID:o-e", C("C500")),
    ("deleted", "CUSTOMER_NUMBER:C500", C("C500")),
    ("deleted", "WECHAT_OPENID:o-f", P("WECHAT_OPENID:o-f")),
}
EXPECTED_CONFLICTS = {C("C200"): 1, C("C300"): 1}
EXPECTED_JOURNEY_C100 = {"reason": "transfer_failed", "status": "resolved",
                         "channels": ["WEB", "PHONE"], "last_channel": "PHONE"}
# KPI snapshots for the "today" window, checked value by value.
EXPECTED_KPIS: dict[str, dict[str, float | None]] = {
    # A answered after 12 s (met 20 s), B2 after 40 s (missed); B1 hung up after 3 s: a
    # short abandon, excluded from offered and abandoned and reported on its own.
    "PHONE|queue:q1|today": {
        "offered": 2, "answered": 2, "abandoned": 0, "short_abandons": 1, "entries": 3,
        "service_level": 0.5, "answer_rate": 1.0, "abandonment_rate": 0.0, "asa_s": 26.0,
        # AHT: A = talk 300 + hold 20 + wrap-up 40; B2 = talk 100.
        "aht_s": 230.0, "handled": 2, "transfer_rate": 0.0,
    },
    "PHONE|all|today": {"csat": 1.0, "contacts": 4},
    # A's web contact about transfer_failed was followed by a phone call about the same
    # reason: a repeat (FCR 0) and a channel switch without a handoff (context rate 0).
    "WEB|all|today": {"contacts": 1, "fcr": 0.0, "repeat_contact_rate": 1.0,
                      "channel_switch_rate": 1.0, "handoff_with_context_rate": 0.0},
    # Ticket at 120 min, called at 125 (wait 300 s), served until 135 (service_s 600).
    "BRANCH|branch:b1|today": {"offered": 1, "answered": 1, "service_level": 1.0,
                               "asa_s": 300.0, "aht_s": 600.0, "contacts": 1},
    "BRANCH|all|today": {"contacts": 1, "offered": 1, "complaints_opened": 1, "complaints_closed": 1,
                         "complaint_sla": 1.0, "complaints_open": 0},
    "IDENTITY|all|today": {"identity_conflicts": 2},
}
