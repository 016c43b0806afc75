"""Asterisk AMI events to canonical call events, with the app_queue.c quirks handled.

- ``HoldTime`` on AgentConnect/AgentComplete is the caller's queue wait → ``wait_s``;
  customer hold comes from Hold/Unhold, summed per call → ``hold_s``.
- AgentComplete's ``TalkTime`` includes hold, so ``talk_s`` = TalkTime − hold_s and
  AHT = talk + hold + after-call work counts hold once.
- AgentRingNoAnswer's ``RingTime`` is milliseconds; AgentConnect's is seconds.
- A queue timeout also raises QueueCallerAbandon: it is held back until the channel's
  ``VarSet QUEUESTATUS`` (TIMEOUT → call.timed_out), its Hangup, or 5 s pass (→ abandoned,
  by :meth:`CallMapper.expire`, which the connector calls before mapping each frame and
  every second, so a frame that fails validation never takes held abandons with it).
- Cdr carries no Linkedid and a transferred call yields two Cdrs with one UniqueID: the
  Linkedid is remembered from earlier events and the id includes the destination
  channel. Cdr dispositions are ANSWERED whenever an IVR answered first, so processors
  must count answers from call.answered, never from call.cdr.
- Transfers carry the queue the call was last answered in (their frames name none) and
  never a raw phone number as the target: a number dialled out becomes its keyed hash
  (the same number, the same token, as the caller's PHONE identifier gets); so does a
  dialled number in Newchannel's ``Exten`` and in a Cdr's destination channel.
Event ids: Uniqueid + event + the AMI ``Timestamp`` (timestampevents=yes) or, without
it, the occurrence number of that event on that channel.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from backbone import identifiers as ids
from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import ActorKind, Channel
from connectors import records as rec
from connectors.ami import Frame
from connectors.base import Pipeline
from connectors.records import Prepared, Record

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")
SOURCE = "asterisk-ami"
ABANDON_GRACE_S = 5.0
# Asterisk's channel-name suffix (``PJSIP/1001-0000000a``, ``Local/8002@q-00000001;1``).
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(?:;\d)?$")
_DIGIT_GAP = re.compile(r"(?<=\d)[\s().-](?=\d)")
_PHONE_LIKE = re.compile(r"\d{7,}")
# A dialled number inside a dial string or channel name, separators allowed.
_DIALLED = re.compile(r"\d(?:[\s().-]?\d){6,}")


class Bounded(OrderedDict[K, V], Generic[K, V]):
    """Call state that cannot grow without bound when events go missing."""

    def __init__(self, capacity: int = 50_000):
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > self.capacity:
            self.popitem(last=False)


def _phone_token(digits: str, hasher: ids.Hasher) -> str:
    return hasher.hash("PHONE", ids.normalise_phone(digits))


def transfer_target(target: str, hasher: ids.Hasher) -> str:
    """The transfer destination as events may carry it: a phone number (7+ digits) is C2
    data, so dialling out is recorded as that number's keyed hash (``h:<key id>:...``,
    the PHONE identifier's token); anything else (an extension, a queue) is capped."""
    for part in re.split(r"[|,]", target):
        if "/" in part:  # a channel name: its unique suffix is not a number anyone dialled
            part = _CHANNEL_SUFFIX.sub("", part)
        number = _PHONE_LIKE.search(_DIGIT_GAP.sub("", part))
        if number:
            return _phone_token(number.group(), hasher)
    return target[:64]


def hide_dialled(value: str, hasher: ids.Hasher) -> str:
    """``value`` (an extension, a channel name) with each dialled number in it replaced by
    its keyed hash; the channel's unique suffix stays, so ids built from it stay unique."""
    suffix = _CHANNEL_SUFFIX.search(value)
    head, tail = (value[:suffix.start()], suffix.group()) if suffix else (value, "")
    if not _PHONE_LIKE.search(_DIGIT_GAP.sub("", head)):
        return value
    return _DIALLED.sub(lambda m: _phone_token(_DIGIT_GAP.sub("", m.group()), hasher),
                        head) + tail


def _float(frame: Frame, key: str, scale: float = 1.0) -> float | None:
    try:
        value = float(frame[key]) / scale
    except (KeyError, ValueError):
        return None
    return value if 0 <= value < 10_000_000 else None


def _int(frame: Frame, key: str) -> int | None:
    try:
        return int(frame[key])
    except (KeyError, ValueError):
        return None


CUSTOMER = rec.actor(ActorKind.CUSTOMER.value)
SYSTEM = rec.actor(ActorKind.SYSTEM.value)
AGENT = rec.actor(ActorKind.AGENT.value)
PHONE = Channel.PHONE.value


class CallMapper:
    """Stateful: one per AMI session stream. ``map`` returns zero or more events; held
    abandons past their grace time come from ``expire`` (``clock``: monotonic seconds)."""

    def __init__(self, pipeline: Pipeline, *, clock: Callable[[], float] = time.monotonic):
        self.p = pipeline
        self._clock = clock
        # A call's caller, queues and agents repeat on every event: build each value once
        # (the HMAC of the caller's number is most of the per-event cost otherwise).
        self._callers: Bounded[str, list[Record]] = Bounded(10_000)
        self._queues: Bounded[str, Record] = Bounded(1_000)
        self._agents: Bounded[str | None, Record] = Bounded(10_000)
        self._linked: Bounded[str, str] = Bounded()
        self._answered_in: Bounded[str, str] = Bounded()  # linkedid → queue of AgentConnect
        self._hold_started: Bounded[str, float] = Bounded()
        self._hold_total: Bounded[str, float] = Bounded()
        self._seen: Bounded[str, int] = Bounded()
        self._abandons: dict[str, tuple[Frame, float]] = {}

    # -- helpers ---------------------------------------------------------------------
    def _occurred(self, frame: Frame) -> int:
        stamp = frame.get("Timestamp")
        if stamp:
            return self.p.when(stamp, "Timestamp")
        return int(time.time() * 1000)

    def _source_id(self, uniqueid: str, event: str, frame: Frame, extra: str = "") -> str:
        base = f"{uniqueid}:{event}{extra}"
        if frame.get("Timestamp"):
            return f"{base}@{frame['Timestamp']}"
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        return f"{base}#{n}"

    def _caller(self, number: str) -> list[Record]:
        idents = self._callers.get(number)
        if idents is None:
            phone = self.p.phone_record(number)
            idents = self._callers[number] = [phone] if phone else []
        return idents

    def _queue(self, queue: str) -> Record:
        org = self._queues.get(queue)
        if org is None:
            org = self._queues[queue] = rec.organisation(queue=queue)
        return org

    def _agent(self, agent: str | None) -> Record:
        actor = self._agents.get(agent)
        if actor is None:
            actor = self._agents[agent] = rec.actor(ActorKind.AGENT.value, agent)
        return actor

    def _event(self, event_type: str, frame: Frame, *, uniqueid: str, linkedid: str,
               extra: str = "", actor: Record | None = None, queue: str | None = None,
               payload: dict[str, Any] | None = None, **fields: Any) -> Prepared:
        caller = frame.get("CallerIDNum", "") if uniqueid == linkedid else ""
        queue = queue or frame.get("Queue") or None
        return self.p.record(
            event_type=event_type, source_system=SOURCE,
            source_event_id=self._source_id(uniqueid, frame.get("Event", ""), frame, extra),
            occurred_at=self._occurred(frame), channel=PHONE,
            interaction_id=f"call:{linkedid}",
            identifiers=self._caller(caller) if caller else (),
            actor=actor or CUSTOMER,
            organisation=self._queue(queue) if queue else None,
            payload=rec.call_payload(linkedid=linkedid, uniqueid=uniqueid, **(payload or {})),
            **fields)

    def _ids(self, frame: Frame) -> tuple[str, str]:
        uniqueid = frame.get("Uniqueid") or frame.get("UniqueID") or ""
        if not uniqueid:
            raise ValidationError("Uniqueid is required", code="missing_field", field="Uniqueid")
        linkedid = frame.get("Linkedid") or self._linked.get(uniqueid) or uniqueid
        self._linked[uniqueid] = linkedid
        return uniqueid, linkedid

    # -- abandons held back until we know whether it was a timeout --------------------
    def _flush_abandon(self, uniqueid: str, timeout: bool) -> list[Prepared]:
        pending = self._abandons.pop(uniqueid, None)
        if pending is None:
            return []
        frame, _ = pending
        linkedid = self._linked.get(uniqueid, uniqueid)
        return [self._event(
            v.CALL_TIMED_OUT if timeout else v.CALL_ABANDONED, frame, uniqueid=uniqueid,
            linkedid=linkedid, payload={
                "position": _int(frame, "Position"),
                "original_position": _int(frame, "OriginalPosition"),
                "wait_s": _float(frame, "HoldTime"), "timeout": timeout})]

    def expire(self, now: float | None = None) -> list[Prepared]:
        """Abandons whose QUEUESTATUS never came are real abandons after the grace time.

        Never raises: each abandon frame was checked when it arrived, so one that still
        cannot become an event is logged and dropped without taking the others with it."""
        if not self._abandons:
            return []
        current = self._clock() if now is None else now
        late = [u for u, (_, seen) in self._abandons.items() if current - seen > ABANDON_GRACE_S]
        out: list[Prepared] = []
        for uniqueid in late:
            try:
                out += self._flush_abandon(uniqueid, timeout=False)
            except ValidationError as exc:
                log.warning("dropping held abandon of %s: %s", uniqueid, exc)
        return out

    # -- mapping ---------------------------------------------------------------------
    def map(self, frame: Frame) -> list[Prepared]:  # noqa: C901 - one table of events
        name = frame.get("Event", "")
        out: list[Prepared] = []
        if name in ("BlindTransfer", "AttendedTransfer"):
            return self._transfer(name, frame)
        if name == "VarSet" and frame.get("Variable") == "QUEUESTATUS":
            uniqueid = frame.get("Uniqueid", "")
            return self._flush_abandon(uniqueid, frame.get("Value") == "TIMEOUT")
        if name not in MAPPED:
            return out
        uniqueid, linkedid = self._ids(frame)
        agent = frame.get("MemberName") or frame.get("Interface") or None
        agent_actor = self._agent(agent)
        if name == "Newchannel":
            if uniqueid != linkedid:
                return out
            exten = hide_dialled(frame.get("Exten", "")[:32], self.p.hasher)
            out.append(self._event(v.CALL_STARTED, frame, uniqueid=uniqueid, linkedid=linkedid,
                                   attributes={"exten": exten}))
        elif name == "QueueCallerJoin":
            out.append(self._event(v.CALL_QUEUED, frame, uniqueid=uniqueid, linkedid=linkedid,
                                   extra=f":{frame.get('Queue', '')}",
                                   payload={"position": _int(frame, "Position")}))
        elif name == "AgentCalled":
            out.append(self._event(v.CALL_AGENT_RINGING, frame, uniqueid=uniqueid,
                                   linkedid=linkedid, extra=f":{agent}", actor=agent_actor,
                                   payload={"agent": agent}))
        elif name == "AgentRingNoAnswer":
            out.append(self._event(v.CALL_RING_NO_ANSWER, frame, uniqueid=uniqueid,
                                   linkedid=linkedid, extra=f":{agent}", actor=agent_actor,
                                   payload={"agent": agent,
                                            "ring_s": _float(frame, "RingTime", 1000.0)}))
        elif name == "AgentConnect":
            self._answered_in[linkedid] = frame.get("Queue", "")
            out.append(self._event(v.CALL_ANSWERED, frame, uniqueid=uniqueid, linkedid=linkedid,
                                   extra=f":{agent}", actor=agent_actor, payload={
                                       "agent": agent, "wait_s": _float(frame, "HoldTime"),
                                       "ring_s": _float(frame, "RingTime")}))
        elif name == "AgentComplete":
            hold = self._hold_total.pop(linkedid, 0.0)
            talk = _float(frame, "TalkTime")
            out.append(self._event(
                v.CALL_COMPLETED, frame, uniqueid=uniqueid, linkedid=linkedid,
                extra=f":{agent}", actor=agent_actor,
                attributes={"reason": frame.get("Reason", "")[:32]}, payload={
                    "agent": agent, "wait_s": _float(frame, "HoldTime"),
                    "talk_s": max(talk - hold, 0.0) if talk is not None else None,
                    "hold_s": hold}))
        elif name == "QueueCallerAbandon":
            self._occurred(frame)  # a timestamp we would refuse later is refused now
            self._abandons[uniqueid] = (frame, self._clock())
        elif name in ("Hold", "Unhold"):
            now = self._occurred(frame) / 1000
            if name == "Hold":
                self._hold_started[linkedid] = now
            elif linkedid in self._hold_started:
                started = self._hold_started.pop(linkedid)
                self._hold_total[linkedid] = self._hold_total.get(linkedid, 0.0) + now - started
            out.append(self._event(v.CALL_HOLD if name == "Hold" else v.CALL_UNHOLD, frame,
                                   uniqueid=uniqueid, linkedid=linkedid, actor=agent_actor))
        elif name == "Hangup":
            out += self._flush_abandon(uniqueid, timeout=False)
            if uniqueid == linkedid:
                out.append(self._event(v.CALL_ENDED, frame, uniqueid=uniqueid,
                                       linkedid=linkedid, payload={
                                           "cause": frame.get("Cause-txt") or frame.get("Cause")}))
        elif name == "Cdr":
            out.append(self._event(
                v.CALL_CDR, frame, uniqueid=uniqueid, linkedid=linkedid,
                extra=f":{hide_dialled(frame.get('DestinationChannel', ''), self.p.hasher)}"
                      f":{frame.get('StartTime', '')}",
                actor=SYSTEM, attributes={
                    k.lower(): frame.get(k, "")[:64] for k in (
                        "Disposition", "Duration", "BillableSeconds", "LastApplication",
                        "DestinationContext", "StartTime", "AnswerTime", "EndTime")}))
        return out

    def _transfer(self, name: str, frame: Frame) -> list[Prepared]:
        if frame.get("Result", "Success") != "Success":
            return []
        if name == "BlindTransfer":
            uniqueid = frame.get("TransfererUniqueid", "")
            linkedid = frame.get("TransfereeLinkedid") or frame.get("TransfererLinkedid") or ""
            target = f"{frame.get('Extension', '')}@{frame.get('Context', '')}"
        else:
            uniqueid = frame.get("OrigTransfererUniqueid", "")
            linkedid = frame.get("OrigTransfererLinkedid") or ""
            target = (frame.get("TransferTargetCallerIDNum") or frame.get("DestApp")
                      or frame.get("DestType", ""))
        if not uniqueid or not linkedid:
            raise ValidationError(f"{name} without transferer ids", code="missing_field",
                                  field="TransfererUniqueid")
        return [self._event(v.CALL_TRANSFERRED, frame, uniqueid=uniqueid, linkedid=linkedid,
                            actor=AGENT, queue=self._answered_in.get(linkedid),
                            payload={"transfer_to": transfer_target(target, self.p.hasher)})]


MAPPED = frozenset({
    "Newchannel", "QueueCallerJoin", "AgentCalled", "AgentRingNoAnswer", "AgentConnect",
    "AgentComplete", "QueueCallerAbandon", "Hold", "Unhold", "Hangup", "Cdr",
})
