"""Synthetic customers and their cross-channel journeys, for the traffic simulator.

A journey is a list of steps, each one native message bundle for one channel. The same
customer shows up with a different identifier on each channel (app user id and device,
WeChat OpenID, phone number, ID card and bank card at the branch) and the trusted events
(login, WeChat binding, IVR authentication, counter identification) carry the customer
number, so the identity processors can stitch them.
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors import complaint_journeys

Step = tuple[str, Any]  # (kind, body): segment|wechat|bind|ami|desktop|branch|sleep

REASONS = ("transfer_failed", "card_blocked", "loan_query", "password_reset", "fee_dispute")
QUEUES = {"transfer_failed": "payments", "card_blocked": "cards", "loan_query": "loans",
          "password_reset": "cards", "fee_dispute": "payments"}
BRANCHES = ("SH-017", "BJ-003", "GZ-021")


@dataclass
class Customer:
    number: str
    phone: str
    app_user: str
    device: str
    openid: str
    unionid: str
    card: str
    id_number: str
    bound: bool = False
    contacts: int = 0


def _id_number(rng: random.Random) -> str:
    body = f"{rng.choice(['110105', '310101', '440106'])}{rng.randint(1950, 2004)}" \
           f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + rng.choice("0123456789X")


def make_customer(rng: random.Random, n: int) -> Customer:
    return Customer(
        number=f"C{n:08d}", phone=f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        app_user=f"u{rng.getrandbits(40):010x}", device=f"dev-{rng.getrandbits(48):012x}",
        openid=f"o{rng.getrandbits(100):025x}", unionid=f"un{rng.getrandbits(64):016x}",
        card=f"6228{rng.randint(10**11, 10**12 - 1)}", id_number=_id_number(rng))


@dataclass
class Journey:
    """Builds the steps of one journey; ``seq`` keeps every source id unique per run."""

    rng: random.Random
    customer: Customer
    run_id: str
    seq: int
    steps: list[Step] = field(default_factory=list)

    def _id(self, kind: str) -> str:
        self.seq += 1
        return f"{self.run_id}-{kind}-{self.seq}"

    def build(self) -> list[Step]:
        c, rng = self.customer, self.rng
        c.contacts += 1
        reason = rng.choice(REASONS)
        self.app(reason)
        if rng.random() < 0.6:
            self.wechat(reason)
        elif rng.random() < 0.5:
            self.web_chat(reason)
        if rng.random() < 0.75:
            self.call(reason)
            if rng.random() < 0.2:  # repeat contact: not resolved the first time
                self.call(reason)
        if rng.random() < 0.3:
            self.branch(reason)
        if rng.random() < 0.08:
            self.complaint(reason)
        return self.steps

    def pause(self) -> None:
        self.steps.append(("sleep", self.rng.uniform(0.05, 0.5)))

    # -- channels --------------------------------------------------------------------
    def app(self, reason: str) -> None:
        c = self.customer
        batch: list[dict[str, Any]] = [
            {"type": "identify", "messageId": self._id("seg"), "userId": c.app_user,
             "anonymousId": c.device, "traits": {"customer_number": c.number, "phone": c.phone},
             "context": {"device": {"id": c.device, "type": "android"}}},
            {"type": "screen", "messageId": self._id("seg"), "userId": c.app_user,
             "anonymousId": c.device, "name": "Transfer"},
            {"type": "track", "messageId": self._id("seg"), "userId": c.app_user,
             "anonymousId": c.device, "event": "Transfer Started",
             "properties": {"amount": self.rng.randint(100, 50_000)}},
        ]
        if reason == "transfer_failed":
            batch.append({"type": "track", "messageId": self._id("seg"), "userId": c.app_user,
                          "anonymousId": c.device, "event": "Transfer Failed",
                          "properties": {"error_code": self.rng.choice(["E-LIMIT", "E-RISK"]),
                                         "reason": reason}})
        self.steps.append(("segment", ("app", batch)))
        self.pause()

    def web_chat(self, reason: str) -> None:
        """A chat that asked for a human: queued, answered after a wait, closed now."""
        chat = self._id("chat")
        cookie = f"ck-{self.customer.device[4:]}"
        wait, first, handle = self.rng.randint(5, 90), self.rng.randint(5, 40), \
            self.rng.randint(60, 600)
        t0 = time.time() - (wait + handle)
        offsets = (("Chat Requested", 0), ("Chat Queued", 0), ("Chat Agent Joined", wait),
                   ("Chat Message", wait + first), ("Chat Closed", wait + handle))
        batch = [{"type": "track", "messageId": self._id("seg"), "anonymousId": cookie,
                  "event": name, "timestamp": _iso(t0 + off),
                  "properties": {"chat_id": chat, "reason": reason,
                                 "agent": "web-agent-1", "text": "help"}}
                 for name, off in offsets]
        self.steps.append(("segment", ("web", batch)))
        self.pause()

    def wechat(self, reason: str) -> None:
        c = self.customer
        if not c.bound:
            c.bound = True
            self.steps.append(("wechat", {"MsgType": "event", "Event": "subscribe",
                                          "FromUserName": c.openid}))
            self.steps.append(("bind", {"openid": c.openid, "unionid": c.unionid,
                                        "customer_number": c.number, "phone": c.phone,
                                        "bind_id": self._id("bind")}))
        human = self.rng.random() < 0.4
        wait, handle = self.rng.randint(3, 60), self.rng.randint(60, 480)
        t0 = int(time.time()) - (20 + wait + handle if human else 0)
        self.steps.append(("wechat", {"MsgType": "text", "FromUserName": c.openid,
                                      "Content": "转账失败了怎么办" if reason ==
                                      "transfer_failed" else "请问怎么处理",
                                      "MsgId": str(self._seq_num()), "CreateTime": str(t0)}))
        if human:  # "转人工" hands the chat to an agent (transfer_customer_service)
            self.steps.append(("wechat", {"MsgType": "text", "FromUserName": c.openid,
                                          "Content": "转人工", "MsgId": str(self._seq_num()),
                                          "CreateTime": str(t0 + 20)}))
            self.steps.append(("wechat", {"MsgType": "event", "Event": "kf_create_session",
                                          "FromUserName": c.openid, "KfAccount": "kf01@bank",
                                          "CreateTime": str(t0 + 20 + wait)}))
            self.steps.append(("wechat", {"MsgType": "event", "Event": "kf_close_session",
                                          "FromUserName": c.openid, "KfAccount": "kf01@bank",
                                          "CreateTime": str(t0 + 20 + wait + handle)}))
        self.pause()

    def _seq_num(self) -> int:
        self.seq += 1
        return zlib.crc32(f"{self.run_id}:{self.seq}".encode()) * 1000 + self.seq % 1000

    def call(self, reason: str) -> None:
        c, rng = self.customer, self.rng
        linkedid = f"{int(time.time())}.{self._seq_num() % 10**6}"
        queue = QUEUES[reason]
        wait = rng.randint(3, 90)
        base = {"Uniqueid": linkedid, "Linkedid": linkedid, "CallerIDNum": c.phone,
                "Channel": f"SIP/trunk-{linkedid}"}
        talk = rng.randint(60, 600)
        # The frames describe a call that ends now (AMI reports it as it happens, and the
        # live KPI windows count a contact in the minute it started).
        t = [time.time() - (25 + wait + 4 + talk + 70)]  # 70: room for a second queue

        def at(step: float) -> str:
            t[0] += step
            return f"{t[0]:.6f}"

        frames: list[dict[str, str]] = [
            {"Event": "Newchannel", **base, "Exten": "95555", "Timestamp": at(0)},
            {"Event": "QueueCallerJoin", **base, "Queue": queue, "Position": "1",
             "Count": "1", "Timestamp": at(25)},
        ]
        desktop: list[dict[str, Any]] = [{
            "type": "ivr_authenticated", "id": self._id("ivr"), "linkedid": linkedid,
            "customer_number": c.number, "phone": c.phone,
            "occurred_at": int((t[0] + 20) * 1000)}]  # in the IVR, before the queue
        outcome = rng.random()
        if outcome < 0.12:  # abandoned or timed out in the queue
            frames.append({"Event": "QueueCallerAbandon", **base, "Queue": queue,
                           "Position": "1", "OriginalPosition": "1", "HoldTime": str(wait),
                           "Timestamp": at(wait)})
            if outcome < 0.03:
                frames.append({"Event": "VarSet", **base, "Variable": "QUEUESTATUS",
                               "Value": "TIMEOUT", "Timestamp": at(0)})
        else:
            def answer(queue: str, agent: str, wait: int, ring: int) -> None:
                frames.append({"Event": "AgentCalled", **base, "Queue": queue,
                               "MemberName": agent, "Interface": f"SIP/{agent}",
                               "Timestamp": at(wait)})
                frames.append({"Event": "AgentConnect", **base, "Queue": queue,
                               "MemberName": agent, "HoldTime": str(wait),
                               "RingTime": str(ring), "Timestamp": at(ring)})

            agent = f"agent-{rng.randint(1, 40):02d}"
            answer(queue, agent, wait, 4)
            if rng.random() < 0.15:  # blind transfer into a second queue: a new entry there
                first = talk // 3
                frames.append({"Event": "BlindTransfer", "Result": "Success",
                               "TransfererUniqueid": f"{linkedid}-a",
                               "TransfererLinkedid": linkedid, "TransfereeUniqueid": linkedid,
                               "TransfereeLinkedid": linkedid, "Extension": "8002",
                               "Context": "queues", "Timestamp": at(first)})
                frames.append({"Event": "AgentComplete", **base, "Queue": queue,
                               "MemberName": agent, "HoldTime": str(wait),
                               "TalkTime": str(first), "Reason": "transfer",
                               "Timestamp": at(0)})
                queue, wait = "specialists", rng.randint(2, 60)
                agent = f"agent-{rng.randint(41, 50):02d}"
                frames.append({"Event": "QueueCallerJoin", **base, "Queue": queue,
                               "Position": "1", "Count": "1", "Timestamp": at(1)})
                answer(queue, agent, wait, 3)
                talk -= first
            frames.append({"Event": "AgentComplete", **base, "Queue": queue,
                           "MemberName": agent, "HoldTime": str(wait), "TalkTime": str(talk),
                           "Reason": "caller", "Timestamp": at(talk)})
            desktop.append({"type": "wrapup", "id": self._id("wrap"), "linkedid": linkedid,
                            "agent": agent, "acw_s": rng.randint(10, 120), "reason": reason,
                            "occurred_at": "now"})
            if rng.random() < 0.5:
                desktop.append({"type": "survey", "id": self._id("srv"), "linkedid": linkedid,
                                "score": rng.choices([1, 2, 3, 4, 5], [2, 2, 6, 30, 60])[0],
                                "scale_max": 5, "occurred_at": "now"})
        frames.append({"Event": "Hangup", **base, "Cause": "16",
                       "Cause-txt": "Normal Clearing", "Timestamp": at(1)})
        frames.append({"Event": "Cdr", "UniqueID": linkedid, "Disposition": "ANSWERED",
                       "Duration": "100", "BillableSeconds": "90",
                       "DestinationChannel": "SIP/agent", "LastApplication": "Queue",
                       "StartTime": "", "Timestamp": at(0)})
        self.steps.append(("ami", frames))
        self.steps.append(("desktop", desktop))
        self.pause()

    def branch(self, reason: str) -> None:
        """A visit: ticket, called after the wait, identified at the counter, served."""
        c, rng = self.customer, self.rng
        branch = rng.choice(BRANCHES)
        ticket = f"A{self._seq_num() % 1000:03d}-{self.seq}"
        common: dict[str, Any] = {"branch": branch, "ticket_id": ticket, "queue": "personal",
                                  "service": reason}
        wait, service = rng.randint(60, 1800), rng.randint(120, 1200)
        t0 = int(time.time() * 1000) - (wait + 30 + service) * 1000
        counter = {"counter": "05", "teller": "T9"}
        self.steps.append(("branch", [
            {"event": "ticket_issued", **common, "occurred_at": t0},
            {"event": "called", **common, "counter": "05", "wait_s": wait,
             "occurred_at": t0 + wait * 1000},
            {"event": "service_started", **common, **counter,
             "occurred_at": t0 + (wait + 30) * 1000},
            {"event": "identified", **common, **counter,
             "occurred_at": t0 + (wait + 35) * 1000,
             "customer": {"id_number": c.id_number, "card_number": c.card}},
            {"event": "service_ended", **common, **counter, "service_s": service,
             "occurred_at": t0 + (wait + 30 + service) * 1000, "reason": reason},
            {"event": "rating_submitted", **common, "score": rng.choice([3, 4, 5, 5, 5]),
             "occurred_at": "now"},
        ]))
        self.pause()

    def complaint(self, reason: str) -> None:
        """Opened on one of the five channels, then worked to closing (complaint_journeys)."""
        self.steps += complaint_journeys.steps(self.rng, self.customer, reason, self._id,
                                               self._seq_num)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
