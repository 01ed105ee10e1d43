#!/usr/bin/env bash
# Builds the peer CLI for the Kustomize benchmark (render/kustomize
# BenchmarkRender): `kustomize` v5.8.2 from the module proxy, the release
# whose go.mod pins sigs.k8s.io/kustomize/api v0.21.2, the version Carina
# links. `kubectl kustomize` embeds the same krusty engine, so this CLI is the
# same work without kubectl's own start-up. The binary goes to a cache
# directory outside the repository; the script prints its path.
#
#   bench/kustomize/build-peer.sh
#   CARINA_BENCH_CACHE=/tmp/x bench/kustomize/build-peer.sh
set -euo pipefail

version=v5.8.2
cache="${CARINA_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carina/bench}"
bin="$cache/kustomize-$version/kustomize"

if [[ ! -x "$bin" ]]; then
	mkdir -p "$(dirname "$bin")"
	# go install pkg@version builds with kustomize's own go.mod and go.sum,
	# checked against the checksum database, and leaves Carina's go.mod alone.
	GOBIN="$(dirname "$bin")" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		go install "sigs.k8s.io/kustomize/kustomize/v5@$version" >&2
fi
echo "$bin"
