"""Shared aiohttp plumbing: health, readiness, metrics, JSON errors, body limits, UTF-8.

Every HTTP connector builds on :func:`create_app`, so error answers look the same on all
of them: ``{"error": {"code", "message", "field"}}`` with a 4xx, or 503 + Retry-After
when Kafka cannot take more (the source retries; nothing was acknowledged).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backbone.errors import (
    BackpressureError,
    PublishError,
    SchemaRegistryError,
    SerializationError,
    ValidationError,
)
from connectors import metrics as m
from connectors.base import Pipeline

log = logging.getLogger(__name__)

PIPELINE = web.AppKey("pipeline", Pipeline)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
# Refusals of callers that never proved who they are: counted, answered, never stored
# (what they sent may be anyone's personal data, and storing it is what they could abuse).
UNAUTHENTICATED = frozenset({"unauthorized", "bad_signature"})

# Codes whose HTTP status is not the default 400.
STATUS_BY_CODE = {
    "unauthorized": 401, "bad_signature": 401, "forbidden": 403, "not_found": 404,
    "method_not_allowed": 405, "payload_too_large": 413, "unsupported_media_type": 415,
}


def json_response(body: Any, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """``web.json_response`` with orjson (several times faster than json for id lists)."""
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field}} | extra
    return json_response(body, status=status, headers=headers)


def accepted(event_ids: list[str], **extra: Any) -> web.Response:
    """The success answer: ids double as read-your-writes watermarks for the context API."""
    return json_response({"success": True, "event_ids": event_ids} | extra)


async def read_body(request: web.Request) -> bytes:
    """The request body, decompressed (aiohttp inflates gzip) and capped at the app limit."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ValidationError("request body is too large", code="payload_too_large") from exc


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("body is not valid UTF-8", code="invalid_utf8") from exc


def parse_json(raw: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, no lone surrogates, 64-bit integers) via orjson."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        decode_utf8(raw)  # invalid UTF-8 gets its own code
        raise ValidationError(f"malformed JSON: {str(exc)[:200]}", code="malformed_json") from exc


def basic_user(request: web.Request) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header (Segment's write key)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def find_key(keys: Mapping[str, T], presented: object) -> T | None:
    """What the configured key equal to ``presented`` stands for, found in constant time.

    Every configured key is compared, with no early exit, on SHA-256 digests, so neither
    which key matched nor how long the keys are shows in the answer's timing.
    """
    text = presented if isinstance(presented, str) else ""
    wanted = hashlib.sha256(text.encode()).digest()
    found: T | None = None
    for key, value in keys.items():
        if hmac.compare_digest(hashlib.sha256(key.encode()).digest(), wanted) and text:
            found = value
    return found


def _error_middleware(pipeline: Pipeline) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ValidationError as exc:
            if exc.code in UNAUTHENTICATED:
                pipeline.refuse(exc)
            else:
                raw = request._read_bytes or b""  # what was read before the refusal, if any
                await pipeline.reject(exc, raw, attributes={"path": request.path[:200]})
            return error_response(STATUS_BY_CODE.get(exc.code, 400), exc.code, exc.message,
                                  exc.field)
        except BackpressureError as exc:
            m.REFUSED.labels(pipeline.name).inc()
            retry = str(max(1, math.ceil(exc.retry_after_s)))
            return error_response(503, exc.code, exc.message, headers={"Retry-After": retry})
        except PublishError as exc:
            m.REFUSED.labels(pipeline.name).inc()
            return error_response(503, exc.code, exc.message, headers={"Retry-After": "2"})
        except SchemaRegistryError as exc:  # schemas not loaded yet: retriable, never a 500
            m.REFUSED.labels(pipeline.name).inc()
            retry = str(max(1, math.ceil(exc.retry_after_s)))
            return error_response(503, exc.code, exc.message, headers={"Retry-After": retry})
        except SerializationError as exc:
            log.exception("%s: event failed its own contract", pipeline.name)
            return error_response(500, exc.code, "internal contract error")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: "not_found", 405: "method_not_allowed",
                    413: "payload_too_large"}.get(exc.status, "http_error")
            if exc.status == 413:
                m.REJECTED.labels(pipeline.name, code).inc()
            return error_response(exc.status, code, exc.reason, headers={
                k: v for k, v in exc.headers.items() if k.lower() == "allow"})
        except Exception:
            log.exception("%s: unexpected error on %s", pipeline.name, request.path)
            return error_response(500, "internal", "internal error")

    return middleware


async def _healthz(request: web.Request) -> web.Response:
    """Liveness: answered on the event loop, so an answer proves the loop turns."""
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Readiness: schemas loaded and Kafka answers now (both re-tried while red, so it
    turns green by itself)."""
    pipeline = request.app[PIPELINE]
    if not pipeline.schemas_ready:  # registry not answered since start (retried meanwhile)
        return web.json_response({"ready": False, "reason": "schemas_not_loaded"}, status=503,
                                 headers={"Retry-After": "2"})
    if pipeline.ready:
        return web.json_response({"ready": True})
    retry = str(max(1, math.ceil(getattr(pipeline.publisher, "retry_after_s", 2.0))))
    return web.json_response({"ready": False, "reason": "kafka_unreachable"}, status=503,
                             headers={"Retry-After": retry})


async def _metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp


def create_app(pipeline: Pipeline, *, manage_pipeline: bool = True) -> web.Application:
    """An application with the shared routes; the channel module adds its own.

    With ``manage_pipeline`` the app starts and stops the pipeline's Kafka producer with
    the server, so ``web.run_app`` / ``AppRunner`` is all a caller needs.
    """
    app = web.Application(client_max_size=pipeline.settings.connector_max_body_bytes,
                          middlewares=[_error_middleware(pipeline)])
    app[PIPELINE] = pipeline
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    if manage_pipeline:
        async def _start(_: web.Application) -> None:
            await pipeline.start()

        async def _stop(_: web.Application) -> None:
            await pipeline.stop()

        app.on_startup.append(_start)
        app.on_cleanup.append(_stop)
    return app


def require_object(value: Any, field: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{field or 'body'} must be a JSON object", code="wrong_type",
                              field=field)
    return value


def require_str(obj: dict[str, Any], key: str, prefix: str = "", *, required: bool = True,
                max_len: int = 200) -> str | None:
    """A string field (numbers are accepted and turned into strings, as SDKs send both)."""
    field = f"{prefix}{key}"
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise ValidationError(f"{field} is required", code="missing_field", field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{field} must be a string", code="wrong_type", field=field)
    text = str(value)
    if len(text) > max_len:
        raise ValidationError(f"{field} is longer than {max_len}", code="too_long", field=field)
    return text


def optional_number(obj: dict[str, Any], key: str, prefix: str = "") -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{prefix}{key} must be a number", code="wrong_type",
                              field=f"{prefix}{key}")
    if value < 0 or value > 10_000_000:
        raise ValidationError(f"{prefix}{key} is out of range", code="out_of_range",
                              field=f"{prefix}{key}")
    return float(value)


def survey_answer(obj: dict[str, Any], prefix: str = "",
                  kinds: tuple[str, ...] = ("CSAT", "NPS")) -> tuple[str, int, int]:
    """A survey answer's (kind, score, scale_max), validated the same way for every feed.

    The scale defaults to 5 for CSAT and 10 for NPS; scores are integers within 0..scale.
    """
    kind = str(obj.get("kind", kinds[0])).upper()
    if kind not in kinds:
        raise ValidationError(f"{prefix}kind must be one of {', '.join(kinds)}",
                              code="invalid_field", field=f"{prefix}kind")
    scale = obj.get("scale_max", 10 if kind == "NPS" else 5)
    score = obj.get("score")
    if not (isinstance(score, int) and not isinstance(score, bool)
            and isinstance(scale, int) and not isinstance(scale, bool)
            and 0 < scale <= 10 and 0 <= score <= scale):
        raise ValidationError(f"{prefix}score must be an integer within 0..scale_max",
                              code="invalid_field", field=f"{prefix}score")
    return kind, score, scale
