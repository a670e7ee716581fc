#!/bin/bash
# A burst of 2,000 syslog datagrams from one util-linux `logger --udp` (as fast as it
# sends) into `echo --transport udp` with default settings, RUNS times (default 10):
# prints what arrived of each burst, from the server's --stats line.
# Usage: cargo build --release --examples --all-features && bench/udp_burst.sh [RUNS]
set -u
E=${ECHO_DIR:-$(dirname "$0")/../target/release/examples}
RUNS=${1:-10}
LINES=$(mktemp)
trap 'rm -f "$LINES"' EXIT
for i in $(seq 2000); do echo "burst line $i"; done > "$LINES"
complete=0
for run in $(seq "$RUNS"); do
  "$E/echo" --transport udp --listen 127.0.0.1:7514 --stats > /dev/null 2> /tmp/udp-burst.err &
  pid=$!
  sleep 0.5
  logger --udp --server 127.0.0.1 --port 7514 --file "$LINES"
  sleep 2
  kill -INT "$pid"
  wait "$pid"
  stats=$(grep -E "^open=" /tmp/udp-burst.err | tail -1)
  arrived=$(echo "$stats" | grep -o ' frames_in=[0-9]*' | cut -d= -f2)
  drops=$(echo "$stats" | grep -o 'dropped_[a-z_]*=[0-9]*' | tr '\n' ' ')
  echo "run $run: ${arrived:-0} of 2000 arrived; $drops"
  [ "${arrived:-0}" = 2000 ] && complete=$((complete + 1))
done
echo "complete bursts: $complete of $RUNS"
[ "$complete" = "$RUNS" ]
