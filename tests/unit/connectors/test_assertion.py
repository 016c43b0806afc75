"""Signed login assertions (connectors/assertion.py): what verifies a login and what never does."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from backbone.errors import ConfigurationError
from backbone.settings import Settings
from connectors.assertion import ASSERTIONS, AssertionVerifier

SECRET = "unit-test-login-assertion-secret-0123456789"
OTHER_SECRET = "another-login-assertion-secret-9876543210"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = PRIVATE.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def settings(**overrides: object) -> Settings:
    values = {"login_assertion_secret": SECRET, "login_assertion_public_key": PUBLIC_PEM}
    return Settings(schema_registry_url=f"mock://{uuid.uuid4().hex}",  # type: ignore[arg-type]
                    **(values | overrides))


@pytest.fixture
def verifier() -> AssertionVerifier:
    return AssertionVerifier.from_settings(settings())


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {"customer_number": "C0001", "aud": "ccb-collector", "iss": "bank-login",
            "iat": now, "exp": now + 300} | overrides


def hs256(payload: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret,
                      algorithm="HS256")


def count(result: str) -> float:
    return ASSERTIONS.labels(result)._value.get()


def test_a_valid_hs256_assertion_names_its_customer(verifier):
    before = count("valid")
    verdict = verifier.verify(hs256(claims()))
    assert verdict.valid and verdict.customer_number == "C0001"
    assert count("valid") == before + 1


def test_a_valid_rs256_assertion_and_sub_as_the_customer_number(verifier):
    token = jwt.encode(claims(customer_number=None, sub="C0002") | {"customer_number": None},
                       PRIVATE, algorithm="RS256")
    assert verifier.verify(token).customer_number == "C0002"


@pytest.mark.parametrize(("token", "result"), [
    (lambda: hs256(claims(exp=int(time.time()) - 120)), "expired"),
    (lambda: hs256(claims(aud="someone-else")), "wrong_audience"),
    (lambda: hs256(claims(iss="evil")), "wrong_issuer"),
    (lambda: hs256(claims(), OTHER_SECRET), "bad_signature"),
    (lambda: hs256(claims(customer_number=None)), "missing_claim"),
    (lambda: hs256(claims(customer_number="")), "missing_claim"),
    (lambda: hs256(claims(exp=None)), "missing_claim"),
    (lambda: hs256(claims(aud=None)), "missing_claim"),
    (lambda: hs256(claims(nbf=int(time.time()) + 600)), "not_yet_valid"),
    (lambda: hs256(claims(exp=int(time.time()) + 86_400)), "too_long_lived"),
    (lambda: jwt.encode(claims(), None, algorithm="none"), "unsupported_algorithm"),
    (lambda: jwt.encode(claims(), SECRET * 2, algorithm="HS512"), "unsupported_algorithm"),
    # RS256 header, but signed with the public key as an HMAC secret (algorithm confusion)
    (lambda: forged_rs256(), "bad_signature"),
    (lambda: "not.a.jwt", "malformed"),
    (lambda: "", "malformed"),
    (lambda: 12345, "malformed"),
    (lambda: {"alg": "none"}, "malformed"),
    (lambda: "a" * 5000, "malformed"),
])
def test_anything_else_is_refused_and_counted_never_raised(verifier, token, result):
    before = count(result)
    verdict = verifier.verify(token())
    assert (verdict.valid, verdict.customer_number, verdict.result) == (False, None, result)
    assert count(result) == before + 1


def forged_rs256() -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = f"{b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}." \
              f"{b64(json.dumps(claims()).encode())}"
    mac = hmac.new(PUBLIC_PEM.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(mac)}"


def test_small_leeway_for_clock_skew(verifier):
    assert verifier.verify(hs256(claims(exp=int(time.time()) - 5))).valid  # 30 s leeway


def test_without_keys_nothing_verifies():
    verifier = AssertionVerifier.from_settings(settings(login_assertion_secret="",
                                                        login_assertion_public_key=""))
    assert verifier.verify(hs256(claims())).result == "unsupported_algorithm"


def test_weak_or_broken_keys_refuse_to_start():
    with pytest.raises(ConfigurationError):
        AssertionVerifier.from_settings(settings(login_assertion_secret="short"))
    with pytest.raises(ConfigurationError):
        AssertionVerifier.from_settings(settings(login_assertion_public_key="not a pem"))
