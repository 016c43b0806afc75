"""Local Confluent-compatible schema registry (Apicurio Registry 3.x, in-memory H2).

Why this exists: tests and local stacks need a *real* schema registry speaking the
Confluent REST API, without Docker. Apicurio Registry publishes its prebuilt Quarkus
distribution on Maven Central (``io.apicurio:apicurio-registry-app:<v>:tar.gz:all``);
``deploy/registry/pom.xml`` unpacks it into a cache folder. The Confluent-compatible
API is then served at ``http://127.0.0.1:<port>/apis/ccompat/v7``.

Nothing here runs at import time: no processes, no network I/O.

Caveat: Apicurio 3.3.x is compiled for Java 21 (class file 65); pass a Java 21+
executable as ``java`` to :func:`registry_command` (Java 17 fails with
``UnsupportedClassVersionError``).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from backbone.errors import StackError

APICURIO_VERSION = "3.3.3"
"""Pinned Apicurio Registry version; must match ``apicurio.version`` in the pom."""

MIN_JAVA_MAJOR = 21
"""Minimum Java feature release able to run the registry (its classes target 21)."""

CCOMPAT_PATH = "/apis/ccompat/v7"
"""Path prefix of the Confluent-compatible API; append to the base URL for clients."""

_POM = pathlib.Path(__file__).resolve().parent.parent / "registry" / "pom.xml"
_DIST_NAME = f"apicurio-registry-app-{APICURIO_VERSION}"
_MVN_TIMEOUT_S = 1800.0


class RegistryUnavailableError(StackError):
    """The registry could not be fetched, built or reached; the message says what to do."""


def fetch_registry(cache_dir: pathlib.Path) -> pathlib.Path:
    """Unpack the pinned Apicurio distribution into ``cache_dir`` once; return ``quarkus-run.jar``.

    Why: the download is ~160 MB, so it is done once per cache folder and skipped when
    the unpacked distribution is already there. The unpack goes to a temporary sibling
    folder which is renamed only on success, so an interrupted build never looks
    "already built".
    """
    dist = cache_dir / _DIST_NAME
    jar = dist / "quarkus-run.jar"
    if jar.is_file() and (dist / "quarkus" / "quarkus-application.dat").is_file():
        return jar

    mvn = shutil.which("mvn")
    if mvn is None:
        raise RegistryUnavailableError(
            "Maven ('mvn') is not on PATH; install Maven 3.8+ (e.g. 'apt-get install maven') "
            f"or unpack io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all "
            f"into {dist} yourself."
        )
    if not _POM.is_file():
        raise RegistryUnavailableError(
            f"Registry pom not found at {_POM}; is the checkout complete?"
        )

    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f"{_DIST_NAME}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(_POM),
        "package",
        f"-Dregistry.out={partial}",
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_MVN_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise RegistryUnavailableError(f"Running {' '.join(cmd)!r} failed: {exc}") from exc
    if proc.returncode != 0 or not (partial / "quarkus-run.jar").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise RegistryUnavailableError(
            f"Maven could not fetch Apicurio Registry {APICURIO_VERSION} (exit {proc.returncode}); "
            f"check access to Maven Central and re-run:\n  {' '.join(cmd)}\n{tail}"
        )
    shutil.rmtree(partial / ".markers", ignore_errors=True)
    shutil.rmtree(dist, ignore_errors=True)
    partial.rename(dist)
    return jar


def _java_major(java: str) -> int | None:
    """Return the feature release of ``java`` (e.g. 17, 25), or None if it cannot be run."""
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(1\.)?(\d+)', proc.stderr + proc.stdout)
    return int(match.group(2)) if match else None


def find_java(min_major: int = MIN_JAVA_MAJOR) -> str:
    """Return a ``java`` executable of at least ``min_major``, for :func:`registry_command`.

    Why: the registry needs Java 21+ while the default ``java`` on PATH may be older
    (e.g. 17, which is enough for Kafka). Looks at ``$REGISTRY_JAVA``, ``$JAVA_HOME``,
    ``java`` on PATH, then the JDKs under ``/usr/lib/jvm`` (names in descending order).
    """
    candidates: list[str] = []
    for env in ("REGISTRY_JAVA", "JAVA_HOME"):
        value = os.environ.get(env)
        if value:
            path = pathlib.Path(value)
            candidates.append(str(path / "bin" / "java" if path.is_dir() else path))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    jvm_root = pathlib.Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        candidates.extend(
            str(home / "bin" / "java")
            for home in sorted(jvm_root.iterdir(), reverse=True)
            if (home / "bin" / "java").is_file()
        )
    seen: list[str] = []
    for java in candidates:
        if java in seen:
            continue
        seen.append(java)
        major = _java_major(java)
        if major is not None and major >= min_major:
            return java
    raise RegistryUnavailableError(
        f"No Java {min_major}+ runtime found (tried: {', '.join(seen) or 'none'}); Apicurio "
        f"Registry {APICURIO_VERSION} needs Java {min_major}+. Install one (e.g. "
        f"'apt-get install openjdk-21-jre-headless') or set REGISTRY_JAVA to its java binary."
    )


def registry_command(jar: pathlib.Path, port: int, java: str = "java") -> list[str]:
    """Return the command line that runs the registry on ``127.0.0.1:port`` with in-memory storage.

    Why these flags: a capped heap and serial GC keep RSS near 300 MB on small
    machines; a private in-memory H2 database makes every start a clean registry;
    a small connection pool avoids the default 20 idle connections; banner,
    access log and INFO logs are silenced so the process output stays readable.
    ``java`` must be Java 21 or newer: pass :func:`find_java` rather than the default.
    """
    return [
        java,
        "-Xmx384m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dquarkus.http.host=127.0.0.1",
        f"-Dquarkus.http.port={port}",
        # Quarkus' management interface (health, metrics; enabled at build time) would
        # otherwise bind *:9000: keep it on loopback, next to the API port.
        "-Dquarkus.management.host=127.0.0.1",
        f"-Dquarkus.management.port={port + 1}",
        "-Dapicurio.storage.kind=sql",
        "-Dapicurio.storage.sql.kind=h2",
        "-Dapicurio.datasource.url=jdbc:h2:mem:registry;DB_CLOSE_DELAY=-1",
        "-Dapicurio.datasource.jdbc.initial-size=2",
        "-Dapicurio.datasource.jdbc.min-size=2",
        "-Dapicurio.datasource.jdbc.max-size=20",
        "-Dquarkus.banner.enabled=false",
        "-Dquarkus.http.access-log.enabled=false",
        "-Dquarkus.log.level=WARN",
        '-Dquarkus.log.category."io.apicurio".level=WARN',
        "-jar",
        str(jar),
    ]


def wait_registry_ready(url: str, timeout_s: float, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``GET {url}/apis/ccompat/v7/subjects`` until it answers 200.

    Why: the HTTP port opens before storage is initialised; the ccompat subjects
    listing only succeeds once the registry can really serve clients. ``url`` is
    the base URL (e.g. ``http://127.0.0.1:18081``), without the ccompat suffix.
    Raises :class:`RegistryUnavailableError` after ``timeout_s`` seconds.
    """
    probe = url.rstrip("/") + CCOMPAT_PATH + "/subjects"
    deadline = time.monotonic() + timeout_s
    last_error = "no response"
    while True:
        try:
            with urllib.request.urlopen(probe, timeout=2.0) as resp:
                if resp.status == 200:
                    return
                last_error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        if alive is not None and not alive():
            raise RegistryUnavailableError(f"Schema registry process exited during start-up ({last_error}).")
        if time.monotonic() >= deadline:
            raise RegistryUnavailableError(
                f"Schema registry at {probe} not ready after {timeout_s:.0f}s ({last_error}); "
                "check the registry process output (Java 21+ required)."
            )
        time.sleep(0.2)
