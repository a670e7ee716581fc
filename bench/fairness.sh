#!/bin/bash
# The fairness scenarios of README "Under attack": one source (127.0.0.2) holding
# connections and reopening each as it is closed, while a new client from 127.0.0.3
# every 250 ms must be answered within 1 s. RUNS rounds (default 3) of:
#   - default settings, 10,050 idle connections;
#   - the server under `ulimit -n 1024`, 1,100 idle connections;
#   - `echo --proxy-protocol`, 10,000 connections that never send a header (the probes
#     send one).
# Usage: cargo build --release --examples --all-features && bench/fairness.sh [RUNS]
set -u
E=$(dirname "$0")/../target/release/examples
RUNS=${1:-3}
run() { # label, server command, attack arguments...
  local label=$1 server=$2
  shift 2
  bash -c "$server" > /dev/null 2> /tmp/fairness-echo.err &
  sleep 1
  local pid
  pid=$(pgrep -f "examples/echo --listen 127.0.0.1:7000" | head -1)
  echo "== $label"
  timeout 150 "$E/attack" churn "$@" --pid "$pid" 2>&1 | grep -v "probe .*failed\|no answer"
  kill -INT "$pid"
  wait
  grep -E "^open=" /tmp/fairness-echo.err | tail -1
}
for _ in $(seq "$RUNS"); do
  run "default settings, 10,050 connections" \
    "exec $E/echo --listen 127.0.0.1:7000 --stats" --conns 10050 --duration 15
  run "ulimit -n 1024, 1,100 connections" \
    "ulimit -n 1024; exec $E/echo --listen 127.0.0.1:7000 --stats" --conns 1100 --duration 15
  run "--proxy-protocol, 10,000 connections without a header" \
    "exec $E/echo --listen 127.0.0.1:7000 --stats --proxy-protocol" --conns 10000 --duration 15 --proxy
done
