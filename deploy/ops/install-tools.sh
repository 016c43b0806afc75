#!/usr/bin/env bash
# Install the operations tool chain idempotently; CI runs this before tests/ops.
#
#   promtool, prometheus  Debian package "prometheus": rule unit tests, config check and
#                         the real-server scrape test
#   kubeconform           Go module proxy: validates the rendered Kubernetes manifests
#   composecheck          deploy/ops/composecheck, built from the Go module proxy on
#                         compose-go (the loader behind `docker compose config`)
#   dockerfilecheck       deploy/ops/dockerfilecheck, on BuildKit's Dockerfile frontend
#                         (parser + the build checks of `docker build --check`)
#   k8s JSON schemas      PyPI "kubernetes-validate" wheel ships them (downloaded, unzipped,
#                         not installed); rewritten into the layout kubeconform reads
#                         offline (kubeconform's default source, GitHub, is unreachable)
#   Strimzi CRD schemas   Strimzi's own crd-generator + api jars from Maven Central
#                         generate the Kafka/KafkaNodePool/KafkaTopic CRDs; converted to
#                         JSON schema for kubeconform
#   pyyaml                PyPI, into the project venv (tests/ops parse YAML; also
#                         converts the CRDs)
#   kubectl               only `kubectl kustomize` is used (no cluster); taken from PATH
#
# Everything lands in .cache/ops/ (git-ignored); a second run takes about a second.
# Usage: deploy/ops/install-tools.sh [--no-apt]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OPS="$ROOT/.cache/ops"
BIN="$OPS/bin"
SCHEMAS="$OPS/schemas"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
KUBE_SCHEMA_VERSION="${KUBE_SCHEMA_VERSION:-1.32.0}"
STRIMZI_VERSION="${STRIMZI_VERSION:-0.45.0}"
GRPCURL_VERSION="${GRPCURL_VERSION:-v1.9.3}"
mkdir -p "$BIN" "$SCHEMAS"

# Go's module and build caches are the user's (shared by every clone on the machine, so a
# CI run after a developer's warms up in seconds); binaries land in .cache/ops/bin.
export GOBIN="$BIN" GOFLAGS=-modcacherw
export GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}" GOCACHE="${GOCACHE:-$(go env GOCACHE)}"

step() {  # step NAME COMMAND...: run it and say how long it took
  local name=$1; shift
  local t0=$SECONDS
  "$@"
  echo "install-tools: $name ready ($((SECONDS - t0))s)"
}

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

apt_prometheus() {
  command -v promtool >/dev/null && command -v prometheus >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-tools: run as root, or: apt-get install prometheus" >&2; return 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends prometheus >/dev/null
  # Debian's package may start a system-wide server; we never use it (no systemd here).
}

kubeconform() {
  stamp_ok "$BIN/.kubeconform" "$KUBECONFORM_VERSION" && [ -x "$BIN/kubeconform" ] && return 0
  go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$KUBECONFORM_VERSION" > "$BIN/.kubeconform"
}

grpcurl() {  # independent gRPC client (server reflection) for tests/integration/services
  stamp_ok "$BIN/.grpcurl" "$GRPCURL_VERSION" && [ -x "$BIN/grpcurl" ] && return 0
  go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  echo "$GRPCURL_VERSION" > "$BIN/.grpcurl"
}

local_go_tool() {  # local_go_tool NAME: build deploy/ops/NAME (a tiny main on a Go module)
  local name=$1 src="$ROOT/deploy/ops/$1"
  local want; want="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  stamp_ok "$BIN/.$name" "$want" && [ -x "$BIN/$name" ] && return 0
  (cd "$src" && go build -o "$BIN/$name" .)
  echo "$want" > "$BIN/.$name"
}

schema_wheel() {  # the wheel is only unzipped, never installed
  stamp_ok "$OPS/wheels/.version" "$KUBERNETES_VALIDATE_VERSION" && return 0
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$OPS/wheels" \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  echo "$KUBERNETES_VALIDATE_VERSION" > "$OPS/wheels/.version"
}

kube_schemas() {
  local dest="$SCHEMAS/v$KUBE_SCHEMA_VERSION-standalone-strict"
  stamp_ok "$dest/.version" "$KUBERNETES_VALIDATE_VERSION" && return 0
  python3 "$ROOT/deploy/ops/schemas.py" kubernetes \
      "$OPS/wheels/kubernetes_validate-$KUBERNETES_VALIDATE_VERSION-py3-none-any.whl" \
      "$KUBE_SCHEMA_VERSION" "$dest"
  echo "$KUBERNETES_VALIDATE_VERSION" > "$dest/.version"
}

strimzi_crds() {  # Strimzi's crd-generator writes the CRDs (Java; no Python needed)
  local work="$OPS/strimzi"
  stamp_ok "$SCHEMAS/kafka.strimzi.io/.version" "$STRIMZI_VERSION" && return 0
  stamp_ok "$work/.version" "$STRIMZI_VERSION" && return 0
  command -v mvn >/dev/null && command -v java >/dev/null || {
    echo "install-tools: mvn and java are needed for the Strimzi schemas" >&2; return 1; }
  mkdir -p "$work/crds"
  mvn -B -q -Dstyle.color=never -f "$ROOT/deploy/ops/strimzi/pom.xml" -Dstrimzi.version="$STRIMZI_VERSION" \
      dependency:build-classpath -Dmdep.outputFile="$work/classpath.txt"
  java -cp "$(cat "$work/classpath.txt")" io.strimzi.crdgenerator.CrdGenerator \
      --yaml --api-versions v1beta2 --storage-version v1beta2 \
      "io.strimzi.api.kafka.model.kafka.Kafka=$work/crds/kafka.yaml" \
      "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$work/crds/kafkanodepool.yaml" \
      "io.strimzi.api.kafka.model.topic.KafkaTopic=$work/crds/kafkatopic.yaml" \
      "io.strimzi.api.kafka.model.user.KafkaUser=$work/crds/kafkauser.yaml" 2>/dev/null
  echo "$STRIMZI_VERSION" > "$work/.version"
}

strimzi_schemas() {  # CRD -> strict JSON schema (the project venv has PyYAML by now)
  local dest="$SCHEMAS/kafka.strimzi.io" work="$OPS/strimzi"
  stamp_ok "$dest/.version" "$STRIMZI_VERSION" && return 0
  local py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || py=python3
  "$py" -c "import yaml" 2>/dev/null || { echo "install-tools: $py has no PyYAML (run deploy/bin/setup first)" >&2; return 1; }
  "$py" "$ROOT/deploy/ops/schemas.py" crds "$dest" "$work"/crds/*.yaml
  echo "$STRIMZI_VERSION" > "$dest/.version"
}

project_python() {
  local py="$ROOT/.venv/bin/python"
  [ -x "$py" ] || return 0  # the project's setup creates the venv; nothing to add to yet
  "$py" -c "import yaml" 2>/dev/null || "$py" -m pip install -q pyyaml
}

total=$SECONDS
if [ "${1:-}" != "--no-apt" ]; then step "prometheus + promtool (apt)" apt_prometheus; fi
# Three independent lanes in parallel (Go builds, PyPI downloads, Maven + Java): the slowest
# one sets the time, about 2 minutes on a fresh 2-core machine.
( step "kubeconform $KUBECONFORM_VERSION" kubeconform \
  && step "composecheck (compose-go)" local_go_tool composecheck \
  && step "dockerfilecheck (buildkit frontend)" local_go_tool dockerfilecheck \
  && step "grpcurl $GRPCURL_VERSION" grpcurl ) &
go_lane=$!
( step "kubernetes-validate $KUBERNETES_VALIDATE_VERSION wheel" schema_wheel \
  && step "kubernetes $KUBE_SCHEMA_VERSION JSON schemas" kube_schemas \
  && step "pyyaml (project venv)" project_python ) &
py_lane=$!
step "strimzi $STRIMZI_VERSION CRDs (crd-generator)" strimzi_crds
wait "$py_lane"
step "strimzi $STRIMZI_VERSION CRD schemas" strimzi_schemas
wait "$go_lane"
command -v kubectl >/dev/null || echo "install-tools: kubectl not on PATH: tests/ops need it for 'kubectl kustomize' (no cluster)" >&2
echo "install-tools: all tools in $BIN, schemas in $SCHEMAS ($((SECONDS - total))s)"
