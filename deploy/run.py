"""``python -m deploy.run``: the whole backbone on one machine, with a live console.

Starts the stack (Kafka, registry, topics), N faust workers, the gRPC context service,
the connectors and the traffic simulator as separate processes (logs in .stack/logs),
then prints throughput, freshness and live KPIs until the simulator ends or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from backbone.settings import get_settings
from deploy.stack import cli as stack_cli
from deploy.stack import proc

LOGS = proc.STATE_DIR / "logs"
PY = sys.executable

# Metrics ports of the local processes (the Prometheus config in deploy/prometheus scrapes these).
CONNECTORS_METRICS = 9101
WORKER_METRICS = 9102  # +10*i for worker i: the faust web server serves /metrics there
SERVICE_METRICS = 9103


@dataclass
class Child:
    name: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / f"{self.name}.log").open("ab")
        env = os.environ | {"PYTHONPATH": str(proc.ROOT)} | self.env
        self.popen = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      cwd=proc.ROOT, start_new_session=True)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout_s: float = 15.0) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)


def scrape(port: int) -> dict[str, float]:
    """Sum every sample of each metric family on a /metrics page (labels collapsed)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name
            for label in ("outcome", "stage"):
                if sample.labels.get(label):
                    key += f"{{{sample.labels[label]}}}"
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.run", description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="simulated events per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (0 = forever)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--alert-for-min", type=float, default=0.5,
                        help="minutes a rate must breach before its early warning fires "
                             "(short for a demo; CCB_ALERT_FOR_MIN defaults to 5)")
    parser.add_argument("--alert-window-min", type=int, default=15,
                        help="trailing window of the queue early warnings (CCB_ALERT_WINDOW_MIN)")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="seconds to keep watching after the traffic ends: quiet queues "
                             "clear their early warnings on the workers' timer")
    parser.add_argument("--keep-stack", action="store_true", help="leave Kafka and the registry running")
    args = parser.parse_args(argv)
    settings = get_settings()

    print("== stack")
    stack_cli.up(settings)
    children = [
        *[Child(f"worker-{i}", [PY, "-m", "stream_processors", "worker", "--web-port", str(WORKER_METRICS + 10 * i)],
                {"CCB_WORKER_DATA_DIR": str(proc.STATE_DIR / f"worker-{i}"),
                 "CCB_ALERT_FOR_MIN": str(args.alert_for_min), "CCB_ALERT_EVAL_INTERVAL_S": "5",
                 "CCB_ALERT_WINDOW_MIN": str(args.alert_window_min)})
          for i in range(args.workers)],
        Child("context-service", [PY, "-m", "services.context"],
              {"CCB_METRICS_PORT": str(SERVICE_METRICS)}),
        Child("connectors", [PY, "-m", "connectors"], {"CCB_METRICS_PORT": str(CONNECTORS_METRICS)}),
        Child("web", [PY, "-m", "services.web"]),
    ]
    simulator = Child("simulator", [PY, "-m", "connectors.simulator", "--rate", str(args.rate),
                                    "--seed", str(args.seed), "--duration", str(args.duration),
                                    "--ami-wait", "60"])
    stopping = False
    quiet_until = 0.0

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("== processes (logs in .stack/logs)")
        for child in children:
            child.start()
            print(f"started    {child.name} pid {child.popen.pid if child.popen else '?'}")
        from deploy.console import Console  # noqa: PLC0415 - needs the gRPC stubs

        console = Console(settings, connectors_port=CONNECTORS_METRICS,
                          worker_ports=[WORKER_METRICS + 10 * i for i in range(args.workers)],
                          service_port=SERVICE_METRICS)
        console.wait_ready(children, timeout_s=120)
        web = f"http://{settings.web_host}:{settings.web_port}"
        print(f"web        agent desktop {web}/desktop   supervisor wallboard {web}/wallboard")
        if settings.env == "dev":
            print("           sign in with dev-agent-token or dev-supervisor-token (local stack only)")
        simulator.start()
        print(f"== traffic: simulator at {args.rate:g} events/s for "
              f"{'ever' if not args.duration else f'{args.duration:g}s'} (seed {args.seed})")
        while not stopping:
            time.sleep(2.0)
            console.tick()
            dead = [c.name for c in children if not c.alive()]
            if dead:
                print(f"error: {', '.join(dead)} exited; see .stack/logs/", file=sys.stderr)
                return 1
            if not simulator.alive():
                quiet_until = quiet_until or time.monotonic() + 3.0 + args.linger
                if time.monotonic() >= quiet_until:  # the tail reached the context view
                    break
        console.summary()
        return 0
    finally:
        simulator.stop()
        for child in reversed(children):
            child.stop()
        if not args.keep_stack:
            stack_cli.down()


if __name__ == "__main__":
    sys.exit(main())
