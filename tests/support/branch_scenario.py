"""A seeded morning at two branches, as their queue-ticket (叫号) system reports it.

The events are JSON bodies of our branch feed (``POST /v1/branch/events``, see
connectors/branch.py). Both branches have a queue named ``personal`` (and ticket numbers
that restart per branch, so both issue ``A001``): they must never merge. Visits include
no-shows (called, recalled, 过号), recalls before a customer turns up, transfers to another
queue (转柜: the ticket becomes a new entry of the target queue, waiting from the transfer
to its next call) and customers identified only at the counter, after the ticket.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

BRANCHES = ("SH-017", "BJ-002")
QUEUES = {  # queue -> (ticket prefix, counters, weight)
    "personal": ("A", ("01", "02", "03", "04"), 0.6),
    "corporate": ("B", ("05", "06"), 0.2),
    "wealth": ("V", ("07", "08"), 0.2),
}
SERVICES = {"personal": ("deposit", "transfer", "card"), "corporate": ("account", "settlement"),
            "wealth": ("fund", "insurance")}
SPAN_S = 100 * 60
WAITING = 2               # the last tickets of each branch are never called
MAX_DURATION_MS = 3 * 3_600_000 + 30 * 60_000
S = 1000


@dataclass
class Entry:
    """One queue entry of a ticket: issued, or transferred in."""

    queue: str
    start_ms: int
    calls: list[int] = field(default_factory=list)   # called, then recalled
    no_show_ms: int | None = None
    service_start_ms: int | None = None
    service_end_ms: int | None = None
    transferred_ms: int | None = None
    transfer_to: str | None = None
    counter: str = ""

    @property
    def wait_s(self) -> float | None:
        return (self.calls[0] - self.start_ms) / S if self.calls else None


@dataclass
class Visit:
    branch: str
    ticket_id: str
    entries: list[Entry]


@dataclass(frozen=True)
class BranchScenario:
    seed: int
    t0_ms: int
    end_ms: int
    events: list[dict[str, Any]]
    visits: list[Visit]


def _id_number(rng: random.Random) -> str:
    """An 18-character resident ID with a valid GB 11643 check character."""
    body = "310104" + f"{rng.randint(1950, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def _card(rng: random.Random) -> str:
    """A 16-digit UnionPay-style card number with a valid Luhn check digit."""
    digits = "622848" + "".join(rng.choice("0123456789") for _ in range(9))
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def _wait_s(rng: random.Random) -> int:
    u = rng.random()
    return rng.randint(60, 540) if u < 0.65 else rng.randint(541, 1200) if u < 0.9 \
        else rng.randint(1201, 1800)


class _Writer:
    def __init__(self, branch: str, rng: random.Random):
        self.branch, self.rng = branch, rng
        self.events: list[tuple[int, int, dict[str, Any]]] = []

    def add(self, at: int, event: str, ticket: str | None = None, **fields: Any) -> None:
        body: dict[str, Any] = {"event": event, "branch": self.branch, "occurred_at": at}
        if ticket is not None:
            body["ticket_id"] = ticket
        body.update({k: v for k, v in fields.items() if v is not None})
        self.events.append((at, len(self.events), body))

    def teller(self, counter: str) -> str:
        return f"T-{self.branch}-{counter}"

    def entry(self, ticket: str, e: Entry, *, wait_s: int, no_show: bool,
              transfer_to: str | None, identify: dict[str, str] | None) -> int:
        """Write one entry's calls and service; returns when it ended."""
        r = self.rng
        e.counter = counter = r.choice(QUEUES[e.queue][1])
        common = {"queue": e.queue, "counter": counter, "teller": self.teller(counter)}
        t = e.start_ms + wait_s * S
        self.add(t, "called", ticket, wait_s=wait_s, **common)
        e.calls.append(t)
        recalls = r.randint(1, 2) if no_show else (1 if r.random() < 0.15 else 0)
        for _ in range(recalls):
            t += r.randint(40, 70) * S
            self.add(t, "recalled", ticket, **common)
            e.calls.append(t)
        if no_show:
            t += r.randint(50, 90) * S
            self.add(t, "no_show", ticket, **common)
            e.no_show_ms = t
            return t
        t += r.randint(20, 90) * S
        self.add(t, "service_started", ticket, **common)
        e.service_start_ms = started = t
        if identify is not None:
            self.add(t + r.randint(30, 120) * S, "identified", ticket, customer=identify,
                     **common)
        if transfer_to is not None:
            t += r.randint(120, 400) * S
            self.add(t, "transferred", ticket, to_queue=transfer_to,
                     to_counter=r.choice(QUEUES[transfer_to][1]), reason="needs_specialist",
                     **common)
            e.transferred_ms, e.transfer_to = t, transfer_to
            return t
        t += r.randint(180, 900) * S
        self.add(t, "service_ended", ticket, service_s=(t - started) / S, **common)
        e.service_end_ms = t
        return t


def _branch(branch: str, visits: int, t0_ms: int, rng: random.Random,
            forced_waits: dict[int, int]) -> tuple[list[tuple[int, int, dict[str, Any]]],
                                                   list[Visit]]:
    w = _Writer(branch, rng)
    counters = sorted({c for _, cs, _ in QUEUES.values() for c in cs})
    for counter in counters:
        w.add(t0_ms - 5 * 60 * S, "counter_opened", counter=counter, teller=w.teller(counter))
    issued = sorted(t0_ms + rng.randint(0, SPAN_S) * S for _ in range(visits))
    numbers = dict.fromkeys(QUEUES, 0)
    out: list[Visit] = []
    last = t0_ms
    for n, at in enumerate(issued):
        queue = rng.choices(list(QUEUES), [q[2] for q in QUEUES.values()])[0]
        numbers[queue] += 1
        ticket = f"{QUEUES[queue][0]}{numbers[queue]:03d}"
        swipe = {"card_number": _card(rng)} if rng.random() < 0.35 else None
        w.add(at, "ticket_issued", ticket, queue=queue, service=rng.choice(SERVICES[queue]),
              customer=swipe)
        identify = None
        if rng.random() < 0.4:  # the counter checks the ID card (and card) only now
            identify = {"id_number": _id_number(rng),
                        "customer_number": f"C{rng.randint(10_000_000, 99_999_999)}"}
            if swipe:
                identify["card_number"] = swipe["card_number"]
        no_show = rng.random() < 0.12
        transfer = None if no_show or rng.random() >= 0.18 else rng.choice(
            [q for q in QUEUES if q != queue])
        first = Entry(queue, at)
        visit = Visit(branch, ticket, [first])
        out.append(visit)
        wait = forced_waits.get(n, _wait_s(rng))
        if n >= visits - WAITING:  # still waiting when the scenario ends
            continue
        end = w.entry(ticket, first, wait_s=wait, no_show=no_show, transfer_to=transfer,
                      identify=None if transfer else identify)
        if transfer is not None:
            second = Entry(transfer, end)
            visit.entries.append(second)
            end = w.entry(ticket, second, wait_s=rng.randint(60, 900), no_show=False,
                          transfer_to=None, identify=identify)
        if not no_show and rng.random() < 0.5:
            end += rng.randint(10, 40) * S
            w.add(end, "rating_submitted", ticket, queue=visit.entries[-1].queue,
                  score=rng.choice([3, 4, 5, 5, 5]), scale_max=5)
        last = max(last, end)
    for counter in counters:
        w.add(last + 60 * S, "counter_closed", counter=counter, teller=w.teller(counter))
    return w.events, out


def generate(seed: int, *, visits: int = 60, t0_ms: int) -> BranchScenario:
    """``visits`` tickets over 100 minutes from ``t0_ms``, split between the two branches;
    everything is over within 3.5 hours but the last two tickets of each branch, which are
    still waiting (never called). One wait is exactly 600 s, one 601 s."""
    rng = random.Random(seed)
    share = visits * 11 // 20
    events: list[tuple[int, int, dict[str, Any]]] = []
    all_visits: list[Visit] = []
    for i, (branch, n) in enumerate(zip(BRANCHES, (share, visits - share), strict=True)):
        branch_events, branch_visits = _branch(branch, n, t0_ms, rng,
                                               {2: 600} if i == 0 else {1: 601})
        events += [(at, i * 10_000 + seq, body) for at, seq, body in branch_events]
        all_visits += branch_visits
    events.sort(key=lambda x: (x[0], x[1]))
    bodies = [body for _, _, body in events]
    return BranchScenario(seed, t0_ms, max(b["occurred_at"] for b in bodies), bodies,
                          all_visits)
