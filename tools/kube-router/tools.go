//go:build tools

// kube-router's NetworkPolicy controller, for the real node's test (test/k8s/node.ts
// startNetworkPolicies): a real implementation that enforces the NetworkPolicy the modeler writes.
// Built from this module (Makefile), which pins it.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
