"""The Avro contracts can evolve safely, and the pydantic mirror cannot drift from them."""

from __future__ import annotations

import copy
import io
import json
import types
import typing
from itertools import combinations
from typing import Any

import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import parse as avro_parse

from backbone import models, serde

SCHEMAS = [serde.INTERACTION_EVENT, serde.DEAD_LETTER]


def example(schema: Any, names: dict[str, Any]) -> Any:
    """A value valid for ``schema`` that fills every field (not just defaults)."""
    if isinstance(schema, str):
        if schema in names:
            return example(names[schema], names)
        return {"string": "x", "long": 1, "int": 2, "double": 1.5, "boolean": True,
                "bytes": b"\x00\x01", "null": None}[schema]
    if isinstance(schema, list):
        non_null = [s for s in schema if s != "null"]
        return example(non_null[0], names) if non_null else None
    kind = schema["type"]
    if isinstance(kind, (dict, list)):
        return example(kind, names)
    if kind == "record":
        names[schema["name"]] = schema
        names[f"{schema.get('namespace', 'bank.ccb.v1')}.{schema['name']}"] = schema
        return {f["name"]: example(f["type"], names) for f in schema["fields"]}
    if kind == "enum":
        names[schema["name"]] = schema
        return schema["symbols"][-1]
    if kind == "array":
        return [example(schema["items"], names)]
    if kind == "map":
        return {"k": example(schema["values"], names)}
    return example(kind, names)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_version_reads_data_written_by_every_older_version(name: str) -> None:
    versions = [json.loads(p.read_text()) for p in serde.schema_versions(name)]
    pairs = list(combinations(range(len(versions)), 2)) + [(i, i) for i in range(len(versions))]
    for writer_i, reader_i in pairs:
        writer, reader = versions[writer_i], versions[reader_i]
        result = ReaderWriterCompatibilityChecker().get_compatibility(
            avro_parse(json.dumps(reader)), avro_parse(json.dumps(writer)))
        assert result.compatibility is SchemaCompatibilityType.compatible, (
            f"{name} v{reader_i + 1} cannot read v{writer_i + 1}: {result.messages}")
        record = example(writer, {})
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, fastavro.parse_schema(writer), record)
        buf.seek(0)
        decoded = fastavro.schemaless_reader(buf, fastavro.parse_schema(writer),
                                             fastavro.parse_schema(reader))
        assert decoded["event_id" if "event_id" in decoded else "dead_letter_id"] == "x"


def test_checker_rejects_a_breaking_change() -> None:
    """Guards the test above: a new required field must be reported as incompatible."""
    latest = serde.latest_schema_dict(serde.INTERACTION_EVENT)
    broken = copy.deepcopy(latest)
    broken["fields"].append({"name": "branch_manager", "type": "string"})
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro_parse(json.dumps(broken)), avro_parse(json.dumps(latest)))
    assert result.compatibility is SchemaCompatibilityType.incompatible


def _avro_fields(record: dict[str, Any]) -> dict[str, tuple[bool, bool]]:
    """field name → (nullable, has default)."""
    out = {}
    for f in record["fields"]:
        nullable = isinstance(f["type"], list) and "null" in f["type"]
        out[f["name"]] = (nullable, "default" in f)
    return out


def _model_fields(model: type[models.BaseModel]) -> dict[str, tuple[bool, bool]]:
    out = {}
    for name, info in model.model_fields.items():
        ann = info.annotation
        nullable = isinstance(ann, types.UnionType | typing._UnionGenericAlias) and type(None) in typing.get_args(ann)  # type: ignore[attr-defined]
        out[name] = (nullable, not info.is_required())
    return out


def _records(schema: Any, found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if isinstance(schema, list):
        for s in schema:
            _records(s, found)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            found[schema["name"]] = schema
            for f in schema["fields"]:
                _records(f["type"], found)
        else:
            for key in ("type", "items", "values"):
                if key in schema:
                    _records(schema[key], found)
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_pydantic_models_match_the_newest_schema(name: str) -> None:
    records = _records(serde.latest_schema_dict(name), {})
    assert records, name
    for record_name, record in records.items():
        model = getattr(models, record_name)
        avro, py = _avro_fields(record), _model_fields(model)
        assert set(avro) == set(py), f"{record_name}: fields differ {set(avro) ^ set(py)}"
        for field, (nullable, _default) in avro.items():
            assert py[field][0] == nullable, f"{record_name}.{field}: nullability differs"
            if nullable:
                assert py[field][1], f"{record_name}.{field}: optional in Avro, required in model"


def test_model_output_is_written_by_fastavro_with_the_right_payload_branch() -> None:
    event = models.InteractionEvent(
        event_id="e1", event_type="call.answered", channel=models.Channel.PHONE,
        occurred_at=1, ingested_at=2, source_system="asterisk", source_event_id="1.1",
        interaction_id="1.1",
        payload=models.ChatPayload(session_id="s"),  # ChatPayload and BranchPayload both have one required string
    )
    schema = fastavro.parse_schema(serde.latest_schema_dict(serde.INTERACTION_EVENT))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, event.to_avro())
    buf.seek(0)
    decoded = fastavro.schemaless_reader(buf, schema, schema, return_record_name=True,
                                         return_record_name_override=True)
    assert decoded["payload"][0] == "bank.ccb.v1.ChatPayload"
