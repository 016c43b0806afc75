"""The worker's faust app on a secured cluster: credentials, TLS and replication reach
faust (and through it every aiokafka client) — built with ``create_app``, no I/O."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from backbone.errors import ConfigurationError
from backbone.settings import Settings
from stream_processors.app import broker_credentials, create_app
from tests.integration.services.tls import make_pki


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    return make_pki(tmp_path, client_cn="unused").ca_cert


def test_sasl_ssl_settings_reach_faust_and_aiokafka(unit_settings: Settings,
                                                    ca_file: Path) -> None:
    settings = Settings(
        schema_registry_url=unit_settings.schema_registry_url,
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="ccb-worker", kafka_sasl_password="s3cret-worker-password",  # type: ignore[arg-type]
        kafka_ssl_ca_location=str(ca_file), topic_replication=3)
    app = create_app(settings)

    creds = app.conf.broker_credentials
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("ccb-worker", "s3cret-worker-password")
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.protocol.value == "SASL_SSL"
    assert creds.ssl_context is not None
    assert creds.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert creds.ssl_context.check_hostname
    assert any(dict(rdn[0] for rdn in c["subject"]).get("commonName") == "test-ca"
               for c in creds.ssl_context.get_ca_certs())  # our CA, not only the system's
    # what faust hands to each aiokafka consumer/producer/admin client
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_username"] == "ccb-worker"
    assert auth["sasl_plain_password"] == "s3cret-worker-password"

    # changelogs (and faust's leader topic) get the configured replication factor, and
    # every changelog min.insync.replicas = min(2, RF)
    assert app.conf.topic_replication_factor == 3
    for name in ("identities", "customers", "interactions"):
        changelog = app.tables[name].changelog_topic
        assert changelog.config["min.insync.replicas"] == "2", name
        assert (changelog.replicas or app.conf.topic_replication_factor) == 3, name


def test_local_stack_defaults_stay_plaintext_single_replica(unit_settings: Settings) -> None:
    app = create_app(unit_settings)
    assert credentials_to_aiokafka_auth(app.conf.broker_credentials) == {
        "security_protocol": "PLAINTEXT"}
    assert app.conf.topic_replication_factor == 1
    assert app.tables["customers"].changelog_topic.config["min.insync.replicas"] == "1"


def test_ssl_without_sasl_and_mechanism_checks(unit_settings: Settings, ca_file: Path) -> None:
    tls = unit_settings.model_copy(update={"kafka_security_protocol": "SSL",
                                           "kafka_ssl_ca_location": str(ca_file)})
    creds = broker_credentials(tls)
    assert isinstance(creds, faust.SSLCredentials)
    assert credentials_to_aiokafka_auth(creds)["security_protocol"] == "SSL"
    plain_sasl = unit_settings.model_copy(update={
        "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
        "kafka_sasl_username": "u"})
    auth = credentials_to_aiokafka_auth(broker_credentials(plain_sasl))
    assert auth["security_protocol"] == "SASL_PLAINTEXT" and auth["ssl_context"] is None
    with pytest.raises(ConfigurationError, match="CCB_KAFKA_SASL_MECHANISM"):
        broker_credentials(plain_sasl.model_copy(update={"kafka_sasl_mechanism": "GSSAPI"}))
    with pytest.raises(ConfigurationError, match="CCB_KAFKA_SSL_CA_LOCATION"):
        broker_credentials(tls.model_copy(update={"kafka_ssl_ca_location": "/nonexistent.pem"}))
