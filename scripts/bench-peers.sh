#!/usr/bin/env bash
# Builds and caches the benchmark's peers of equal durability (issue 11): Centrifugo v6 (run
# with its Redis engine, history and recovery on) and NATS server (run with JetStream file
# storage). Built from their release modules on the Go module proxy, like
# scripts/k8s-binaries.sh; a binary already in the cache is reused.
#
# Usage:
#   scripts/bench-peers.sh [centrifugo|nats-server]…  build what is missing (default: both);
#                                                     prints "<name>: <path>" lines
#   scripts/bench-peers.sh --print-env                prints CENTRIFUGO_BIN=… and
#                                                     NATS_SERVER_BIN=…; never builds
# Binaries land in ~/.cache/grove/bench/<name>-<version>/<name> (XDG_CACHE_HOME is honoured).
# GROVE_GO_BUILD_JOBS (default 1) sets `go build -p`. Measured with the module downloads and
# a Go build cache already holding some shared packages: Centrifugo 121 s (66 MB), then NATS
# server 16 s (17 MB).
#
# Debian 12 has a nats-server package, but at 2.9.10; the build here is the current release.
#
# Configurations verified to start on loopback (the benchmark will write its own from these):
#
# Centrifugo 6.9.1, with a redis-server on 127.0.0.1:$REDIS_PORT (appendonly yes, appendfsync
# always or everysec: Centrifugo's durability is that Redis's), `centrifugo -c config.json`:
#   {
#     "http_server": { "address": "127.0.0.1", "port": $PORT,
#                      "internal_address": "127.0.0.1", "internal_port": "$INTERNAL_PORT" },
#     "client": { "token": { "hmac_secret_key": "bench-secret" },
#                 "allowed_origins": ["http://127.0.0.1"] },
#     "engine": { "type": "redis", "redis": { "address": ["redis://127.0.0.1:$REDIS_PORT"] } },
#     "channel": { "namespaces": [ { "name": "bench", "history_size": 1000, "history_ttl": "300s",
#                                    "force_recovery": true, "force_positioning": true,
#                                    "allow_subscribe_for_client": true } ] },
#     "http_api": { "key": "bench-api-key" },
#     "health": { "enabled": true },
#     "usage_stats": { "disabled": true }
#   }
# `internal_port` is a string. WebSocket clients connect to ws://127.0.0.1:$PORT/connection/websocket
# (an HS256 JWT signed with hmac_secret_key); the server API (POST /api/publish, /api/history,
# header "X-API-Key: bench-api-key") and GET /health (200 when ready) are on $INTERNAL_PORT.
# Checked: a publish to "bench:x" came back from /api/history with its offset and epoch, and
# Redis held centrifugo.stream.bench:x. `centrifugo checkconfig -c config.json` validates a file;
# `centrifugo defaultconfig -d` prints every option.
#
# NATS server 2.15.3, `nats-server -c nats.conf`:
#   listen: 127.0.0.1:$PORT
#   http: 127.0.0.1:$MONITOR_PORT
#   server_name: bench
#   jetstream {
#     store_dir: "$TEMP_DIR/js"
#     sync_interval: always
#   }
# Ready when GET http://127.0.0.1:$MONITOR_PORT/healthz?js-enabled-only=true answers 200.
# `sync_interval: always` fsyncs each JetStream write before it is acknowledged (/jsz shows
# "sync_always": true), the durability of Redis's appendfsync always; without it NATS fsyncs
# every 2 minutes. Checked: a file-storage stream "dev" (subjects dev.>), a publish to dev.d1
# acknowledged with {"stream":"dev","seq":1}, a durable pull consumer with ack_policy explicit
# that delivered it, and its ack.
set -euo pipefail
shopt -s inherit_errexit

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GWB_NAME=bench-peers
GWB_CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/grove/bench"
# shellcheck source-path=SCRIPTDIR source=go-wrapper-build.sh
. "$repo_root/scripts/go-wrapper-build.sh"

CENTRIFUGO_MODULE=github.com/centrifugal/centrifugo/v6
CENTRIFUGO_VERSION=v6.9.1
NATS_SERVER_MODULE=github.com/nats-io/nats-server/v2
NATS_SERVER_VERSION=v2.15.3

ALL=(centrifugo nats-server)

version_of() {
  case "$1" in
    centrifugo) echo "$CENTRIFUGO_VERSION" ;;
    nats-server) echo "$NATS_SERVER_VERSION" ;;
    *) gwb_die "unknown peer '$1' (known: ${ALL[*]})" ;;
  esac
}

binary_path() {
  echo "$GWB_CACHE_ROOT/$1-$(version_of "$1")/$1"
}

if [ "${1:-}" = --print-env ]; then
  for peer in "${ALL[@]}"; do
    name=${peer//-/_}
    echo "${name^^}_BIN=$(binary_path "$peer")"
    [ -x "$(binary_path "$peer")" ] || gwb_log "note: $peer is not built yet; run scripts/bench-peers.sh"
  done
  exit 0
fi

peers=("$@")
[ ${#peers[@]} -gt 0 ] || peers=("${ALL[@]}")
for peer in "${peers[@]}"; do version_of "$peer" >/dev/null; done

build_centrifugo() {
  local dir
  dir=$(gwb_new_wrapper centrifugo "$CENTRIFUGO_MODULE" "$CENTRIFUGO_VERSION")
  (
    cd "$dir"
    nice -n 19 go get "$CENTRIFUGO_MODULE@$CENTRIFUGO_VERSION"
    # As its .goreleaser.yml, less the usage-stats endpoint and token: left empty, the
    # binary sends no statistics anywhere.
    nice -n 19 go build "${GWB_BUILD_FLAGS[@]}" \
      -ldflags "-s -w -X $CENTRIFUGO_MODULE/internal/build.Version=${CENTRIFUGO_VERSION#v}" \
      -o "$dir/centrifugo" "$CENTRIFUGO_MODULE"
  )
  gwb_install_binary "$dir/centrifugo" "$(binary_path centrifugo)"
}

build_nats_server() {
  local dir
  dir=$(gwb_new_wrapper nats-server "$NATS_SERVER_MODULE" "$NATS_SERVER_VERSION")
  (
    cd "$dir"
    nice -n 19 go get "$NATS_SERVER_MODULE@$NATS_SERVER_VERSION"
    # The version is a constant in the source; the commit stamp is what its release adds.
    nice -n 19 go build "${GWB_BUILD_FLAGS[@]}" \
      -ldflags "-s -w -X $NATS_SERVER_MODULE/server.gitCommit=go-module-proxy" \
      -o "$dir/nats-server" "$NATS_SERVER_MODULE"
  )
  gwb_install_binary "$dir/nats-server" "$(binary_path nats-server)"
}

prepared=0
for peer in "${peers[@]}"; do
  path=$(binary_path "$peer")
  if [ ! -x "$path" ]; then
    if [ $prepared = 0 ]; then
      gwb_prepare
      prepared=1
    fi
  fi
  # Checked again after the lock: another run may have built it meanwhile.
  if [ ! -x "$path" ]; then
    gwb_log "building $peer $(version_of "$peer")"
    started=$SECONDS
    case "$peer" in
      centrifugo) build_centrifugo ;;
      nats-server) build_nats_server ;;
    esac
    gwb_log "built $peer in $((SECONDS - started)) s"
  fi
  echo "$peer: $path"
done
