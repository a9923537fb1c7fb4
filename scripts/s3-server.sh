#!/usr/bin/env bash
# Builds and caches the S3-compatible object store the Data Bridge's tests run against
# (test/support/s3-server.ts): SeaweedFS's `weed`, whose `weed server -filer -s3` is a real
# S3 API (SigV4, multipart, conditional writes) over its own master, volume and filer
# servers, all in one process.
#
# Built from the Go module proxy, as scripts/k8s-binaries.sh builds the Kubernetes binaries
# (this machine reaches no release download site). MinIO could not be used: the proxy
# refuses its release versions ("This module version is not available").
#
# Usage:
#   scripts/s3-server.sh              build `weed` if it is missing; prints "seaweedfs: <path>"
#   scripts/s3-server.sh --print-env  prints SEAWEEDFS_BIN=<path>; never builds (tests call
#                                     it and must stay fast)
# The binary lands in ~/.cache/grove/s3/seaweedfs-<version>/weed (XDG_CACHE_HOME is
# honoured). A cold build (empty Go build cache) used 7.3 CPU-minutes: 12.8 minutes of wall
# time on the shared 2 cores at a load average of 6-8, about 8.5 minutes when they were
# quieter; the binary is 164 MB (stripped). GROVE_GO_BUILD_JOBS (default 1) sets `go build -p`.
set -euo pipefail
shopt -s inherit_errexit

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GWB_NAME=s3-server
GWB_CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/grove/s3"
# shellcheck source-path=SCRIPTDIR source=go-wrapper-build.sh
. "$repo_root/scripts/go-wrapper-build.sh"

# SeaweedFS publishes no semver tags, so the proxy serves it as a pseudo-version of a
# commit; this one is SeaweedFS 4.53 (`weed version`: "30GB 4.53 7506e5f91cd6"). Its go.mod
# asks for Go 1.26.6, so the machine's Go 1.26 builds it without another toolchain.
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
SEAWEEDFS_COMMIT=7506e5f91cd6

binary="$GWB_CACHE_ROOT/seaweedfs-$SEAWEEDFS_VERSION/weed"

if [ "${1:-}" = --print-env ]; then
  echo "SEAWEEDFS_BIN=$binary"
  [ -x "$binary" ] || gwb_log "note: seaweedfs is not built yet; run scripts/s3-server.sh"
  exit 0
fi
[ $# -eq 0 ] || gwb_die "unknown argument '$1' (usage: scripts/s3-server.sh [--print-env])"

if [ -x "$binary" ]; then
  echo "seaweedfs: $binary"
  exit 0
fi

gwb_prepare
# Another run may have built it while this one waited for the lock.
if [ -x "$binary" ]; then
  echo "seaweedfs: $binary"
  exit 0
fi
gwb_log "building seaweedfs $SEAWEEDFS_VERSION (a cold build takes 8 to 13 minutes)"
started=$SECONDS
dir=$(gwb_new_wrapper seaweedfs "$SEAWEEDFS_MODULE" "$SEAWEEDFS_VERSION")
(
  cd "$dir"
  nice -n 19 go get "$SEAWEEDFS_MODULE/weed@$SEAWEEDFS_VERSION"
  # No build tags: the default set (no extra filer stores such as elastic, ydb, tikv) is
  # what the S3 gateway needs; its filer keeps metadata in leveldb in the data dir.
  nice -n 19 go build "${GWB_BUILD_FLAGS[@]}" \
    -ldflags "-s -w -X $SEAWEEDFS_MODULE/weed/util/version.COMMIT=$SEAWEEDFS_COMMIT" \
    -o "$dir/weed" "$SEAWEEDFS_MODULE/weed"
)
gwb_install_binary "$dir/weed" "$binary"
gwb_log "built seaweedfs in $((SECONDS - started)) s"
echo "seaweedfs: $binary"
