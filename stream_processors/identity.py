"""Pure identity-resolution rules (BRIEF §3): which identifiers may link, and what a link does.

The resolver agent owns one identifier per table key, so every decision here is made by the
single writer of that identifier; nothing in this module needs a lock or a network call.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from backbone.identifiers import is_blocked

# How many distinct customers one identifier may link (BRIEF §3 "per-type limits").
# 1 = personal identifier; >1 = legitimately shared (family phone, shared tablet) —
# a second customer on a shared identifier is recorded as a conflict and makes the
# identifier ambiguous for routing, it never merges the two customers.
LIMITS: dict[str, int] = {
    "CUSTOMER_NUMBER": 1, "APP_USER": 1, "WEB_LOGIN": 1, "WECHAT_OPENID": 1,
    "WECHAT_UNIONID": 1, "ID_NUMBER": 1, "CARD": 1, "PHONE": 3, "DEVICE": 3, "COOKIE": 2,
}
# Routing preference when an event carries several identifiers: strongest first.
PRECEDENCE: tuple[str, ...] = (
    "CUSTOMER_NUMBER", "APP_USER", "WEB_LOGIN", "WECHAT_UNIONID", "WECHAT_OPENID",
    "ID_NUMBER", "CARD", "PHONE", "DEVICE", "COOKIE",
)
KNOWN_PREFIX = "c:"        # c:<surrogate of the customer number> — needs no coordination
PROVISIONAL_PREFIX = "p:"  # p:<surrogate of TYPE:value> — anonymous history, merged once linked
AMBIGUOUS_PREFIX = "a:"    # a:<TYPE>:<value> — shared identifier; never merged
UNATTRIBUTED_PREFIX = "i:"  # i:<interaction id> — no usable identifier at all
ERASED_PREFIX = "e:"       # e:<surrogate of TYPE:value> — an erased identifier's erasure record


def ident_key(ident: dict[str, Any]) -> str:
    return f"{ident['type']}:{ident['value']}"


def usable(ident: dict[str, Any]) -> bool:
    """Identifiers that may route or link: a known type and not a placeholder value."""
    return LIMITS.get(str(ident.get("type")), 0) > 0 and not is_blocked(str(ident.get("value", "")))


# Customer ids are surrogates: a keyed hash (CCB_CUSTOMER_ID_KEY, a permanent secret that,
# unlike the PII HMAC key, is never rotated) of the customer number or identifier. Every
# worker derives the same id without coordination, replays give the same ids, and nobody
# without the key can tell the customer number from the id. Set once per process.
DEV_CUSTOMER_ID_KEY = "local-dev-customer-id-key-change-me"
_id_key = [DEV_CUSTOMER_ID_KEY.encode()]


def use_customer_id_key(key: str) -> None:
    """Configure the surrogate key of this process (the worker does it at start)."""
    _id_key[0] = key.encode()
    _surrogate.cache_clear()


@lru_cache(maxsize=200_000)
def _surrogate(prefix: str, material: str) -> str:
    digest = hmac.new(_id_key[0], material.encode(), hashlib.sha256).hexdigest()
    return f"{prefix}{digest[:24]}"


def known_customer_id(customer_number: str) -> str:
    return _surrogate(KNOWN_PREFIX, f"CUSTOMER_NUMBER:{customer_number}")


def provisional_id(key: str) -> str:
    return _surrogate(PROVISIONAL_PREFIX, key)


def erased_identifier_id(key: str) -> str:
    """Key of an identifier's record on the erasure log, kept forever: a keyed hash, so the
    log that outlives the deleted data never holds the identifier itself."""
    return _surrogate(ERASED_PREFIX, key)


def is_known(customer_id: str) -> bool:
    return customer_id.startswith(KNOWN_PREFIX)


def primary(idents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The identifier an event is routed by: verified before unverified, then precedence."""
    ranked = sorted(
        (i for i in idents if usable(i)),
        # An unverified customer number is a claim (anyone can type one into an app): it
        # routes only when nothing else on the event can, so a claim never lands an
        # attacker's event in the claimed customer's timeline beside their own identifiers.
        key=lambda i: (not i.get("verified", False),
                       i["type"] == "CUSTOMER_NUMBER" and not i.get("verified", False),
                       PRECEDENCE.index(str(i["type"]))),
    )
    return ranked[0] if ranked else None


@dataclass(slots=True)
class IdentityRecord:
    """State of one identifier: the customers it links and whether it was erased."""

    customers: list[str] = field(default_factory=list)
    since: dict[str, int] = field(default_factory=dict)  # customer -> event time of its link
    parked: bool = False          # events were parked under its provisional key
    merged: str | None = None     # provisional key merged into customers[0] (re-sent on replay)
    erased_at: int | None = None  # events that happened before this stay deleted
    conflicts: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IdentityRecord:
        if not data:
            return cls()
        return cls(list(data.get("c", [])), dict(data.get("s", {})), bool(data.get("p", False)),
                   data.get("m"), data.get("e"), int(data.get("x", 0)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c": self.customers, "s": self.since}
        if self.parked:
            out["p"] = True
        if self.merged:
            out["m"] = self.merged
        if self.erased_at is not None:
            out["e"] = self.erased_at
        if self.conflicts:
            out["x"] = self.conflicts
        return out

    def route_target(self, key: str, at: int) -> str:
        """Where an event that happened at ``at`` carrying only this identifier belongs.

        Event-time aware: before a shared identifier's second customer linked, it was
        personal, so a late or duplicate event from then still reaches (and is deduplicated
        by) the first customer instead of landing in the ambiguous bucket.
        """
        if not self.customers:
            return provisional_id(key)
        first, rest = self.customers[0], self.customers[1:]
        if not any(self.since.get(c, 0) <= at for c in rest):
            return first
        return f"{AMBIGUOUS_PREFIX}{key}"

    def is_erased_for(self, occurred_at: int) -> bool:
        return self.erased_at is not None and occurred_at <= self.erased_at


@dataclass(frozen=True, slots=True)
class LinkDecision:
    """Outcome of one link request; ``kind`` becomes the identity event's type."""

    kind: str  # linked | already | shared | conflict | erased
    merge_from: str | None = None  # provisional key whose history moves to the customer
    reason: str = ""
    others: tuple[str, ...] = ()


def decide_link(record: IdentityRecord, key: str, customer_id: str, at: int) -> LinkDecision:
    """Apply a trusted link of identifier ``key`` to ``customer_id``; mutates ``record``.

    Merge protection: an identifier already linked to another customer never moves; it
    becomes a conflict (personal identifiers) or a shared identifier up to its type limit.
    """
    if record.is_erased_for(at):
        return LinkDecision("erased", reason="identifier erased after this event")
    if customer_id in record.customers:
        # A replay after a crash: re-derive the merge so a lost command is sent again
        # (the customer stage treats repeats as no-ops).
        again = record.merged if record.customers[0] == customer_id else None
        return LinkDecision("already", merge_from=again)
    limit = LIMITS.get(key.split(":", 1)[0], 0)
    if not record.customers:
        record.customers.append(customer_id)
        record.since[customer_id] = at
        merge_from = provisional_id(key) if record.parked else None
        record.merged = merge_from
        record.parked = False
        return LinkDecision("linked", merge_from=merge_from)
    others = tuple(record.customers)
    record.conflicts += 1
    if len(record.customers) < limit:
        record.customers.append(customer_id)
        record.since[customer_id] = at
        return LinkDecision("shared", reason="identifier shared by several customers",
                            others=others)
    why = "personal identifier already linked to another customer" if limit == 1 \
        else f"identifier already links {len(others)} customers (limit {limit})"
    return LinkDecision("conflict", reason=why, others=others)


def erase(record: IdentityRecord, customer_id: str | None, at: int) -> bool:
    """Forget the identifier (for one customer, or entirely); True when something changed."""
    before = list(record.customers)
    if customer_id is None:
        record.customers.clear()
    else:
        record.customers = [c for c in record.customers if c != customer_id]
    record.since = {c: t for c, t in record.since.items() if c in record.customers}
    if not record.customers:
        record.erased_at = max(record.erased_at or 0, at)
        record.parked = False
        record.merged = None
    return before != record.customers or not before
