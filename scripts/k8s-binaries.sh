#!/usr/bin/env bash
# Builds and caches the Kubernetes binaries Grove's tier-3 tests (operator against a real
# API server) and chart tests need: etcd, kube-apiserver, kube-controller-manager, helm; and
# on request what the single-node e2e cluster (e2e/cluster/) runs on top of them:
# kube-scheduler, kubelet, kube-proxy, kubectl, crictl, CoreDNS, local-path-provisioner and a
# pause binary.
#
# This machine can reach the Go module proxy but no release download site and no image
# registry, so everything is compiled from the published release modules (see
# /work/shared/notes/kubernetes-offline.md). A binary already in the cache is reused.
#
# Usage:
#   scripts/k8s-binaries.sh [component…]   build what is missing and print "<component>: <path>"
#                                          lines; with no argument, the API-server tests' set
#   scripts/k8s-binaries.sh cluster        everything the e2e cluster needs (also: all)
#   scripts/k8s-binaries.sh --print-env    print ETCD_BIN=… KUBE_APISERVER_BIN=…
#                                          KUBE_CONTROLLER_MANAGER_BIN=… HELM_BIN=… lines, then
#                                          one <COMPONENT>_BIN=… line per cluster component;
#                                          never builds (tests call it and must stay fast)
# Components: etcd kube-apiserver kube-controller-manager helm (the tests' set), kube-scheduler
# kubelet kube-proxy kubectl crictl coredns local-path-provisioner pause.
# Binaries land in ~/.cache/grove/k8s/<component>-<version>/<component>. Set
# GROVE_GO_BUILD_JOBS=1 to compile one package at a time when the CPU is shared.
set -euo pipefail
# Failures inside $(…) must stop the script too.
shopt -s inherit_errexit

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Pinned versions, in one place for these tests and the e2e cluster. Kubernetes' staging
# modules (k8s.io/api, …) are used at v0.<minor>.<patch> of KUBERNETES_VERSION; every one the
# build needs must be served by the proxy.
# shellcheck source=../e2e/cluster/versions.env
. "$repo_root/e2e/cluster/versions.env"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/grove/k8s"
# The API-server tests' set: what a bare `scripts/k8s-binaries.sh` (and `npm test`) builds.
TEST_COMPONENTS=(etcd kube-apiserver kube-controller-manager helm)
# The single-node e2e cluster's set (e2e/cluster/up).
CLUSTER_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
  helm crictl coredns local-path-provisioner pause)
ALL_COMPONENTS=("${CLUSTER_COMPONENTS[@]}")
# Kubernetes commands, all built from one wrapper module.
KUBERNETES_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

die() {
  echo "k8s-binaries: $*" >&2
  exit 1
}
log() {
  echo "k8s-binaries: $*" >&2
}

# The first 12 hex digits of the sha256 of the project's own sources of a component (the
# pause program, CoreDNS's plugin list): part of its cache key, so an edit rebuilds it.
source_hash() {
  (cd "$repo_root/e2e/cluster/$1" && cat "${@:2}") | sha256sum | cut -c1-12
}

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kube-proxy | kubectl)
      echo "$KUBERNETES_VERSION"
      ;;
    helm) echo "$HELM_VERSION" ;;
    crictl) echo "$CRICTL_VERSION" ;;
    coredns) echo "$COREDNS_VERSION-$(source_hash coredns main.go)" ;;
    local-path-provisioner) echo "$LOCAL_PATH_PROVISIONER_VERSION" ;;
    pause) echo "src-$(source_hash pause go.mod main.go)" ;;
    *) die "unknown component '$1' (known: ${ALL_COMPONENTS[*]})" ;;
  esac
}

binary_path() {
  echo "$CACHE_ROOT/$1-$(version_of "$1")/$1"
}

# kube-apiserver -> KUBE_APISERVER_BIN
env_name() {
  local name=${1//-/_}
  echo "${name^^}_BIN"
}

if [ "${1:-}" = --print-env ]; then
  for component in "${ALL_COMPONENTS[@]}"; do
    echo "$(env_name "$component")=$(binary_path "$component")"
  done
  for component in "${TEST_COMPONENTS[@]}"; do
    [ -x "$(binary_path "$component")" ] ||
      log "note: $component is not built yet; run scripts/k8s-binaries.sh"
  done
  exit 0
fi

components=()
for argument in "$@"; do
  case "$argument" in
    cluster | --cluster | all) components+=("${CLUSTER_COMPONENTS[@]}") ;;
    *) components+=("$argument") ;;
  esac
done
[ ${#components[@]} -gt 0 ] || components=("${TEST_COMPONENTS[@]}")
for component in "${components[@]}"; do version_of "$component" >/dev/null; done

# The test harness (test/support/kube-apiserver.ts) generates its certificates with openssl.
if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing openssl from Debian's packages (the test harness needs it)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends openssl >/dev/null
  else
    die "'openssl' is missing (Debian: apt-get install openssl); the test harness needs it"
  fi
fi

command -v go >/dev/null 2>&1 ||
  die "'go' is not on PATH; install Go 1.26 or later (e.g. /usr/local/go/bin) and retry"

# Never fetch another toolchain: a module that needs a newer Go should fail loudly.
export GOTOOLCHAIN=local
# Static binaries, as the upstream release builds make them; also no C toolchain needed.
export CGO_ENABLED=0
# About 2 GiB per compile job: two jobs fit 2 cores / 24 GiB with room for the linker.
GO_BUILD_FLAGS=(-p "${GROVE_GO_BUILD_JOBS:-2}" -trimpath)

mkdir -p "$CACHE_ROOT"
# Several worktrees may run this at once; one build at a time, and the second run then
# finds the binaries the first one built.
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
  log "another k8s-binaries.sh is building; waiting for it"
  flock 9
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/grove-k8s-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Prints the go.mod path of a module version, downloading it into the module cache.
module_gomod() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

# Starts a wrapper module in $work/$1 (main modules may not carry relative replaces from
# a dependency, so each build gets its own main module).
new_wrapper() {
  local dir="$work/$1"
  mkdir -p "$dir"
  (cd "$dir" && go mod init "grove.local/build/$1" >/dev/null 2>&1)
  echo "$dir"
}

# Moves a finished build into the cache in one step: a half-written binary never counts.
install_binary() {
  local built=$1 component=$2
  local final
  final=$(binary_path "$component")
  mkdir -p "$(dirname "$final")"
  mv -f "$built" "$final.tmp"
  mv -f "$final.tmp" "$final"
}

build_etcd() {
  local dir
  dir=$(new_wrapper etcd)
  # Its go.mod's relative replaces (../api, ../client/…) point at modules published at the
  # same version, which its require lines already name, so no replace is needed here.
  (
    cd "$dir"
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION-go-module-proxy" \
      -o "$dir/etcd" go.etcd.io/etcd/server/v3
  )
  install_binary "$dir/etcd" etcd
}

# Every Kubernetes command comes from one wrapper, so shared packages compile once.
kube_dir=""
kubernetes_wrapper() {
  [ -z "$kube_dir" ] || return 0
  local dir gomod staging_version
  dir=$(new_wrapper kubernetes)
  gomod=$(module_gomod "k8s.io/kubernetes@$KUBERNETES_VERSION")
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local edits=()
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and maps them to folders
  # (./staging/src/k8s.io/…) that are not in the module; point each at its release.
  local module
  while read -r module; do
    edits+=("-replace=$module=$module@$staging_version")
  done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod")
  [ ${#edits[@]} -gt 0 ] || die "found no ./staging replaces in $gomod"
  # The godebug settings change runtime behaviour (e.g. x509, HTTP/2); keep upstream's.
  local setting
  while read -r setting; do
    edits+=("-godebug=$setting")
  done < <(awk '
    /^godebug[[:space:]]*\(/ { block = 1; next }
    block && /^\)/ { block = 0; next }
    block && NF { print $1; next }
    /^godebug[[:space:]]+[^(]/ { print $2 }
  ' "$gomod")
  (
    cd "$dir"
    go mod edit "${edits[@]}"
    local command packages=()
    for command in "${KUBERNETES_COMMANDS[@]}"; do
      packages+=("k8s.io/kubernetes/cmd/$command@$KUBERNETES_VERSION")
    done
    go get "${packages[@]}"
  )
  kube_dir=$dir
}

kubernetes_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  # No git checkout, so no commit hash: the proxy's .info has none either.
  local commit=0000000000000000000000000000000000000000
  local build_date
  build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local flags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  echo "$flags"
}

build_kubernetes_command() {
  local component=$1
  kubernetes_wrapper
  (
    cd "$kube_dir"
    go build "${GO_BUILD_FLAGS[@]}" -ldflags "$(kubernetes_ldflags)" \
      -o "$kube_dir/$component" "k8s.io/kubernetes/cmd/$component"
  )
  install_binary "$kube_dir/$component" "$component"
}

build_helm() {
  local dir
  dir=$(new_wrapper helm)
  (
    cd "$dir"
    go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    # Same stamps as helm's Makefile: the version, and the Kubernetes version that
    # `helm template` / `helm lint` assume (from the client-go it is built with).
    local client_go minor
    client_go=$(go list -m -f '{{.Version}}' k8s.io/client-go)
    minor=${client_go#v0.}
    minor=${minor%%.*}
    local flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    flags+=" -X helm.sh/helm/v3/internal/version.metadata="
    flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    local pkg
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
    done
    go build "${GO_BUILD_FLAGS[@]}" -ldflags "$flags" -o "$dir/helm" helm.sh/helm/v3/cmd/helm
  )
  install_binary "$dir/helm" helm
}

# crictl: a plain module (no relative replaces), stamped as its Makefile does.
build_crictl() {
  local dir
  dir=$(new_wrapper crictl)
  (
    cd "$dir"
    go get "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
    go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
      -o "$dir/crictl" sigs.k8s.io/cri-tools/cmd/crictl
  )
  install_binary "$dir/crictl" crictl
}

# CoreDNS with only the plugins e2e/cluster/coredns/main.go imports (a plugin registers itself
# when imported; the Corefile may use only registered ones).
build_coredns() {
  local dir
  dir=$(new_wrapper coredns)
  cp "$repo_root/e2e/cluster/coredns/main.go" "$dir/main.go"
  (
    cd "$dir"
    go get "github.com/coredns/coredns@$COREDNS_VERSION"
    go mod tidy
    go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION-grove" \
      -o "$dir/coredns" .
  )
  install_binary "$dir/coredns" coredns
}

build_local_path_provisioner() {
  local dir
  dir=$(new_wrapper local-path-provisioner)
  (
    cd "$dir"
    go get "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION"
    go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION" \
      -o "$dir/local-path-provisioner" github.com/rancher/local-path-provisioner
  )
  install_binary "$dir/local-path-provisioner" local-path-provisioner
}

# The pod sandbox's infra process: the project's own program, no dependencies.
build_pause() {
  (
    cd "$repo_root/e2e/cluster/pause"
    go build "${GO_BUILD_FLAGS[@]}" -buildvcs=false -ldflags "-s -w" -o "$work/pause" .
  )
  install_binary "$work/pause" pause
}

for component in "${components[@]}"; do
  path=$(binary_path "$component")
  if [ -x "$path" ]; then
    echo "$component: $path"
    continue
  fi
  log "building $component $(version_of "$component") (cold builds take minutes)"
  started=$SECONDS
  case "$component" in
    etcd) build_etcd ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kube-proxy | kubectl)
      build_kubernetes_command "$component"
      ;;
    helm) build_helm ;;
    crictl) build_crictl ;;
    coredns) build_coredns ;;
    local-path-provisioner) build_local_path_provisioner ;;
    pause) build_pause ;;
  esac
  log "built $component in $((SECONDS - started)) s"
  echo "$component: $path"
done
