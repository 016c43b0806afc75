"""The faust application: the stages (``stream_processors.stages``) wired to their topics
(``topology``), tables, timers and web pages. ``create_app(settings)`` builds it without
I/O so tests can run it in-process.

Every agent has concurrency 1 and handles one event at a time, so each table write happens
inside its own event's context (the changelog partition is the event's partition): the
``take()`` batch gotcha of BRIEF §9 cannot occur, and faust #606 (concurrency > 1 commits
past an in-flight event) neither.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from backbone.errors import ConfigurationError
from backbone.settings import Settings
from stream_processors import alerts as alert_rules
from stream_processors import customer as customer_rules
from stream_processors import erasures, identity, kpis, lag, probes, web
from stream_processors.codec import Codecs
from stream_processors.commit_guard import ProcessorsApp
from stream_processors.deliveries import never_ack_on_retry
from stream_processors.outputs import Outputs, Source, commands
from stream_processors.stages.customer import CustomerStage
from stream_processors.stages.kpis import KpiStage
from stream_processors.stages.profile import ProfileStage
from stream_processors.stages.resolver import ResolverStage
from stream_processors.stages.router import RouterStage
from stream_processors.tables import CoalescedTable
from stream_processors.topology import Topology, declare, partition_of

__all__ = ["broker_credentials", "create_app", "partition_of"]
log = logging.getLogger(__name__)
CONTEXT_FLUSH_S = 0.05  # customer snapshots: at most one per customer per interval


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
        session_timeout_ms=int(settings.session_timeout_min * 60_000),
        business_tz=settings.business_tz)


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


def _faust_app(s: Settings, web_port: int | None) -> ProcessorsApp:
    return ProcessorsApp(
        s.topic(s.worker_app_name),
        broker=s.faust_broker(),
        broker_credentials=broker_credentials(s),
        # changelogs and faust's leader topic; min.insync.replicas: see ``topology``
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
        topic_partitions=s.topic_partitions,
        consumer_auto_offset_reset="earliest",
        web_enabled=web_port is not None,
        web_port=web_port or s.worker_web_port,
        web_host=s.worker_web_host,
        key_serializer="raw",
        value_serializer="raw",
    )


def _source(event: faust.EventT) -> Source:
    msg = event.message
    return Source(msg.topic, msg.partition, msg.offset, msg.value)


class Stages:
    """The four stages of one worker, sharing its outputs and erasure log."""

    def __init__(self, app: ProcessorsApp, s: Settings, topo: Topology,
                 erased: erasures.ErasureLog) -> None:
        self.codecs = Codecs(s)
        self.outputs = Outputs(app.producer, topo.names, self.codecs,
                               partitions=topo.partitions)
        self.router = RouterStage(topo.memory, self.codecs, erased, self.outputs,
                                  partitions=topo.partitions)
        self.resolver = ResolverStage(topo.identities, erased, self.outputs)
        # The customer table's changelog is written once per changed customer per flush.
        self.customer_table = CoalescedTable(topo.customers, self.outputs.changelog)
        self.customer = CustomerStage(self.customer_table, erased, self.outputs,
                                      bounds=bounds(s), cfg=kpi_config(s),
                                      journey_window_ms=int(s.journey_window_h * 3_600_000),
                                      partitions=topo.partitions)
        self.kpis = KpiStage(self.outputs, kpi_config(s), alert_rules.config(s))
        self.profile = ProfileStage(self.codecs, erased, self.outputs)


def _agents(app: ProcessorsApp, topo: Topology, st: Stages) -> None:
    async def retrying(event: faust.EventT, step: Callable[[], Awaitable[Any]]) -> None:
        """``step()`` for ``event``, retried on a retriable error and never acked when it
        keeps failing (see :func:`deliveries.never_ack_on_retry`)."""
        await never_ack_on_retry(app, event, step)

    async def plan_and_send(event: faust.EventT,
                            planner: Callable[[], Awaitable[list[Any]]]) -> None:
        planned: list[Any] = []

        async def plan() -> None:  # retried alone: it writes memory, may dead-letter
            planned[:] = await planner()
        await retrying(event, plan)
        for out in planned:
            await retrying(event, partial(st.outputs.command, out))

    async def route(event: faust.EventT, stage: str) -> None:
        await plan_and_send(event, partial(st.router.plan, _source(event), event.key, stage))

    @app.agent(topo.interactions, concurrency=1)
    async def router(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await route(event, "router")

    @app.agent(topo.handoffs, concurrency=1)
    async def handoffs(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await route(event, "handoffs")

    @app.agent(topo.profile_changes, concurrency=1)
    async def profile(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await plan_and_send(event, partial(st.profile.plan, _source(event), event.key))

    async def unpacked(event: faust.EventT, stage: str) -> list[tuple[bytes, dict[str, Any]]]:
        try:
            return commands(event.key, event.value)
        except (ValueError, TypeError) as exc:
            await st.outputs.dead(_source(event), stage, "malformed_json", exc)
            return []

    @app.agent(topo.identity_commands, concurrency=1)
    async def resolve(stream: faust.StreamT) -> None:
        async for event in stream.events():
            for key, cmd in await unpacked(event, "resolver"):
                res = await st.resolver.decide(key, cmd)
                await retrying(event, partial(st.resolver.publish, key, res))

    @app.agent(topo.customer_commands, concurrency=1)
    async def customer(stream: faust.StreamT) -> None:
        async for event in stream.events():
            partition = event.message.partition
            for key, cmd in await unpacked(event, "customer"):
                applied = await st.customer.apply(partition, key, cmd)
                await retrying(event, partial(st.customer.publish, key, applied))

    @app.agent(topo.kpi_partials, concurrency=1)
    async def kpi(stream: faust.StreamT) -> None:
        async for event in stream.events():
            st.kpis.take(event.key, event.value)


def _timers(app: ProcessorsApp, s: Settings, topo: Topology, st: Stages,
            erased: erasures.ErasureLog) -> None:
    guard = app.commit_guard
    # Commands first: the customer flush below may add none, but what the agents buffered
    # since the last tick must reach Kafka before their inputs' offsets are committed.
    guard.publish[:] = [st.outputs.flush_commands, st.customer_table.flush,
                        st.customer.flush_context, st.kpis.flush, st.outputs.flush_commands]
    guard.deliveries = st.outputs.deliveries

    @app.timer(s.worker_command_flush_s)
    async def _flush_commands() -> None:
        await st.outputs.flush_commands()

    @app.timer(CONTEXT_FLUSH_S)
    async def _flush_context() -> None:
        async with guard.lock:
            await st.customer_table.flush()
            await st.customer.flush_context()

    commands_topic = topo.customer_commands.get_topic_name()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust stubs want a sync receiver
    async def _revoked(sender: Any, revoked: set[Any], **_kwargs: Any) -> None:
        st.customer_table.forget({tp.partition for tp in revoked if tp.topic == commands_topic})

    # KPI values and alerts: at most one computation per scope per partials interval.
    @app.timer(s.kpi_publish_interval_s)
    async def _flush_kpis() -> None:
        async with guard.lock:
            await st.kpis.flush()

    # Early warnings also on the clock: a quiet queue sends no partials (docs/alerts.md).
    @app.timer(s.alert_eval_interval_s)
    async def _evaluate_alerts() -> None:
        async with guard.lock:
            await st.kpis.evaluate_alerts()

    @topo.memory.on_recover
    async def _memory_recovered() -> None:
        st.router.recovered()

    @topo.customers.on_recover
    async def _customers_recovered() -> None:
        # Called by faust once the table's active partitions are recovered after each
        # rebalance: the only moment the table is complete, so rebuild the counters here.
        st.customer.rebuild()

    commands = topo.customer_commands.get_topic_name()

    @app.timer(s.kpi_publish_interval_s)
    async def _publish_partials() -> None:
        if app.rebalancing or app.in_recovery or st.customer.rebuild_needed:
            return
        assigned = {tp.partition for tp in app.consumer.assignment() if tp.topic == commands}
        await st.customer.publish_partials(assigned)

    @app.task
    async def _follow_erasures() -> None:
        """The erasure log for every stage, followed for as long as the worker runs: the
        agents wait until it is complete, then erasures other workers write reach this one
        within a poll (a route decided here for a customer erased elsewhere is dropped)."""
        await erasures.keep_following(
            erased, s.kafka_bootstrap, topo.erasures.get_topic_name(),
            credentials_to_aiokafka_auth(app.conf.broker_credentials))


def _operations(app: ProcessorsApp, s: Settings, topo: Topology, st: Stages,
                erased: erasures.ErasureLog) -> None:
    group = s.topic(s.worker_app_name)
    stall = lag.StallWatch(s.worker_stall_s, paused=lambda: bool(st.codecs.waiting))

    @app.timer(5.0)
    async def _consumer_lag() -> None:
        if app.rebalancing or app.in_recovery:
            stall.reset()
        else:
            await lag.observe(app, group, topo.sources, stall)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust stubs want a sync receiver
    async def _on_assigned(sender: Any, *_args: Any, **_kwargs: Any) -> None:
        lag.REBALANCES.labels(group).inc()
        stall.reset()

    web.install(app, probes.Readiness(app, erased=erased, codecs=st.codecs), stall)


def create_app(settings: Settings, *, web_port: int | None = None,
               erasure_log: erasures.ErasureLog | None = None) -> faust.App:
    """The processors' faust app; ``web_port=None`` disables faust's web server.

    ``run_worker`` loads the whole erasure log before the app starts (``erasure_log``);
    without it the app's own task loads it and the agents wait until it has."""
    s = settings
    app = _faust_app(s, web_port)
    identity.use_customer_id_key(s.customer_id_key.get_secret_value())
    topo = declare(app, s)
    erased = erasure_log if erasure_log is not None else erasures.ErasureLog()
    st = Stages(app, s, topo, erased)
    _agents(app, topo, st)
    _timers(app, s, topo, st, erased)
    _operations(app, s, topo, st, erased)
    app.conf.processors_ready = True
    return app
