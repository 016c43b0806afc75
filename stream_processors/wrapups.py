"""Wrap-ups (after-call work from the agent desktop) matched to the queue entries they
belong to.

The desktop's wrap-up and the switch's events of one call come through independent
feeds, so either may arrive first. A contact keeps its wrap-ups as they came (``wu``) and
they are matched to entries whenever the KPIs are counted, never when they arrive.
"""

from __future__ import annotations

from collections.abc import Sequence

from stream_processors.entries import SLACK_MS, Contact, Entry, handle_s


def wrapup_acw(c: Contact, entries: Sequence[Entry]) -> dict[int, float]:
    """After-call work per handled entry (by index), from the contact's wrap-ups.

    A wrap-up (``wu``: [at, agent, acw_s, event id]) belongs to the entry its agent
    handled: the latest one that ended at or before the wrap-up, else that agent's
    latest; a wrap-up naming no agent of the call goes to the call's last handled entry
    that ended before it. Resolved when counted, not when the wrap-up arrives, so the
    answer is the same whichever feed (switch or desktop) came first. Several wrap-ups of
    one entry add up. ``acw`` on the contact is a wrap-up kept by an older version.
    """
    done = [i for i, e in enumerate(entries) if e.get("done")]
    out: dict[int, float] = {}
    if not done:
        return out
    wrapups = list(c.get("wu") or ())
    if c.get("acw") is not None:
        wrapups.append([c["end"], None, c["acw"], ""])
    for at, agent, acw, _ in wrapups:
        mine = [i for i in done if agent is not None and entries[i].get("ag") == agent] or done
        before = [i for i in mine if _ended(entries[i]) <= at + SLACK_MS]
        target = max(before or mine, key=lambda i: (_ended(entries[i]), i))
        out[target] = out.get(target, 0.0) + float(acw)
    return out


def _ended(e: Entry) -> float:
    if "en" in e:
        return float(e["en"])
    start = e["a"] if e.get("a") is not None else e["j"]
    return float(start) + handle_s(e) * 1000
