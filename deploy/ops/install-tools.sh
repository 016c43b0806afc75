#!/usr/bin/env bash
# Install the operations tool chain idempotently; CI runs this before tests/ops.
#
#   promtool + prometheus  Debian package "prometheus" (rule tests, config check, the
#                          real-server scrape test)
#   helm                   Go module proxy, helm.sh/helm/v3 (lint + template the chart)
#   kubeconform            Go module proxy (schema-validates rendered manifests offline)
#   docker-compose         Go module proxy, github.com/docker/compose/v2 (client-side
#                          `config` validation; no engine needed)
#   kubernetes-validate    PyPI (ships the Kubernetes JSON schemas kubeconform reads offline)
#   pyyaml                 PyPI, into the project venv (tests/ops parse YAML)
#
# Go binaries and the schema venv are cached in .cache/ops/ (git-ignored), so a second
# run takes seconds. Usage: deploy/ops/install-tools.sh [--no-apt] ; prints timings.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OPS="$ROOT/.cache/ops"
BIN="$OPS/bin"
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
mkdir -p "$BIN"

export GOBIN="$BIN" GOPATH="$OPS/gopath" GOMODCACHE="$OPS/gopath/pkg/mod" GOFLAGS=-modcacherw
export GOCACHE="$OPS/gocache"

step() {  # step NAME COMMAND...: run and print how long it took
  local name=$1; shift
  local t0=$SECONDS
  "$@"
  echo "install-tools: $name ready ($((SECONDS - t0))s)"
}

apt_install() {
  local missing=()
  command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-tools: need root for apt-get install ${missing[*]}" >&2; return 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends "${missing[@]}" >/dev/null
}

go_install() {  # go_install BINARY MODULE@VERSION [NAME_AS_BUILT]
  local want=$1 module=$2 built=${3:-$1}
  [ -x "$BIN/$want" ] && [ -f "$BIN/.$want.version" ] && [ "$(cat "$BIN/.$want.version")" = "$module" ] && return 0
  command -v go >/dev/null || { echo "install-tools: go is missing (needed for $want)" >&2; return 1; }
  go install "$module"
  [ "$built" = "$want" ] || mv -f "$BIN/$built" "$BIN/$want"
  echo "$module" > "$BIN/.$want.version"
}

schemas() {
  local venv="$OPS/venv"
  if [ ! -x "$venv/bin/kubernetes-validate" ] || ! "$venv/bin/pip" show -q "kubernetes-validate" 2>/dev/null | grep -q "Version: $KUBERNETES_VALIDATE_VERSION"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
}

project_python() {
  local py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || return 0  # the project's own setup creates the venv; nothing to add to yet
  "$py" -c "import yaml" 2>/dev/null || "$py" -m pip install -q pyyaml
}

if [ "${1:-}" != "--no-apt" ]; then step "prometheus (apt)" apt_install; fi
step "helm $HELM_VERSION" go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
step "kubeconform $KUBECONFORM_VERSION" go_install kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
step "docker-compose $COMPOSE_VERSION" go_install docker-compose "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION" cmd
step "kubernetes-validate $KUBERNETES_VALIDATE_VERSION" schemas
step "pyyaml (project venv)" project_python
echo "install-tools: binaries in $BIN"
