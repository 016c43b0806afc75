#!/usr/bin/env bash
# Run Debian's Prometheus against the local stack: config, rules and file_sd targets from
# deploy/prometheus/, data in .stack/prometheus (git-ignored). Foreground; Ctrl-C stops it.
#   [CCB_PROMETHEUS_LISTEN=127.0.0.1:9090] deploy/ops/run-prometheus.sh [extra prometheus flags]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v prometheus >/dev/null || { echo "prometheus missing: run deploy/ops/install-tools.sh" >&2; exit 1; }
mkdir -p "$ROOT/.stack/prometheus"
exec prometheus \
  --config.file="$ROOT/deploy/prometheus/prometheus.yml" \
  --storage.tsdb.path="$ROOT/.stack/prometheus" \
  --storage.tsdb.retention.time=2d \
  --web.listen-address="${CCB_PROMETHEUS_LISTEN:-127.0.0.1:9090}" \
  --web.enable-lifecycle \
  "$@"
