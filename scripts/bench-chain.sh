#!/usr/bin/env bash
# Chain benchmark: signed-tx throughput and submit-to-commit latency of
# medchain on a 4-validator loopback localnet, and of CometBFT's own
# abci/example/kvstore app on the same localnet wiring in the same run, with
# the ratio. See docs/BENCHMARKS.md for the method and recorded results.
#
#   scripts/bench-chain.sh                     # defaults: 4 validators, 4000 txs per app
#   scripts/bench-chain.sh -txs 8000 -json out.json
#   scripts/bench-chain.sh -profile /tmp/prof  # also a CPU profile of validator 0 per app
#   go run ./scripts/benchchain -h             # every flag
#
# Exit status: 0 valid run, 1 failure, 2 bad flags, 3 a run with refused,
# failed or uncommitted txs (results are still printed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-chain.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "building medchain and the benchmark driver..." >&2
go build -o "$tmp/medchain" ./cmd/medchain
go build -o "$tmp/benchchain" ./scripts/benchchain

# Run the driver as a child (not exec) so the trap removes $tmp afterwards;
# Ctrl-C reaches the driver, which stops the validators and removes its
# localnets before exiting.
status=0
"$tmp/benchchain" -bin "$tmp/medchain" -workdir "$tmp" -command "scripts/bench-chain.sh${*:+ $*}" "$@" || status=$?
exit "$status"
