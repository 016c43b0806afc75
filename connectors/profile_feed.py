"""The systems of record for the simulator: CRM and core-banking change events as a CDC
tool (Debezium) writes them to ``profile-changes`` for the simulator's customers.

A customer the feed has not seen gets a snapshot of its rows (op ``r``: the CRM customer
row, its accounts, its consents); after that the feed updates them: tier and language
changes, marketing consent granted and withdrawn, accounts opened and closed (``d``).
Each system has its own log position (``source.lsn``), as two databases would. Account
numbers leave masked, as Debezium's ``column.mask.*`` options do at the source.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from confluent_kafka import Producer

from backbone.identifiers import mask_card
from backbone.serde import PROFILE_CHANGE, AvroSerde, registry_client
from backbone.settings import Settings
from connectors.journeys import Customer

TABLES = {"customers": ("crm", "CustomerRow"), "consents": ("crm", "ConsentRow"),
          "accounts": ("core_banking", "AccountRow")}
TIERS = ("MASS", "MASS", "MASS", "VIP", "PRIVATE_BANKING")
SEGMENTS = ("young_professional", "family", "retiree", "small_business", "student")
LANGUAGES = ("zh-CN", "zh-CN", "zh-CN", "en", "zh-HK")
CHANNELS = ("PHONE", "APP", "WECHAT", "BRANCH")
PRODUCTS = ("CREDIT_CARD", "TIME_DEPOSIT", "MORTGAGE", "WEALTH")


class ProfileFeed:
    def __init__(self, settings: Settings, *, seed: int = 1) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
        self.topic = settings.topic("profile-changes")
        self._serde = AvroSerde(registry_client(settings), PROFILE_CHANGE)
        # murmur2_random: faust reads the topic by key, so partitions must agree with Java's
        self._producer = Producer(settings.producer_config(**{"linger.ms": 20}))
        self._lsn = {"crm": 0, "core_banking": 0}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}  # number -> pk -> (table, row)
        self.sent = 0

    def envelope(self, table: str, op: str, before: dict[str, Any] | None,
                 after: dict[str, Any] | None) -> dict[str, Any]:
        system, record = TABLES[table]
        self._lsn[system] += self.rng.randint(1, 40)
        now = int(time.time() * 1000)

        def typed(row: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if row is None else {"-type": f"bank.ccb.v1.{record}", **row}
        return {"before": typed(before), "after": typed(after), "op": op, "ts_ms": now,
                "source": {"version": "2.7.3.Final", "connector": "postgresql", "name": system,
                           "ts_ms": now, "snapshot": "true" if op == "r" else None,
                           "db": system, "table": table, "txId": None,
                           "lsn": self._lsn[system]}}

    def introduce(self, c: Customer) -> list[dict[str, Any]]:
        """The snapshot of a customer's rows (op r)."""
        rng, number = self.rng, c.number
        rows: dict[str, dict[str, Any]] = {
            number: {"customer_number": number, "tier": rng.choice(TIERS),
                     "segment": rng.choice(SEGMENTS), "preferred_language": rng.choice(LANGUAGES),
                     "preferred_channel": rng.choice(CHANNELS),
                     "vulnerable": rng.random() < 0.05},
            f"{number}-dc": {"account_id": f"{number}-dc", "customer_number": number,
                             "product_type": "DEBIT_CARD",
                             "account_number_masked": mask_card(c.card), "status": "OPEN"},
            f"{number}-service": self._consent(number, "service", "ALL", "granted", "BRANCH"),
            f"{number}-marketing": self._consent(number, "marketing", "SMS",
                                                 rng.choice(("granted", "withdrawn")), "APP"),
        }
        self.rows[number] = rows
        return [self.envelope(_table(row), "r", None, row) for row in rows.values()]

    @staticmethod
    def _consent(number: str, purpose: str, channel: str, status: str, via: str
                 ) -> dict[str, Any]:
        return {"consent_id": f"{number}-{purpose}", "customer_number": number,
                "purpose": purpose, "channel": channel, "status": status, "captured_via": via}

    def update(self, number: str) -> dict[str, Any]:
        """One change of a known customer's rows."""
        rng, rows = self.rng, self.rows[number]
        pick = rng.random()
        if pick < 0.4:
            old = rows[f"{number}-marketing"]
            new = dict(old, status="withdrawn" if old["status"] == "granted" else "granted",
                       captured_via=rng.choice(CHANNELS))
            rows[f"{number}-marketing"] = new
            return self.envelope("consents", "u", old, new)
        if pick < 0.7:
            old = rows[number]
            new = dict(old, tier=rng.choice(TIERS), preferred_language=rng.choice(LANGUAGES))
            rows[number] = new
            return self.envelope("customers", "u", old, new)
        extra = [pk for pk, r in rows.items() if r.get("product_type") in PRODUCTS]
        if extra and pick < 0.85:
            return self.envelope("accounts", "d", rows.pop(rng.choice(extra)), None)
        pk = f"{number}-{rng.randint(1000, 9999)}"
        digits = f"6225{rng.randint(10**11, 10**12 - 1)}"
        rows[pk] = {"account_id": pk, "customer_number": number,
                    "product_type": rng.choice(PRODUCTS),
                    "account_number_masked": mask_card(digits), "status": "OPEN"}
        return self.envelope("accounts", "c", None, rows[pk])

    def send(self, change: dict[str, Any]) -> None:
        row = change["after"] or change["before"]
        self._producer.produce(self.topic, key=row["customer_number"].encode(),
                               value=self._serde.serialize(self.topic, change))
        self._producer.poll(0)
        self.sent += 1

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for Kafka to acknowledge what was sent; the number still unacknowledged."""
        return int(self._producer.flush(timeout_s))

    async def run(self, pool: list[Customer], stop: asyncio.Event, rate: float) -> None:
        """Until ``stop``: every customer in ``pool`` introduced once, then updates, at
        ``rate`` changes per second."""
        while not stop.is_set():
            fresh = [c for c in pool if c.number not in self.rows]
            changes = self.introduce(fresh[0]) if fresh else \
                [self.update(self.rng.choice(list(self.rows)))] if self.rows else []
            for change in changes:
                self.send(change)
            try:
                await asyncio.wait_for(stop.wait(), max(len(changes), 1) / rate)
            except TimeoutError:
                pass
        await asyncio.to_thread(self.flush)


def _table(row: dict[str, Any]) -> str:
    return "accounts" if "account_id" in row else "consents" if "consent_id" in row \
        else "customers"
