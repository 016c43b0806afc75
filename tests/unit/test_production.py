"""Production mode: weak, missing or shipped secrets are refused, by name, before any I/O."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from backbone import production
from backbone.errors import ConfigurationError
from backbone.production import (
    CHECKS,
    DEV_API_KEYS,
    DEV_GRPC_TOKENS,
    DEV_KEYS,
    USES,
    problems,
    secrets_of,
)
from backbone.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = tuple(USES)
# Checked separately (only when the Kafka security protocol / registry uses them).
CLUSTER_SECRETS = {"kafka_sasl_password", "schema_registry_basic_auth"}


def _key(n: int = 32) -> str:
    return secrets.token_urlsafe(n)


def strong(**overrides: Any) -> Settings:
    """Production settings with a fresh, strong value for every secret."""
    values: dict[str, Any] = {
        "env": "production", "kafka_security_protocol": "PLAINTEXT",
        "hmac_key": _key(), "customer_id_key": _key(), "handoff_key": _key(),
        "login_assertion_secret": _key(),
        "hmac_previous_keys": {"k0": _key()},
        "ami_secret": _key(16), "wechat_token": _key(16), "wechat_bind_token": _key(16),
        "wechat_aes_key": base64.b64encode(os.urandom(32)).decode().rstrip("="),
        "grpc_tokens": {"desk-1|agent": _key(24), "sup-1|supervisor": _key(24)},
        "segment_write_keys": {_key(16): "app", _key(16): "web"},
        "branch_api_keys": {_key(16): "qmatic"}, "desktop_api_keys": {_key(16): "desktop"},
    }
    return Settings(**(values | overrides))


def test_shipped_defaults_are_refused_naming_every_secret() -> None:
    settings = Settings(env="production", kafka_security_protocol="PLAINTEXT")
    with pytest.raises(ConfigurationError) as err:
        settings.check_production(*EVERYTHING)
    message = err.value.message
    for name in ("CCB_HMAC_KEY", "CCB_CUSTOMER_ID_KEY", "CCB_GRPC_TOKENS", "CCB_AMI_SECRET",
                 "CCB_SEGMENT_WRITE_KEYS", "CCB_BRANCH_API_KEYS", "CCB_DESKTOP_API_KEYS",
                 "CCB_WECHAT_TOKEN", "CCB_WECHAT_AES_KEY", "CCB_WECHAT_BIND_TOKEN"):
        assert f"{name}: a shipped development value" in message, name
    # unset optional secrets (no previous keys, handoff key derived) are not complaints
    assert "CCB_HMAC_PREVIOUS_KEYS" not in message and "CCB_HANDOFF_KEY" not in message


def test_dev_mode_runs_on_the_shipped_values() -> None:
    Settings(env="dev").check_production(*EVERYTHING)  # no error: the local stack


def test_strong_secrets_pass() -> None:
    settings = strong()
    assert problems(settings, secrets_of(*EVERYTHING)) == []
    settings.check_production(*EVERYTHING)


def test_each_process_is_checked_for_the_secrets_it_uses_only() -> None:
    settings = Settings(env="production", kafka_security_protocol="PLAINTEXT")
    named = {p.split(":")[0] for p in problems(settings, secrets_of("worker"))}
    assert named == {"CCB_CUSTOMER_ID_KEY"}
    named = {p.split(":")[0] for p in problems(settings, secrets_of("connectors", "branch"))}
    assert named == {"CCB_HMAC_KEY", "CCB_BRANCH_API_KEYS"}


@pytest.mark.parametrize(("setting", "value", "why"), [
    ("hmac_key", "", "missing"),
    ("hmac_key", "x" * 31, "shorter than 32 bytes"),
    ("customer_id_key", "y" * 31, "shorter than 32 bytes"),
    ("handoff_key", "z" * 31, "shorter than 32 bytes"),
    ("handoff_key", "", "missing"),  # set but empty would key HMACs with b""
    ("login_assertion_secret", "g" * 20, "shorter than 32 bytes"),
    ("ami_secret", "a" * 15, "shorter than 16 characters"),
    ("wechat_token", "   ", "missing"),
    # a shipped value is refused in *any* secret setting, not only its own
    ("wechat_bind_token", DEV_KEYS["customer_id_key"], "a shipped development value"),
    ("hmac_key", DEV_KEYS["customer_id_key"], "a shipped development value"),
    ("wechat_aes_key", "", "missing"),
    ("wechat_aes_key", "b" * 42, "not a 43-character base64 EncodingAESKey"),
    ("wechat_aes_key", "!" * 43, "not a 43-character base64 EncodingAESKey"),
    ("grpc_tokens", {"a|agent": "c" * 15}, "shorter than 16 characters for 'a|agent'"),
    ("grpc_tokens", {}, "missing"),
    ("grpc_tokens", {"a|agent": "t" * 20, "b|supervisor": "t" * 20},
     "two principals share one token"),
    ("segment_write_keys", {}, "missing"),
    ("branch_api_keys", {"d" * 15: "qmatic"}, "shorter than 16 characters for 'qmatic'"),
    ("desktop_api_keys", {"desktop-dev-key": "x"}, "a shipped development value for 'x'"),
    ("hmac_previous_keys", {"k0": "e" * 10}, "shorter than 32 bytes for 'k0'"),
])
def test_weak_values_are_named_with_the_reason(setting: str, value: Any, why: str) -> None:
    found = problems(strong(**{setting: value}), secrets_of(*EVERYTHING))
    assert len(found) == 1 and found[0].startswith(f"CCB_{setting.upper()}: {why}"), found


def test_lengths_at_the_limit_pass() -> None:
    settings = strong(hmac_key="x" * 32, customer_id_key="密" * 11,  # 33 bytes in UTF-8
                      ami_secret="a" * 16, grpc_tokens={"a|agent": "t" * 16})
    assert problems(settings, secrets_of(*EVERYTHING)) == []


def test_messages_never_contain_the_secret_values() -> None:
    weak = {"hmac_key": "Qh7weakHmac", "ami_secret": "Zq9weakAmi",
            "segment_write_keys": {"Wk3weakWrite": "app"}, "grpc_tokens": {"a|agent": "Tk5weak"}}
    message = "\n".join(problems(strong(**weak), secrets_of(*EVERYTHING)))
    assert message.count("CCB_") == 4
    for value in ("Qh7weakHmac", "Zq9weakAmi", "Wk3weakWrite", "Tk5weak"):
        assert value not in message


def test_optional_keys_may_stay_unset() -> None:
    settings = strong(handoff_key=None, login_assertion_secret="", hmac_previous_keys={})
    assert problems(settings, secrets_of(*EVERYTHING)) == []


def test_certificate_roles_alone_may_replace_bearer_tokens() -> None:
    settings = strong(grpc_tokens={}, grpc_cert_roles={"cti-01": "channel_system"})
    assert problems(settings, secrets_of("context")) == []


def test_sasl_needs_a_mechanism_a_user_and_a_password() -> None:
    settings = strong(kafka_security_protocol="SASL_SSL")
    named = [p.split(":")[0] for p in problems(settings, secrets_of("worker"))]
    assert named == ["CCB_KAFKA_SASL_MECHANISM", "CCB_KAFKA_SASL_USERNAME",
                     "CCB_KAFKA_SASL_PASSWORD"]
    settings = strong(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                      kafka_sasl_username="ccb-worker", kafka_sasl_password="p")
    assert problems(settings, secrets_of("worker")) == []


def _mentions_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_mentions_secret(a) for a in typing.get_args(annotation))


def test_every_secret_setting_is_checked_and_its_default_is_the_registered_dev_value() -> None:
    """A new secret with a literal default would escape the check: this fails instead."""
    fields = Settings.model_fields
    secret_fields = {name for name, f in fields.items() if _mentions_secret(f.annotation)}
    assert secret_fields - CLUSTER_SECRETS <= set(CHECKS), secret_fields - set(CHECKS)
    assert set(DEV_API_KEYS) <= set(CHECKS) and set(DEV_KEYS) <= set(CHECKS)
    for name, value in DEV_KEYS.items():
        assert fields[name].get_default().get_secret_value() == value, name
    tokens = fields["grpc_tokens"].get_default(call_default_factory=True)
    assert {k: v.get_secret_value() for k, v in tokens.items()} == dict(DEV_GRPC_TOKENS)
    for name, keys in DEV_API_KEYS.items():  # the keys are the secrets
        assert set(fields[name].get_default(call_default_factory=True)) == set(keys), name
    assert {name for uses in USES.values() for name in uses} <= set(CHECKS)
    assert production.DEV_SECRET_VALUES >= set(DEV_KEYS.values()) | set(DEV_GRPC_TOKENS.values())


def _run(module: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """The real entry point with no CCB_* secret set, and no broker to talk to."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCB_")}
    clean |= {"PYTHONPATH": str(ROOT), "CCB_ENV": "production",
              "CCB_KAFKA_BOOTSTRAP": "127.0.0.1:9", "CCB_SCHEMA_REGISTRY_URL": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-m", *module], cwd=ROOT, env=clean | env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("module", "env", "named"), [
    (["connectors"], {}, ["CCB_HMAC_KEY", "CCB_SEGMENT_WRITE_KEYS", "CCB_WECHAT_TOKEN",
                          "CCB_WECHAT_AES_KEY", "CCB_WECHAT_BIND_TOKEN", "CCB_BRANCH_API_KEYS",
                          "CCB_AMI_SECRET", "CCB_DESKTOP_API_KEYS"]),
    (["connectors", "--channels", "branch"], {}, ["CCB_HMAC_KEY", "CCB_BRANCH_API_KEYS"]),
    (["stream_processors", "worker"], {"CCB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
     ["CCB_CUSTOMER_ID_KEY", "CCB_KAFKA_SASL_MECHANISM", "CCB_KAFKA_SASL_USERNAME",
      "CCB_KAFKA_SASL_PASSWORD"]),
    (["services.context"], {}, ["CCB_HMAC_KEY", "CCB_GRPC_TOKENS"]),
], ids=["connectors", "connectors-branch", "worker", "context"])
def test_entry_points_refuse_to_start_without_production_secrets(
        module: list[str], env: dict[str, str], named: list[str]) -> None:
    result = _run(module, **env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: production mode (CCB_ENV=production) refuses")
    lines = result.stderr.splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == named


def test_a_plaintext_bind_beyond_loopback_is_one_clean_error() -> None:
    """Strong secrets, but 0.0.0.0 without TLS: refused at start, before Kafka is asked."""
    env = {"CCB_HMAC_KEY": "h" * 40, "CCB_GRPC_TOKENS": '{"a|agent": "' + "t" * 20 + '"}',
           "CCB_GRPC_HOST": "0.0.0.0"}
    result = _run(["services.context"], **env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "refusing plaintext gRPC on CCB_GRPC_HOST='0.0.0.0'" in result.stderr


def test_an_invalid_environment_value_is_one_clean_error() -> None:
    result = _run(["stream_processors", "worker"], CCB_ENV="prod")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "CCB_ENV:" in result.stderr and "'production'" in result.stderr
