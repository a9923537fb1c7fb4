#!/usr/bin/env bash
# Installs what Grove's local stack and tests need when it is missing: redis-server and
# openssl (and mosquitto for the benchmark; with --k8s or --ui, chromium for the web UI
# tests) from Debian's packages, the npm dependencies, which bring the pinned Node.js 24
# runtime, and, with --k8s, the Kubernetes binaries the API-server tests use and the S3 server
# (SeaweedFS) the Data Bridge's tests use (each built from the Go module proxy once, then
# cached).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${GROVE_WITH_MOSQUITTO:-0}" = 1 ] && ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  missing+=(mosquitto)
fi
# The web UI tests drive Debian's Chromium (via playwright-core); only the test path needs it,
# so `npm start` stays light.
if [ "${1:-}" = "--k8s" ] || [ "${1:-}" = "--ui" ] || [ "${GROVE_WITH_CHROMIUM:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "grove: installing ${missing[*]} from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "grove: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) and retry" >&2
    exit 1
  fi
fi
# Debian's package starts a system redis on 6379; Grove never uses it, and leaves it alone.

if [ ! -x node_modules/.bin/jest ] || [ ! -d node_modules/node ]; then
  echo "grove: installing npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
fi

if [ "${1:-}" = "--k8s" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "grove: Go is needed to build etcd, kube-apiserver and SeaweedFS for the tests; install Go 1.26" >&2
    exit 1
  fi
  bash scripts/k8s-binaries.sh >&2
  bash scripts/s3-server.sh >&2
fi
