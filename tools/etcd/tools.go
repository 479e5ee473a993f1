//go:build tools

// etcd for the tests' kube-apiserver, from the Go module proxy. go.etcd.io/etcd/server/v3 has
// replace directives, so `go install` refuses it; built from this module instead (Makefile).
package tools

import _ "go.etcd.io/etcd/server/v3"
