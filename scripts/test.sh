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

if [ "$fuzztime" != "0" ]; then
  echo "== fuzz targets, $fuzztime each"
  grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
    pkg=./$(dirname "${file#./}")
    for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
      echo "-- $pkg $target"
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    done
  done
fi
echo "== all tests passed"
