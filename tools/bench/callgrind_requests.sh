#!/bin/bash
# Server instructions for one request of a redis-benchmark command, independent of the machine's load:
#   tools/bench/callgrind_requests.sh BINARY N COMMAND [ARG...]   prints BINARY N COMMAND <total Ir of the server>
# Run it for N and 2N: (Ir(2N) - Ir(N)) / N is the marginal cost of one request (start-up and
# redis-benchmark's own CONFIG GETs cancel out), e.g.
#   tools/bench/callgrind_requests.sh .build/release/vimana 20000 PING
#   tools/bench/callgrind_requests.sh .build/release/vimana 20000 PUBLISH news hello
# SUBSCRIBERS=k first subscribes k redis-cli clients to `news` (their deliveries are counted too);
# CLIENTS=c runs redis-benchmark with c connections (default 1: one request per loop pass, the steadiest count).
# LEDGER=1 serves with a ledger in a fresh directory (fsync no) instead of --no-ledger, for the stream
# commands (XADD, XREAD); its writer thread's instructions are counted too.
# KEEP=FILE keeps the callgrind profile (callgrind_annotate --inclusive=yes FILE: per function).
set -euo pipefail
BIN=$(realpath "$1"); N=$2; shift 2; W=$(mktemp -d)
LEDGER_FLAGS=(--no-ledger)
[ -n "${LEDGER:-}" ] && LEDGER_FLAGS=(--ledger-dir "$W/ledger" --fsync no)
# The kernel alone, as before system agents existed (a binary without the flag has none).
NOSYS=; case "$("$BIN" serve --help)" in *--no-system-agents*) NOSYS=--no-system-agents;; esac
valgrind --tool=callgrind --callgrind-out-file=$W/cg.out $BIN serve --port 0 --http-port off $NOSYS "${LEDGER_FLAGS[@]}" > $W/log 2>&1 &
VP=$!
PORT=""
for _ in $(seq 600); do PORT=$(grep -so "port=[0-9]*" "$W/log" | head -1 | cut -d= -f2 || true); [ -n "$PORT" ] && break; sleep 0.5; done
[ -n "$PORT" ] || { echo "callgrind_requests: the server did not start:" >&2; cat "$W/log" >&2; exit 1; }
SUBS=()
for _ in $(seq "${SUBSCRIBERS:-0}"); do redis-cli -p $PORT SUBSCRIBE news > /dev/null & SUBS+=($!); done
# Wait until every subscriber is in (PUBSUB NUMSUB answers news and the count).
until [ "$(redis-cli -p $PORT PUBSUB NUMSUB news | tail -1)" = "${SUBSCRIBERS:-0}" ]; do sleep 0.2; done
redis-benchmark -h 127.0.0.1 -p $PORT -c "${CLIENTS:-1}" -P 1 -n $N "$@" > $W/bench.out 2>&1
for p in "${SUBS[@]}"; do kill $p; done
kill -TERM $VP; wait $VP || true
echo "$BIN $N $* $(grep -h '^summary:' $W/cg.out | awk '{print $2}')"
if [ -n "${KEEP:-}" ]; then cp "$W/cg.out" "$KEEP"; fi
rm -rf "$W"
