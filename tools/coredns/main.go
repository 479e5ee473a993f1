// coredns: a real cluster DNS for the real-node tests (test/k8s/node.ts), built from the Go module
// proxy the way CoreDNS documents for custom builds: only the plugins a cluster's Corefile uses
// are imported, so the build stays small (no cloud SDKs) and static (CGO_ENABLED=0, Makefile),
// and can be packed into a container image alone. A Corefile directive outside this list is
// rejected at startup ("unknown directive"), and so is CoreDNS's default Corefile (whoami).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The chosen plugins in CoreDNS's standard order (its plugin.cfg), which is the order they run in.
func init() {
	dnsserver.Directives = []string{
		"ready",
		"health",
		"errors",
		"log",
		"cache",
		"kubernetes",
		"forward",
	}
}

func main() {
	coremain.Run()
}
