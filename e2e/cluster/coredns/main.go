// CoreDNS for the e2e cluster (e2e/cluster/): only the plugins its Corefile uses. No `forward`:
// names outside cluster.local get no answer, so nothing leaves the machine. scripts/k8s-binaries.sh
// builds it against github.com/coredns/coredns at COREDNS_VERSION (e2e/cluster/versions.env);
// changing this file changes the cached binary's version key.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
