"""Protobuf messages to plain JSON-ready dicts for the browser.

Every field is present (defaults included), int64 stays a number (JavaScript's doubles
hold epoch milliseconds exactly) and enums are their short names ("PHONE", "CREATED").
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

ENUM_PREFIXES = ("CHANNEL_", "ROLE_", "HANDOFF_STATUS_")


def enum_name(field: FieldDescriptor, number: int) -> str:
    value = field.enum_type.values_by_number.get(number)
    name = value.name if value is not None else str(number)
    for prefix in ENUM_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_name(field, value)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_dict(value)
    return value


def _repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 6; ``label`` is gone in 7
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _scalar(value_field, v) for k, v in value.items()}
        elif _repeated(field):
            out[field.name] = [_scalar(field, v) for v in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            out[field.name] = to_dict(value) if message.HasField(field.name) else None
        else:
            out[field.name] = _scalar(field, value)
    return out


def kpi_snapshot(snapshot: Message) -> dict[str, Any]:
    """A KpiSnapshot as the wallboard draws it: values by name."""
    data = to_dict(snapshot)
    data["values"] = {v["name"]: v["value"] for v in data["values"]}
    return data
