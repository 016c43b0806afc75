"""Typed, frozen settings, read once per process from ``CCB_*`` environment variables.

Defaults run the local stack with no configuration at all. Secrets are ``SecretStr`` and
only turn into plain strings where a client is built.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from backbone import production
from backbone.errors import ConfigurationError
from backbone.production import DEV_API_KEYS, DEV_GRPC_TOKENS, DEV_KEYS

Trust = Literal["client", "server"]


class KeySource(BaseModel):
    """What a write key or API key stands for: the source it names and how far it is trusted.

    ``server``: a back end that proves what it says (its logins and identifications are
    verified links). ``client``: a key shipped inside an app or web page, hence public, so
    whatever it sends is a claim (connectors/README.md, "Trust").
    """

    model_config = ConfigDict(frozen=True)
    source: str
    trust: Trust


def _key_source(default: Trust) -> BeforeValidator:
    """Also takes the plain ``"source"`` form, and a mapping without ``trust``."""
    def coerce(value: Any) -> Any:
        if isinstance(value, str):
            return {"source": value, "trust": default}
        if isinstance(value, dict):
            return {"trust": default} | value
        return value
    return BeforeValidator(coerce)


# A plain "app" keeps its old meaning: Segment write keys are shipped in apps (client);
# branch and desktop API keys are back-end credentials (server).
ClientKeys = dict[str, Annotated[KeySource, _key_source("client")]]
ServerKeys = dict[str, Annotated[KeySource, _key_source("server")]]
# The local stack's server-side write key (the bank's login back end reporting logins).
DEV_SERVER_WRITE_KEY = "app-server-dev-write-key"
DEV_SERVER_WEB_WRITE_KEY = "web-server-dev-write-key"  # the web back end (complaint forms)


class Settings(BaseSettings):
    """Everything a backbone process needs to reach Kafka and the registry."""

    model_config = SettingsConfigDict(env_prefix="CCB_", frozen=True, extra="ignore")

    # "production" refuses missing, short or shipped development secrets at start
    # (backbone/production.py); "dev" runs the local stack on the shipped values.
    env: Literal["dev", "production"] = "dev"

    # Kafka. Point these at an existing cluster to skip the local broker.
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    # Set when Kafka / the registry are provided by someone else: the local stack then
    # neither fetches nor starts them, it only creates the topics and checks reachability.
    external_kafka: bool = False
    external_registry: bool = False
    local_controller_port: int = 19093
    topic_prefix: str = "ccb."
    topic_replication: int = 1
    # Partitions of the co-partitioned topics (interactions, commands, context, ...; see
    # backbone/topics.py): the most workers that can share the load. Fixed per cluster:
    # changing it re-keys every table, so a new count needs new topics and a replay.
    topic_partitions: int = 6

    # Schema registry (Confluent API). ``mock://name`` runs an in-process mock for unit tests.
    schema_registry_url: str = "http://127.0.0.1:18081/apis/ccompat/v7"
    schema_registry_basic_auth: SecretStr | None = None

    # Personal data: HMAC key for phone/card/ID numbers. ``hmac_key_id`` goes into every
    # hashed identifier so the key can be rotated without mixing hashes.
    hmac_key: SecretStr = SecretStr(DEV_KEYS["hmac_key"])
    hmac_key_id: str = "k1"
    # Customer ids are keyed surrogates of the customer number (stream_processors/identity.py):
    # a permanent secret, never rotated (rotating it would re-key every customer).
    customer_id_key: SecretStr = SecretStr(DEV_KEYS["customer_id_key"])
    hmac_previous_keys: dict[str, SecretStr] = Field(default_factory=dict)
    keep_message_text: bool = False

    # Producer behaviour (connectors): bounded buffering then refusal.
    producer_linger_ms: int = 5
    producer_max_buffered: int = 100_000
    producer_delivery_timeout_ms: int = 30_000
    publish_timeout_s: float = 10.0
    # librdkafka backs off between failed connection attempts up to this long (its default,
    # 10 s, let a client wait up to 10 s more after a network fault had healed: 9.3 s
    # measured in tests/faults/test_proxy.py).
    kafka_reconnect_backoff_max_ms: int = 1_000

    # Faust worker.
    worker_broker_session_timeout_s: float = 10.0
    worker_data_dir: str = ".stack/worker-data"
    worker_store: str = "memory://"
    worker_web_port: int = 6066
    timeline_max_entries: int = 50
    timeline_max_age_days: int = 90
    # Stream processors (issue 4). The faust app id is ``topic(worker_app_name)`` so a topic
    # prefix isolates changelogs and consumer groups too.
    worker_app_name: str = "processors"
    worker_web_host: str = "127.0.0.1"  # 0.0.0.0 in containers so /metrics can be scraped
    worker_producer_linger_s: float = 0.005
    worker_producer_batch_bytes: int = 1_000_000
    worker_commit_interval_s: float = 1.0
    # /healthz turns 503 (so the orchestrator restarts the worker) when an assigned source
    # partition has lag and its position has not moved for this long (registry waits and
    # rebalances excluded): the self-heal for a consumer that stopped fetching.
    worker_stall_s: float = 120.0
    # Commands between stages are sent as one envelope per destination partition at
    # least this often (and before every commit): the latency each internal hop adds.
    worker_command_flush_s: float = 0.01
    # Static group membership (KIP-345): a stable name per worker (the StatefulSet pod
    # name). A restarted worker with the same name takes its partitions back at once
    # instead of waiting for the dead member's session timeout and a rebalance.
    worker_instance_id: str | None = None
    # Standby replicas of every table (faust ``table_standby_replicas``): a worker keeps a
    # warm copy of another's partitions, so a failover does not restore from offset 0.
    worker_standby_replicas: int = 1
    journey_window_h: float = 72.0
    kpi_publish_interval_s: float = 1.0
    kpi_sl_threshold_s: dict[str, float] = Field(default_factory=lambda: {
        "PHONE": 20.0, "WEB": 30.0, "APP": 30.0, "WECHAT": 30.0, "BRANCH": 600.0})
    kpi_sl_target: float = 0.8
    kpi_conflict_spike: int = 5
    # "Answered within three rings" (三声响铃): ring time <= kpi_rings x kpi_ring_cycle_s.
    kpi_ring_cycle_s: float = 5.0
    kpi_rings: int = 3
    # Early warnings (docs/alerts.md): evaluated on every KPI flush and on this timer, so a
    # quiet queue still fires or clears; a rate must breach for alert_for_min to fire and
    # clears only back past its *_clear value. The SL target is kpi_sl_target.
    alert_eval_interval_s: float = 15.0
    alert_window_min: int = 15
    alert_for_min: float = 5.0
    alert_min_offered: int = 10
    alert_sl_clear: float = 0.85
    alert_abandon_max: float = 0.08
    alert_abandon_clear: float = 0.06
    alert_asa_max_s: dict[str, float] = Field(default_factory=lambda: {
        "PHONE": 30.0, "WEB": 60.0, "APP": 60.0, "WECHAT": 60.0, "BRANCH": 900.0})
    alert_asa_clear_ratio: float = 0.8
    alert_rings_target: float = 0.9
    alert_rings_clear: float = 0.93
    alert_survey_min: int = 5
    alert_csat_drop: float = 0.10
    alert_csat_clear_drop: float = 0.05
    alert_nps_drop: float = 10.0
    alert_nps_clear_drop: float = 5.0
    alert_complaint_spike_factor: float = 3.0
    alert_complaint_spike_min: int = 5
    alert_complaint_due_soon_h: float = 48.0
    # Business day and clock-aligned reporting intervals (15/30 min, day) are in this zone.
    business_tz: str = "Asia/Shanghai"
    # A chat, WeChat or app/web visit without a close event ends after this inactivity.
    session_timeout_min: float = 30.0

    # gRPC context service.
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Identifies this instance in Freshness.served_by, audit records and handoff expiry
    # duties; empty = "<hostname>-<pid>".
    grpc_instance_id: str = ""
    # TLS for the gRPC port (PEM files). With a client CA the server accepts client
    # certificates; with require_client_cert it accepts nothing else (mutual TLS).
    grpc_tls_cert_file: str | None = None
    grpc_tls_key_file: str | None = None
    grpc_tls_client_ca_file: str | None = None
    grpc_tls_require_client_cert: bool = False
    # Plaintext gRPC is refused on any address but loopback unless this is set (e.g. behind
    # a TLS-terminating sidecar, or compose's single-host network).
    grpc_allow_insecure: bool = False
    # Bearer tokens: "principal|role" -> token (roles: channel_system, agent, supervisor,
    # auditor). The defaults are for the local stack only; production sets CCB_GRPC_TOKENS
    # (JSON) and keeps the tokens secret.
    grpc_tokens: dict[str, SecretStr] = Field(default_factory=lambda: {
        spec: SecretStr(token) for spec, token in DEV_GRPC_TOKENS.items()})
    # Client-certificate common name -> role, for callers that authenticate by mTLS.
    grpc_cert_roles: dict[str, str] = Field(default_factory=dict)
    # Longest a read-your-writes call waits when the caller set no deadline.
    grpc_max_wait_s: float = 30.0
    # Handoffs: default and maximum lifetime; after expiry + grace any instance (not only
    # the creating one) publishes handoff.expired.
    handoff_ttl_s: int = 600
    handoff_max_ttl_s: int = 3600
    handoff_expiry_grace_s: float = 10.0
    # How long AcceptHandoff waits for a handoff created on another instance to replay here
    # before answering NOT_FOUND.
    handoff_find_wait_s: float = 2.0
    # Key that derives handoff tokens and short codes from the handoff id (so neither, nor
    # a hash of either, is ever stored or published). Unset: derived from hmac_key; set it
    # in production so only the context service can mint or check handoff credentials.
    handoff_key: SecretStr | None = None
    # Short-code guessing: a principal with this many failed code redemptions (in flight
    # ones included) within the window gets RESOURCE_EXHAUSTED; the LRU keeps this many
    # principals per instance.
    handoff_code_max_failures: int = 5
    handoff_code_failure_window_s: float = 300.0
    handoff_code_limit_principals: int = 10_000
    # Every context read waits at most this long for Kafka to acknowledge its audit record;
    # a read whose record is not acknowledged fails with UNAVAILABLE (fail closed).
    grpc_audit_timeout_s: float = 2.0
    # Bounded resources: calls the server runs at once (beyond it new calls get
    # RESOURCE_EXHAUSTED from grpc itself), open WatchCustomerContext streams per principal
    # (beyond it RESOURCE_EXHAUSTED + RetryInfo), and connection age (then GOAWAY, with a
    # grace for calls in flight) so balancers can rebalance long-lived clients.
    grpc_max_concurrent_rpcs: int = 1000
    grpc_max_watches_per_principal: int = 100
    grpc_max_connection_age_s: float = 1800.0
    grpc_max_connection_age_grace_s: float = 30.0
    # Shutdown: for this long (at most the stop's grace) calls in flight finish while new
    # calls are held; then GOAWAY, and the held calls answer UNAVAILABLE + RetryInfo.
    grpc_drain_s: float = 0.3
    # Closed handoffs (accepted / cancelled / expired) are kept this long after closing for
    # "already accepted" answers, then evicted; the book never holds more than
    # handoff_book_max handoffs (oldest closed ones go first).
    handoff_retention_s: float = 3600.0
    handoff_book_max: int = 100_000

    # Web front end (services/web/): agent desktop and supervisor wallboard. It holds no
    # credential of its own: every call forwards the user's bearer token to the context
    # service, which enforces roles and masking and audits every read.
    web_host: str = "127.0.0.1"
    web_port: int = 8093
    # The context service it calls ("host:port"); empty = grpc_host:grpc_port.
    web_grpc_target: str = ""
    # PEM CA bundle: call the context service over TLS (empty = plaintext).
    web_grpc_tls_ca_file: str | None = None
    # Wallboard push period, and how many live streams (SSE) one process serves at once.
    web_refresh_interval_s: float = 1.0
    web_max_streams: int = 200
    # Where the wallboard's alerts come from: the context service's WatchAlerts rpc (with the
    # user's token), or "kafka" (the alerts topic read by the web server itself).
    web_alerts_from: Literal["watch_alerts", "kafka"] = "watch_alerts"

    # Channel connectors (connectors/). Ports 0 pick a free port (tests).
    connector_host: str = "127.0.0.1"
    collector_port: int = 8088
    wechat_port: int = 8089
    branch_port: int = 8090
    desktop_port: int = 8091
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "ccb"
    ami_secret: SecretStr = SecretStr(DEV_KEYS["ami_secret"])
    # Asterisk's queue_log to follow (the ``queue_log`` channel; empty = not followed) and
    # where its checkpoint (inode + first unacknowledged byte) is kept.
    queue_log_path: str = ""
    queue_log_state_path: str = ".stack/queue_log.state"
    wechat_token: SecretStr = SecretStr(DEV_KEYS["wechat_token"])
    # 43 characters of base64 (WeChat's EncodingAESKey); empty means plaintext mode only.
    wechat_aes_key: SecretStr = SecretStr(DEV_KEYS["wechat_aes_key"])
    # WeChat's 安全模式 / 兼容模式 / 明文模式: "safe" takes only encrypt_type=aes pushes with
    # a valid msg_signature; "compatible" also takes plaintext ones (only while switching
    # modes: their signature does not cover the body); "plaintext" only plaintext.
    # Unset: "safe" when wechat_aes_key is set, else "plaintext".
    wechat_mode: Literal["safe", "compatible", "plaintext"] | None = None
    # A push's signed timestamp may be this far from our clock, either way (WeChat's three
    # tries come within ~15 s; the rest is clock skew); signatures are remembered that long.
    wechat_timestamp_window_s: int = 60
    wechat_app_id: str = "wx00000000ccb00001"
    # Bearer token of the bank's own binding back end (OpenID <-> customer number).
    wechat_bind_token: SecretStr = SecretStr(DEV_KEYS["wechat_bind_token"])
    wechat_transfer_keywords: tuple[str, ...] = ("人工", "客服", "agent", "human")
    # A text with one of these, or a menu CLICK with one of these EventKeys, opens a
    # complaint (docs/complaints.md).
    wechat_complaint_keywords: tuple[str, ...] = ("投诉", "complaint")
    wechat_complaint_menu_keys: tuple[str, ...] = ("COMPLAINT", "MENU_COMPLAINT")
    # Segment write key -> {"source": "app"|"web", "trust": "client"|"server"} (or just the
    # source: client). Only server keys, or a valid login assertion, verify a login.
    segment_write_keys: ClientKeys = Field(validate_default=True, default_factory=lambda: {
        **DEV_API_KEYS["segment_write_keys"],
        DEV_SERVER_WRITE_KEY: {"source": "app", "trust": "server"},
        DEV_SERVER_WEB_WRITE_KEY: {"source": "web", "trust": "server"}})
    # Bearer key -> source system (server trust), or {"source", "trust"}: a client key may
    # not send identifications, IVR authentications or erasures.
    branch_api_keys: ServerKeys = Field(
        validate_default=True, default_factory=lambda: dict(DEV_API_KEYS["branch_api_keys"]))
    desktop_api_keys: ServerKeys = Field(
        validate_default=True, default_factory=lambda: dict(DEV_API_KEYS["desktop_api_keys"]))
    # Signed login assertions (connectors/assertion.py): a JWT from the bank's login back
    # end, passed by app code as traits.ccb_assertion, verifies a login sent with a client
    # write key. HS256 with this secret (32+ bytes; empty: off) and/or RS256 with this PEM
    # public key (empty: off); aud, iss and exp are required; exp at most max_ttl ahead.
    login_assertion_secret: SecretStr = SecretStr("")
    login_assertion_public_key: str = ""
    login_assertion_audience: str = "ccb-collector"
    login_assertion_issuer: str = "bank-login"
    login_assertion_leeway_s: float = 30.0
    login_assertion_max_ttl_s: float = 900.0
    connector_max_body_bytes: int = 512 * 1024
    connector_max_event_age_s: int = 7 * 24 * 3600
    connector_max_clock_skew_s: int = 300
    connector_dedupe_cache: int = 100_000

    def topic(self, name: str) -> str:
        """Full topic name for a logical topic from the catalogue."""
        return f"{self.topic_prefix}{name}"

    def kafka_common(self) -> dict[str, Any]:
        """librdkafka settings shared by every confluent-kafka client we build."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
            "reconnect.backoff.max.ms": self.kafka_reconnect_backoff_max_ms,
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
            conf["sasl.username"] = self.kafka_sasl_username or ""
            if self.kafka_sasl_password is not None:
                conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            conf["ssl.ca.location"] = self.kafka_ssl_ca_location
        return conf

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        """Idempotent, acks=all producer keyed like Java and Faust clients (murmur2)."""
        conf = self.kafka_common() | {
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": self.producer_linger_ms,
            "queue.buffering.max.messages": self.producer_max_buffered,
            "delivery.timeout.ms": self.producer_delivery_timeout_ms,
            "compression.type": "lz4",
        }
        conf.update(overrides)
        return conf

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """At-least-once consumer: we commit only what we processed."""
        conf = self.kafka_common() | {
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
        conf.update(overrides)
        return conf

    def registry_config(self) -> dict[str, Any]:
        # A registry that does not answer must fail the call, not hang the caller.
        conf: dict[str, Any] = {"url": self.schema_registry_url, "timeout": 10}
        if self.schema_registry_basic_auth is not None:
            conf["basic.auth.user.info"] = self.schema_registry_basic_auth.get_secret_value()
        return conf

    def faust_broker(self) -> str:
        return ";".join(f"kafka://{h.strip()}" for h in self.kafka_bootstrap.split(","))

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """TLS for Kafka clients that take an SSLContext (faust, aiokafka): the configured
        CA, else the system's; None when the security protocol has no TLS."""
        if self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            return None
        try:
            return ssl.create_default_context(cafile=self.kafka_ssl_ca_location or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"CCB_KAFKA_SSL_CA_LOCATION={self.kafka_ssl_ca_location!r}: {exc}") from exc

    def min_insync_replicas(self) -> int:
        """For every topic we create: acks=all survives one broker loss once RF >= 3."""
        return min(2, self.topic_replication)

    def check_production(self, *uses: str) -> None:
        """In production, refuse the secrets of ``uses`` (keys of ``production.USES``) that
        are missing, short or shipped development values: one ConfigurationError names all."""
        production.check(self, production.secrets_of(*uses))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings object (read from the environment once)."""
    return Settings()
