"""The profile stage: CDC changes of the systems of record in (``profile-changes``, Avro,
keyed by customer number), one resolver command per change out, keyed by the customer
number's identifier so the identity graph (erasures included) decides where it goes.

Stateless: per-customer order holds because the key stays the customer number up to the
resolver, whose customer command keeps the per-key order to the customer stage, and the
customer stage drops stale and duplicate changes by their source position anyway.
"""

from __future__ import annotations

from backbone.errors import BackboneError
from backbone.serde import PROFILE_CHANGE
from stream_processors import erasures, gauges
from stream_processors import profile as rules
from stream_processors.codec import Codecs
from stream_processors.outputs import Sink, Source
from stream_processors.routing import Out


class ProfileStage:
    def __init__(self, codecs: Codecs, erased: erasures.ErasureLog, sink: Sink) -> None:
        self.codecs = codecs
        self.erased = erased
        self.sink = sink

    async def plan(self, source: Source, key: bytes | None) -> list[Out]:
        """Decode one change and say where it goes; poison is dead-lettered. A registry
        outage waits inside the decode (the record is neither skipped nor acknowledged)."""
        if not self.erased.ready.is_set():
            await self.erased.ready.wait()
        try:
            record = await self.codecs.decode_record(PROFILE_CHANGE, source.topic, source.value)
        except BackboneError as exc:
            if exc.retriable:
                raise
            await self.sink.dead(source, "profile", exc.code, exc)
            return []
        try:
            out = rules.command(record, key)
        except (KeyError, TypeError, ValueError) as exc:
            await self.sink.dead(source, "profile", "unusable_change", exc)
            return []
        gauges.processed("profile", "ok").inc()
        return [out]
