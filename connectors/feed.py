"""Shared handling of the bank's own JSON feeds (branch tickets, agent desktop).

Both take one event object or a list, authenticate with a Bearer API key whose value in
settings names the source system and its trust (only a ``server`` key may identify a
customer), and answer with the accepted event ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from backbone.errors import ValidationError
from backbone.models import InteractionEvent
from backbone.settings import KeySource
from connectors.base import Pipeline
from connectors.http import (
    PIPELINE,
    accepted,
    bearer,
    error_response,
    find_key,
    parse_json,
    read_body,
    require_object,
)

MAX_EVENTS = 500


class Mapper(Protocol):
    def __call__(self, pipeline: Pipeline, source: str, body: dict[str, Any], *,
                 trusted: bool) -> InteractionEvent: ...


async def publish_batch(pipeline: Pipeline, items: list[Any],
                        map_one: Callable[[Any], Any]) -> web.Response:
    """Map every item, publish the good ones (acknowledged by Kafka), dead-letter the bad.

    A batch with refused items still stores the good ones and answers 400 with both the
    stored ``event_ids`` and the per-index reasons, so the sender retries only what failed.
    """
    events: list[Any] = []
    rejected: list[tuple[int, ValidationError, Any]] = []
    for index, item in enumerate(items):
        try:
            events.append(map_one(item))
        except ValidationError as refused:
            rejected.append((index, refused, item))
    event_ids = await pipeline.publish(events) if events else []
    if not rejected:
        return accepted(event_ids)
    for index, error, item in rejected:
        try:
            raw = json.dumps(item, ensure_ascii=False).encode()
        except (TypeError, ValueError):
            raw = repr(item).encode()
        await pipeline.reject(error, raw, attributes={"index": str(index)})
    first = rejected[0][1]
    return error_response(
        400, first.code, first.message, first.field, event_ids=event_ids,
        rejected=[{"index": i, "code": e.code, "message": e.message, "field": e.field}
                  for i, e, _ in rejected])


def feed_handler(api_keys: Callable[[Pipeline], Mapping[str, KeySource]],
                 mapper: Mapper) -> Any:
    async def handler(request: web.Request) -> web.Response:
        pipeline = request.app[PIPELINE]
        key = find_key(api_keys(pipeline), bearer(request))
        if key is None:  # before the body is read: nothing of it is kept
            raise ValidationError("missing or unknown API key", code="unauthorized")
        trusted = key.trust == "server"
        body = parse_json(await read_body(request))
        items = body if isinstance(body, list) else [body]
        if not items or len(items) > MAX_EVENTS:
            raise ValidationError(f"send 1..{MAX_EVENTS} events", code="invalid_field")
        pipeline.received(len(items))
        return await publish_batch(
            pipeline, items, lambda item: mapper(pipeline, key.source,
                                                 require_object(item, "event"), trusted=trusted))

    return handler


def untrusted(field: str, kind: str) -> ValidationError:
    """The refusal of an identity-proving event sent with a ``client`` trust key."""
    return ValidationError(f"{kind} needs an API key with server trust", code="forbidden",
                           field=field)


def choice(obj: dict[str, Any], key: str, allowed: dict[str, str] | frozenset[str]) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{key} is required", code="missing_field", field=key)
    if value not in allowed:
        raise ValidationError(f"unknown {key} {value[:40]!r}", code="unknown_type", field=key)
    return value
