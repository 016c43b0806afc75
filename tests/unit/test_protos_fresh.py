"""The checked-in gRPC stubs are exactly what the pinned generator makes from the .proto."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUB_DIR = ROOT / "backbone" / "context" / "v1"


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    subprocess.run([str(ROOT / "scripts" / "gen_protos.sh"), str(tmp_path)], check=True,
                   capture_output=True)
    fresh = {p.relative_to(tmp_path): p.read_bytes()
             for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh, "generator produced nothing"
    for rel, content in fresh.items():
        checked_in = ROOT / rel
        assert checked_in.exists(), f"{rel} is generated but not checked in"
        assert checked_in.read_bytes() == content, (
            f"{rel} is stale: run scripts/gen_protos.sh and commit the result")
    stale = {p.relative_to(ROOT) for p in STUB_DIR.glob("*_pb2*")} - set(fresh)
    assert not stale, f"stubs without a .proto: {stale}"


def test_generator_pin_matches_pyproject() -> None:
    script = (ROOT / "scripts" / "gen_protos.sh").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'PINNED_GRPCIO_TOOLS="([^"]+)"', script)
    assert pinned is not None
    assert f'"grpcio-tools=={pinned.group(1)}"' in pyproject


def test_stubs_import_by_proto_package_path() -> None:
    from backbone.context.v1 import context_pb2, context_pb2_grpc

    assert context_pb2.DESCRIPTOR.package == "backbone.context.v1"
    assert hasattr(context_pb2_grpc, "CustomerContextServiceStub")
