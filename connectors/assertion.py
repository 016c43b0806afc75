"""Signed login assertions: the bank's login back end proving which customer logged in.

A write key shipped in an app is public, so an app's identify is a claim (BRIEF §3). The
back end that checked the password can prove the login instead: it signs a short-lived
JWT (HS256 with a shared secret, or RS256 with its private key) whose ``customer_number``
(else ``sub``) is the customer, ``aud`` the collector, ``iss`` itself and ``exp`` a few
minutes ahead; the app passes it unchanged as ``traits.ccb_assertion``. A valid one
verifies that login for that customer number only; any other outcome is counted and
the message is kept as an unverified claim.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from prometheus_client import Counter

from backbone.errors import ConfigurationError
from backbone.settings import Settings

FIELD = "ccb_assertion"  # in the identify's traits (or a login track's context.traits)
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
RESULTS = ("valid", "expired", "not_yet_valid", "too_long_lived", "wrong_audience",
           "wrong_issuer", "bad_signature", "missing_claim", "unsupported_algorithm",
           "malformed")
ASSERTIONS = Counter(
    "ccb_connector_assertions_total", "Login assertions checked, by outcome.", ["result"],
)
_COUNTERS = {result: ASSERTIONS.labels(result) for result in RESULTS}
_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "unsupported_algorithm"),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What checking one assertion gave: ``customer_number`` is set only when valid."""

    result: str
    customer_number: str | None = None

    @property
    def valid(self) -> bool:
        return self.customer_number is not None


class AssertionVerifier:
    """Checks login assertions against the configured keys; built once per collector."""

    def __init__(self, keys: dict[str, Any], *, audience: str, issuer: str,
                 leeway_s: float, max_ttl_s: float):
        self._keys = keys  # algorithm -> key: the token's header picks, nothing else
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_s
        self._max_ttl = max_ttl_s

    @classmethod
    def from_settings(cls, settings: Settings) -> AssertionVerifier:
        keys: dict[str, Any] = {}
        secret = settings.login_assertion_secret.get_secret_value()
        if secret:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"CCB_LOGIN_ASSERTION_SECRET must be at least {MIN_SECRET_BYTES} bytes")
            keys["HS256"] = secret.encode()
        if settings.login_assertion_public_key.strip():
            try:
                keys["RS256"] = serialization.load_pem_public_key(
                    settings.login_assertion_public_key.encode())
            except ValueError as exc:
                raise ConfigurationError(
                    "CCB_LOGIN_ASSERTION_PUBLIC_KEY is not a PEM public key") from exc
        return cls(keys, audience=settings.login_assertion_audience,
                   issuer=settings.login_assertion_issuer,
                   leeway_s=settings.login_assertion_leeway_s,
                   max_ttl_s=settings.login_assertion_max_ttl_s)

    def verify(self, token: object) -> Verdict:
        """Never raises: every outcome is a :class:`Verdict`, counted by result."""
        verdict = self._check(token, time.time())
        _COUNTERS[verdict.result].inc()
        return verdict

    def _check(self, token: object, now: float) -> Verdict:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            return Verdict("malformed")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            return Verdict("malformed")
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None or not isinstance(alg, str):  # "none", or no key for that algorithm
            return Verdict("unsupported_algorithm")
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=self._audience, issuer=self._issuer,
                leeway=self._leeway, options={"require": ["exp", "aud", "iss"],
                                              "enforce_minimum_key_length": True})
        except jwt.PyJWTError as exc:
            return Verdict(next((r for kind, r in _ERRORS if isinstance(exc, kind)),
                                "malformed"))
        except (ValueError, TypeError):  # a key or payload the library could not use
            return Verdict("malformed")
        exp = claims["exp"]
        if isinstance(exp, int | float) and exp - now > self._max_ttl + self._leeway:
            return Verdict("too_long_lived")  # a stolen long-lived assertion is a password
        number = claims.get("customer_number") or claims.get("sub")
        if isinstance(number, int) and not isinstance(number, bool):
            number = str(number)
        if not isinstance(number, str) or not number.strip() or len(number) > 64:
            return Verdict("missing_claim")
        return Verdict("valid", number.strip())
