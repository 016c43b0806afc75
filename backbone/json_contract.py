"""JSON Schema contracts for the JSON records on topics (schemas/json/<record>/v<n>.json):
one validator per schema file, one error shape for every record kind."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from backbone.errors import ValidationError

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas/json"


def schema_file(record: str, version: int) -> Path:
    return SCHEMAS / record / f"v{version}.json"


@cache
def validator(path: Path) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


def check(path: Path, record: Any, *, what: str, code: str) -> dict[str, Any]:
    """``record`` if it follows the schema at ``path``; ValidationError otherwise."""
    error = next(iter(validator(path).iter_errors(record)), None)
    if error is not None:
        raise ValidationError(f"{what} record: {error.message[:200]}", code=code,
                              field=".".join(str(p) for p in error.path) or None)
    return record


def loads(raw: bytes, *, what: str, code: str) -> Any:
    """orjson: readers parse every record of their topic (the context service's feed)."""
    try:
        return orjson.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"{what} record is not JSON", code=code) from exc
