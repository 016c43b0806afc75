"""Queue entries of a contact, per channel: how each source event moves an entry forward.

Entry fields (short keys: they are stored for every contact in the customer table):
``sc`` scope (``queue:<q>`` or ``branch:<b>[/queue:<q>]``); ``j`` join time (ms) and
``jx`` when the join event itself was seen; ``a`` answered at (ms); ``w`` queue wait (s);
``r`` ring time (s); ``rg`` [time, agent] of the last agent rung before the answer;
``ag`` agent; ``t``/``h`` talk and customer hold (s); ``acw`` after-call work (s); ``st``
service start (branch, ms); ``en`` end of handling (chat close, transfer, service end;
ms); ``svc`` the branch system's own service time (s); ``fr`` first agent response (ms);
the flags ``done`` (handled), ``x`` transferred out, ``ab`` abandoned, ``sh`` short
abandon, ``tmo`` timeout.

Definitions follow Asterisk app_queue / queue_log (docs/contact-model.md): wait is
AgentConnect's HoldTime, talk + hold is AgentComplete's TalkTime, a timeout is neither
answered nor abandoned, and a transfer into another queue is a new entry of that queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backbone import vocabulary as v

SHORT_ABANDON_S = 5.0
Entry = dict[str, Any]
Contact = dict[str, Any]
SLACK_MS = 1_000  # AMI/queue_log times are per second: a join may look up to 1 s late


def _num(payload: dict[str, Any] | None, name: str) -> float | None:
    if not payload:
        return None
    value = payload.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def scope_of(event: dict[str, Any], queue: str | None = None) -> str | None:
    """Queue scope of an event: ``queue:<q>`` (phone, chat) or ``branch:<b>[/queue:<q>]``."""
    org = event.get("organisation") or {}
    queue = queue or org.get("queue")
    if org.get("branch"):
        return f"branch:{org['branch']}" + (f"/queue:{queue}" if queue else "")
    return f"queue:{queue}" if queue else None


def join(c: Contact, scope: str | None, at: int) -> Entry:
    """The entry a join event starts: fills an entry made earlier from a later stage."""
    for e in c["e"]:
        if e.get("sc") == scope and not e.get("jx") and e["j"] + SLACK_MS >= at \
                and (e.get("a") is None or e["a"] + SLACK_MS >= at):
            e["j"], e["jx"] = at, 1
            if e.get("a") is not None and e.get("w") is None:
                e["w"] = max(0.0, (e["a"] - at) / 1000)
            return e
        if e.get("sc") == scope and e.get("jx") and e["j"] == at:
            return e
    e = {"sc": scope, "j": at, "jx": 1}
    c["e"].append(e)
    c["e"].sort(key=lambda x: x["j"])
    return e


def current(c: Contact, scope: str | None, at: int, wait: float | None = None,
            any_scope: bool = False) -> Entry:
    """The latest entry of ``scope`` joined at or before ``at`` (created if none yet)."""
    best = None
    for e in c["e"]:
        if (any_scope or e.get("sc") == scope) and e["j"] <= at + SLACK_MS:
            best = e
    if best is None:
        best = {"sc": scope, "j": at - int((wait or 0.0) * 1000)}
        c["e"].append(best)
        c["e"].sort(key=lambda x: x["j"])
    return best


def _answered(c: Contact, at: int, agent: str | None = None) -> Entry | None:
    best = None
    for e in c["e"]:
        if e.get("a") is not None and e["a"] <= at + SLACK_MS \
                and (agent is None or e.get("ag") == agent):
            best = e
    return best


def _leave(e: Entry, wait: float | None, *, timeout: bool = False) -> None:
    if wait is not None:
        e["w"] = wait
    if timeout:
        e["tmo"] = 1
        e.pop("ab", None)
        e.pop("sh", None)
    elif not e.get("tmo"):
        if wait is not None and wait < SHORT_ABANDON_S:
            e["sh"] = 1
        else:
            e["ab"] = 1


def phone(c: Contact, etype: str, event: dict[str, Any], p: dict[str, Any] | None,
          at: int) -> None:
    scope = scope_of(event)
    wait = _num(p, "wait_s")
    if etype == v.CALL_QUEUED:
        join(c, scope, at)
    elif etype == v.CALL_AGENT_RINGING:  # ring time without AgentConnect's RingTime
        e0 = current(c, scope, at)
        if e0.get("a") is None:
            e0["rg"] = [at, (p or {}).get("agent")]
    elif etype == v.CALL_ANSWERED:
        e = current(c, scope, at, wait)
        e["a"] = min(e.get("a", at), at)
        if wait is not None:
            e["w"] = wait
        ring = _num(p, "ring_s")
        agent = p.get("agent") if p else None
        rung = e.pop("rg", None)
        if ring is None and rung and rung[1] == agent and rung[0] <= at:
            ring = (at - rung[0]) / 1000  # AgentCalled -> AgentConnect
        if ring is not None:
            e["r"] = ring
        if agent:
            e["ag"] = agent
    elif etype == v.CALL_COMPLETED:
        e = current(c, scope, at, wait)
        e["done"] = 1
        e["t"] = _num(p, "talk_s") or 0.0
        e["h"] = _num(p, "hold_s") or 0.0
        if _num(p, "acw_s") is not None:
            e["acw"] = _num(p, "acw_s")
        if wait is not None and "w" not in e:
            e["w"] = wait
        if (event.get("attributes") or {}).get("reason") == "transfer":
            e["x"] = 1
    elif etype == v.CALL_TRANSFERRED:
        e2 = current(c, scope, at) if scope else _answered(c, at)
        if e2 is not None:
            # Transferred out is handled in this queue (queue_log writes BLINDTRANSFER
            # instead of COMPLETEAGENT): the AgentComplete that Asterisk also raises brings
            # the talk time; without it, the handle time runs from the answer to the transfer.
            e2["x"] = 1
            if e2.get("a") is not None:
                e2.setdefault("done", 1)
                e2.setdefault("en", at)
    elif etype == v.CALL_TIMED_OUT or (etype == v.CALL_ABANDONED and p and p.get("timeout")):
        _leave(current(c, scope, at, wait), wait, timeout=True)
    elif etype == v.CALL_ABANDONED:
        _leave(current(c, scope, at, wait), wait)
    elif etype == v.CALL_WRAPUP:  # matched to its entry when counted (wrapups.py)
        wrapup = [at, (p or {}).get("agent"), _num(p, "acw_s") or 0.0, event["event_id"]]
        if wrapup not in c.get("wu", ()):  # a new list: the contact before stays as it was
            c["wu"] = sorted([*c.get("wu", ()), wrapup], key=lambda w: (w[0], w[3]))


def chat(c: Contact, etype: str, event: dict[str, Any], p: dict[str, Any] | None,
         at: int) -> None:
    """Web/app chat and WeChat customer service: request → agent joined → closed."""
    scope = scope_of(event)
    actor = event.get("actor") or {}
    agent = (p or {}).get("agent") or (actor.get("id") if actor.get("kind") == "AGENT" else None)
    waiting = [e for e in c["e"] if e.get("a") is None and not e.get("ab") and not e.get("sh")]
    if etype in (v.CHAT_REQUESTED, v.CHAT_QUEUED, v.WECHAT_TRANSFER_TO_AGENT):
        if waiting:
            first = waiting[-1]
            if at < first["j"]:
                first["j"] = at
            first["jx"] = 1
        else:
            join(c, scope, at)
    elif etype in (v.CHAT_AGENT_JOINED, v.WECHAT_KF_CREATE):
        wait = _num(p, "wait_s")
        e = waiting[-1] if waiting and waiting[-1]["j"] <= at + SLACK_MS else None
        if e is None:
            e = {"sc": scope, "j": at - int((wait or 0.0) * 1000)}
            if wait is not None:
                e["jx"] = 1
            c["e"].append(e)
            c["e"].sort(key=lambda x: x["j"])
        e["a"] = at
        if e.get("jx"):
            e["w"] = wait if wait is not None else max(0.0, (at - e["j"]) / 1000)
        if agent:
            e["ag"] = agent
    elif etype in (v.CHAT_MESSAGE, v.WECHAT_MESSAGE) and agent:
        e2 = _answered(c, at)
        if e2 is not None and e2.get("fr") is None:
            e2["fr"] = at
    elif etype in (v.CHAT_TRANSFERRED, v.WECHAT_KF_SWITCH):
        e3 = _answered(c, at)
        if e3 is not None and not e3.get("done"):
            e3.update(done=1, x=1, en=at)
        new: Entry = {"sc": scope, "j": at, "jx": 1}
        if etype == v.WECHAT_KF_SWITCH:  # the session moves straight to the next agent
            new.update(a=at, w=0.0, fr=at)
            if agent:
                new["ag"] = agent
        c["e"].append(new)
        c["e"].sort(key=lambda x: x["j"])
    elif etype in (v.CHAT_CLOSED, v.WECHAT_KF_CLOSE):
        open_ = [e for e in c["e"] if e.get("a") is not None and not e.get("done")]
        if open_:
            open_[-1].update(done=1, en=at)
        elif waiting:
            _leave(waiting[-1], max(0.0, (at - waiting[-1]["j"]) / 1000))
    elif etype == v.CHAT_ABANDONED and waiting:
        wait = _num(p, "wait_s")
        _leave(waiting[-1], wait if wait is not None else max(0.0, (at - waiting[-1]["j"]) / 1000))


def branch(c: Contact, etype: str, event: dict[str, Any], p: dict[str, Any] | None,
           at: int) -> None:
    """One visit (ticket): issued → called → service started → ended, or no-show; a
    transfer (转柜) ends the entry and starts one in the target queue."""
    scope = scope_of(event)
    if etype == v.BRANCH_TICKET_ISSUED:
        join(c, scope, at)
        return
    if etype not in (v.BRANCH_CALLED, v.BRANCH_NO_SHOW, v.BRANCH_SERVICE_STARTED,
                     v.BRANCH_SERVICE_ENDED, v.BRANCH_TRANSFERRED):
        return
    e = current(c, scope, at, _num(p, "wait_s"), any_scope=True)
    if scope and (e.get("sc") is None or "/queue:" not in e["sc"]):
        e["sc"] = scope
    if etype in (v.BRANCH_CALLED, v.BRANCH_SERVICE_STARTED) and e.get("a") is None:
        e["a"] = at
        wait = _num(p, "wait_s")
        if e.get("jx"):
            e["w"] = max(0.0, (at - e["j"]) / 1000)
        elif wait is not None:
            e["w"] = wait
    if etype == v.BRANCH_SERVICE_STARTED:
        e["st"] = min(e.get("st", at), at)
    elif etype == v.BRANCH_NO_SHOW:
        e["ab"] = 1
    elif etype == v.BRANCH_SERVICE_ENDED:
        e["done"], e["en"] = 1, at
        svc = _num(p, "service_s")
        if svc is not None:
            e["svc"] = svc
    elif etype == v.BRANCH_TRANSFERRED:
        e.update(done=1, x=1, en=at)
        target = (p or {}).get("to_queue")
        org = event.get("organisation") or {}
        new_scope = f"branch:{org['branch']}/queue:{target}" if target and org.get("branch") \
            else e.get("sc")
        c["e"].append({"sc": new_scope, "j": at, "jx": 1})
        c["e"].sort(key=lambda x: x["j"])


def _same(a: Entry, b: Entry) -> bool:
    if a.get("sc") != b.get("sc"):
        return False
    if a.get("jx") and b.get("jx"):
        return a["j"] == b["j"]
    lo, hi = (a, b) if a["j"] <= b["j"] else (b, a)
    return hi["j"] - lo["j"] <= SLACK_MS or not hi.get("jx")


def merge_all(xs: list[Entry], ys: list[Entry]) -> list[Entry]:
    """Entries of two partial views of one contact, matched by scope and join time."""
    out = [dict(e) for e in xs]
    for y in ys:
        mine = next((e for e in out if _same(e, y)), None)
        if mine is None:
            out.append(dict(y))
            continue
        if y.get("jx") and not mine.get("jx"):  # the view that saw the join knows the wait
            mine["j"], mine["jx"] = y["j"], 1
            if "w" in y:
                mine["w"] = y["w"]
        for k, val in y.items():
            mine.setdefault(k, val)
        for k in ("a", "st", "fr"):  # the earliest time either view saw
            if k in y:
                mine[k] = min(mine[k], y[k])
        if y.get("tmo"):
            mine.pop("ab", None)
            mine.pop("sh", None)
    out.sort(key=lambda e: e["j"])
    return out


def handle_s(e: Mapping[str, Any]) -> float:
    """Handle time of a handled entry: talk + hold (phone, from AgentComplete), else from
    the start of service (branch) or the answer (chat) to its end, else the branch
    system's own service time."""
    if "t" in e:
        return float(e["t"]) + float(e.get("h", 0.0))
    start = e.get("st", e.get("a"))
    if "en" in e and start is not None and not ("svc" in e and "st" not in e):
        return max(0.0, (e["en"] - start) / 1000)
    return float(e.get("svc", 0.0))
