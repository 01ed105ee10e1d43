#!/usr/bin/env bash
# Runs the Kustomize benchmark: Carina's engine (render/kustomize) and `kustomize build`
# side by side in one `go test -bench` run, on the same overlays (4 and 1,000 objects),
# then prints ns/op for both and the ratio carina/cli (lower is better for
# Carina; the target is <= 1.1).
#
#   bench/kustomize/run.sh                  # BENCHTIME=3s COUNT=1 by default
#   BENCHTIME=5s COUNT=3 bench/kustomize/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

export CARINA_KUSTOMIZE_BIN
CARINA_KUSTOMIZE_BIN="$(bench/kustomize/build-peer.sh)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench '^BenchmarkRender$' -benchtime "${BENCHTIME:-3s}" -count "${COUNT:-1}" \
	./render/kustomize | tee "$out"
peer=kustomize-cli
# ratio: mean ns/op of each case's carina and peer sub-benchmarks.
awk -v peer="$peer" '
/^Benchmark/ && / ns\/op/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	n = split(name, part, "/"); side = part[n]
	key = substr(name, 1, length(name) - length(side) - 1)
	for (i = 2; i < NF; i++) if ($(i + 1) == "ns/op") v = $i
	sum[key, side] += v; cnt[key, side]++; keys[key] = 1
}
END {
	printf "%-45s %15s %15s %8s\n", "case", "carina ns/op", peer " ns/op", "ratio"
	for (k in keys) {
		if (!cnt[k, "carina"] || !cnt[k, peer]) continue
		c = sum[k, "carina"] / cnt[k, "carina"]; q = sum[k, peer] / cnt[k, peer]
		printf "%-45s %15.0f %15.0f %8.3f\n", k, c, q, c / q
	}
}' "$out"
