#!/usr/bin/env bash
# The project's test command (the README's second set-up command, and CI's).
# Builds, checks formatting and vet, runs every test with the race detector,
# then runs every fuzz target for a short bounded time.
#   FUZZTIME=6s (default) per target; FUZZTIME=0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-6s}

echo "== go build ./..."
go build ./...

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet ./..."
go vet ./...

echo "== only he/ imports Lattigo"
if grep -rl --include='*.go' 'tuneinsight/lattigo' . | grep -v '^./he/'; then
  echo "the files above import Lattigo outside he/"; exit 1
fi

echo "== go test -race ./..."
go test -race -count=1 -timeout 25m ./...

# fuzz_one runs one target. Go 1.26's fuzz coordinator can fail a target
# with a bare "context deadline exceeded" when -fuzztime expires while a
# worker is mid-call (go.dev/issue/75804, fixed in Go 1.27). That failure
# writes no crasher; a real finding always does. So a failure whose output
# ends in that line and that left no new file in testdata/fuzz/<target> is
# rerun, at most twice; anything else fails the run at once.
crashers() { { ls "$1" 2>/dev/null || true; } | wc -l; }

fuzz_one() {
  local pkg=$1 target=$2 corpus="$1/testdata/fuzz/$2" attempt before out rc
  for attempt in 1 2 3; do
    before=$(crashers "$corpus")
    out=$(mktemp)
    set +e
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" = 0 ]; then rm -f "$out"; return 0; fi
    if grep -q '^    context deadline exceeded$' "$out" && ! grep -q 'Failing input written' "$out" \
      && [ "$(crashers "$corpus")" = "$before" ] && [ "$attempt" -lt 3 ]; then
      echo "   (Go fuzz coordinator deadline race, no crasher written: running $target again)"
      rm -f "$out"; continue
    fi
    rm -f "$out"; return "$rc"
  done
}

if [ "$fuzztime" != "0" ]; then
  echo "== fuzz targets, $fuzztime each"
  grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
    pkg=./$(dirname "${file#./}")
    for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
      echo "-- $pkg $target"
      fuzz_one "$pkg" "$target"
    done
  done
fi
echo "== all tests passed"
