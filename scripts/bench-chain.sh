#!/usr/bin/env bash
# Chain benchmark: signed-tx throughput and submit-to-commit latency of
# medchain on a 4-validator loopback localnet, and of CometBFT's own
# abci/example/kvstore app on the same localnet wiring in the same run, with
# the ratios. docs/BENCHMARKS.md has the method and the recorded results.
#
#   scripts/bench-chain.sh                      # defaults: ~3 minutes
#   scripts/bench-chain.sh -repeat 1 -rates ""  # throughput only, once
#   scripts/bench-chain.sh -json out.json       # also every figure as JSON
#   scripts/bench-chain.sh -profile /tmp/prof   # also CPU profiles of validator 0
#   go run ./scripts/benchchain -h              # every flag
#
# Exit status: 0 valid run, 1 failure, 2 bad flags, 3 a run with refused,
# failed or uncommitted txs (the results are still printed).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-chain.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "building medchain and the benchmark driver..." >&2
go -C "$repo" build -o "$tmp/medchain" ./cmd/medchain
go -C "$repo" build -o "$tmp/benchchain" ./scripts/benchchain

# The driver runs as a child (not exec) so that the trap removes $tmp after
# it; on Ctrl-C it stops the validators and removes its localnets first.
status=0
"$tmp/benchchain" -bin "$tmp/medchain" -workdir "$tmp" -repo "$repo" \
	-command "scripts/bench-chain.sh${*:+ $*}" "$@" || status=$?
exit "$status"
