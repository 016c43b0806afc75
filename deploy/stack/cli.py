"""``python -m deploy.stack up|down|status|topics``: the local stack's command line."""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import urlparse

from backbone.errors import BackboneError, StackError
from backbone.settings import Settings, get_settings
from deploy.stack import kafka, proc, schemas, topics

REGISTRY = "registry"


def start_registry(settings: Settings) -> int | None:
    """Start the local schema registry; returns its pid, or None when it is external."""
    if settings.external_registry or settings.schema_registry_url.startswith("mock://"):
        return None
    from deploy.stack import registry  # noqa: PLC0415 - only needed for the local stack

    url = urlparse(settings.schema_registry_url)
    base = f"{url.scheme}://{url.netloc}"
    running = proc.read_pid(REGISTRY)
    if running is None:
        jar = registry.fetch_registry(proc.CACHE_DIR)
        host, port = url.hostname or "127.0.0.1", url.port or 8080
        proc.require_port(host, port, "schema registry")
        proc.require_port(host, port + 1, "schema registry management")
        popen = proc.spawn(REGISTRY, registry.registry_command(jar, port, java=registry.find_java()),
                           proc.STATE_DIR / "registry" / "registry.log")
        running = popen.pid
    try:
        registry.wait_registry_ready(base, 120.0, alive=lambda: proc.is_alive(running))
    except Exception as exc:
        if not proc.is_alive(running):
            raise StackError("schema registry died during start-up:\n"
                             + proc.tail(proc.STATE_DIR / "registry" / "registry.log")) from exc
        raise
    return running


def up(settings: Settings) -> None:
    started = time.monotonic()
    kafka_pid = None
    if settings.external_kafka:
        kafka.wait_ready(settings, 30)
        print(f"kafka      external at {settings.kafka_bootstrap}: reachable")
    else:
        kafka_pid = kafka.start(settings)
        print(f"kafka      {kafka.kafka_version()} (KRaft) at {settings.kafka_bootstrap} "
              f"ready after {time.monotonic() - started:.1f}s, pid {kafka_pid}")
    reg_started = time.monotonic()
    registry_pid = start_registry(settings)
    if registry_pid is not None:
        print(f"registry   {settings.schema_registry_url} ready after "
              f"{time.monotonic() - reg_started:.1f}s, pid {registry_pid}")
    created = topics.ensure_topics(settings)
    print(f"topics     {len(created)} created, catalogue complete")
    subjects = schemas.register_contracts(settings)
    print(f"schemas    {len(subjects)} subjects registered ({schemas.COMPATIBILITY})")
    rss = sum(proc.rss_mib(p) for p in (kafka_pid, registry_pid) if p)
    print(f"stack      ready in {time.monotonic() - started:.1f}s, resident memory {rss:.0f} MiB")


def down() -> None:
    for name in (REGISTRY, kafka.NAME):
        print(f"{name:10} {'stopped' if proc.stop(name) else 'not running'}")


def status() -> int:
    code = 0
    for name in (kafka.NAME, REGISTRY):
        pid = proc.read_pid(name)
        state = f"running pid {pid}, {proc.rss_mib(pid):.0f} MiB" if pid else "not running"
        print(f"{name:10} {state}")
        code |= pid is None
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "topics", "fetch"])
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "up":
            up(settings)
        elif args.command == "down":
            down()
        elif args.command == "status":
            return status()
        elif args.command == "topics":
            print("\n".join(topics.ensure_topics(settings)) or "all topics exist")
        elif args.command == "fetch":
            print(kafka.fetch())
    except BackboneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
