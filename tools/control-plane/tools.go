//go:build tools

// The real Kubernetes control plane the tests run against (issues 12, 13): kube-apiserver,
// kube-controller-manager, kube-scheduler and kubectl from k8s.io/kubernetes at one release, and
// the kubelet and kube-proxy of the real node (issue 21). Its go.mod points
// the k8s.io staging modules at local paths, so it cannot be installed directly; this module
// requires it and pins every staging module to the matching v0.x release (Makefile: kube-tools).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
