"""Finding the customer a call names: a validated CustomerLookup, the identifier index,
and waiting for a watermark (read-your-writes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.identifiers import Hasher, normalise
from backbone.models import IdentifierType
from backbone.settings import Settings
from services.context.feed import TopicFeed
from services.context.status import RpcFailure, invalid, unavailable
from services.context.view import AmbiguousIdentifier, ContextView, Entry

HASHED_TYPES = {"PHONE", "CARD", "ID_NUMBER"}
ID_TYPES = {t.value for t in IdentifierType} - {"UNKNOWN"}


@dataclass(frozen=True, slots=True)
class Lookup:
    """A validated CustomerLookup."""

    kind: str  # CUSTOMER_ID or an identifier type
    values: tuple[str, ...]  # the customer id, or the values the identifier may be stored as
    audit_hash: str  # what the audit record names instead of the value


def deadline_s(context: grpc.aio.ServicerContext, cap: float) -> float:
    """Seconds this call may still wait (a little less than its deadline, so we can answer)."""
    remaining = context.time_remaining()
    if remaining is None:
        return cap
    return max(min(remaining - 0.05, cap), 0.0)


class Lookups:
    """Validates lookups and finds their entry in the view (event loop only)."""

    def __init__(self, settings: Settings, view: ContextView, feed: TopicFeed):
        self._settings = settings
        self._view = view
        self._feed = feed
        self._hasher = Hasher.from_settings(settings)
        # audit hashes of looked-up customer ids (str -> str: no work for the collector)
        self._id_hashes: dict[str, str] = {}

    def ready(self) -> None:
        if not self._feed.caught_up:
            raise unavailable(
                f"context view is loading ({self._feed.lag_messages()} records behind)",
                1.0, "VIEW_CATCHING_UP")

    def keyed(self, kind: str, value: str) -> str:
        return self._hasher.hash(kind, value)

    def _id_hash(self, customer_id: str) -> str:
        hashed = self._id_hashes.get(customer_id)
        if hashed is None:
            if len(self._id_hashes) >= 100_000:
                self._id_hashes.clear()  # bounded; busy customers come back at once
            hashed = self._id_hashes[customer_id] = self.keyed("CUSTOMER_ID", customer_id)
        return hashed

    def _identifier(self, key: pb.IdentifierKey, field: str) -> tuple[str, list[str]]:
        """The identifier's type and the stored values it may have (key rotation)."""
        id_type = key.type.strip().upper()
        problems = {}
        if id_type not in ID_TYPES:
            problems[f"{field}.type"] = f"must be one of {sorted(ID_TYPES)}"
        if not key.value.strip():
            problems[f"{field}.value"] = "must not be empty"
        if problems:
            raise invalid(problems)
        value = key.value.strip()
        if id_type in HASHED_TYPES and not value.startswith("h:"):
            return id_type, self._hasher.candidates(id_type, normalise(id_type, value))
        return id_type, [value]

    def parse(self, lookup: pb.CustomerLookup, field: str) -> Lookup:
        which = lookup.WhichOneof("key")
        if which is None:
            raise invalid({field: "set customer_id or identifier"})
        if which == "customer_id":
            customer_id = lookup.customer_id.strip()
            if not customer_id:
                raise invalid({f"{field}.customer_id": "must not be empty"})
            return Lookup("CUSTOMER_ID", (customer_id,), self._id_hash(customer_id))
        id_type, values = self._identifier(lookup.identifier, f"{field}.identifier")
        # Phone, card and ID numbers are audited as the HMAC the identity graph stores, so
        # an investigator finds every lookup of a customer's number from its identities.
        audit_hash = values[0] if id_type in HASHED_TYPES else self.keyed(id_type, values[0])
        return Lookup(id_type, tuple(values), audit_hash)

    def find(self, lookup: Lookup) -> Entry | None:
        if lookup.kind == "CUSTOMER_ID":
            return self._view.get(lookup.values[0])
        try:
            for value in lookup.values:
                entry = self._view.resolve(lookup.kind, value)
                if entry is not None:
                    return entry
            return None
        except AmbiguousIdentifier as exc:
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, str(exc) +
                             "; look up by a verified identifier or the customer id",
                             reason="AMBIGUOUS_IDENTIFIER") from exc

    async def entry(self, lookup: Lookup, watermark: pb.Watermark | None,
                    context: grpc.aio.ServicerContext) -> Entry:
        """The customer's entry, at least as fresh as the watermark (read-your-writes)."""
        self.ready()
        wanted = [e for e in (watermark.event_ids if watermark else ()) if e]
        min_version = watermark.min_version if watermark else 0
        waiting = bool(wanted or min_version)
        entry = self.find(lookup)  # fast path: no waiting set-up for most calls
        if entry is not None and (not waiting or (
                entry.has_applied(wanted) and entry.version >= min_version)):
            return entry
        if entry is None and not waiting:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, "no such customer",
                             reason="CUSTOMER_NOT_FOUND")
        return await self._wait(lookup, wanted, min_version, context)

    async def _wait(self, lookup: Lookup, wanted: list[str], min_version: int,
                    context: grpc.aio.ServicerContext) -> Entry:
        budget = deadline_s(context, self._settings.grpc_max_wait_s)
        loop = asyncio.get_running_loop()
        until = loop.time() + budget
        changed = self._view.watch_any()
        try:
            while True:
                changed.clear()
                entry = self.find(lookup)
                if entry is not None and entry.has_applied(wanted) and entry.version >= min_version:
                    return entry
                left = until - loop.time()
                if left <= 0:
                    raise RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                                     "the context has not reached the requested watermark yet",
                                     reason="WATERMARK_NOT_REACHED")
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except TimeoutError:
                    continue
        finally:
            self._view.unwatch_any(changed)
