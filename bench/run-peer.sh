#!/usr/bin/env bash
# Runs one render engine's benchmark side by side with its peer CLI, on the
# same input in one `go test -bench` run, then prints ns/op of both and the
# ratio carina/cli (lower is better for Carina; the target is <= 1.1). The
# "interleaved" sub-benchmarks run both sides in turn in every iteration, so
# that a busy machine weighs on both alike; they report wall and CPU time
# and the two ratios.
#
#   bench/run-peer.sh helm|kustomize          # BENCHTIME=3s COUNT=1 by default
#   BENCHTIME=5s COUNT=3 bench/run-peer.sh kustomize
set -euo pipefail
cd "$(dirname "$0")/.."

engine="${1:?usage: bench/run-peer.sh helm|kustomize}"
case "$engine" in
helm) export CARINA_HELM_BIN; CARINA_HELM_BIN="$(bench/helm/build-peer.sh)" ;;
kustomize) export CARINA_KUSTOMIZE_BIN; CARINA_KUSTOMIZE_BIN="$(bench/kustomize/build-peer.sh)" ;;
*) echo "unknown engine $engine (helm or kustomize)" >&2; exit 2 ;;
esac
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench '^BenchmarkRender$' -benchtime "${BENCHTIME:-3s}" -count "${COUNT:-1}" \
	"./render/$engine" | tee "$out"
peer="$engine-cli"
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
		if (k ~ /interleaved$/) continue
		printf "%-45s %15.0f %15.0f %8.3f\n", k, c, q, c / q
	}
}' "$out"
echo
awk '
/^Benchmark.*ratio-wall/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) m[$(i + 1)] = $i
	printf "%-45s wall carina %.0f ns, cli %.0f ns, ratio %.3f; cpu carina %.0f ns, cli %.0f ns, ratio %.3f\n", name,
		m["carina-ns/op"], m["cli-ns/op"], m["ratio-wall"], m["carina-cpu-ns/op"], m["cli-cpu-ns/op"], m["ratio-cpu"]
}' "$out"
