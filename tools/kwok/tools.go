//go:build tools

// KWOK (sigs.k8s.io/kwok) simulates nodes and their pods on the tests' control plane: the scale
// test runs a Deployment over many fake nodes (Makefile: kube-tools).
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
