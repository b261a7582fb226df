#!/bin/bash
# Server instructions for PUBLISH and for fan-out, independent of the machine's load:
#   tools/bench/callgrind_publish.sh BINARY MODE N [serve flags...]
#     MODE publish0   redis-benchmark -c 50 -n N PUBLISH ch hello, nobody subscribed
#                     (-P $PIPELINE, default 1)
#     MODE publish1   the same with one subscriber (redis-cli SUBSCRIBE ch) connected
#     MODE fanout10   BINARY bench --pub 1 --sub 10 --msgs N --size 16 --pipeline 1024
#   prints BINARY MODE N <total Ir of the server>
# Run it for N and 2N: (Ir(2N) - Ir(N)) / N is the marginal cost of one PUBLISH
# (divide by 10 more for one fan-out delivery); start-up and shutdown cancel out.
# The server records every topic into a fresh ledger unless given --no-ledger.
# KEEP=FILE keeps the callgrind profile (callgrind_annotate FILE: where they go).
# BENCH_USER=name BENCH_PASS=pw: redis-benchmark authenticates as that user
# (declare it in a phoenix.yaml given with --config): the cost of its rules.
# CACHE_SIM=1 adds valgrind's cache and branch simulation and prints every
# event of the summary after its names (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr
# DLmw Bc Bcm Bi Bim): misses of a simulated machine, as deterministic as Ir.
set -euo pipefail
BIN=$(realpath "$1"); MODE=$2; N=$3; shift 3; W=$(mktemp -d)
# The kernel alone, as before system agents existed (a binary without the flag has none).
NOSYS=; case "$("$BIN" serve --help)" in *--no-system-agents*) NOSYS=--no-system-agents;; esac
SIM=(); [ -n "${CACHE_SIM:-}" ] && SIM=(--cache-sim=yes --branch-sim=yes)
valgrind --tool=callgrind "${SIM[@]}" --callgrind-out-file=$W/cg.out "$BIN" serve --ledger-dir $W/ledger --port 0 --http-port off $NOSYS "$@" > $W/log 2>&1 &
VP=$!
PORT=""
for _ in $(seq 600); do PORT=$(grep -so "port=[0-9]*" "$W/log" | head -1 | cut -d= -f2 || true); [ -n "$PORT" ] && break; sleep 0.5; done
[ -n "$PORT" ] || { echo "callgrind_publish: the server did not start:" >&2; cat "$W/log" >&2; exit 1; }
SP=""
case $MODE in
publish0|publish1)
    if [ "$MODE" = publish1 ]; then
        redis-cli -p "$PORT" subscribe ch > /dev/null &
        SP=$!
        for _ in $(seq 600); do
            [ "$(redis-cli -p "$PORT" pubsub numsub ch | tail -1)" = 1 ] && break; sleep 0.2
        done
    fi
    AUTH=()
    [ -n "${BENCH_USER:-}" ] && AUTH=(--user "$BENCH_USER" -a "$BENCH_PASS")
    redis-benchmark -p "$PORT" "${AUTH[@]}" -c 50 -P "${PIPELINE:-1}" -n "$N" PUBLISH ch hello > $W/bench.out 2>&1 ;;
fanout10)
    "$BIN" bench --host 127.0.0.1 --port "$PORT" --pub 1 --sub 10 --msgs "$N" --size 16 --pipeline 1024 --json > $W/bench.out 2>&1 ;;
*) echo "callgrind_publish: unknown mode $MODE" >&2; exit 2 ;;
esac
[ -n "$SP" ] && kill "$SP" && wait "$SP" 2>/dev/null || true
kill -TERM $VP; wait $VP || true
[ -n "${KEEP:-}" ] && cp $W/cg.out "$KEEP"
if [ -n "${CACHE_SIM:-}" ]; then
    echo "$BIN $MODE $N $(grep -h '^events:' $W/cg.out | cut -d' ' -f2-) = $(grep -h '^summary:' $W/cg.out | cut -d' ' -f2-)"
else
    echo "$BIN $MODE $N $(grep -h '^summary:' $W/cg.out | awk '{print $2}')"
fi
rm -rf "$W"
