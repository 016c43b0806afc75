"""Simulated complaints (docs/complaints.md): opened on one of the five channels through
that channel's own feed, then worked at the desk (acknowledged, assigned, sometimes
escalated or extended, resolved with the customer's satisfaction, closed).

Opening channels take turns, so even a short run opens complaints on all five. Some
complaints carry the bank's own short promise (``due_at`` a few seconds away) and are
closed after it: they go overdue on the way, so the complaint alerts fire and clear and
the complaint SLA is not trivially 100 % in a run of minutes.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.wechat import complaint_id_for

if TYPE_CHECKING:
    from connectors.journeys import Customer, Step

CHANNELS = ("PHONE", "APP", "WEB", "WECHAT", "BRANCH")
TEAMS = {"transfer_failed": "payments", "card_blocked": "cards", "loan_query": "loans",
         "password_reset": "cards", "fee_dispute": "payments"}
_turn = itertools.count()


def _opened(channel: str, c: Customer, reason: str, new_id: Callable[[str], str],
            msg_id: Callable[[], int]) -> tuple[str, list[Step]]:
    """(complaint id, steps) of the opening on ``channel``."""
    cid = new_id("cmp")
    if channel == "PHONE":
        return cid, [("desktop", [{
            "type": "complaint_opened", "id": new_id("d"), "linkedid": new_id("call"),
            "complaint_id": cid, "category": reason, "customer_number": c.number,
            "promise": "call back within two working days", "occurred_at": "now"}])]
    if channel in ("APP", "WEB"):
        source, user = channel.lower(), c.app_user if channel == "APP" else f"wl-{c.app_user}"
        return cid, [("segment", (source, [
            {"type": "identify", "messageId": new_id("seg"), "userId": user,
             "anonymousId": c.device, "traits": {"customer_number": c.number}},
            {"type": "track", "messageId": new_id("seg"), "userId": user,
             "anonymousId": c.device, "event": "Complaint Opened",
             "properties": {"complaint_id": cid, "category": reason}}]))]
    if channel == "WECHAT":
        steps: list[Step] = []
        if not c.bound:
            c.bound = True
            steps.append(("bind", {"openid": c.openid, "unionid": c.unionid,
                                   "customer_number": c.number, "phone": c.phone,
                                   "bind_id": new_id("bind")}))
        mid = str(msg_id())
        steps.append(("wechat", {"MsgType": "text", "FromUserName": c.openid,
                                 "Content": "我要投诉，手续费扣错了", "MsgId": mid}))
        return complaint_id_for(f"msg:{mid}"), steps
    return cid, [("branch", [{
        "event": "complaint_opened", "branch": "SH-017", "complaint_id": cid,
        "category": reason, "promise": "branch manager calls back",
        "customer": {"customer_number": c.number}, "occurred_at": "now"}])]


def steps(rng: random.Random, c: Customer, reason: str, new_id: Callable[[str], str],
          msg_id: Callable[[], int]) -> list[Step]:
    """One complaint from opening to closing."""
    channel = CHANNELS[next(_turn) % len(CHANNELS)]
    cid, out = _opened(channel, c, reason, new_id, msg_id)
    short = rng.random() < 0.3  # a short internal promise: overdue before it is closed
    base = {"complaint_id": cid, "customer_number": c.number, "occurred_at": "now"}

    def desk(kind: str, **fields: Any) -> None:
        out.append(("sleep", rng.uniform(1.0, 3.0)))
        out.append(("desktop", [{"type": f"complaint_{kind}", "id": new_id("d"),
                                 **base, **fields}]))

    desk("acknowledged", **({"due_at": int((time.time() + 8) * 1000)} if short else {}))
    desk("assigned", owner=f"agent-{rng.randint(1, 9)}", team=TEAMS.get(reason, "service"))
    if rng.random() < 0.3:
        desk("escalated", team="complaints-office", reason="customer asked for a manager")
    if rng.random() < 0.2:
        desk("extended", reason="waiting for the card scheme's answer")
    if short:
        out.append(("sleep", 10.0))
    desk("resolved", satisfaction=rng.choice([2, 4, 5, 5]), satisfaction_max=5)
    desk("closed")
    return out
