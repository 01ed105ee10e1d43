#!/usr/bin/env bash
# Builds the peer CLI for the Helm benchmark (render/helm BenchmarkRender):
# `helm` from the module proxy at the exact SDK version Carina links, into a
# cache directory outside the repository. Prints the binary's path.
#
#   bench/helm/build-peer.sh            # builds once, then reuses the binary
#   CARINA_BENCH_CACHE=/tmp/x bench/helm/build-peer.sh
set -euo pipefail

version=v3.21.4
cache="${CARINA_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carina/bench}"
bin="$cache/helm-$version/helm"

if [[ ! -x "$bin" ]]; then
	mkdir -p "$(dirname "$bin")"
	# go install pkg@version builds with helm's own go.mod and go.sum,
	# checked against the checksum database, and leaves Carina's go.mod alone.
	GOBIN="$(dirname "$bin")" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		go install "helm.sh/helm/v3/cmd/helm@$version" >&2
fi
echo "$bin"
