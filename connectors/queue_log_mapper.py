"""Asterisk queue_log lines to the canonical call events the AMI path emits, same meaning.

A line is ``epoch|callid|queue|agent|EVENT|data...`` (callid = the caller channel's
Uniqueid, i.e. the Linkedid of an inbound call; agent ``NONE`` when there is none).
The file carries what the KPIs need, with two gaps the AMI path does not have: no
customer hold (``hold_s`` is 0.0, so ``talk_s`` is the whole talk time, as AMI's
talk + hold) and no ring attempts that were answered (no ``call.agent_ringing``).
A transfer line is two events, ``call.transferred`` then ``call.completed`` (reason
``transfer``), in the order AMI's BlindTransfer + AgentComplete give them.
EXITEMPTY and EXITWITHKEY (the caller left a queue with no members, or pressed a key) and
the queue/member bookkeeping lines are deliberately ignored.
Event ids: ``callid:EVENT:queue:epoch:agent`` (+ ``#transferred``/``#completed``), so a
line read again after a restart yields the same ids and the processors drop it.
"""

from __future__ import annotations

from typing import Any

from backbone import vocabulary as v
from backbone.errors import ValidationError
from backbone.models import ActorKind
from connectors import records as rec
from connectors.base import Pipeline
from connectors.calls import CUSTOMER, PHONE, Bounded, transfer_target
from connectors.records import Prepared, Record

SOURCE = "asterisk-queue_log"
HEADER = ("epoch", "callid", "queue", "agent", "event")
# The data fields each mapped event must carry (app_queue.c); any other event is ignored.
DATA: dict[str, tuple[str, ...]] = {
    "ENTERQUEUE": ("url", "callerid"),
    "RINGNOANSWER": ("ringtime_ms",),
    "CONNECT": ("holdtime", "bridged_uniqueid", "ringtime"),
    "COMPLETEAGENT": ("holdtime", "calltime", "origposition"),
    "COMPLETECALLER": ("holdtime", "calltime", "origposition"),
    "ABANDON": ("position", "origposition", "waittime"),
    "EXITWITHTIMEOUT": ("position", "origposition", "waittime"),
    "BLINDTRANSFER": ("extension", "context", "holdtime", "calltime", "origposition"),
    # method (BRIDGE|APP|LINK) then one or two data fields, the three numbers always last
    "ATTENDEDTRANSFER": ("method", "data", "holdtime", "calltime", "origposition"),
}


class Line:
    """One queue_log line split into its header and data fields, numbers checked on use."""

    __slots__ = ("agent", "callid", "data", "epoch", "event", "queue")

    def __init__(self, text: str):
        fields = text.rstrip("\r\n").split("|")
        if len(fields) < len(HEADER):
            raise ValidationError(f"queue_log line has {len(fields)} fields, needs at least 5",
                                  code="missing_field", field=HEADER[len(fields)])
        self.epoch, self.callid, queue, agent, self.event = fields[:5]
        self.queue = None if queue in ("", "NONE") else queue
        self.agent = None if agent in ("", "NONE") else agent
        self.data = fields[5:]

    def check(self) -> None:
        names = DATA[self.event]
        if len(self.data) < len(names):
            raise ValidationError(f"{self.event} needs {len(names)} data fields "
                                  f"({'|'.join(names)}), got {len(self.data)}",
                                  code="missing_field", field=names[len(self.data)])
        if self.callid in ("", "NONE"):
            raise ValidationError(f"{self.event} without a callid", code="missing_field",
                                  field="callid")

    def number(self, index: int, name: str, scale: float = 1.0) -> float:
        try:
            value = float(self.data[index])
        except ValueError:
            value = -1.0
        if not 0 <= value < 10_000_000:  # also refuses nan and inf
            raise ValidationError(f"{self.event} {name} is not a duration: "
                                  f"{self.data[index][:20]!r}", code="invalid_field", field=name)
        return value / scale

    def integer(self, index: int, name: str) -> int:
        try:
            return int(self.data[index])
        except ValueError:
            raise ValidationError(f"{self.event} {name} is not an integer: "
                                  f"{self.data[index][:20]!r}", code="invalid_field",
                                  field=name) from None


class QueueLogMapper:
    """Stateful: one per followed file. ``map`` returns zero or more events for a line."""

    def __init__(self, pipeline: Pipeline):
        self.p = pipeline
        # The caller number is on ENTERQUEUE only: keep its identifier for the call's others.
        self._callers: Bounded[str, list[Record]] = Bounded(10_000)

    def map(self, text: str) -> list[Prepared]:
        """Raises :class:`ValidationError` for a line that is not a queue_log record."""
        if not text.strip():
            return []
        line = Line(text)
        if line.event not in DATA:
            return []
        line.check()
        at = self.p.when(line.epoch, "epoch")
        event, agent = line.event, line.agent
        if event == "ENTERQUEUE":
            phone = self.p.phone_record(line.data[1])
            self._callers[line.callid] = [phone] if phone else []
            position = line.integer(2, "position") if len(line.data) > 2 else None
            return [self._event(line, at, v.CALL_QUEUED, payload={"position": position})]
        if event == "RINGNOANSWER":
            return [self._event(line, at, v.CALL_RING_NO_ANSWER, agent=True, payload={
                "agent": agent, "ring_s": line.number(0, "ringtime_ms", 1000.0)})]
        if event == "CONNECT":
            return [self._event(line, at, v.CALL_ANSWERED, agent=True, payload={
                "agent": agent, "wait_s": line.number(0, "holdtime"),
                "ring_s": line.number(2, "ringtime")})]
        if event in ("COMPLETEAGENT", "COMPLETECALLER"):
            return [self._completed(line, at, event.removeprefix("COMPLETE").lower())]
        if event in ("ABANDON", "EXITWITHTIMEOUT"):
            timeout = event == "EXITWITHTIMEOUT"
            return [self._event(
                line, at, v.CALL_TIMED_OUT if timeout else v.CALL_ABANDONED, payload={
                    "position": line.integer(0, "position"),
                    "original_position": line.integer(1, "origposition"),
                    "wait_s": line.number(2, "waittime"), "timeout": timeout})]
        if event == "BLINDTRANSFER":
            target = f"{line.data[0]}@{line.data[1]}"
        else:  # ATTENDEDTRANSFER: the data between the method and the three numbers
            target = "|".join(line.data[1:-3]) or line.data[0]
        transferred = self._event(line, at, v.CALL_TRANSFERRED, agent=True, suffix="#transferred",
                                  payload={"agent": agent,
                                           "transfer_to": transfer_target(target, self.p.hasher)})
        return [transferred, self._completed(line, at, "transfer", suffix="#completed")]

    def _completed(self, line: Line, at: int, reason: str, suffix: str = "") -> Prepared:
        return self._event(line, at, v.CALL_COMPLETED, agent=True, suffix=suffix,
                           attributes={"reason": reason}, payload={
                               "agent": line.agent, "wait_s": line.number(-3, "holdtime"),
                               "talk_s": line.number(-2, "calltime"), "hold_s": 0.0})

    def _event(self, line: Line, at: int, event_type: str, *, payload: dict[str, Any],
               agent: bool = False, suffix: str = "",
               attributes: dict[str, str] | None = None) -> Prepared:
        callid = line.callid
        return self.p.record(
            event_type=event_type, source_system=SOURCE,
            source_event_id=(f"{callid}:{line.event}:{line.queue or ''}:{line.epoch}:"
                             f"{line.agent or ''}{suffix}"),
            occurred_at=at, channel=PHONE, interaction_id=f"call:{callid}",
            identifiers=self._callers.get(callid, ()),
            actor=(rec.actor(ActorKind.AGENT.value, line.agent) if agent else CUSTOMER),
            organisation=rec.organisation(queue=line.queue) if line.queue else None,
            payload=rec.call_payload(linkedid=callid, uniqueid=callid, **payload),
            attributes=attributes)
