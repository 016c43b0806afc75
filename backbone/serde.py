"""Avro in Confluent wire format through ``confluent_kafka.schema_registry`` (fastavro).

Schemas are read from ``schemas/avro/<name>/v<N>.avsc``; the newest version is the one we
write. Every failure surfaces as :class:`backbone.errors.SerializationError` (or
:class:`SchemaRegistryError` when the registry is the problem), never a library error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from confluent_kafka.error import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.common._httpx_compat import httpx as _http
from confluent_kafka.schema_registry.error import SchemaRegistryError as _RegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from backbone.errors import SchemaNotReadyError, SchemaRegistryError, SerializationError
from backbone.settings import Settings

log = logging.getLogger(__name__)
# What the registry client raises when it gets no answer (connection refused, timeout...):
# the registry's fault, retriable, never a verdict on the record.
_UNREACHABLE = (OSError, _http.HTTPError)

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"
INTERACTION_EVENT = "interaction_event"
DEAD_LETTER = "dead_letter"
PROFILE_CHANGE = "profile_change"


def schema_versions(name: str) -> list[Path]:
    """All versions of a schema, oldest first."""
    files = sorted(SCHEMA_DIR.joinpath(name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    if not files:
        raise SerializationError(f"no schema versions under {SCHEMA_DIR / name}")
    return files


@cache
def latest_schema(name: str) -> str:
    return schema_versions(name)[-1].read_text()


def latest_schema_dict(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(latest_schema(name))
    return parsed


def registry_client(settings: Settings, **overrides: Any) -> SchemaRegistryClient:
    """A registry client; ``mock://`` URLs give confluent-kafka's in-process mock.

    ``overrides`` are client settings such as ``{"max.retries": 0}``: a caller that retries
    on its own does not want the client to sleep between retries inside one call.
    """
    return SchemaRegistryClient.new_client(settings.registry_config() | overrides)


def is_local(client: SchemaRegistryClient) -> bool:
    """The in-process mock answers without I/O, so asking it inline never blocks."""
    from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
        MockSchemaRegistryClient,
    )

    return isinstance(client, MockSchemaRegistryClient)


class AvroSerde:
    """Encode and decode one record type for the topics that carry it."""

    def __init__(self, client: SchemaRegistryClient, name: str, *, auto_register: bool = True):
        schema = latest_schema(name)
        self.name = name
        # Subjects follow TopicNameStrategy ("<topic>-value"), said explicitly: otherwise the
        # client first asks the registry for topic "associations" on every new topic, an
        # endpoint Apicurio's ccompat API does not serve (and one call once hung a test).
        self._serializer = AvroSerializer(
            client, schema, conf={"auto.register.schemas": auto_register,
                                  "use.latest.version": not auto_register,
                                  "subject.name.strategy.type": "TOPIC"},
        )
        self._deserializer = AvroDeserializer(client, schema,
                                              conf={"subject.name.strategy.type": "TOPIC"})

    def serialize(self, topic: str, record: dict[str, Any]) -> bytes:
        try:
            data = self._serializer(record, SerializationContext(topic, MessageField.VALUE))
        except _RegistryError as exc:
            raise SchemaRegistryError(f"registry refused {self.name} for {topic}: {exc}") from exc
        except _UNREACHABLE as exc:
            raise SchemaRegistryError(f"registry unreachable: {exc}") from exc
        except (KafkaException, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(f"cannot encode {self.name} for {topic}: {exc}") from exc
        if data is None:  # pragma: no cover - only for None input
            raise SerializationError(f"cannot encode an empty {self.name}")
        return data

    def deserialize(self, topic: str, data: bytes | None) -> dict[str, Any]:
        if not data:
            raise SerializationError(f"empty {self.name} message on {topic}")
        try:
            record = self._deserializer(data, SerializationContext(topic, MessageField.VALUE))
        except _RegistryError as exc:
            if exc.http_status_code == 404:  # the writer's schema id does not exist: poison
                raise SerializationError(f"unknown schema id in a message on {topic}: {exc}",
                                         code="unknown_schema") from exc
            raise SchemaRegistryError(f"registry lookup failed on {topic}: {exc}") from exc
        except _UNREACHABLE as exc:  # retriable, never poison
            raise SchemaRegistryError(f"registry unreachable: {exc}") from exc
        except Exception as exc:  # fastavro raises a zoo of types on bad bytes
            raise SerializationError(f"cannot decode {self.name} from {topic}: {exc}") from exc
        if not isinstance(record, dict):
            raise SerializationError(f"decoded {self.name} from {topic} is not a record")
        return _plain_times(record)


def _plain_times(record: dict[str, Any]) -> dict[str, Any]:
    """timestamp-millis come back as datetimes; the backbone works in epoch milliseconds."""
    for key in ("occurred_at", "ingested_at", "received_at"):
        value = record.get(key)
        if isinstance(value, datetime):
            record[key] = int(value.timestamp() * 1000)
    payload = record.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("due_at"), datetime):
        payload["due_at"] = int(payload["due_at"].timestamp() * 1000)
    return record


# -- fast path: a writer compiled for one schema ------------------------------------------
#
# ``AvroSerializer`` costs ~80-130 µs for an ``InteractionEvent``: fastavro resolves every
# ``["null", X]`` union by validating the value against each branch, and the serializer
# adds subject, rule and framing work per call. The connectors write one schema millions of
# times, so :func:`compile_writer` turns the schema into straight-line Python once (union
# branches picked by ``is None`` or the record's ``"-type"`` name) and
# :class:`FastAvroEncoder` adds the Confluent header with the schema id looked up once.
# The bytes are identical to fastavro's (tests/unit/connectors/test_fast_path.py).

_ZIGZAG_SMALL = tuple(bytes((i << 1,)) for i in range(64))  # 0..63 as one zigzag byte
_INT64 = 1 << 63


def _long(n: int) -> bytes:
    """Avro ``long``: zigzag varint."""
    if not -_INT64 <= n < _INT64:
        raise ValueError(f"{n} does not fit an Avro long")
    z = (n << 1) ^ (n >> 63)
    if z < 0x80:
        return bytes((z,))
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


class _WriterCompiler:
    """Emits the body of ``write(rec) -> bytes`` for a parsed (fastavro) schema."""

    def __init__(self, named: dict[str, Any]):
        self.named = named
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self._n = 0

    def var(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, prefix: str, value: Any) -> str:
        name = self.var(f"_{prefix}")
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        return schema

    def length(self, indent: int, expr: str) -> None:
        n = self.var("n")
        self.emit(indent, f"{n} = len({expr})")
        self.emit(indent, f"out += _Z[{n}] if {n} < 64 else _long({n})")

    def varint(self, indent: int, expr: str) -> None:
        """A long inlined: zigzag, range check, 7 bits per byte straight into ``out``."""
        z = self.var("z")
        self.emit(indent, f"if not -_INT64 <= {expr} < _INT64: _long({expr})")  # raises
        self.emit(indent, f"{z} = ({expr} << 1) ^ ({expr} >> 63)")
        self.emit(indent, f"while {z} > 127:")
        self.emit(indent + 1, f"out.append(({z} & 127) | 128)")
        self.emit(indent + 1, f"{z} >>= 7")
        self.emit(indent, f"out.append({z})")

    def bind(self, indent: int, expr: str) -> str:
        """``expr`` as a plain name, assigning it first when it is a lookup."""
        if expr.isidentifier():
            return expr
        name = self.var("v")
        self.emit(indent, f"{name} = {expr}")
        return name

    def write(self, schema: Any, expr: str, indent: int) -> None:  # noqa: C901, PLR0912
        schema = self.resolve(schema)
        if isinstance(schema, list):
            self.union(schema, expr, indent)
            return
        kind = schema if isinstance(schema, str) else schema["type"]
        if kind == "null":
            self.emit(indent, f"if {expr} is not None: raise TypeError('expected null')")
        elif kind == "string":
            b = self.var("b")
            self.emit(indent, f"{b} = {expr}.encode()")
            self.length(indent, b)
            self.emit(indent, f"out += {b}")
        elif kind == "bytes":
            b = self.bind(indent, expr)
            self.emit(indent, f"if not isinstance({b}, bytes | bytearray): raise TypeError('bytes')")
            self.length(indent, b)
            self.emit(indent, f"out += {b}")
        elif kind in ("long", "int"):
            self.varint(indent, self.bind(indent, expr))
        elif kind == "boolean":
            self.emit(indent, f"out += b'\\x01' if {expr} else b'\\x00'")
        elif kind == "double":
            self.emit(indent, f"out += _double({expr})")
        elif kind == "float":
            self.emit(indent, f"out += _float({expr})")
        elif kind == "enum":
            table = self.const("enum", {s: _long(i) for i, s in enumerate(schema["symbols"])})
            self.emit(indent, f"out += {table}[{expr}]")
        elif kind == "fixed":
            value = self.bind(indent, expr)
            self.emit(indent, f"if len({value}) != {schema['size']}: raise ValueError('fixed')")
            self.emit(indent, f"out += {value}")
        elif kind == "record":
            rec = self.bind(indent, expr)
            for field in schema["fields"]:
                if "default" in field and field["default"] is None:
                    value = f"{rec}.get({field['name']!r})"
                elif "default" in field:
                    default = self.const("default", field["default"])
                    value = f"{rec}.get({field['name']!r}, {default})"
                else:
                    value = f"{rec}[{field['name']!r}]"
                self.write(field["type"], value, indent)
        elif kind in ("array", "map"):
            seq, item = self.bind(indent, expr), self.var("i")
            self.emit(indent, f"if {seq}:")
            self.emit(indent + 1, f"out += _long(len({seq}))")
            if kind == "array":
                self.emit(indent + 1, f"for {item} in {seq}:")
                self.write(schema["items"], item, indent + 2)
            else:
                key = self.var("k")
                self.emit(indent + 1, f"for {key}, {item} in {seq}.items():")
                self.write("string", key, indent + 2)
                self.write(schema["values"], item, indent + 2)
            self.emit(indent, "out += b'\\x00'")
        else:
            raise SerializationError(f"compile_writer does not support Avro type {kind!r}")

    def union(self, branches: list[Any], expr: str, indent: int) -> None:
        names = [b if isinstance(b, str) else b.get("name", b["type"]) for b in branches]
        others = [i for i, n in enumerate(names) if n != "null"]
        value = self.bind(indent, expr)
        if "null" in names:
            self.emit(indent, f"if {value} is None:")
            self.emit(indent + 1, f"out += {_long(names.index('null'))!r}")
            self.emit(indent, "else:")
            indent += 1
        if len(others) == 1:
            self.emit(indent, f"out += {_long(others[0])!r}")
            self.write(branches[others[0]], value, indent)
            return
        # Several branches: named records say which one with "-type" (as fastavro reads it).
        by_name = {}
        for i in others:
            full = names[i]
            by_name[full] = i
            by_name[full.rsplit(".", 1)[-1]] = i
        table = self.const("union", by_name)
        index = self.var("x")
        self.emit(indent, f"{index} = {table}[{value}['-type']]")
        for n, i in enumerate(others):
            self.emit(indent, f"{'if' if n == 0 else 'elif'} {index} == {i}:")
            self.emit(indent + 1, f"out += {_long(i)!r}")
            self.write(branches[i], value, indent + 1)


def compile_writer(schema: dict[str, Any] | str) -> Any:
    """A function ``write(record: dict) -> bytes`` equivalent to fastavro's schemaless_writer.

    Records are dicts; a union of several records needs the ``"-type"`` key fastavro also
    honours (``InteractionEvent.to_avro`` sets it). ``timestamp-millis`` takes epoch ms.
    Wrong types raise ``TypeError``/``ValueError``/``KeyError``/``AttributeError``.
    """
    import struct

    from fastavro import parse_schema

    parsed: dict[str, Any] = parse_schema(  # type: ignore[assignment]
        json.loads(schema) if isinstance(schema, str) else schema)
    if not isinstance(parsed, dict):
        raise SerializationError("compile_writer needs a record schema")
    compiler = _WriterCompiler(dict(parsed.get("__named_schemas", {})))
    compiler.write(parsed, "rec", 1)
    source = "def write(rec):\n    out = bytearray()\n" + "\n".join(compiler.lines) + \
        "\n    return bytes(out)\n"
    namespace: dict[str, Any] = {
        "_Z": _ZIGZAG_SMALL, "_long": _long, "_INT64": _INT64, "_double": struct.Struct("<d").pack,
        "_float": struct.Struct("<f").pack, **compiler.consts,
    }
    exec(compile(source, f"<avro writer {parsed.get('name', '?')}>", "exec"), namespace)  # noqa: S102
    writer = namespace["write"]
    writer.source = source  # for debugging
    return writer


class FastAvroEncoder:
    """Confluent wire format for one record type without ``AvroSerializer`` per record.

    The schema id is registered (or looked up) once per topic through the registry client,
    under the same subject ``AvroSerializer`` uses (``<topic>-value``), then each record is
    5 header bytes + the compiled writer's output: the same bytes as
    :meth:`AvroSerde.serialize`, at a fraction of the cost. Only :meth:`header` asks the
    registry (blocking: :class:`SchemaIds` runs it in a thread at start);
    :meth:`serialize` uses the cached id and never does I/O.
    """

    def __init__(self, client: SchemaRegistryClient, name: str, *, auto_register: bool = True):
        self.name = name
        self._client = client
        self.local = is_local(client)
        self._auto_register = auto_register
        self._schema = latest_schema(name)
        self._write = compile_writer(self._schema)
        self._parsed: Any = None
        self._headers: dict[str, bytes] = {}

    def cached_header(self, topic: str) -> bytes | None:
        return self._headers.get(topic)

    def loaded_header(self, topic: str) -> bytes:
        """The cached header, never asking a remote registry (the in-process mock is asked
        inline: it does no I/O). Raises :class:`SchemaNotReadyError` when not resolved yet."""
        cached = self._headers.get(topic)
        if cached is not None:
            return cached
        if self.local:
            return self.header(topic)
        raise SchemaNotReadyError(f"schema id of {self.name} for {topic} not loaded yet "
                                  "(schema registry unreachable since start); retry later")

    def header(self, topic: str) -> bytes:
        """Magic byte 0 + the 4-byte schema id for ``topic``'s value subject (cached).

        Asks the registry when not cached, which blocks: call it from a thread."""
        cached = self._headers.get(topic)
        if cached is not None:
            return cached
        from confluent_kafka.schema_registry import Schema

        subject = f"{topic}-value"
        schema = Schema(self._schema.strip(), "AVRO")  # exactly what AvroSerializer registers
        try:
            if self._auto_register:
                schema_id: int | None = self._client.register_schema(subject, schema)
            else:
                schema_id = self._client.lookup_schema(subject, schema).schema_id
        except _RegistryError as exc:
            raise SchemaRegistryError(f"registry refused {self.name} for {topic}: {exc}") from exc
        except Exception as exc:  # connection errors, timeouts: the registry is unreachable
            raise SchemaRegistryError(f"registry unreachable for {subject}: {exc}") from exc
        if schema_id is None:
            raise SchemaRegistryError(f"registry gave no schema id for {subject}")
        header = self._headers[topic] = b"\x00" + int(schema_id).to_bytes(4, "big")
        return header

    def encode(self, record: dict[str, Any]) -> bytes:
        """The Avro body alone (no header).

        What the compiled writer does not take (a union record without ``"-type"``, a
        datetime for a timestamp...) goes through fastavro, which decides: the encoder
        accepts exactly what ``AvroSerde`` accepts, only the common shape is fast.
        """
        try:
            data: bytes = self._write(record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            return self._fastavro(record)
        return data

    def _fastavro(self, record: dict[str, Any]) -> bytes:
        import io

        from fastavro import parse_schema, schemaless_writer

        if self._parsed is None:
            self._parsed = parse_schema(json.loads(self._schema))
        out = io.BytesIO()
        try:
            schemaless_writer(out, self._parsed, record)
        except Exception as exc:  # fastavro raises a zoo of types on bad records
            raise SerializationError(f"cannot encode {self.name}: {exc}") from exc
        return out.getvalue()

    def serialize(self, topic: str, record: dict[str, Any]) -> bytes:
        """Header + body; raises :class:`SchemaNotReadyError` before the id is resolved."""
        return self.loaded_header(topic) + self.encode(record)


class SchemaIds:
    """Resolves the schema ids of a process's encoders in the background, with backoff.

    A registry that is down at start must not crash the process nor block its event loop:
    :meth:`start` launches a task that asks the registry in a thread (each attempt bounded
    by ``timeout_s``) until every ``(encoder, topic)`` has its id; :attr:`ready` says
    whether that happened, which the process's readiness check reports. Ids never change
    for a schema, so once resolved they are kept for the life of the process.
    """

    def __init__(self, wanted: Sequence[tuple[FastAvroEncoder, str]], *, name: str,
                 timeout_s: float = 5.0, min_backoff_s: float = 0.2,
                 max_backoff_s: float = 2.0) -> None:
        self.name = name
        self._wanted = list(wanted)
        self.timeout_s, self.min_backoff_s, self.max_backoff_s = (timeout_s, min_backoff_s,
                                                                  max_backoff_s)
        self._task: asyncio.Task[None] | None = None
        self._attempted: asyncio.Event | None = None
        self.failures = 0

    @property
    def ready(self) -> bool:
        if all(enc.cached_header(topic) is not None for enc, topic in self._wanted):
            return True
        if all(enc.local for enc, _ in self._wanted):  # in-process mock: no I/O, ask inline
            self.resolve()
            return True
        return False

    def resolve(self) -> None:
        """Ask the registry for every missing id (blocking; run in a thread)."""
        for enc, topic in self._wanted:
            if enc.cached_header(topic) is None:
                enc.header(topic)

    def start(self) -> None:
        """Launch the background resolution unless it runs or is done (idempotent)."""
        if self.ready or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next async caller starts it
            return
        self._attempted = asyncio.Event()
        self._task = loop.create_task(self._run(self._attempted), name=f"schemas-{self.name}")

    async def first_attempt(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for the first attempt to end; True when ready."""
        self.start()
        if self._attempted is not None and not self.ready:
            try:
                await asyncio.wait_for(self._attempted.wait(), timeout_s)
            except TimeoutError:
                pass
        return self.ready

    async def wait(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until ready; True when ready."""
        self.start()
        task = self._task
        if task is not None and not self.ready:
            await asyncio.wait({task}, timeout=timeout_s)
        return self.ready

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self, attempted: asyncio.Event) -> None:
        delay = self.min_backoff_s
        while True:
            try:
                await asyncio.wait_for(asyncio.to_thread(self.resolve), self.timeout_s)
            except (SchemaRegistryError, TimeoutError) as exc:
                self.failures += 1
                if self.failures == 1 or self.failures % 20 == 0:
                    log.warning("%s: schemas not loaded (attempt %d: %s); not ready, retrying "
                                "every %.1fs at most", self.name, self.failures,
                                str(exc) or "registry did not answer in time", self.max_backoff_s)
            else:
                if self.failures:
                    log.info("%s: schemas loaded after %d failed attempts; ready", self.name,
                             self.failures)
                attempted.set()
                return
            attempted.set()
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter
            delay = min(delay * 2, self.max_backoff_s)
