"""The app/web collector: wire-compatible with Segment's HTTP Tracking API.

Point an official Segment SDK's host at this server and it works unchanged: ``POST
/v1/batch`` (and ``/v1/track``, ``/identify``, ``/page``, ``/screen``, ``/alias``), the
write key as the HTTP Basic user (or ``writeKey`` in the body), optional gzip. Each
write key belongs to one source, which says whether it is the app or the web, and has a
trust: ``client`` keys (shipped in the app, so public) only send claims; ``server`` keys
(the bank's back end) and signed login assertions verify logins (:mod:`connectors.segment`).

Answers: 200 ``{"success": true, "event_ids": [...]}`` once Kafka acknowledged every
event; 400 with ``error`` plus ``rejected`` ([{index, code, message, field}]) when some
messages were refused — the valid ones were still stored and their ids are returned;
401 for a missing or unknown write key (and for a body that cannot be read when no key
came in the header: nothing from a caller without a key is kept, not even as a dead
letter); 503 + Retry-After when Kafka cannot take them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backbone.errors import ValidationError
from backbone.models import Channel
from backbone.settings import KeySource, Settings
from connectors import clock, openapi
from connectors.base import Pipeline
from connectors.feed import publish_batch
from connectors.http import (
    PIPELINE,
    basic_user,
    find_key,
    parse_json,
    read_body,
    require_object,
)
from connectors.http import (
    create_app as create_base_app,
)
from connectors.segment import SegmentMapper

NAME = "app_web"
MAX_BATCH = 2_500
SINGLE = ("track", "identify", "page", "screen", "alias", "group")
MAPPER = web.AppKey("segment_mapper", SegmentMapper)


def _source(settings: Settings, key: object) -> KeySource:
    source = find_key(settings.segment_write_keys, key)
    if source is None:
        raise ValidationError("missing or unknown write key", code="unauthorized")
    return source


async def _authenticated(request: web.Request) -> tuple[KeySource, dict[str, Any]]:
    """The write key's source and the body, credentials before content: a key in the
    header is checked before the body is read; without one, a body that cannot be read
    (so holds no key either) is unauthorized, never a dead letter."""
    settings = request.app[PIPELINE].settings
    header = basic_user(request)
    source = None if header is None else _source(settings, header)
    try:
        body = require_object(parse_json(await read_body(request)))
    except ValidationError as exc:
        if source is None:
            raise ValidationError("missing or unknown write key",
                                  code="unauthorized") from exc
        raise
    return source or _source(settings, body.get("writeKey")), body


async def _collect(request: web.Request, source: KeySource, messages: list[Any],
                   body: dict[str, Any], msg_type: str | None) -> web.Response:
    pipeline = request.app[PIPELINE]
    channel = Channel.WEB if source.source.lower() == "web" else Channel.APP
    if len(messages) > MAX_BATCH or not messages:
        raise ValidationError(f"batch must hold 1..{MAX_BATCH} messages",
                              code="invalid_field", field="batch")
    mapper = request.app[MAPPER]
    received = clock.now_ms()
    pipeline.received(len(messages))
    return await publish_batch(
        pipeline, messages, lambda msg: mapper.map(msg, channel, sent_at=body.get("sentAt"),
                                                   received_ms=received, msg_type=msg_type,
                                                   trust=source.trust))


async def _batch(request: web.Request) -> web.Response:
    source, body = await _authenticated(request)
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise ValidationError("batch must be a list of messages", code="wrong_type",
                              field="batch")
    return await _collect(request, source, batch, body, None)


def _single(msg_type: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        source, body = await _authenticated(request)
        return await _collect(request, source, [body], body, msg_type)

    return handler


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.collector_document())


def create_app(settings: Settings, *, pipeline: Pipeline | None = None) -> web.Application:
    """The collector application (run it with ``web.run_app`` or an ``AppRunner``)."""
    pipeline = pipeline or Pipeline(settings, NAME)
    app = create_base_app(pipeline)
    app[MAPPER] = SegmentMapper(pipeline)
    app.router.add_post("/v1/batch", _batch)
    for kind in SINGLE:
        app.router.add_post(f"/v1/{kind}", _single(kind))
    app.router.add_get("/openapi.json", _openapi)
    return app

