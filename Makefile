# Carina. The quick start is `make demo`; every test runs with `make test`.
SHELL := /bin/bash
GO ?= go
CACHE_DIR ?= $(or $(CARINA_CACHE_DIR),$(HOME)/.cache/carina)
export CARINA_CACHE_DIR := $(CACHE_DIR)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/carina-gitops/carina/internal/version.Version=$(VERSION) -X github.com/carina-gitops/carina/internal/version.Commit=$(COMMIT)
STATICCHECK_VERSION := v0.8.2
TEST_TIMEOUT ?= 60m
# Debian packages the tests use: git and git-http-backend, sshd and git-shell,
# Prometheus (the dashboards are tested against a real one), gcc (Gitea's
# sqlite) and runc (the image is run for real).
APT_PACKAGES := git openssh-server openssh-client prometheus gcc libc6-dev runc

.PHONY: all build test test-unit test-e2e deps binaries demo demo-forge cluster lint bench bench-source bench-render bench-apply bench-agent check-orphans clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/carina ./cmd/carina

## deps: install the system packages the tests need, when missing.
deps:
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	[ -x /usr/lib/git-core/git-http-backend ] || missing="$$missing git"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	command -v ssh-keygen >/dev/null || missing="$$missing openssh-client"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v gcc >/dev/null || missing="$$missing gcc libc6-dev"; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## binaries: build the Kubernetes control-plane binaries once per version into $(CACHE_DIR)/k8s.
binaries:
	$(GO) run ./e2e/cmd/cluster -build-only

## test: every test, unit and end-to-end, with the race detector.
test: deps binaries gitea
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory check-orphans

## test-unit: the fast tests; nothing that needs a cluster or Git server.
test-unit:
	$(GO) test -race -short ./...

## check-orphans: fail if any control-plane process outlived the tests.
check-orphans:
	@left=""; for p in /proc/[0-9]*; do \
	  exe=$$(readlink "$$p/exe" 2>/dev/null) || continue; \
	  case "$$exe" in "$(CACHE_DIR)"/k8s/*|"$(CACHE_DIR)"/gitea/*) left="$$left $${p#/proc/}";; esac; \
	done; \
	if [ -n "$$left" ]; then echo "orphaned control-plane processes:"; ps -o pid,args -p $$(echo $$left | tr ' ' ,); exit 1; fi; \
	echo "no control-plane processes left running"

## demo: the quick start on the built-in local control plane. The program
## is built and then run (not `go run`, which exits 1 after Ctrl-C even
## when the program stopped cleanly), so Ctrl-C ends make demo with 0.
demo: binaries build
	$(GO) build -o bin/demo ./e2e/cmd/demo
	bin/demo

## demo-forge: previews and promotion through pull requests on a local Gitea.
demo-forge: binaries build gitea
	$(GO) build -o bin/demo-forge ./e2e/cmd/demo-forge
	bin/demo-forge

## cluster: start one local cluster, print its kubeconfig, stop on Ctrl-C.
cluster: binaries
	$(GO) run ./e2e/cmd/cluster

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench: bench-source bench-render bench-apply bench-agent

bench-source: deps
	CARINA_BENCH_CACHE=$(CACHE_DIR)/bench/source $(GO) test -run '^$$' -bench 'NoChangePoll' -benchtime 50x -count 1 ./source/
	CARINA_BENCH_CACHE=$(CACHE_DIR)/bench/source $(GO) test -run '^$$' -bench 'FirstFetch|IncrementalFetch' -benchtime 5x -count 1 -timeout 30m ./source/

bench-render:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./render/ ./render/pool/ ./capabilities/
	bench/helm/run.sh
	bench/kustomize/run.sh

bench-apply: binaries
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./apply/...

bench-agent: binaries deps gitea
	$(GO) test -run '^$$' -bench 'CommitToApplied|DriftCorrection|Fleet|PreviewOpenedToHealthy' -benchtime 1x -timeout 30m ./agent/

clean:
	rm -rf bin/

## image: the OCI image (static binary on an empty base, user 65532), built
## without a container engine, as an OCI layout archive in $(IMAGE_TAR).
IMAGE_TAR ?= bin/carina-image.tar
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
.PHONY: image image-push
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags "$(LDFLAGS) -s -w" -o bin/image/carina ./cmd/carina
	$(GO) run ./deploy/image -binary bin/image/carina -arch $(IMAGE_ARCH) -version $(VERSION) -revision $(COMMIT) -out $(IMAGE_TAR)

## image-push: push the image of `make image` to $(REGISTRY)/carina:$(VERSION).
image-push: image
	@test -n "$(REGISTRY)" || { echo "set REGISTRY, for example make image-push REGISTRY=registry.example.com/platform"; exit 1; }
	$(GO) run ./deploy/image -from $(IMAGE_TAR) -push $(REGISTRY)/carina:$(VERSION)

## gitea: build the Gitea test forge once per version into $(CACHE_DIR)/gitea (cgo, sqlite).
.PHONY: gitea
gitea:
	$(GO) run ./e2e/gitea/cmd/gitea -build-only
