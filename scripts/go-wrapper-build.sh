# shellcheck shell=bash
# Shared by scripts/s3-server.sh and scripts/bench-peers.sh (sourced, not run): builds a
# third-party Go program from its release module on the Go module proxy, in a throwaway
# wrapper module, and moves the binary into a per-version cache dir, as
# scripts/k8s-binaries.sh does for the Kubernetes binaries.
#
# The sourcing script sets, before calling anything here:
#   GWB_NAME        its name, for messages ("s3-server", "bench-peers")
#   GWB_CACHE_ROOT  e.g. ~/.cache/grove/s3; binaries land in $GWB_CACHE_ROOT/<name>-<version>/
# Builds run under `nice -n 19` with `go build -p ${GROVE_GO_BUILD_JOBS:-1}`: other people's
# tests share the 2 cores, and one compile job at a time leaves them one.

gwb_log() {
  echo "$GWB_NAME: $*" >&2
}
gwb_die() {
  echo "$GWB_NAME: $*" >&2
  exit 1
}

# Checks the toolchain and sets the build environment; takes the cache lock (one build at a
# time across worktrees: a second run waits, then finds the binaries the first one built).
gwb_prepare() {
  command -v go >/dev/null 2>&1 ||
    gwb_die "'go' is not on PATH; install Go 1.26 or later (e.g. /usr/local/go/bin) and retry"
  # Never fetch another toolchain: a module that needs a newer Go should fail loudly.
  export GOTOOLCHAIN=local
  # Static binaries, as the upstream release builds make them; no C toolchain needed.
  export CGO_ENABLED=0
  # shellcheck disable=SC2034 # used by the sourcing script
  GWB_BUILD_FLAGS=(-p "${GROVE_GO_BUILD_JOBS:-1}" -trimpath)
  mkdir -p "$GWB_CACHE_ROOT"
  exec 9>"$GWB_CACHE_ROOT/.lock"
  if ! flock -n 9; then
    gwb_log "another $GWB_NAME run is building; waiting for it"
    flock 9
  fi
  GWB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/grove-$GWB_NAME-build.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$GWB_WORK'" EXIT
}

# Prints the go.mod path of a module version, downloading it into the module cache.
gwb_module_gomod() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

# Starts a wrapper module in $GWB_WORK/$1 that requires module@version, with the module's
# own replace directives that point at other published modules (a dependency's replaces are
# ignored by Go, so the release build's choices must be repeated in the main module; replaces
# to local folders cannot be and are left out). Prints the wrapper's directory.
gwb_new_wrapper() {
  local name=$1 module=$2 version=$3
  local dir="$GWB_WORK/$name" gomod
  mkdir -p "$dir"
  gomod=$(gwb_module_gomod "$module@$version")
  [ -f "$gomod" ] || gwb_die "could not download $module@$version from the Go module proxy"
  local edits=() replace
  while read -r replace; do
    edits+=("-replace=$replace")
  done < <(awk '
    # "replace a [v] => b v" lines and the same inside a "replace (" block
    /^replace[[:space:]]*\(/ { block = 1; next }
    block && /^\)/ { block = 0; next }
    { line = $0; sub(/\/\/.*/, "", line); n = split(line, f, /[[:space:]]+/) }
    block || f[1] == "replace" {
      start = (f[1] == "replace") ? 2 : 1
      for (i = start; i <= n && f[i] == ""; i++) start = i + 1
      arrow = 0
      for (i = start; i <= n; i++) if (f[i] == "=>") arrow = i
      if (!arrow) next
      old = f[start]; if (arrow - start == 2) old = old "@" f[start + 1]
      target = f[arrow + 1]; target_version = f[arrow + 2]
      if (target ~ /^(\.|\/)/ || target_version == "") next
      print old "=" target "@" target_version
    }
  ' "$gomod")
  (
    cd "$dir" || exit 1
    go mod init "grove.local/build/$name" >/dev/null 2>&1
    [ ${#edits[@]} -eq 0 ] || go mod edit "${edits[@]}"
  )
  echo "$dir"
}

# Moves a finished build into place in one step: a half-written binary never counts.
gwb_install_binary() {
  local built=$1 final=$2
  mkdir -p "$(dirname "$final")"
  mv -f "$built" "$final.tmp"
  mv -f "$final.tmp" "$final"
}
