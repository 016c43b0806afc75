"""Transport rules of the context service: no plaintext beyond loopback, mutual TLS that
really asks for the client certificate, bearer tokens compared in constant time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import SecretStr

from backbone.errors import ConfigurationError
from backbone.settings import Settings
from services.context import auth as auth_module
from services.context.auth import Authenticator
from services.context.server import create_server, is_loopback, server_credentials
from tests.integration.services.tls import Pki, make_pki


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "", "192.168.10.4", "10.0.0.1",
                                  "ccb-context", "::ffff:0.0.0.0"])
def test_plaintext_is_refused_beyond_loopback(unit_settings: Settings, host: str) -> None:
    settings = unit_settings.model_copy(update={"grpc_host": host})
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError) as err:
        server_credentials(settings)
    assert "CCB_GRPC_ALLOW_INSECURE=1" in err.value.message
    assert f"CCB_GRPC_HOST={host!r}" in err.value.message
    allowed = settings.model_copy(update={"grpc_allow_insecure": True})
    assert server_credentials(allowed) is None  # an explicit decision


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_plaintext_on_loopback_stays_fine_for_dev(unit_settings: Settings, host: str) -> None:
    assert server_credentials(unit_settings.model_copy(update={"grpc_host": host})) is None


async def test_the_server_refuses_before_any_io(unit_settings: Settings) -> None:
    """Kafka is unreachable here: the error comes first, not a connection attempt."""
    settings = unit_settings.model_copy(update={"grpc_host": "0.0.0.0",
                                                "kafka_bootstrap": "127.0.0.1:9"})
    server = create_server(settings, port=0)
    with pytest.raises(ConfigurationError):
        await server.start()
    assert server.port == 0


def _tls(settings: Settings, pki: Pki, **update: Any) -> Settings:
    return settings.model_copy(update={"grpc_host": "0.0.0.0",
                                       "grpc_tls_cert_file": str(pki.server_cert),
                                       "grpc_tls_key_file": str(pki.server_key)} | update)


@pytest.mark.parametrize("update", [
    {"grpc_tls_client_ca_file": "ca"},  # a CA alone would never see a certificate
    {"grpc_tls_require_client_cert": True},  # requiring without a CA to verify against
    {"grpc_tls_key_file": None},
    {"grpc_tls_cert_file": None, "grpc_tls_client_ca_file": "ca"},
])
def test_incoherent_tls_settings_are_refused(unit_settings: Settings, tmp_path: Path,
                                             update: dict[str, Any]) -> None:
    pki = make_pki(tmp_path, client_cn="x")
    with pytest.raises(ConfigurationError):
        server_credentials(_tls(unit_settings, pki, **update))


def test_a_missing_certificate_file_names_its_setting(unit_settings: Settings,
                                                      tmp_path: Path) -> None:
    pki = make_pki(tmp_path, client_cn="x")
    with pytest.raises(ConfigurationError) as err:
        server_credentials(_tls(unit_settings, pki, grpc_tls_key_file=str(tmp_path / "nope")))
    assert "CCB_GRPC_TLS_KEY_FILE" in err.value.message


class _Recorder(health.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self.auth: dict[str, Any] = {}

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        self.auth = dict(context.auth_context())
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def test_mutual_tls_requests_and_verifies_the_client_certificate(
        unit_settings: Settings, tmp_path: Path) -> None:
    """A real handshake: the server asks for the certificate, sees its CN, and refuses a
    client without one (grpc python cannot ask without requiring)."""
    from concurrent import futures

    pki = make_pki(tmp_path, client_cn="branch-queue-system-sh001")
    settings = _tls(unit_settings, pki, grpc_host="127.0.0.1",
                    grpc_tls_client_ca_file=str(pki.ca_cert), grpc_tls_require_client_cert=True)
    credentials = server_credentials(settings)
    assert credentials is not None
    recorder = _Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(recorder, server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    ca = pki.ca_cert.read_bytes()
    try:
        with_cert = grpc.ssl_channel_credentials(ca, pki.client_key.read_bytes(),
                                                 pki.client_cert.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", with_cert) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert recorder.auth["x509_common_name"] == [b"branch-queue-system-sh001"]
        with grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(ca)) as channel:
            with pytest.raises(grpc.RpcError) as err:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # handshake refused
    finally:
        server.stop(0)


class _Ctx:
    def __init__(self, token: str):
        self._metadata = (("authorization", f"Bearer {token}"),)

    def invocation_metadata(self) -> Any:
        return self._metadata

    def auth_context(self) -> Any:
        return {}


def test_every_token_is_compared_in_constant_time(unit_settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The first, the last and an unknown token cost the same comparisons: all of them."""
    tokens = {f"p{i}|agent": SecretStr(f"token-number-{i:04d}-abcdef") for i in range(5)}
    auth = Authenticator(unit_settings.model_copy(update={"grpc_tokens": tokens}))
    calls: list[tuple[bytes, bytes]] = []
    real = auth_module.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    for token, expected in (("token-number-0000-abcdef", "p0"),
                            ("token-number-0004-abcdef", "p4")):
        calls.clear()
        assert auth.principal(_Ctx(token)).name == expected  # type: ignore[arg-type]
        assert len(calls) == len(tokens) and all(len(a) == len(b) == 32 for a, b in calls)
    calls.clear()
    with pytest.raises(Exception, match="unknown bearer token"):
        auth.principal(_Ctx("token-number-9999-abcdef"))  # type: ignore[arg-type]
    assert len(calls) == len(tokens)


def test_two_principals_may_not_share_a_token(unit_settings: Settings) -> None:
    shared = {"a|agent": SecretStr("same-token-for-both"),
              "b|supervisor": SecretStr("same-token-for-both")}
    with pytest.raises(ConfigurationError, match="share one token"):
        Authenticator(unit_settings.model_copy(update={"grpc_tokens": shared}))
