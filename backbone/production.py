"""Production mode (``CCB_ENV=production``): a process refuses to start unless every secret
it uses is set, long enough and none of the development values the settings ship with.

The development values live here and only here: ``backbone/settings.py`` builds its
defaults from them, so the local stack runs with no configuration and the check cannot
drift from the defaults.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NoReturn

from pydantic import SecretStr

from backbone.errors import ConfigurationError

if TYPE_CHECKING:
    from backbone.settings import Settings

# Single-valued secrets, by setting name.
DEV_KEYS: Mapping[str, str] = MappingProxyType({
    "hmac_key": "local-dev-hmac-key-change-me",
    "customer_id_key": "local-dev-customer-id-key-change-me",
    "ami_secret": "ccb-dev-secret",
    "wechat_token": "ccb-dev-wechat-token",
    "wechat_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "wechat_bind_token": "ccb-dev-bind-token",
})
# gRPC bearer tokens: "principal|role" -> token (the token is the secret).
DEV_GRPC_TOKENS: Mapping[str, str] = MappingProxyType({
    "channel-system-dev|channel_system": "dev-channel-token",
    "agent-dev|agent": "dev-agent-token",
    "supervisor-dev|supervisor": "dev-supervisor-token",
    "auditor-dev|auditor": "dev-auditor-token",
})
# API keys of the HTTP connectors: key -> channel or source (the key is the secret; the
# settings add each key's trust).
DEV_API_KEYS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "segment_write_keys": MappingProxyType({"app-dev-write-key": "app",
                                            "web-dev-write-key": "web",
                                            "app-server-dev-write-key": "app",
                                            "web-server-dev-write-key": "web"}),
    "branch_api_keys": MappingProxyType({"branch-dev-key": "qmatic"}),
    "desktop_api_keys": MappingProxyType({"desktop-dev-key": "agent-desktop"}),
})
# Every shipped secret value: production refuses each of them in *any* secret setting.
DEV_SECRET_VALUES: frozenset[str] = frozenset(
    [*DEV_KEYS.values(), *DEV_GRPC_TOKENS.values(),
     *(key for keys in DEV_API_KEYS.values() for key in keys)])

MIN_KEY_BYTES = 32    # HMAC keys: a short key makes hashed phone numbers guessable
MIN_TOKEN_CHARS = 16  # bearer tokens, API keys, shared secrets

# Which secrets each process (or connector channel) uses; Kafka and registry credentials
# are checked for every process.
USES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "connectors": ("hmac_key", "hmac_previous_keys"),
    "app_web": ("segment_write_keys", "login_assertion_secret"),
    "wechat": ("wechat_token", "wechat_aes_key", "wechat_bind_token"),
    "branch": ("branch_api_keys",),
    "phone": ("ami_secret", "desktop_api_keys"),  # the agent desktop runs with phone
    "queue_log": (),
    "worker": ("customer_id_key",),
    "context": ("hmac_key", "hmac_previous_keys", "handoff_key", "grpc_tokens"),
})

# Secrets a process runs without: unset means derived from another key, or the feature off.
OPTIONAL: frozenset[str] = frozenset({"hmac_previous_keys", "handoff_key",
                                      "login_assertion_secret"})


def env_name(setting: str) -> str:
    return f"CCB_{setting.upper()}"


def _plain(value: SecretStr | str | None) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value or ""


def _weakness(value: str, *, min_bytes: int = 0, min_chars: int = 0) -> str | None:
    """Why ``value`` is not acceptable as a production secret, or None."""
    if not value.strip():
        return "missing"
    if value in DEV_SECRET_VALUES:
        return "a shipped development value"
    if len(value.encode()) < min_bytes:
        return f"shorter than {min_bytes} bytes"
    if len(value) < min_chars:
        return f"shorter than {min_chars} characters"
    return None


def _per_item(found: Iterable[tuple[str, str | None]]) -> str | None:
    """``why for 'a', 'b'; ...`` over (label, why) pairs; labels are never secrets."""
    groups: dict[str, list[str]] = {}
    for label, why in found:
        if why:
            groups.setdefault(why, []).append(repr(label))
    return "; ".join(f"{why} for {', '.join(dict.fromkeys(labels))}"
                     for why, labels in groups.items()) or None


def _hmac_key(settings: Settings, name: str) -> str | None:
    why = _weakness(_plain(getattr(settings, name)), min_bytes=MIN_KEY_BYTES)
    return None if why is None else f"{why}; set a random key of at least {MIN_KEY_BYTES} bytes"


def _unset_or_hmac_key(settings: Settings, name: str) -> str | None:
    """None: the key is derived from another (checked) one; set, it must be strong."""
    return None if getattr(settings, name) is None else _hmac_key(settings, name)


def _off_or_hmac_key(settings: Settings, name: str) -> str | None:
    """Empty switches the feature off; set, the key must be strong."""
    return _hmac_key(settings, name) if _plain(getattr(settings, name)) else None


def _previous_keys(settings: Settings, name: str) -> str | None:
    return _per_item((kid, _weakness(_plain(key), min_bytes=MIN_KEY_BYTES))
                     for kid, key in settings.hmac_previous_keys.items())  # none is fine


def _token(settings: Settings, name: str) -> str | None:
    why = _weakness(_plain(getattr(settings, name)), min_chars=MIN_TOKEN_CHARS)
    return None if why is None else f"{why}; set a random value of at least {MIN_TOKEN_CHARS} characters"


def _wechat_aes_key(settings: Settings, name: str) -> str | None:
    key = _plain(settings.wechat_aes_key)
    why = _weakness(key)
    if why is None:
        try:
            valid = len(key) == 43 and len(base64.b64decode(key + "=", validate=True)) == 32
        except binascii.Error:
            valid = False
        why = None if valid else "not a 43-character base64 EncodingAESKey"
    return None if why is None else f"{why}; set the official account's EncodingAESKey"


def _grpc_tokens(settings: Settings, name: str) -> str | None:
    if not settings.grpc_tokens:
        return None if settings.grpc_cert_roles else \
            "missing (and no CCB_GRPC_CERT_ROLES either, so nobody could call)"
    tokens = [_plain(token) for token in settings.grpc_tokens.values()]
    shared = "; two principals share one token" if len(set(tokens)) < len(tokens) else ""
    weak = _per_item((spec, _weakness(token, min_chars=MIN_TOKEN_CHARS))
                     for spec, token in zip(settings.grpc_tokens, tokens, strict=True))
    return ((weak or "") + shared).removeprefix("; ") or None


def _api_keys(settings: Settings, name: str) -> str | None:
    keys: Mapping[str, object] = getattr(settings, name)
    if not keys:
        return "missing"
    # the keys are the secrets: say what they are for (a source name), never the key
    return _per_item((str(getattr(source, "source", source)),
                      _weakness(key, min_chars=MIN_TOKEN_CHARS)) for key, source in keys.items())


CHECKS: Mapping[str, Callable[[Settings, str], str | None]] = MappingProxyType({
    "hmac_key": _hmac_key,
    "customer_id_key": _hmac_key,
    "hmac_previous_keys": _previous_keys,
    "handoff_key": _unset_or_hmac_key,  # unset: derived from hmac_key
    "login_assertion_secret": _off_or_hmac_key,  # empty: HS256 assertions off
    "ami_secret": _token,
    "wechat_token": _token,
    "wechat_bind_token": _token,
    "wechat_aes_key": _wechat_aes_key,
    "grpc_tokens": _grpc_tokens,
    "segment_write_keys": _api_keys,
    "branch_api_keys": _api_keys,
    "desktop_api_keys": _api_keys,
})


def _kafka(settings: Settings) -> dict[str, str]:
    """SASL needs a mechanism, a user and a password (the cluster's, so only non-empty)."""
    if not settings.kafka_security_protocol.startswith("SASL"):
        return {}
    found = {}
    for name in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password"):
        if not _plain(getattr(settings, name)).strip():
            found[env_name(name)] = f"missing (CCB_KAFKA_SECURITY_PROTOCOL is " \
                                    f"{settings.kafka_security_protocol})"
    return found


def secrets_of(*uses: str) -> tuple[str, ...]:
    """The secret settings of the named processes / channels (keys of :data:`USES`)."""
    return tuple(dict.fromkeys(name for use in uses for name in USES[use]))


def problems(settings: Settings, secrets: Iterable[str]) -> list[str]:
    """``"CCB_X: why"`` for every secret in ``secrets`` (and Kafka's) that production
    would refuse; empty when all are acceptable. Independent of ``settings.env``."""
    found: dict[str, str] = {}
    for name in dict.fromkeys(secrets):
        why = CHECKS[name](settings, name)
        if why:
            found[env_name(name)] = why
    found |= _kafka(settings)
    return [f"{var}: {why}" for var, why in found.items()]


def check(settings: Settings, secrets: Iterable[str]) -> None:
    """In production, raise one :class:`ConfigurationError` naming every offending setting."""
    if settings.env != "production":
        return
    found = problems(settings, secrets)
    if found:
        raise ConfigurationError(
            "production mode (CCB_ENV=production) refuses to start; fix these settings:\n  "
            + "\n  ".join(found), code="insecure_production_settings")


def startup_settings(*uses: str) -> Settings:
    """The process's settings, checked for production, for an entry point to call first.

    A bad configuration ends the process with exit code 2 and one message on stderr (no
    traceback), before any network I/O.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from backbone.settings import get_settings

    try:
        settings = get_settings()
        check(settings, secrets_of(*uses))
    except ConfigurationError as exc:
        _refuse(exc.message)
    except ValidationError as exc:  # input values are left out: they may be secrets
        _refuse("invalid settings:\n  " + "\n  ".join(
            f"{env_name(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)))
    except SettingsError as exc:
        _refuse(f"invalid settings: {exc}")
    return settings


def _refuse(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
