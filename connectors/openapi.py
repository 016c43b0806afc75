"""OpenAPI 3.1 documents for the HTTP connectors (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": ["string", "null"]}}}},
}
_ACCEPTED = {
    "type": "object", "required": ["success", "event_ids"],
    "properties": {"success": {"const": True},
                   "event_ids": {"type": "array", "items": {"type": "string"}}},
}
_MESSAGE = {
    "type": "object", "required": ["messageId"],
    "properties": {
        "type": {"enum": ["identify", "track", "page", "screen", "alias", "group"]},
        "messageId": {"type": "string", "maxLength": 200},
        "userId": {"type": "string"}, "anonymousId": {"type": "string"},
        "previousId": {"type": "string"}, "event": {"type": "string"},
        "name": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "originalTimestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"}, "properties": {"type": "object"},
        "traits": {"type": "object"},
    },
}


def _responses() -> dict[str, Any]:
    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    return {
        "200": {"description": "Stored: Kafka acknowledged every event."} | body(_ACCEPTED),
        "400": {"description": "Refused input (some batch items may have been stored)."}
        | body(_ERROR),
        "401": {"description": "Missing or unknown credentials."} | body(_ERROR),
        "413": {"description": "Body too large."} | body(_ERROR),
        "503": {"description": "Kafka cannot take it now; retry after Retry-After."}
        | body(_ERROR),
    }


def _post(summary: str, schema: dict[str, Any], security: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "security": [{security: []}],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": schema}}},
        "responses": _responses(),
    }}


def _health() -> dict[str, Any]:
    return {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "up"}}}},
        "/readyz": {"get": {"summary": "Kafka reachable", "responses": {
            "200": {"description": "ready"}, "503": {"description": "not ready"}}}},
    }


def document(title: str, paths: dict[str, Any], schemes: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1.0.0"},
            "paths": paths | _health(), "components": {"securitySchemes": schemes}}


def collector_document() -> dict[str, Any]:
    batch = {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "minItems": 1, "maxItems": 2500, "items": _MESSAGE},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"}}}
    paths = {"/v1/batch": _post("Segment batch", batch, "writeKey")}
    for kind in ("track", "identify", "page", "screen", "alias", "group"):
        paths[f"/v1/{kind}"] = _post(f"Segment {kind}", _MESSAGE, "writeKey")
    return document("Segment-compatible app/web collector", paths,
                    {"writeKey": {"type": "http", "scheme": "basic"}})


def branch_document(event_schema: dict[str, Any]) -> dict[str, Any]:
    body = {"oneOf": [event_schema, {"type": "array", "items": event_schema, "maxItems": 500}]}
    return document("Branch queue-ticket feed", {"/v1/branch/events": _post(
        "Queue-ticket events", body, "apiKey")}, {"apiKey": {"type": "http", "scheme": "bearer"}})


def desktop_document(event_schema: dict[str, Any]) -> dict[str, Any]:
    body = {"oneOf": [event_schema, {"type": "array", "items": event_schema, "maxItems": 500}]}
    return document("Agent-desktop feed", {"/v1/desktop/events": _post(
        "IVR authentication, wrap-up, surveys, complaints", body, "apiKey")},
        {"apiKey": {"type": "http", "scheme": "bearer"}})
