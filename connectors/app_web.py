"""The app/web collector: wire-compatible with Segment's HTTP Tracking API.

Point an official Segment SDK's host at this server and it works unchanged: ``POST
/v1/batch`` (and ``/v1/track``, ``/identify``, ``/page``, ``/screen``, ``/alias``), the
write key as the HTTP Basic user (or ``writeKey`` in the body), optional gzip. Each
write key belongs to one source, which says whether it is the app or the web.

Answers: 200 ``{"success": true, "event_ids": [...]}`` once Kafka acknowledged every
event; 400 with ``error`` plus ``rejected`` ([{index, code, message, field}]) when some
messages were refused — the valid ones were still stored and their ids are returned;
401 for an unknown write key; 503 + Retry-After when Kafka cannot take them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backbone.errors import ValidationError
from backbone.models import Channel
from backbone.settings import Settings
from connectors import clock, openapi
from connectors.base import Pipeline
from connectors.feed import publish_batch
from connectors.http import (
    PIPELINE,
    basic_user,
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


def _channel(settings: Settings, request: web.Request, body: dict[str, Any]) -> Channel:
    key = basic_user(request) or body.get("writeKey")
    source = settings.segment_write_keys.get(key) if isinstance(key, str) else None
    if source is None:
        raise ValidationError("missing or unknown write key", code="unauthorized")
    return Channel.WEB if source.lower() == "web" else Channel.APP


async def _collect(request: web.Request, messages: list[Any], body: dict[str, Any],
                   msg_type: str | None) -> web.Response:
    pipeline = request.app[PIPELINE]
    channel = _channel(pipeline.settings, request, body)
    if len(messages) > MAX_BATCH or not messages:
        raise ValidationError(f"batch must hold 1..{MAX_BATCH} messages",
                              code="invalid_field", field="batch")
    mapper = SegmentMapper(pipeline)
    received = clock.now_ms()
    pipeline.received(len(messages))
    return await publish_batch(
        pipeline, messages, lambda msg: mapper.map(msg, channel, sent_at=body.get("sentAt"),
                                                   received_ms=received, msg_type=msg_type))


async def _batch(request: web.Request) -> web.Response:
    body = require_object(parse_json(await read_body(request)))
    _channel(request.app[PIPELINE].settings, request, body)  # credentials before content
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise ValidationError("batch must be a list of messages", code="wrong_type",
                              field="batch")
    return await _collect(request, batch, body, None)


def _single(msg_type: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        body = require_object(parse_json(await read_body(request)))
        return await _collect(request, [body], body, msg_type)

    return handler


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.collector_document())


def create_app(settings: Settings, *, pipeline: Pipeline | None = None) -> web.Application:
    """The collector application (run it with ``web.run_app`` or an ``AppRunner``)."""
    app = create_base_app(pipeline or Pipeline(settings, NAME))
    app.router.add_post("/v1/batch", _batch)
    for kind in SINGLE:
        app.router.add_post(f"/v1/{kind}", _single(kind))
    app.router.add_get("/openapi.json", _openapi)
    return app

