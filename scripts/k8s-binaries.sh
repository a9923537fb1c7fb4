#!/usr/bin/env bash
# Builds and caches the Kubernetes binaries Grove's tier-3 tests (operator against a real
# API server) and chart tests need: etcd, kube-apiserver, kube-controller-manager, helm.
#
# This machine can reach the Go module proxy but no release download site and no image
# registry, so everything is compiled from the published release modules (see
# /work/shared/notes/kubernetes-offline.md). A binary already in the cache is reused.
#
# Usage:
#   scripts/k8s-binaries.sh [component…]   build what is missing (all by default) and print
#                                          "<component>: <path>" lines
#   scripts/k8s-binaries.sh --print-env    print ETCD_BIN=… KUBE_APISERVER_BIN=…
#                                          KUBE_CONTROLLER_MANAGER_BIN=… HELM_BIN=… lines;
#                                          never builds (tests call it and must stay fast)
# Components: etcd kube-apiserver kube-controller-manager helm
set -euo pipefail
# Failures inside $(…) must stop the script too.
shopt -s inherit_errexit

# Pinned versions. Kubernetes' staging modules (k8s.io/api, …) are used at v0.<minor>.<patch>
# of KUBERNETES_VERSION; every one the build needs must be served by the proxy.
ETCD_VERSION=v3.6.16
KUBERNETES_VERSION=v1.37.2
HELM_VERSION=v3.22.0

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/grove/k8s"
ALL_COMPONENTS=(etcd kube-apiserver kube-controller-manager helm)

die() {
  echo "k8s-binaries: $*" >&2
  exit 1
}
log() {
  echo "k8s-binaries: $*" >&2
}

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver | kube-controller-manager) echo "$KUBERNETES_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    *) die "unknown component '$1' (known: ${ALL_COMPONENTS[*]})" ;;
  esac
}

binary_path() {
  echo "$CACHE_ROOT/$1-$(version_of "$1")/$1"
}

if [ "${1:-}" = --print-env ]; then
  echo "ETCD_BIN=$(binary_path etcd)"
  echo "KUBE_APISERVER_BIN=$(binary_path kube-apiserver)"
  echo "KUBE_CONTROLLER_MANAGER_BIN=$(binary_path kube-controller-manager)"
  echo "HELM_BIN=$(binary_path helm)"
  for component in "${ALL_COMPONENTS[@]}"; do
    [ -x "$(binary_path "$component")" ] ||
      log "note: $component is not built yet; run scripts/k8s-binaries.sh"
  done
  exit 0
fi

components=("$@")
[ ${#components[@]} -gt 0 ] || components=("${ALL_COMPONENTS[@]}")
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
GO_BUILD_FLAGS=(-p 2 -trimpath)

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

# Both Kubernetes commands come from one wrapper, so shared packages compile once.
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
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION"
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
    kube-apiserver | kube-controller-manager) build_kubernetes_command "$component" ;;
    helm) build_helm ;;
  esac
  log "built $component in $((SECONDS - started)) s"
  echo "$component: $path"
done
