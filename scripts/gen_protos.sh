#!/usr/bin/env bash
# Regenerate the checked-in gRPC stubs from schemas/proto (the one pinned command).
#   scripts/gen_protos.sh            # writes into the repository (backbone/context/v1/)
#   scripts/gen_protos.sh OUT_DIR    # writes elsewhere (tests/unit/test_protos_fresh.py)
# The generator version is pinned so every machine produces byte-identical stubs; keep it
# equal to the grpcio-tools pin in pyproject.toml's dev extra.
set -euo pipefail
PINNED_GRPCIO_TOOLS="1.85.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${1:-$ROOT}"
actual="$("$PY" -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))')"
if [[ "$actual" != "$PINNED_GRPCIO_TOOLS" ]]; then
  echo "grpcio-tools $actual installed, $PINNED_GRPCIO_TOOLS pinned: pip install -e '.[dev]'" >&2
  exit 1
fi
cd "$ROOT/schemas/proto"
mapfile -t PROTOS < <(find backbone -name '*.proto' | LC_ALL=C sort)
mkdir -p "$OUT"
"$PY" -m grpc_tools.protoc -I . --python_out="$OUT" --pyi_out="$OUT" --grpc_python_out="$OUT" \
  "${PROTOS[@]}"
echo "generated ${#PROTOS[@]} proto file(s) into $OUT" >&2
