"""A seeded contact-centre day part as Asterisk reports it: AMI frames and queue_log lines.

One plan of calls (queue entries, rings, answers, blind transfers, abandons, timeouts) is
written out twice, the way Asterisk 18+ does it (``apps/app_queue.c``): as the manager
events of a ``timestampevents=yes`` session and as the ``queue_log`` lines of the same
calls. After-call work has no AMI event, so the agent desktop's wrap-up records come along.

Asterisk measures queue times in whole seconds of ``time(NULL)``: HoldTime/holdtime is
floor(connect) - floor(join), TalkTime/calltime floor(end) - floor(connect), the CONNECT
ring time the truncated seconds of the last ring. Event times carry microseconds, so the
whole-second figures are not always the difference of two Timestamps, as on a real switch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

Frame = dict[str, str]
US = 1_000_000
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
SPAN_S = 40 * 60          # arrivals spread over this; every call ends within ~25 min after
MAX_DURATION_MS = 70 * 60_000
RING_TIMEOUT_S = 20       # a member rings this long before AgentRingNoAnswer
RETRY_S = 5               # pause between two ring attempts
CYCLE_US = (RING_TIMEOUT_S + RETRY_S) * US + 40_000
ACCESS_NUMBER = "95555"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    exten: str
    timeout_s: int
    agents: tuple[str, ...]  # extensions; MemberName is "A<ext>"
    weight: float


QUEUES = {q.name: q for q in (
    QueueSpec("cards", "8001", 120, tuple(str(1001 + i) for i in range(10)), 0.55),
    QueueSpec("loans", "8002", 120, tuple(str(2001 + i) for i in range(6)), 0.30),
    QueueSpec("vip", "8003", 90, tuple(str(3001 + i) for i in range(4)), 0.15),
)}


def member(ext: str) -> str:
    return f"A{ext}"


@dataclass
class Ring:
    """A ring attempt that ended in RINGNOANSWER."""

    ext: str
    start_us: int
    end_us: int

    @property
    def ring_ms(self) -> int:
        return (self.end_us - self.start_us) // 1000


@dataclass
class Entry:
    """One queue entry (QueueCallerJoin / ENTERQUEUE): the truth both views are written from."""

    callid: str
    queue: str
    join_us: int
    outcome: str                  # answered | abandoned | timeout
    wait_s: int                   # connect HoldTime, or waittime of the abandon/timeout
    leave_us: int                 # connect, abandon or timeout time
    misses: list[Ring] = field(default_factory=list)
    ring_start_us: int = 0        # the ring that was answered
    ring_s: int | None = None
    ext: str | None = None
    talk_s: int | None = None
    end_us: int | None = None     # AgentComplete / BlindTransfer time
    reason: str | None = None     # caller | agent | transfer
    transfer_to: str | None = None
    holds: list[tuple[int, int]] = field(default_factory=list)
    acw_s: int | None = None
    position: int = 1             # at join (= original position)
    leave_position: int = 1
    leave_count: int = 0


@dataclass
class Call:
    callid: str
    number: str
    arrive_us: int
    entries: list[Entry]
    hangup_us: int


@dataclass(frozen=True)
class Scenario:
    seed: int
    t0_ms: int
    end_ms: int
    boundary_ms: int              # the 30-minute boundary the edge cases sit on
    frames: list[Frame]
    queue_log: list[str]
    wrapups: list[dict[str, Any]]
    calls: list[Call]


@dataclass
class _Request:
    arrive_us: int
    rng: random.Random
    queue: str | None = None
    outcome: str | None = None
    join_us: int | None = None    # exact, for the edge cases
    wait_s: int | None = None
    ring_s: int | None = None
    talk_s: int | None = None
    transfer_to: str | None = None
    second: dict[str, Any] = field(default_factory=dict)


def boundary_s(t0_ms: int) -> int:
    """The one 30-minute business-time boundary in [t0 + 5 min, t0 + 35 min)."""
    first = datetime.fromtimestamp(t0_ms / 1000 + 300, BUSINESS_TZ)
    floor = first.replace(minute=first.minute - first.minute % 30, second=0, microsecond=0)
    start = floor if floor == first else floor + timedelta(minutes=30)
    return int(start.timestamp())


def _specials(b: int, rng: random.Random) -> list[_Request]:
    """The edge cases, placed around the boundary ``b`` (epoch seconds)."""

    def at(join_s: float, **kw: Any) -> _Request:
        ivr = kw.pop("ivr_s", None) or rng.uniform(6, 20)
        join = _early(round(join_s * US))
        return _Request(arrive_us=join - round(ivr * US), join_us=join,
                        rng=random.Random(rng.getrandbits(64)), **kw)

    return [
        # holdtime exactly 20 s (SL met), joined before the boundary, answered after it
        at(b - 8.2, queue="cards", outcome="answered", wait_s=20, ring_s=4),
        # holdtime 21 s (SL not met), ringtime 16 s (not within three rings)
        at(b - 100.3, queue="vip", outcome="answered", wait_s=21, ring_s=16),
        # ringtime exactly 15 s: within three rings
        at(b + 60.1, queue="cards", outcome="answered", wait_s=30, ring_s=15),
        # abandon after exactly 5 s: not short; and one after 4 s: short
        at(b + 30.6, queue="loans", outcome="abandoned", wait_s=5),
        at(b - 3.4, queue="loans", outcome="abandoned", wait_s=4),
        # joins exactly on the boundary and times out
        at(b, queue="vip", outcome="timeout"),
        # IVR before the boundary, queue entry after it
        at(b + 2.2, queue="cards", outcome="answered", wait_s=5, ring_s=2, ivr_s=8.0),
        # transferred across the boundary: cards entry before it, loans entry after it
        at(b - 90.2, queue="cards", outcome="answered", wait_s=12, ring_s=3, talk_s=91,
           transfer_to="loans", second={"wait_s": 9, "ring_s": 4}),
    ]


def _draw_queue(rng: random.Random) -> str:
    return rng.choices(list(QUEUES), [q.weight for q in QUEUES.values()])[0]


def _random_request(t0_us: int, rng: random.Random) -> _Request:
    r = random.Random(rng.getrandbits(64))
    req = _Request(arrive_us=t0_us + int(rng.uniform(0, SPAN_S) * US), rng=r)
    req.queue = _draw_queue(r)
    u = r.random()
    req.outcome = ("short" if u < 0.05 else "abandoned" if u < 0.13
                   else "timeout" if u < 0.17 else "answered")
    if req.outcome == "answered" and r.random() < 0.10:
        req.transfer_to = r.choice([q for q in QUEUES if q != req.queue])
    return req


def _early(us: int) -> int:
    """The same second, fraction below 0.4 s: the answered ring then starts after the join."""
    return us - us % US + (us % US) * 2 // 5


class _Planner:
    def __init__(self) -> None:
        self.seq = 0
        self.busy: dict[str, int] = {}

    def uid(self, us: int) -> str:
        self.seq += 1
        return f"{us // US}.{self.seq}"

    def call(self, req: _Request) -> Call:
        r = req.rng
        callid = self.uid(req.arrive_us)
        number = "139" + "".join(r.choice("0123456789") for _ in range(8))
        join = req.join_us if req.join_us is not None else _early(
            req.arrive_us + int(r.uniform(4, 25) * US))
        queue = req.queue or _draw_queue(r)
        outcome = req.outcome or "answered"
        if outcome == "answered":
            first = self.answered(r, callid, queue, join, req.wait_s, req.ring_s, req.talk_s,
                                  req.transfer_to)
        else:
            first = self.left(r, callid, queue, join, outcome, req.wait_s)
        entries = [first]
        if first.transfer_to and first.end_us is not None:
            join2 = _early(first.end_us + r.randrange(800_000, 2_000_000))
            entries.append(self.answered(r, callid, first.transfer_to, join2,
                                         req.second.get("wait_s"), req.second.get("ring_s"),
                                         req.second.get("talk_s"), None))
        last = entries[-1]
        if last.outcome == "answered":
            hangup = (last.end_us or 0) + 15_000
        elif last.outcome == "abandoned":
            hangup = last.leave_us + 20_000
        else:
            hangup = last.leave_us + r.randint(3, 8) * US
        return Call(callid, number, req.arrive_us, entries, hangup)

    def _misses(self, r: random.Random, queue: str, starts: list[int]) -> list[Ring]:
        return [Ring(r.choice(QUEUES[queue].agents), s,
                     s + RING_TIMEOUT_S * US + r.randrange(40_000)) for s in starts]

    def answered(self, r: random.Random, callid: str, queue: str, join: int,
                 wait_s: int | None, ring_s: int | None, talk_s: int | None,
                 transfer_to: str | None) -> Entry:
        u = r.random()
        hold = r.randint(1, 20) if u < 0.75 else r.randint(21, 45) if u < 0.92 else r.randint(46, 110)
        u = r.random()
        ring = (r.randint(1, 8) if u < 0.7 else r.randint(9, 15) if u < 0.9
                else r.randint(16, RING_TIMEOUT_S))
        if ring_s is not None:
            ring = ring_s
        elif wait_s is not None:
            ring = min(ring, wait_s - 1)
        hold = wait_s if wait_s is not None else max(hold, ring + 1)
        assert hold >= ring + 1, "the answered ring starts after the join"
        connect = (join // US + hold) * US + r.randrange(US)
        # join fraction < 0.4 s and this offset < 0.5 s keep the ring >= 0.1 s after the join
        ring_start = connect - ring * US - r.randrange(50_000, 500_000)
        want = r.choices([0, 1, 2], [70, 22, 8])[0]
        room = max(0, (ring_start - join - 500_000) // CYCLE_US)
        misses = self._misses(r, queue, [ring_start - (min(want, room) - i) * CYCLE_US
                                         for i in range(min(want, room))])
        transfer = transfer_to is not None
        talk = talk_s if talk_s is not None else (
            r.randint(30, 200) if transfer else min(540, max(15, int(r.lognormvariate(4.9, 0.6)))))
        end = (connect // US + talk) * US + r.randrange(US)
        reason = "transfer" if transfer else ("caller" if r.random() < 0.7 else "agent")
        holds = []
        if talk >= 60 and r.random() < 0.2:
            hs = connect + r.randint(10, talk // 3) * US + r.randrange(US)
            he = hs + r.randint(5, talk // 3) * US + r.randrange(US)
            if he < end - 2 * US:
                holds.append((hs, he))
        acw = r.randint(5, 90) if r.random() < 0.85 else None
        order = r.sample(QUEUES[queue].agents, len(QUEUES[queue].agents))
        missed = {m.ext for m in misses}
        free = [a for a in order if self.busy.get(a, 0) <= ring_start and a not in missed]
        ext = free[0] if free else min(order, key=lambda a: self.busy.get(a, 0))
        self.busy[ext] = end + (acw or 0) * US
        return Entry(callid, queue, join, "answered", hold, connect, misses,
                     ring_start_us=ring_start, ring_s=ring, ext=ext, talk_s=talk, end_us=end,
                     reason=reason, transfer_to=transfer_to, holds=holds, acw_s=acw)

    def left(self, r: random.Random, callid: str, queue: str, join: int, outcome: str,
             wait_s: int | None) -> Entry:
        spec = QUEUES[queue]
        drawn = (r.randint(0, 4) if outcome == "short" else r.randint(5, spec.timeout_s - 10)
                 if outcome == "abandoned" else spec.timeout_s + r.randint(0, 2))
        wait = wait_s if wait_s is not None else drawn
        fraction = r.randrange(join % US + 1, US) if wait == 0 else r.randrange(US)
        leave = (join // US + wait) * US + fraction
        # rings end 0.1 s before the caller leaves: nobody is ringing at the abandon
        span = leave - join - 500_000 - RING_TIMEOUT_S * US - 140_000
        room = span // CYCLE_US + 1 if span >= 0 else 0
        want = r.choices([0, 1, 2, 3, 4], [40, 30, 15, 10, 5])[0]
        if outcome == "timeout":
            want = max(want, 1)
        starts = [join + 500_000 + i * CYCLE_US for i in range(min(want, room))]
        return Entry(callid, queue, join, "timeout" if outcome == "timeout" else "abandoned",
                     wait, leave, self._misses(r, queue, starts))


def _positions(calls: list[Call]) -> None:
    """Position/Count as app_queue keeps them: callers still waiting ahead, plus one."""
    by_queue: dict[str, list[Entry]] = {}
    for call in calls:
        for e in call.entries:
            by_queue.setdefault(e.queue, []).append(e)
    for entries in by_queue.values():
        for e in entries:
            e.position = 1 + sum(o.join_us < e.join_us < o.leave_us for o in entries)
            e.leave_position = 1 + sum(o.join_us < e.join_us and o.leave_us > e.leave_us
                                       for o in entries)
            e.leave_count = sum(o is not e and o.join_us <= e.leave_us < o.leave_us
                                for o in entries)


def generate(seed: int, *, calls: int = 150, t0_ms: int) -> Scenario:
    """``calls`` calls arriving over 40 minutes from ``t0_ms``; all over within 70 minutes."""
    rng = random.Random(seed)
    b = boundary_s(t0_ms)
    requests = _specials(b, rng)
    requests += [_random_request(t0_ms * 1000, rng) for _ in range(calls - len(requests))]
    requests.sort(key=lambda q: q.arrive_us)
    planner = _Planner()
    plan = [planner.call(q) for q in requests]
    _positions(plan)
    writer = _Writer(planner)
    for call in plan:
        writer.call(call)
    frames = [f for _, _, f in sorted(writer.frames, key=lambda x: (x[0], x[1]))]
    lines = [line for _, _, line in sorted(writer.lines, key=lambda x: (x[0], x[1]))]
    end_ms = max([int(f["Timestamp"].replace(".", "")) // 1000 for f in frames]
                 + [w["occurred_at"] for w in writer.wrapups])
    return Scenario(seed, t0_ms, end_ms, b * 1000, frames, lines, writer.wrapups, plan)


# -- writing the plan out as Asterisk does ---------------------------------------------
STATE = {"0": "Down", "4": "Ring", "5": "Ringing", "6": "Up"}


@dataclass
class _Channel:
    name: str
    uniqueid: str
    linkedid: str
    number: str
    connected: str
    context: str
    exten: str
    state: str = "4"

    def fields(self, prefix: str = "") -> Frame:
        return {
            f"{prefix}Channel": self.name, f"{prefix}ChannelState": self.state,
            f"{prefix}ChannelStateDesc": STATE[self.state],
            f"{prefix}CallerIDNum": self.number, f"{prefix}CallerIDName": "<unknown>",
            f"{prefix}ConnectedLineNum": self.connected,
            f"{prefix}ConnectedLineName": "<unknown>", f"{prefix}Language": "zh",
            f"{prefix}AccountCode": "", f"{prefix}Context": self.context,
            f"{prefix}Exten": self.exten, f"{prefix}Priority": "1",
            f"{prefix}Uniqueid": self.uniqueid, f"{prefix}Linkedid": self.linkedid,
        }


def _stamp(us: int) -> str:
    return f"{us // US}.{us % US:06d}"


def _local(us: int) -> str:
    return datetime.fromtimestamp(us // US, BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


class _Writer:
    def __init__(self, planner: _Planner):
        self.planner = planner
        self.frames: list[tuple[int, int, Frame]] = []
        self.lines: list[tuple[int, int, str]] = []
        self.wrapups: list[dict[str, Any]] = []
        self._n = 0
        self._last = 0

    def _seq(self, us: int) -> int:
        assert us >= self._last, "a call's events must not go back in time"
        self._last = us
        self._n += 1
        return self._n

    def ami(self, us: int, event: str, privilege: str, *parts: Frame, **extra: str) -> None:
        frame: Frame = {"Event": event, "Privilege": f"{privilege},all",
                        "Timestamp": _stamp(us)}
        for part in parts:
            frame.update(part)
        frame.update(extra)
        self.frames.append((us, self._seq(us), frame))

    def log(self, us: int, callid: str, queue: str, agent: str, event: str,
            *data: object) -> None:
        line = "|".join([str(us // US), callid, queue, agent, event, *map(str, data)])
        self.lines.append((us, self._seq(us), line))

    def agent_channel(self, ext: str, caller: _Channel, us: int) -> _Channel:
        self.planner.seq += 1
        ch = _Channel(f"PJSIP/{ext}-{self.planner.seq:08x}", f"{us // US}.{self.planner.seq}",
                      caller.linkedid, ext, caller.number, "from-internal", ext, "0")
        self.ami(us, "Newchannel", "call", ch.fields())
        ch.state = "5"
        return ch

    def call(self, call: Call) -> None:
        self._last = 0
        cid = call.callid
        caller = _Channel(f"PJSIP/trunk-cmcc-{int(cid.split('.')[1]):08x}", cid, cid,
                          call.number, "<unknown>", "from-trunk", ACCESS_NUMBER)
        self.ami(call.arrive_us, "Newchannel", "call", caller.fields())
        caller.state = "6"
        self.ami(call.arrive_us + 300_000, "Newstate", "call", caller.fields())
        first_join = call.entries[0].join_us
        self.ami((call.arrive_us + first_join) // 2, "VarSet", "dialplan", caller.fields(),
                 Variable="IVR_MENU", Value=str(1 + int(cid.split(".")[1]) % 4))
        legs: list[_Channel] = []
        for entry in call.entries:
            leg = self.entry(call, entry, caller)
            if leg is not None:
                legs.append(leg)
        last = call.entries[-1]
        if last.outcome == "answered" and legs:
            first, second = (caller, legs[-1]) if last.reason == "caller" else (legs[-1], caller)
            self.ami(call.hangup_us - 15_000, "Hangup", "call", first.fields(), Cause="16",
                     **{"Cause-txt": "Normal Clearing"})
            self.ami(call.hangup_us, "Hangup", "call", second.fields(), Cause="16",
                     **{"Cause-txt": "Normal Clearing"})
        else:
            self.ami(call.hangup_us, "Hangup", "call", caller.fields(), Cause="16",
                     **{"Cause-txt": "Normal Clearing"})
        # The IVR answered every call, so every Cdr says ANSWERED; a transfer gives two.
        for i, leg in enumerate(legs or [None]):
            us = call.hangup_us + 50_000 + i * 1_000
            self.ami(us, "Cdr", "cdr", {
                "AccountCode": "", "Source": call.number, "Destination": ACCESS_NUMBER,
                "DestinationContext": "from-trunk", "CallerID": f'"" <{call.number}>',
                "Channel": caller.name, "DestinationChannel": leg.name if leg else "",
                "LastApplication": "Queue", "LastData": call.entries[-1].queue,
                "StartTime": _local(call.arrive_us), "AnswerTime": _local(call.arrive_us + 300_000),
                "EndTime": _local(call.hangup_us),
                "Duration": str((call.hangup_us - call.arrive_us) // US),
                "BillableSeconds": str((call.hangup_us - call.arrive_us - 300_000) // US),
                "Disposition": "ANSWERED", "AMAFlags": "DOCUMENTATION", "UniqueID": cid,
                "UserField": ""})

    def entry(self, call: Call, e: Entry, caller: _Channel) -> _Channel | None:
        spec = QUEUES[e.queue]
        cid = call.callid
        caller.context, caller.exten = "queues", spec.exten
        self.ami(e.join_us, "QueueCallerJoin", "agent", caller.fields(), Queue=e.queue,
                 Position=str(e.position), Count=str(e.position))
        self.log(e.join_us, cid, e.queue, "NONE", "ENTERQUEUE", "", call.number, e.position)
        for miss in e.misses:
            ch = self.agent_channel(miss.ext, caller, miss.start_us)
            called = {"Queue": e.queue, "Interface": f"PJSIP/{miss.ext}",
                      "MemberName": member(miss.ext)}
            self.ami(miss.start_us + 2_000, "AgentCalled", "agent", caller.fields(),
                     ch.fields("Dest"), **called)
            self.ami(miss.end_us, "AgentRingNoAnswer", "agent", caller.fields(),
                     ch.fields("Dest"), **called, RingTime=str(miss.ring_ms))
            self.log(miss.end_us, cid, e.queue, member(miss.ext), "RINGNOANSWER", miss.ring_ms)
            self.ami(miss.end_us + 5_000, "Hangup", "call", ch.fields(), Cause="19",
                     **{"Cause-txt": "User alerting, no answer"})
        if e.outcome != "answered":
            self.left(call, e, caller)
            return None
        assert e.ext is not None and e.end_us is not None and e.talk_s is not None
        ch = self.agent_channel(e.ext, caller, e.ring_start_us)
        called = {"Queue": e.queue, "Interface": f"PJSIP/{e.ext}", "MemberName": member(e.ext)}
        self.ami(e.ring_start_us + 2_000, "AgentCalled", "agent", caller.fields(),
                 ch.fields("Dest"), **called)
        ch.state = "6"
        self.ami(e.leave_us, "QueueCallerLeave", "agent", caller.fields(), Queue=e.queue,
                 Position=str(e.leave_position), Count=str(e.leave_count))
        self.ami(e.leave_us, "AgentConnect", "agent", caller.fields(), ch.fields("Dest"),
                 **called, HoldTime=str(e.wait_s), RingTime=str(e.ring_s))
        self.log(e.leave_us, cid, e.queue, member(e.ext), "CONNECT", e.wait_s, ch.uniqueid,
                 e.ring_s)
        for start, end in e.holds:
            self.ami(start, "Hold", "call", ch.fields(), MusicClass="default")
            self.ami(end, "Unhold", "call", ch.fields())
        complete = {"HoldTime": str(e.wait_s), "TalkTime": str(e.talk_s)}
        if e.transfer_to:
            target = QUEUES[e.transfer_to]
            self.ami(e.end_us, "BlindTransfer", "call", {"Result": "Success"},
                     ch.fields("Transferer"), caller.fields("Transferee"), {
                         "BridgeUniqueid": f"bridge-{ch.uniqueid}", "BridgeType": "basic",
                         "BridgeTechnology": "simple_bridge", "BridgeCreator": "<unknown>",
                         "BridgeName": "<unknown>", "BridgeNumChannels": "2",
                         "BridgeVideoSourceMode": "none"},
                     IsExternal="No", Context="queues", Extension=target.exten)
            self.log(e.end_us, cid, e.queue, member(e.ext), "BLINDTRANSFER", target.exten,
                     "queues", e.wait_s, e.talk_s, e.position)
            self.ami(e.end_us, "AgentComplete", "agent", caller.fields(), ch.fields("Dest"),
                     **called, **complete, Reason="transfer")
            self.ami(e.end_us + 10_000, "Hangup", "call", ch.fields(), Cause="16",
                     **{"Cause-txt": "Normal Clearing"})
        else:
            self.ami(e.end_us, "AgentComplete", "agent", caller.fields(), ch.fields("Dest"),
                     **called, **complete, Reason=e.reason or "caller")
            event = "COMPLETECALLER" if e.reason == "caller" else "COMPLETEAGENT"
            self.log(e.end_us, cid, e.queue, member(e.ext), event, e.wait_s, e.talk_s,
                     e.position)
        if e.acw_s is not None:
            self.wrapups.append({
                "type": "wrapup", "id": f"wu-{cid}-{member(e.ext)}", "linkedid": cid,
                "agent": member(e.ext), "acw_s": e.acw_s,
                "occurred_at": e.end_us // 1000 + e.acw_s * 1000})
        return ch

    def left(self, call: Call, e: Entry, caller: _Channel) -> None:
        """Abandon or timeout: app_queue raises QueueCallerAbandon for both."""
        cid = call.callid
        self.ami(e.leave_us, "VarSet", "dialplan", caller.fields(), Variable="ABANDONED",
                 Value="TRUE")
        self.ami(e.leave_us, "QueueCallerAbandon", "agent", caller.fields(), Queue=e.queue,
                 Position=str(e.leave_position), OriginalPosition=str(e.position),
                 HoldTime=str(e.wait_s))
        event = "EXITWITHTIMEOUT" if e.outcome == "timeout" else "ABANDON"
        self.log(e.leave_us, cid, e.queue, "NONE", event, e.leave_position, e.position,
                 e.wait_s)
        self.ami(e.leave_us, "QueueCallerLeave", "agent", caller.fields(), Queue=e.queue,
                 Position=str(e.leave_position), Count=str(e.leave_count))
        if e.outcome == "timeout":
            self.ami(e.leave_us + 1_000, "VarSet", "dialplan", caller.fields(),
                     Variable="QUEUESTATUS", Value="TIMEOUT")
