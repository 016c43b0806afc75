"""Background processes for the local stack: start detached, record a pid file, stop cleanly."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

from backbone.errors import StackError

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("CCB_STACK_DIR", ROOT / ".stack"))
CACHE_DIR = Path(os.environ.get("CCB_CACHE_DIR", ROOT / ".cache"))


def pid_file(name: str) -> Path:
    return STATE_DIR / "pids" / f"{name}.pid"


def read_pid(name: str) -> int | None:
    path = pid_file(name)
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) else None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out on ``host`` (for tests, benchmarks and side stacks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_port(host: str, port: int, what: str) -> None:
    if not port_free(host, port):
        raise StackError(
            f"{what}: port {host}:{port} is already in use. Stop whatever holds it "
            f"(`ss -ltnp | grep :{port}`), run `python -m deploy.stack down`, or choose "
            "another port in the CCB_* settings.")


def spawn(name: str, cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session so a Ctrl-C in the terminal does not kill it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True, preexec_fn=_raise_fd_limit)
    pid_file(name).write_text(str(proc.pid))
    return proc


def _raise_fd_limit() -> None:
    """A broker holds several files per partition: lift the soft fd limit to the hard one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def stop(name: str, timeout_s: float = 20.0) -> bool:
    """SIGTERM, wait, then SIGKILL; returns True when something was stopped."""
    pid = read_pid(name)
    pid_file(name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
