"""The faust application: router, resolver, customer and KPI agents wired to their topics
and tables. ``create_app(settings)`` builds it without I/O so tests can run it in-process.

Every agent has concurrency 1 and handles one event at a time, so each table write happens
inside its own event's context (the changelog partition is the event's partition) — the
``take()`` batch gotcha of BRIEF §9 cannot occur.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.exceptions import ProducerSendError
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backbone.errors import BackboneError, ConfigurationError, PublishError
from backbone.metrics import DEAD_LETTERS
from backbone.settings import Settings
from backbone.topics import PARTITIONS
from stream_processors import alerts as alert_rules
from stream_processors import customer as customer_rules
from stream_processors import (
    erasures,
    gauges,
    kpis,
    lag,
    probes,
    resolver,
    routing,
    snapshot,
    windows,
)
from stream_processors import identity as ident
from stream_processors.codec import Codecs, dumps, loads
from stream_processors.deliveries import Deliveries, never_ack_on_retry

log = logging.getLogger(__name__)
_NO_CONTEXT = (ident.UNATTRIBUTED_PREFIX, ident.AMBIGUOUS_PREFIX)
CONTEXT_FLUSH_S = 0.05  # customer snapshots: at most one per customer per interval


def partition_of(key: bytes, partitions: int = PARTITIONS) -> int:
    """Kafka's default (murmur2) partition of a key, as Java, aiokafka and librdkafka's
    murmur2 partitioners compute it; used to attribute table keys to source partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def kpi_config(settings: Settings) -> kpis.KpiConfig:
    return kpis.KpiConfig(sl_threshold_s=dict(settings.kpi_sl_threshold_s),
                          sl_target=settings.kpi_sl_target,
                          conflict_spike=settings.kpi_conflict_spike,
                          business_tz=settings.business_tz,
                          ring_cycle_s=settings.kpi_ring_cycle_s, rings=settings.kpi_rings)


def bounds(settings: Settings) -> customer_rules.Bounds:
    return customer_rules.Bounds(
        max_entries=settings.timeline_max_entries,
        max_age_ms=settings.timeline_max_age_days * customer_rules.DAY_MS,
        session_timeout_ms=int(settings.session_timeout_min * 60_000))


SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")  # user + password ones


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """faust's ``broker_credentials`` from the settings the confluent clients use, so a
    worker reaches a SASL and/or TLS cluster like every other process; faust hands them
    to each aiokafka client it builds (consumer, producer, admin)."""
    context = settings.kafka_ssl_context()
    if settings.kafka_security_protocol.startswith("SASL"):
        mechanism = settings.kafka_sasl_mechanism or "PLAIN"
        if mechanism not in SASL_MECHANISMS:
            raise ConfigurationError(f"CCB_KAFKA_SASL_MECHANISM={mechanism!r}: workers "
                                     f"support {', '.join(SASL_MECHANISMS)}")
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            mechanism=mechanism, ssl_context=context)
    return faust.SSLCredentials(context) if context is not None else None


def create_app(settings: Settings, *, web_port: int | None = None,
               erasure_log: erasures.ErasureLog | None = None) -> faust.App:
    """The processors' faust app; ``web_port=None`` disables faust's web server."""
    s = settings
    app = faust.App(
        s.topic(s.worker_app_name),
        broker=s.faust_broker(),
        broker_credentials=broker_credentials(s),
        # changelogs and faust's leader topic; min.insync.replicas: see ``changelog`` below
        topic_replication_factor=s.topic_replication,
        store=s.worker_store,
        datadir=s.worker_data_dir,
        producer_linger=s.worker_producer_linger_s,
        # aiokafka keeps one batch in flight per partition and blocks send() while it is
        # full: with 16 KB batches and multi-KB snapshots that capped us at ~100 events/s.
        producer_max_batch_size=s.worker_producer_batch_bytes,
        broker_commit_interval=s.worker_commit_interval_s,
        broker_session_timeout=s.worker_broker_session_timeout_s,
        consumer_group_instance_id=s.worker_instance_id,
        table_standby_replicas=s.worker_standby_replicas,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
        web_enabled=web_port is not None,
        web_port=web_port or s.worker_web_port,
        web_host=s.worker_web_host,
        key_serializer="raw",
        value_serializer="raw",
    )
    ident.use_customer_id_key(s.customer_id_key.get_secret_value())
    codecs = Codecs(s)
    cfg = kpi_config(s)
    bnd = bounds(s)
    journey_ms = int(s.journey_window_h * 3_600_000)

    def topic(name: str) -> faust.TopicT:
        return app.topic(s.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)

    interactions_t = topic("interactions")
    handoffs_t = topic("handoffs")
    identity_cmds_t = topic("identity-commands")
    customer_cmds_t = topic("customer-commands")
    partials_t = topic("kpi-partials")
    context_t = topic("customer-context")
    identity_events_t = topic("identity-events")
    erasures_t = topic("erasures")
    kpis_t = topic("kpis")
    alerts_t = topic("alerts")
    dead_t = topic("dead-letters")

    # key_type=bytes is what makes faust use the raw codec for keys in the changelog *and*
    # on recovery (a Schema alone is ignored by recovery, which then fails on every key).
    # Changelogs get min.insync.replicas like every topic we create; faust's own leader
    # topic (1 partition, election only) cannot take configs and gets the broker default.
    changelog = {"min.insync.replicas": str(s.min_insync_replicas())}
    identities = app.Table("identities", default=None, partitions=PARTITIONS,
                           key_type=bytes, extra_topic_configs=changelog)
    customers = app.Table("customers", default=None, partitions=PARTITIONS,
                          key_type=bytes, extra_topic_configs=changelog)
    # The KPI stage's view (latest partial per source partition, per channel|scope) is
    # kept in memory, not in a table: the partials carry whole counters, and every owner
    # of customer partitions re-sends all of its scopes after each rebalance/recovery
    # (``_rebuild_counters`` marks them dirty), so the view is rebuilt from the log. As a
    # table it cost a changelog write of every scope's full view per partial (~100 KB).
    kpi_view: dict[bytes, dict[str, Any]] = {}
    # Interaction memory of the router (routing.remember), keyed by interaction id like
    # its source topic; entries expire MEMORY_TTL_MS of event time after their last change.
    interactions = app.Table("interactions", default=None, partitions=PARTITIONS,
                             key_type=bytes, extra_topic_configs=changelog)
    memory_fifo: dict[int, deque[tuple[int, bytes]]] = {}
    # The whole erasure log (every partition) in memory, complete before any agent handles
    # a record and followed afterwards: see stream_processors/erasures.py for why.
    # ``run_worker`` loads it before the app starts (``erasure_log``); else a task does.
    erased = erasure_log if erasure_log is not None else erasures.ErasureLog()
    memory_wm: dict[int, int] = {}

    counters: dict[int, kpis.PartitionCounters] = {}
    facts_cache: dict[bytes, kpis.Facts] = {}
    rebuild = {"needed": True}
    # Outputs derived from table state are coalesced per key and published by a timer and
    # before every offset commit (see ``_flush_before_commit``): a customer touched by five
    # commands within the flush interval gets one snapshot, a KPI scope one computation.
    pending_context: dict[bytes, tuple[str, dict[str, Any] | None, bool]] = {}
    dirty_kpis: set[bytes] = set()
    alert_state: dict[bytes, dict[str, bool]] = {}
    # Last published values per interval key, and each key's start (to forget old ones).
    interval_cache: dict[bytes, tuple[int, dict[str, Any]]] = {}
    names = {t: t.get_topic_name() for t in (identity_cmds_t, customer_cmds_t, partials_t,
                                               context_t, identity_events_t, erasures_t,
                                               kpis_t, alerts_t)}
    producer = app.producer
    deliveries = Deliveries()

    async def emit(topic: faust.TopicT, key: bytes, value: bytes | None) -> None:
        """Hand a record to the producer directly: faust's Topic.send machinery (futures,
        schema lookup, attachments) cost more than the rest of a command's processing.
        Its delivery future is kept and checked before every commit (at-least-once)."""
        try:
            fut = await producer.send(names[topic], key, value, None, None, None)
        except ProducerSendError as exc:  # not taken by the producer: retry the event
            raise PublishError(f"cannot produce to {names[topic]}: {exc}") from exc
        deliveries.track(fut)  # type: ignore[arg-type]  # aiokafka's future

    async def send(out: routing.Out) -> None:
        target = identity_cmds_t if out.stage == routing.IDENTITY else customer_cmds_t
        await emit(target, out.key.encode(), dumps(out.value))

    async def dead(event: faust.EventT, stage: str, reason: str, exc: Exception) -> None:
        msg = event.message
        gauges.PROCESSED.labels(stage, f"dead_letter:{reason}").inc()
        DEAD_LETTERS.labels(f"processor.{stage}", reason).inc()  # the shared SLO series
        try:
            value = await codecs.dead_letter(  # waits out a registry outage (codec.py)
                dead_t.get_topic_name(), source=f"processor.{stage}", reason=reason,
                raw=msg.value, detail=str(exc), topic=msg.topic, partition=msg.partition,
                offset=msg.offset)
        except BackboneError:
            log.exception("cannot encode dead letter for %s:%s", msg.topic, msg.offset)
            return
        await dead_t.send(key=f"processor.{stage}".encode(), value=value)

    def remember(event: faust.EventT, record: dict[str, Any],
                 memory: dict[str, Any] | None) -> None:
        """Store the interaction's new memory and expire old entries of this partition
        (inside the event's context: the changelog partition is the source partition)."""
        p = event.message.partition
        key = str(record["interaction_id"]).encode()
        new = routing.remember(record, memory)
        fifo = memory_fifo.setdefault(p, deque())
        if new is not memory and new is not None:
            interactions[key] = new
            fifo.append((int(new["t"]), key))
        wm = memory_wm[p] = max(memory_wm.get(p, 0), int(record["occurred_at"]))
        horizon = wm - routing.MEMORY_TTL_MS
        while fifo and fifo[0][0] < horizon:
            t, old = fifo.popleft()
            current = interactions.get(old)
            if current is not None and int(current.get("t", 0)) <= t:
                del interactions[old]

    @interactions.on_recover
    async def _on_interactions_recovered() -> None:
        memory_fifo.clear()
        for key, value in sorted(interactions.items(), key=lambda kv: int(kv[1].get("t", 0))):
            memory_fifo.setdefault(partition_of(key), deque()).append((int(value["t"]), key))

    def unerased(stage: str, outs: list[routing.Out]) -> list[routing.Out]:
        kept, dropped = routing.screen(outs, erased)
        if dropped:
            gauges.processed(stage, "erased").inc(dropped)
        return kept

    async def decode_and_plan(event: faust.EventT, stage: str) -> list[routing.Out] | None:
        msg = event.message
        if not erased.ready.is_set():
            await erased.ready.wait()
        try:  # a registry outage waits and retries this message inside (codec.py)
            record = await codecs.decode_event(msg.topic, msg.value)
        except BackboneError as exc:
            if exc.retriable:
                raise  # not raised by decode_event; never dead-letter good data
            await dead(event, stage, exc.code, exc)
            return None
        try:
            if stage == "handoffs":
                cid = (record.get("attributes") or {}).get("customer_id") or \
                    (msg.key or b"").decode()
                if not cid:
                    await dead(event, stage, "no_customer", ValueError("handoff without customer id"))
                    return None
                return unerased(stage, [routing.Out(routing.CUSTOMER, cid, {
                    "kind": "event", "event": record, "identities": []})])
            key = str(record["interaction_id"]).encode()
            memory = interactions.get(key)
            outs = unerased(stage, routing.plan(record, memory))
            remember(event, record, memory)
            return outs
        except (BackboneError, KeyError, TypeError, ValueError) as exc:
            await dead(event, stage, getattr(exc, "code", "unroutable"), exc)
            return None

    async def retrying(event: faust.EventT, step: Callable[..., Awaitable[None]],
                       *args: Any) -> None:
        """``step(*args)`` for ``event``, retried on a retriable error and never acked
        when it keeps failing (see :func:`deliveries.never_ack_on_retry`)."""
        await never_ack_on_retry(app, event, partial(step, *args))

    async def plan_and_send(event: faust.EventT, stage: str) -> None:
        planned: list[routing.Out] = []

        async def plan() -> None:  # retried alone: it writes the interaction memory
            planned[:] = await decode_and_plan(event, stage) or ()
        await retrying(event, plan)
        for out in planned:
            await retrying(event, send, out)

    @app.agent(interactions_t, concurrency=1)
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await plan_and_send(event, "router")

    @app.agent(handoffs_t, concurrency=1)
    async def handoffs(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await plan_and_send(event, "handoffs")

    @app.agent(identity_cmds_t, concurrency=1)
    async def resolve(stream: faust.StreamT) -> None:
        async for event in stream.events():
            kb: bytes = event.key
            try:
                cmd = loads(event.value)
            except ValueError as exc:
                await dead(event, "resolver", "malformed_json", exc)
                continue
            if not erased.ready.is_set():
                await erased.ready.wait()
            old = identities.get(kb)
            record = ident.IdentityRecord.from_dict(old)
            res = resolver.handle(record, kb.decode(), cmd, erased)
            new = record.to_dict()
            if new != old:
                identities[kb] = new
            for out in res.outs:
                await retrying(event, send, out)
            for audit in res.identity_events:
                gauges.decision(audit["type"]).inc()
                await retrying(event, emit, identity_events_t, kb, dumps(audit))
            for ekey, erasure in res.erasures:
                erased.note(ekey.decode(), erasure)
                await retrying(event, emit, erasures_t, ekey, dumps(erasure))
            gauges.processed("resolver", res.dropped or "ok").inc()

    async def flush_context() -> None:
        """Publish the latest snapshot (or tombstone) of every customer changed since the
        last flush. Taken as a whole before awaiting: the agent may add keys meanwhile."""
        if not pending_context:
            return
        batch = list(pending_context.items())
        pending_context.clear()
        now = int(time.time() * 1000)
        for kb, (key, state, tombstone) in batch:
            if tombstone or state is None or "ev" not in state or state.get("erased_at"):
                await emit(context_t, kb, None)
                continue
            snap = snapshot.build(key, state, updated_at=now, journey_window_ms=journey_ms)
            await emit(context_t, kb, dumps(snap))

    @app.agent(customer_cmds_t, concurrency=1)
    async def customer(stream: faust.StreamT) -> None:
        async for event in stream.events():
            kb: bytes = event.key
            key = kb.decode()
            try:
                cmd = loads(event.value)
            except ValueError as exc:
                await dead(event, "customer", "malformed_json", exc)
                continue
            if not erased.ready.is_set():
                await erased.ready.wait()
            old = customers.get(kb)
            # Invariant: counters == sum of facts_cache. A key missing from the cache has
            # not been counted yet, so its whole new contribution is added.
            old_facts = facts_cache.get(kb) or {}
            floor = erased.customer_floor(key) if old is None else None
            applied = customer_rules.apply(  # a rebuild without the row: start erased
                key, old if floor is None else customer_rules.erased_marker(floor), cmd, bnd)
            if applied.changed:
                if applied.state is not None:
                    customers[kb] = applied.state
                elif kb in customers:
                    del customers[kb]
            new_facts = kpis.facts(applied.state, cfg)
            facts_cache[kb] = new_facts
            part = counters.setdefault(event.message.partition, kpis.PartitionCounters())
            part.apply(old_facts, new_facts)
            if applied.state:
                part.watermark = max(part.watermark, applied.state.get("now", 0))
            for out in applied.outs:
                await retrying(event, send, out)
            if applied.erasure is not None:
                erased.note(key, applied.erasure)
                await retrying(event, emit, erasures_t, kb, dumps(applied.erasure))
            # Re-publish on duplicates too: a replay after a crash may be the only chance to
            # publish a snapshot whose state reached the changelog before the crash.
            if (applied.changed or applied.dropped == "duplicate") \
                    and not key.startswith(_NO_CONTEXT):
                pending_context[kb] = (key, applied.state, applied.tombstone)
            gauges.processed("customer", applied.dropped or "ok").inc()

    @app.agent(partials_t, concurrency=1)
    async def kpi(stream: faust.StreamT) -> None:
        """Keeps the latest partial of each source partition per ``channel|scope``; the
        KPI values are computed once per dirty scope by :func:`flush_kpis`."""
        async for event in stream.events():
            kb: bytes = event.key
            msg = loads(event.value)
            kpi_view.setdefault(kb, {})[f"p{msg['p']}"] = {"wm": msg["wm"], "b": msg["b"]}
            dirty_kpis.add(kb)

    async def flush_kpis() -> None:
        if not dirty_kpis:
            return
        scopes = sorted(dirty_kpis)
        dirty_kpis.clear()
        if len(interval_cache) > 50_000:  # intervals older than yesterday are final
            horizon = min(start for start, _ in interval_cache.values()) + kpis.DAY_MS
            for key in [k for k, (start, _) in interval_cache.items() if start < horizon]:
                del interval_cache[key]
        for kb in scopes:
            view = kpi_view.get(kb)
            if not view:
                continue
            scope_key = kb.decode()
            parts = [v for k, v in view.items() if k.startswith("p")]
            now = max(v["wm"] for v in parts)
            buckets = [v["b"] for v in parts]
            values = windows.compute(buckets, now, cfg)
            channel, scope = scope_key.split("|", 1)
            starts = windows.window_starts(now, cfg)
            for window, vals in values.items():
                await emit(kpis_t, f"{scope_key}|{window}".encode(), dumps({
                    "channel": channel, "scope": scope, "window": window,
                    "window_start": starts[window], "as_of": now, "values": vals}))
                gauges.publish(channel, scope, window, vals)
            # Clock-aligned intervals of today and yesterday: only those that changed.
            since = windows.business_day_start(now, cfg, days_back=1)
            for window, rec in windows.intervals(buckets, since, cfg).items():
                ikey = f"{scope_key}|{window}".encode()
                if (interval_cache.get(ikey) or (0, None))[1] == rec["values"]:
                    continue
                interval_cache[ikey] = (rec["window_start"], rec["values"])
                await emit(kpis_t, ikey, dumps({"channel": channel, "scope": scope,
                                                "window": window, "as_of": now, **rec}))
            firing = alert_rules.evaluate(channel, scope, buckets, now, values, cfg)
            before = alert_state.get(kb, {})
            for name, state, details in alert_rules.transitions(before, firing):
                await emit(alerts_t, f"{name}|{scope_key}".encode(), dumps({
                    "alert": name, "channel": channel, "scope": scope, "state": state,
                    "at": now, **details}))
            alert_state[kb] = {name: True for name in firing}

    # One flush at a time: a commit arriving while a timer is half-way through a batch
    # waits for that batch, so no output of a committed input is still unsent.
    flush_lock = asyncio.Lock()
    producer_flush = producer.flush

    async def _flush_before_commit() -> None:
        """faust flushes the producer before it commits offsets: publish the coalesced
        outputs first, so a committed input always has its outputs in Kafka.

        Then every delivery is checked. A lost record raises here, inside faust's
        ``_commit_offsets`` and before its ``_commit``: the offsets are not committed.
        The whole worker crashes (``app.crash`` marks the worker, its root service, as
        crashed, so it stops and exits non-zero and its supervisor restarts it); the
        failure is sticky, so the commit faust tries while stopping fails the same way
        and the restart resumes from the last good offset."""
        try:
            async with flush_lock:
                await flush_context()
                await flush_kpis()
            await producer_flush()
            await deliveries.check()
        except PublishError as exc:
            log.critical("not committing: %s; crashing the worker", exc)
            if not app.crashed:
                await app.crash(exc)
            raise

    producer.flush = _flush_before_commit  # type: ignore[method-assign]

    @app.timer(CONTEXT_FLUSH_S)
    async def _flush_context_timer() -> None:
        async with flush_lock:
            await flush_context()

    # KPI values and alerts: at most one computation per scope per partials interval.
    @app.timer(s.kpi_publish_interval_s)
    async def _flush_kpis_timer() -> None:
        async with flush_lock:
            await flush_kpis()

    def _rebuild_counters() -> None:
        """Counters are a cache of the customer table: recompute them after recovery."""
        counters.clear()
        facts_cache.clear()
        for kb, state in customers.items():
            p = partition_of(kb)
            part = counters.setdefault(p, kpis.PartitionCounters())
            f = kpis.facts(state, cfg)
            facts_cache[kb] = f
            part.apply({}, f)
            if state:
                part.watermark = max(part.watermark, state.get("now", 0))
        rebuild["needed"] = False

    @customers.on_recover
    async def _on_customers_recovered() -> None:
        # Called by faust once the table's active partitions are recovered after each
        # rebalance: the only moment the table is complete, so rebuild the counters here.
        _rebuild_counters()

    @app.timer(s.kpi_publish_interval_s)
    async def publish_partials() -> None:
        if app.rebalancing or app.in_recovery or rebuild["needed"]:
            return
        assigned = {tp.partition for tp in app.consumer.assignment()
                    if tp.topic == customer_cmds_t.get_topic_name()}
        for p, part in list(counters.items()):
            if p not in assigned:
                continue
            horizon = part.watermark - 2 * kpis.DAY_MS
            # Take the dirty set before awaiting: the agent may dirty scopes meanwhile.
            scopes, part.dirty = sorted(part.dirty), set()
            for scope in scopes:
                await emit(partials_t, scope.encode(), dumps({
                    "p": p, "wm": part.watermark, "b": part.scope_partial(scope, horizon)}))

    group = s.topic(s.worker_app_name)
    sources = frozenset(t.get_topic_name() for t in (interactions_t, handoffs_t, identity_cmds_t,
                                                     customer_cmds_t, partials_t))

    @app.task
    async def _follow_erasures() -> None:
        """The erasure log for every stage, followed for as long as the worker runs: the
        agents wait until it is complete, then erasures other workers write reach this one
        within a poll (a route decided here for a customer erased elsewhere is dropped)."""
        await erasures.keep_following(
            erased, s.kafka_bootstrap, erasures_t.get_topic_name(),
            credentials_to_aiokafka_auth(app.conf.broker_credentials))

    stall = lag.StallWatch(s.worker_stall_s, paused=lambda: bool(codecs.waiting))

    @app.timer(5.0)
    async def _consumer_lag() -> None:
        if app.rebalancing or app.in_recovery:
            stall.reset()
        else:
            await lag.observe(app, group, sources, stall)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust stubs want a sync receiver
    async def _on_assigned(sender: Any, *_args: Any, **_kwargs: Any) -> None:
        lag.REBALANCES.labels(group).inc()
        stall.reset()

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    readiness = probes.Readiness(app, erased=erased, codecs=codecs)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: faust's web server runs on the worker's loop, so answering proves it turns;
        a consumer stalled on a partition (see ``lag.StallWatch``) is not alive."""
        if stall.stalled:
            return web.json({"status": "stalled",
                             "partitions": [f"{t}:{p}" for t, p in stall.stalled]}, status=503)
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready, reason = await readiness.check()
        if ready:
            return web.json({"ready": True})
        return web.json({"ready": False, "reason": reason}, status=503,
                        headers={"Retry-After": "2"})

    app.conf.processors_ready = True
    return app
