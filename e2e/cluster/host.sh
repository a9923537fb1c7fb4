# shellcheck shell=bash
# What the e2e cluster changes on the host, recorded before `up` changes it and undone by `down`
# (and by `up` itself when it fails). Sourced after lib.sh, never executed.
#
# The cluster changes: the sysctls below (ip_forward by `up`; the kernel tunables the kubelet
# sets at start), two bridges, iptables/nftables rules (kube-proxy, CNI), network namespaces,
# cgroups (kubepods), mounts under RUN_DIR, and a few fixed host paths some components use
# whatever their configuration says (the kubelet's /var/lib/kubelet/device-plugins and
# /var/log/containers, containerd 1.6's /run/containerd/s shim sockets, libcni's
# /var/lib/cni cache). Processes are stopped by PID file, never by name.

HOST_STATE=$RUN_DIR/host
# Sysctls restored on `down` whenever they differ from before `up`.
SAVED_SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait)
# Host paths a component may create; each one `up` finds missing is removed by `down`.
HOST_PATHS=(/run/containerd /var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /run/netns
  /etc/cni /opt/cni /opt/containerd /var/lib/containerd /etc/kubernetes /usr/libexec/kubernetes)
# Every process `up` starts but containerd (stopped last: it removes the pods).
COMPONENTS=(kube-proxy kube-scheduler kube-controller-manager kubelet kube-apiserver etcd)

CONTAINERD_SOCK=$RUN_DIR/containerd/containerd.sock

snapshot_host() {
  mkdir -p "$HOST_STATE"
  local name value
  for name in "${SAVED_SYSCTLS[@]}"; do
    value=$(sysctl -n "$name" 2>/dev/null) || continue
    printf '%s=%s\n' "$name" "$value"
  done >"$HOST_STATE/sysctls"
  local path
  for path in "${HOST_PATHS[@]}"; do
    [ -e "$path" ] && echo "$path"
  done >"$HOST_STATE/paths"
  ls -1 /run/netns 2>/dev/null >"$HOST_STATE/netns" || : >"$HOST_STATE/netns"
  ls -1 /run/containerd/s 2>/dev/null >"$HOST_STATE/shim-sockets" || : >"$HOST_STATE/shim-sockets"
  nft list tables 2>/dev/null >"$HOST_STATE/nft-tables" || : >"$HOST_STATE/nft-tables"
}

# True when PID runs the binary recorded for component NAME, or names our run directory on its
# command line: a PID recycled by an unrelated process is never signalled.
is_ours() {
  local pid=$1 name=$2 exe
  exe=$(cat "$RUN_DIR/pids/$name.exe" 2>/dev/null || true)
  [ -n "$exe" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && return 0
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$RUN_DIR/"
}

# Stops the processes in pids/NAME.pid of every NAME given, all at once: SIGTERM, then SIGKILL
# to those still running after TIMEOUT seconds (the cluster is being thrown away: no component
# needs a graceful shutdown, and the API server's takes up to a minute with watches open).
stop_pids() { # timeout name…
  local timeout=$1 name pid pids=()
  shift
  for name in "$@"; do
    [ -f "$RUN_DIR/pids/$name.pid" ] || continue
    pid=$(cat "$RUN_DIR/pids/$name.pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && is_ours "$pid" "$name"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + timeout)) alive
  while :; do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -gt 0 ] && [ $SECONDS -lt $deadline ] || break
    sleep 0.1
  done
  for pid in "${alive[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${alive[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  for name in "$@"; do rm -f "$RUN_DIR/pids/$name.pid" "$RUN_DIR/pids/$name.exe"; done
}

# PIDs of every process in the kubepods cgroups (the pods' processes; `up` refuses to start
# when kubepods cgroups exist, so they are all ours).
pod_pids() {
  local dir
  for dir in /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$dir" ] && find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}

# containerd's shims for our containerd: their PID files, then any process whose command line
# names our socket (the path is unique to this cluster).
shim_pids() {
  cat "$RUN_DIR"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid 2>/dev/null || true
  local proc
  for proc in /proc/[0-9]*; do
    { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "$CONTAINERD_SOCK" && echo "${proc#/proc/}"
  done
  return 0
}

# Deletes every rule jumping to, and every chain named like, the regex $1 in iptables and
# ip6tables (all tables).
remove_chains() {
  local pattern=$1 tool table rule chain
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$tool" -t "$table" -S >/dev/null 2>&1 || continue
      while IFS= read -r rule; do
        eval "$tool -w -t $table ${rule/#-A/-D}" 2>/dev/null || true
      done < <("$tool" -t "$table" -S 2>/dev/null | grep -E -- "^-A .* -j ($pattern)" || true)
      local chains=()
      mapfile -t chains < <("$tool" -t "$table" -S 2>/dev/null | awk -v p="^($pattern)" '$1 == "-N" && $2 ~ p { print $2 }')
      for chain in "${chains[@]}"; do "$tool" -w -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in "${chains[@]}"; do "$tool" -w -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
}

# Undoes everything `up` did. Safe to run at any point of `up` after its checks, and again.
# Without the host snapshot `up` takes before its first change, there is nothing of ours to
# undo (only the run directory, if any, is removed).
teardown() {
  local crictl=${CRICTL_BIN:-}
  if [ ! -f "$HOST_STATE/sysctls" ]; then
    [ ! -d "$RUN_DIR" ] || [ -n "$(awk -v r="$RUN_DIR/" 'index($5, r) == 1' /proc/self/mountinfo)" ] || rm -rf "$RUN_DIR"
    return 0
  fi
  # 1. The control plane and the node agents, so nothing recreates pods or rules meanwhile.
  stop_pids 3 "${COMPONENTS[@]}"
  step "control plane and node agents stopped"
  # 2. Pods, through containerd's CRI while it still runs: stopping a sandbox runs CNI DEL
  #    (veth, network namespace, IP lease, portmap rules).
  if [ -S "$CONTAINERD_SOCK" ] && [ -f "$RUN_DIR/pids/containerd.pid" ] &&
    kill -0 "$(cat "$RUN_DIR/pids/containerd.pid")" 2>/dev/null; then
    if [ -x "$crictl" ]; then
      timeout 90 "$crictl" --runtime-endpoint "unix://$CONTAINERD_SOCK" --timeout 60s rmp --all --force >/dev/null 2>&1 ||
        log "crictl rmp did not remove every pod; killing what is left"
    fi
    local ctr=(ctr --address "$CONTAINERD_SOCK" --namespace k8s.io) task
    for task in $("${ctr[@]}" tasks list --quiet 2>/dev/null); do
      "${ctr[@]}" tasks kill --signal SIGKILL "$task" >/dev/null 2>&1 || true
    done
    for task in $("${ctr[@]}" tasks list --quiet 2>/dev/null); do
      "${ctr[@]}" tasks delete --force "$task" >/dev/null 2>&1 || true
    done
  fi
  step "pods removed"
  stop_pids 10 containerd
  # 3. Whatever survived: pod processes (kubepods cgroups), then shims.
  local pid
  for pid in $(pod_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in $(shim_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + 10))
  while [ -n "$(pod_pids)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  # 4. Mounts: network namespaces we created, then everything under RUN_DIR, deepest first.
  if [ -d /run/netns ]; then
    local entry ns
    for entry in /run/netns/*; do
      [ -e "$entry" ] || continue
      ns=${entry##*/}
      grep -qxF "$ns" "$HOST_STATE/netns" 2>/dev/null && continue
      umount "/run/netns/$ns" 2>/dev/null || umount -l "/run/netns/$ns" 2>/dev/null || true
      rm -f "/run/netns/$ns"
    done
  fi
  local mount
  for mount in $(awk -v r="$RUN_DIR/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
  # 5. Network: pod veths, the bridges, then rules (kube-proxy's own cleanup first).
  local link
  for link in $(ip -o link show master "$POD_BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
    ip link delete "$link" 2>/dev/null || true
  done
  ip link delete "$POD_BRIDGE" 2>/dev/null || true
  ip link delete "$NODE_IF" 2>/dev/null || true
  if [ -f "$HOST_STATE/nft-tables" ]; then
    [ ! -x "${KUBE_PROXY_BIN:-}" ] || timeout 60 "$KUBE_PROXY_BIN" --cleanup >/dev/null 2>&1 || true
    remove_chains 'KUBE-|CNI-'
    # Tables that did not exist before `up` (created for kube-proxy's and CNI's rules).
    local family table
    while read -r _ family table; do
      [ -n "$table" ] || continue
      grep -qxF "table $family $table" "$HOST_STATE/nft-tables" || nft delete table "$family" "$table" 2>/dev/null || true
    done < <(nft list tables 2>/dev/null)
  fi
  # 6. Sysctls.
  if [ -f "$HOST_STATE/sysctls" ]; then
    local line key value
    while IFS= read -r line; do
      key=${line%%=*}
      value=${line#*=}
      [ "$(sysctl -n "$key" 2>/dev/null)" = "$value" ] || sysctl -q -w "$key=$value" >/dev/null 2>&1 ||
        log "could not restore sysctl $key=$value"
    done <"$HOST_STATE/sysctls"
  fi
  # 7. The kubepods cgroups, deepest first.
  local root
  for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  # 8. Host paths the components created.
  if [ -f "$HOST_STATE/paths" ]; then
    local path
    for path in "${HOST_PATHS[@]}"; do
      [ -e "$path" ] || [ -L "$path" ] || continue
      grep -qxF "$path" "$HOST_STATE/paths" && continue
      rm -rf "$path"
    done
    # In paths that were there before: only our entries.
    if [ -d /var/log/containers ]; then
      find /var/log/containers -maxdepth 1 -type l -lname "$RUN_DIR/*" -delete 2>/dev/null || true
    fi
    if [ -d /run/containerd/s ]; then
      local socket
      for socket in /run/containerd/s/*; do
        [ -e "$socket" ] || continue
        grep -qxF "${socket##*/}" "$HOST_STATE/shim-sockets" || rm -f "$socket"
      done
    fi
    rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
  fi
  step "network, rules, sysctls, cgroups and host paths restored"
  # 9. The run directory itself (the logs too: collect diagnostics before `down`).
  if [ -d "$RUN_DIR" ]; then
    if [ -n "$(awk -v r="$RUN_DIR/" 'index($5, r) == 1' /proc/self/mountinfo)" ]; then
      log "mounts remain under $RUN_DIR; leaving it in place"
      return 1
    fi
    rm -rf "$RUN_DIR"
  fi
  return 0
}

# Lists what the cluster could have left behind; prints nothing when the host is clean.
leftovers() {
  local pid proc link dir
  for pid in $(pod_pids) $(shim_pids); do echo "process $pid: $({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)"; done
  for proc in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "$RUN_DIR/"; then
      echo "process ${proc#/proc/}: $({ tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null)"
    fi
  done
  awk -v r="$RUN_DIR/" 'index($5, r) == 1 { print "mount " $5 }' /proc/self/mountinfo
  for link in "$NODE_IF" "$POD_BRIDGE"; do
    if ip link show "$link" >/dev/null 2>&1; then echo "link $link"; fi
  done
  { iptables-save 2>/dev/null | grep -E '^(:|-A )(KUBE-|CNI-)|-j (KUBE-|CNI-)' | sed 's/^/iptables /' | head -5; } || true
  { ip6tables-save 2>/dev/null | grep -E '^(:|-A )(KUBE-|CNI-)|-j (KUBE-|CNI-)' | sed 's/^/ip6tables /' | head -5; } || true
  for dir in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    if [ -d "$dir" ]; then echo "cgroup $dir"; fi
  done
  if [ -d "$RUN_DIR" ]; then echo "directory $RUN_DIR"; fi
  return 0
}

# A description of the host state the cluster touches (for `smoke`'s before/after comparison):
# interfaces, addresses, routes, the nftables ruleset (iptables-nft included), the sysctls it
# may change, the host paths above, mounts, top-level cgroups, network namespaces.
host_fingerprint() {
  echo "== links"
  ip -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1 | sort
  echo "== addresses"
  ip -o addr show | awk '{ print $2, $3, $4 }' | sort
  echo "== routes"
  ip route show table all 2>/dev/null | sort
  echo "== nftables"
  nft list ruleset 2>/dev/null | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'
  echo "== sysctls"
  sysctl -a 2>/dev/null | awk '$1 ~ /^(net\.ipv4\.ip_forward|net\.ipv4\.conf\.(all|default)\..*|net\.ipv6\.conf\.(all|default)\..*|net\.bridge\..*|vm\.overcommit_memory|vm\.panic_on_oom|kernel\.panic|kernel\.panic_on_oops|kernel\.keys\.root_max.*|net\.netfilter\.nf_conntrack_(max|tcp_timeout_established|tcp_timeout_close_wait))$/' | sort
  echo "== paths"
  local path
  for path in "${HOST_PATHS[@]}" "$RUN_DIR"; do if [ -e "$path" ]; then echo "$path"; fi; done
  echo "== mounts"
  awk '{ print $5, $9 }' /proc/self/mountinfo | sort
  echo "== cgroups"
  find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d 2>/dev/null | sort
  echo "== netns"
  ls -1 /run/netns 2>/dev/null || true
}
