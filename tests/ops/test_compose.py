"""deploy/compose: the Compose file is valid for the Compose specification and complete.

No container engine runs here, so nothing is built or started. What is checked:
``composecheck`` (compose-go, the loader behind ``docker compose config``) validates the
file against the Compose JSON schema, interpolation, anchors/merge keys and depends_on;
then these tests check what we promise on top: every service of the architecture is
there, each long-running one has a health check, start order follows health, bind-mounted
paths exist, the Prometheus config the stack mounts passes promtool, and the container
health-check script works against real servers, and the Dockerfile passes BuildKit's
parser and build checks; the app services run in production mode with every secret from
the environment (compose refuses to start without them, and the values it passes satisfy
the processes' own production checks).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backbone.production import DEV_SECRET_VALUES, secrets_of
from backbone.settings import Settings
from tests.ops.conftest import DEPLOY, ROOT, find_tool, free_port, run

yaml = pytest.importorskip("yaml", reason="pyyaml missing: run deploy/ops/install-tools.sh")

COMPOSE = DEPLOY / "compose" / "compose.yaml"
SERVICES = {"kafka", "registry", "topics", "connectors", "worker", "context", "prometheus", "grafana"}
APPS = {"topics": (), "connectors": ("connectors", "app_web", "wechat", "branch", "phone"),
        "worker": ("worker",), "context": ("context",)}


def _token() -> str:
    return secrets.token_urlsafe(24)


# What an operator exports before `docker compose up`: fresh, strong values.
SECRETS = {
    "CCB_HMAC_KEY": _token(), "CCB_CUSTOMER_ID_KEY": _token(), "CCB_HANDOFF_KEY": _token(),
    "CCB_GRPC_TOKENS": json.dumps({"desk-1|agent": _token(), "sup-1|supervisor": _token()}),
    "CCB_SEGMENT_WRITE_KEYS": json.dumps({_token(): "app", _token(): "web"}),
    "CCB_BRANCH_API_KEYS": json.dumps({_token(): "qmatic"}),
    "CCB_DESKTOP_API_KEYS": json.dumps({_token(): "agent-desktop"}),
    "CCB_WECHAT_TOKEN": _token(), "CCB_WECHAT_BIND_TOKEN": _token(), "CCB_AMI_SECRET": _token(),
    "CCB_WECHAT_AES_KEY": base64.b64encode(os.urandom(32)).decode().rstrip("="),
    "GRAFANA_ADMIN_PASSWORD": _token(),
}


def composecheck(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """composecheck with exactly ``env`` as the compose variables (none inherited)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("CCB_", "GRAFANA_"))} | env
    return subprocess.run([find_tool("composecheck"), "-f", str(path)], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    result = composecheck(COMPOSE, SECRETS)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_compose_refuses_to_start_without_the_secrets() -> None:
    result = composecheck(COMPOSE, {})
    assert result.returncode != 0
    for name in SECRETS:
        assert f"required variable {name} is missing a value" in result.stderr, name


def test_apps_run_in_production_mode_with_secrets_from_the_environment(
        project: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for value in DEV_SECRET_VALUES:
        assert value not in text, f"shipped development secret {value!r} in compose.yaml"
    services = project["services"]
    for name in APPS:
        env = services[name]["environment"]
        assert env["CCB_ENV"] == "production", name
        for key, value in env.items():
            if key in SECRETS:
                assert value == SECRETS[key], (name, key)
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == \
        SECRETS["GRAFANA_ADMIN_PASSWORD"]


@pytest.mark.parametrize("service", sorted(APPS))
def test_each_service_gets_what_its_production_check_needs(
        project: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's environment, as compose resolves it, satisfies the process's own
    production check, and carries no secret the process does not use."""
    for key in list(os.environ):
        if key.startswith("CCB_"):
            monkeypatch.delenv(key)
    env = project["services"][service]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Settings().check_production(*APPS[service])  # raises naming what is missing or weak
    used = {f"CCB_{name.upper()}" for name in secrets_of(*APPS[service])}
    assert {k for k in env if k in SECRETS} <= used, service


def test_compose_spec_rejects_what_it_should(tmp_path: Path) -> None:
    """The validator has teeth: an unknown key and a dangling depends_on are refused."""
    doc = yaml.safe_load(COMPOSE.read_text())
    doc["services"]["worker"]["healthchek"] = {"test": ["CMD", "true"]}
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = composecheck(bad, SECRETS)
    assert result.returncode != 0 and "healthchek" in result.stderr
    doc = yaml.safe_load(COMPOSE.read_text())
    doc["services"]["grafana"]["depends_on"] = {"nope": {"condition": "service_healthy"}}
    bad.write_text(yaml.safe_dump(doc))
    result = composecheck(bad, SECRETS)
    assert result.returncode != 0 and "nope" in result.stderr


def test_every_part_of_the_system_is_a_service(project: dict[str, Any]) -> None:
    services = project["services"]
    assert SERVICES <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert services["registry"]["image"].startswith("apicurio/apicurio-registry:3.")
    for name, svc in services.items():
        assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name


def test_health_checks_and_start_order(project: dict[str, Any]) -> None:
    services = project["services"]
    for name, svc in services.items():
        if name == "topics":  # one-shot job
            assert svc["restart"] == "no"
            continue
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for app in ("connectors", "worker", "context"):
        assert services[app]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["topics"]["depends_on"]["registry"]["condition"] == "service_healthy"


def test_metrics_ports_match_the_prometheus_targets(project: dict[str, Any]) -> None:
    targets = DEPLOY / "compose" / "prometheus-targets"
    text = "".join(p.read_text() for p in targets.glob("*.yml"))
    env = project["services"]
    assert env["connectors"]["environment"]["CCB_METRICS_PORT"] == "9101" and "connectors:9101" in text
    assert "--web-port" in env["worker"]["command"] and "9102" in env["worker"]["command"]
    assert "worker:9102" in text
    assert env["context"]["environment"]["CCB_METRICS_PORT"] == "9103" and "context:9103" in text


def test_bind_mounts_exist(project: dict[str, Any]) -> None:
    for name, svc in project["services"].items():
        for volume in svc.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"


def test_prometheus_config_as_mounted_in_compose_is_valid(tmp_path: Path) -> None:
    """prometheus.yml + rules + the compose targets, laid out as in the container."""
    promtool = find_tool("promtool")
    prom = DEPLOY / "prometheus"
    shutil.copy(prom / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(prom / "rules", tmp_path / "rules")
    shutil.copytree(DEPLOY / "compose" / "prometheus-targets", tmp_path / "targets")
    result = run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_buildkit_parser_and_checks(tmp_path: Path) -> None:
    """BuildKit's own frontend parses it and its build checks find nothing; a broken file fails."""
    tool = find_tool("dockerfilecheck")
    result = run([tool, str(DEPLOY / "compose" / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 stages, 0 warnings" in result.stdout
    bad = tmp_path / "Dockerfile"
    bad.write_text((DEPLOY / "compose" / "Dockerfile").read_text().replace("COPY --from=deps", "COPY --frm=deps"))
    assert run([tool, str(bad)]).returncode == 1


def test_dockerfile_copies_what_exists_and_runs_unprivileged() -> None:
    dockerfile = (DEPLOY / "compose" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            source = line.split()[1]
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
        if line.startswith("FROM"):
            assert ":" in line.split()[1], f"unpinned base image: {line}"
    assert "\nUSER 10001" in dockerfile


def test_service_commands_are_runnable_modules(project: dict[str, Any]) -> None:
    for name, svc in project["services"].items():
        command = svc.get("command") or []
        if command[:2] == ["python", "-m"]:
            module = ROOT / Path(*command[2].split("."))
            assert (module / "__main__.py").exists(), f"{name}: python -m {command[2]}"


def test_container_healthcheck_script_against_real_servers() -> None:
    """healthcheck.py passes on a live /metrics endpoint and fails on a closed port."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(0, addr="127.0.0.1")
    script = str(DEPLOY / "compose" / "healthcheck.py")
    try:
        port = server.server_port
        ok = subprocess.run([sys.executable, script, f"http://127.0.0.1:{port}/metrics"], timeout=20)
        assert ok.returncode == 0
    finally:
        server.shutdown()
    closed = subprocess.run([sys.executable, script, f"http://127.0.0.1:{free_port()}/x"],
                            capture_output=True, timeout=20)
    assert closed.returncode == 1
    grpc_closed = subprocess.run([sys.executable, script, f"grpc://127.0.0.1:{free_port()}"],
                                 capture_output=True, timeout=20)
    assert grpc_closed.returncode == 1


def test_container_healthcheck_script_speaks_grpc_health() -> None:
    """SERVING passes, NOT_SERVING fails, against a real gRPC health service."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    script = str(DEPLOY / "compose" / "healthcheck.py")
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert subprocess.run([sys.executable, script, f"grpc://127.0.0.1:{port}"],
                              timeout=20).returncode == 0
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert subprocess.run([sys.executable, script, f"grpc://127.0.0.1:{port}"],
                              timeout=20).returncode == 1
    finally:
        server.stop(0)
