"""The resolver stage: identity commands in (keyed by identifier), the identity graph in its
table, customer commands, identity decisions and identifier erasures out."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from stream_processors import erasures, gauges, resolver
from stream_processors import identity as ident
from stream_processors.codec import dumps
from stream_processors.outputs import Sink
from stream_processors.topology import ERASURES, IDENTITY_EVENTS


class ResolverStage:
    def __init__(self, identities: MutableMapping[bytes, Any], erased: erasures.ErasureLog,
                 sink: Sink) -> None:
        self.identities = identities
        self.erased = erased
        self.sink = sink

    async def decide(self, key: bytes, cmd: dict[str, Any]) -> resolver.Resolution:
        """Apply one identity command to its identifier's record (stored at once: a
        retried emit below must not decide twice)."""
        if not self.erased.ready.is_set():
            await self.erased.ready.wait()
        old = self.identities.get(key)
        record = ident.IdentityRecord.from_dict(old)
        res = resolver.handle(record, key.decode(), cmd, self.erased)
        new = record.to_dict()
        if new != old:
            self.identities[key] = new
        gauges.processed("resolver", res.dropped or "ok").inc()
        return res

    async def publish(self, key: bytes, res: resolver.Resolution) -> None:
        """What a decision sends on; idempotent, so a retry may send it again."""
        for out in res.outs:
            await self.sink.command(out)
        for audit in res.identity_events:
            gauges.decision(audit["type"]).inc()
            await self.sink.emit(IDENTITY_EVENTS, key, dumps(audit))
        for ekey, erasure in res.erasures:
            self.erased.note(ekey.decode(), erasure)
            await self.sink.emit(ERASURES, ekey, dumps(erasure))
