#!/usr/bin/env bash
# Research-query benchmark: submit → released latency of encrypted queries
# on a 4-validator loopback localnet whose hospitals imported a synthetic
# cohort, per phase, with the validators' CPU. docs/BENCHMARKS.md has the
# recorded results.
#
#   scripts/bench-query.sh                        # 1000 patients per hospital, 3 runs
#   scripts/bench-query.sh -patients 10000        # bigger cohorts (the import dominates)
#   go run ./scripts/benchquery -h                # every flag
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-query.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "building medchain and the benchmark driver..." >&2
go -C "$repo" build -o "$tmp/medchain" ./cmd/medchain
go -C "$repo" build -o "$tmp/benchquery" ./scripts/benchquery

status=0
"$tmp/benchquery" -bin "$tmp/medchain" -workdir "$tmp/run" \
	-command "scripts/bench-query.sh${*:+ $*}" "$@" || status=$?
exit "$status"
