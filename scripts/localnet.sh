#!/usr/bin/env bash
# Run a localnet written by `medchain localnet`, one OS process per validator.
#
#   scripts/localnet.sh [-d DIR] [-b BIN] start          start every validator
#   scripts/localnet.sh [-d DIR] [-b BIN] start I        start validator I
#   scripts/localnet.sh [-d DIR] stop [I]                SIGTERM (clean shutdown), wait
#   scripts/localnet.sh [-d DIR] kill I                  SIGKILL validator I
#   scripts/localnet.sh [-d DIR] [-b BIN] restart I [D]  SIGTERM I, wait D seconds (default 1), start I
#   scripts/localnet.sh [-d DIR] [-b BIN] status         height and app hash of every validator
#
# DIR defaults to ./localnet, BIN to `medchain` on PATH (or ./medchain).
# Each validator I writes DIR/nodeI/node.log and DIR/nodeI/node.pid.
set -euo pipefail

dir=./localnet
bin=""
while getopts "d:b:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    b) bin=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
cmd=${1:-}
[ -n "$cmd" ] || { sed -n '2,13p' "$0"; exit 2; }

if [ -z "$bin" ]; then
  if command -v medchain >/dev/null 2>&1; then bin=$(command -v medchain)
  elif [ -x ./medchain ]; then bin=./medchain
  else echo "no medchain binary: build it (go build -o medchain ./cmd/medchain) or pass -b BIN" >&2; exit 2
  fi
fi
manifest=$dir/localnet.json
[ -f "$manifest" ] || { echo "$manifest not found: create the localnet with: medchain localnet --validators 4 --dir $dir" >&2; exit 2; }

count=$(grep -c '"home"' "$manifest")
field() { # field NAME I: the I-th value of "NAME" in localnet.json
  grep "\"$1\"" "$manifest" | sed -n "$(($2 + 1))p" | cut -d'"' -f4
}
check_index() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -lt "$count" ] || { echo "validator index '${1:-}' must be 0..$((count - 1))" >&2; exit 2; }
}
pidfile() { echo "$(field home "$1")/node.pid"; }
running() { local p; p=$(pidfile "$1"); [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; }

start_one() {
  check_index "$1"
  if running "$1"; then echo "validator $1 already running (pid $(cat "$(pidfile "$1")"))"; return; fi
  local home; home=$(field home "$1")
  nohup "$bin" start --home "$home" --keyring-backend test >>"$home/node.log" 2>&1 &
  echo $! >"$(pidfile "$1")"
  echo "started validator $1 (pid $!, rpc $(field rpc "$1"), log $home/node.log)"
}
stop_one() {
  check_index "$1"
  if ! running "$1"; then echo "validator $1 is not running"; rm -f "$(pidfile "$1")"; return; fi
  local pid; pid=$(cat "$(pidfile "$1")")
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "validator $1 did not stop in 30 s; killing" >&2; kill -KILL "$pid"; fi
  rm -f "$(pidfile "$1")"
  echo "stopped validator $1"
}
kill_one() {
  check_index "$1"
  if ! running "$1"; then echo "validator $1 is not running"; return; fi
  kill -KILL "$(cat "$(pidfile "$1")")"
  rm -f "$(pidfile "$1")"
  echo "killed validator $1 (SIGKILL)"
}
status_all() {
  for i in $(seq 0 $((count - 1))); do
    if running "$i"; then state="up (pid $(cat "$(pidfile "$i")"))"; else state="down"; fi
    line=$("$bin" status --node "$(field rpc "$i")" -o json 2>/dev/null | tr -d '\n ' |
      sed -E 's/.*"app_hash":"([0-9A-F]*)".*"latest_height":([0-9]+).*/height \2 app_hash \1/' || true)
    echo "validator $i: $state ${line:-(no answer)}"
  done
}

case $cmd in
  start)   if [ -n "${2:-}" ]; then start_one "$2"; else for i in $(seq 0 $((count - 1))); do start_one "$i"; done; fi ;;
  stop)    if [ -n "${2:-}" ]; then stop_one "$2"; else for i in $(seq 0 $((count - 1))); do stop_one "$i"; done; fi ;;
  kill)    kill_one "${2:-}" ;;
  restart) check_index "${2:-}"; stop_one "$2"; sleep "${3:-1}"; start_one "$2" ;;
  status)  status_all ;;
  *) echo "unknown command '$cmd'" >&2; sed -n '2,13p' "$0"; exit 2 ;;
esac
