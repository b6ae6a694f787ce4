#!/bin/bash
# A/B of two wire builds as echo servers, interleaved: each serves on core 0 (one loop), and
# `wire bench tcp-echo` drives it from core 1; prints one line a run: rep, build, requests/s and
# the server's CPU ticks (1/100 s) over the run. Compare the ratios within each repetition.
#   bench/ab_echo.sh OLD_WIRE NEW_WIRE REPS "BENCH ARGS"   (ENGINE=epoll|io_uring, default io_uring)
# e.g. bench/ab_echo.sh /tmp/old/wire build/release/bin/wire 7 "-c 100 -p 1 -d 3"
set -eu
A=$1 B=$2 REPS=$3 ARGS=$4 ENGINE=${ENGINE:-io_uring}
LOADGEN=${LOADGEN:-$(dirname "$0")/../build/release/bin/wire}
work=$(mktemp -d "$(dirname "$0")/../build/ab.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
start() {  # start BINARY NAME: prints the port once it listens
  taskset -c 0 "$1" serve echo --tcp 127.0.0.1:0 --engine "$ENGINE" --threads 1 -q \
    2>"$work/$2.err" >/dev/null &
  pids+=($!)
  echo $! >"$work/$2.pid"
  for _ in $(seq 100); do grep -q listening "$work/$2.err" && break; sleep 0.05; done
  sed -n 's/^listening on tcp .*:\([0-9]*\)$/\1/p' "$work/$2.err"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
port_a=$(start "$A" a)
port_b=$(start "$B" b)
for rep in $(seq "$REPS"); do
  for x in a b; do
    port=$port_a; [ $x = b ] && port=$port_b
    pid=$(cat "$work/$x.pid")
    before=$(ticks "$pid")
    # shellcheck disable=SC2086 # ARGS is a list of flags
    rate=$(taskset -c 1 "$LOADGEN" bench tcp-echo "127.0.0.1:$port" $ARGS -q --json 2>/dev/null |
      python3 -c 'import json, sys; print(round(json.load(sys.stdin)["rate"]))')
    echo "$rep $x $rate cpu_ticks=$(($(ticks "$pid") - before))"
  done
done
