# shellcheck shell=bash disable=SC2034
# Shared by the e2e cluster and image commands (e2e/cluster/*, e2e/image/*): paths, the pinned
# versions, the cluster's fixed addresses and ports, logging and the checks that refuse to run.
# Sourced, never executed.

E2E_CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_CLUSTER_DIR/../.." && pwd)
# shellcheck source=versions.env
. "$E2E_CLUSTER_DIR/versions.env"

GROVE_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/grove
IMAGE_CACHE=$GROVE_CACHE/images
# Everything a running cluster owns (PKI, etcd data, containerd root, logs, PID files); `down`
# deletes it. overlayfs needs it on a disk filesystem (not tmpfs, not overlay).
RUN_DIR=${GROVE_CLUSTER_DIR:-/var/tmp/grove-cluster}
# One cluster per machine: every fixed port and interface below is machine-wide.
LOCK_FILE=$GROVE_CACHE/e2e-cluster.lock

# Addresses. The node IP sits on an empty bridge (this kernel has no `dummy` netdev); the API
# server and the kubelet bind there, and pods reach it through their gateway.
NODE_NAME=grove-e2e
NODE_IP=10.99.0.1
NODE_IF=grove-node0
POD_BRIDGE=grove-cni0
CNI_NETWORK=grove-e2e
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local

# Fixed ports, all below the kernel's ephemeral range (32768-60999), so the API-server tests'
# own etcd and kube-apiserver (test/support/kube-apiserver.ts: free ports from that range) can
# never take them; `up` still checks that each is free.
ETCD_PORT=23790
ETCD_PEER_PORT=23800
APISERVER_PORT=6443
CONTROLLER_MANAGER_PORT=10257
SCHEDULER_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
CONTAINERD_STREAM_PORT=10350
CLUSTER_PORTS=("$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$CONTROLLER_MANAGER_PORT" "$SCHEDULER_PORT"
  "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT" "$PROXY_HEALTHZ_PORT" "$PROXY_METRICS_PORT" "$CONTAINERD_STREAM_PORT")

# Debian packages the cluster and the image build use (installed when missing, as root).
HOST_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack nftables iproute2
  debootstrap umoci skopeo openssl curl jq)

LOG_PREFIX=${LOG_PREFIX:-$(basename "$0")}
log() { echo "$LOG_PREFIX: $*" >&2; }
die() {
  echo "$LOG_PREFIX: error: $*" >&2
  exit 1
}

# Seconds since the command started, one decimal.
T0=${T0:-$(date +%s.%N)}
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() { log "[$(elapsed) s] $*"; }

require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it starts containerd and the kubelet, creates a bridge and iptables rules); try: sudo $0 $*"
}

# Installs the missing Debian packages among $@ (root only), else says what to install.
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]} from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
      die "apt-get update failed; install ${missing[*]} by hand"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      die "apt-get install ${missing[*]} failed"
  else
    die "missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})"
  fi
}

# The kubelet needs the cpu, memory, pids, devices and freezer controllers (cgroup v1 or v2).
check_cgroups() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    local c
    for c in cpu memory pids; do
      grep -qw "$c" /sys/fs/cgroup/cgroup.controllers ||
        die "cgroup v2 controller '$c' is not available; the kubelet cannot run here"
    done
  else
    local c
    for c in cpu cpuacct cpuset memory pids devices freezer; do
      [ -f "/sys/fs/cgroup/$c/cgroup.procs" ] ||
        die "cgroup v1 controller '$c' is not mounted at /sys/fs/cgroup/$c; the kubelet cannot run here (no cgroups)"
    done
  fi
}

# True when something listens on TCP or UDP port $1 on any address.
port_in_use() {
  [ -n "$(ss -Hlntu "( sport = :$1 )" 2>/dev/null)" ]
}

# Exports the binary paths scripts/k8s-binaries.sh builds (ETCD_BIN, KUBELET_BIN, …).
load_binary_paths() {
  local line
  while IFS= read -r line; do
    case "$line" in
      [A-Z_]*_BIN=*) export "${line?}" ;;
    esac
  done < <(bash "$REPO_ROOT/scripts/k8s-binaries.sh" --print-env 2>/dev/null)
  [ -n "${KUBELET_BIN:-}" ] || die "scripts/k8s-binaries.sh --print-env printed no KUBELET_BIN"
}

# Prints how much memory (MiB, resident) a process and its threads use.
rss_mib() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
