#!/bin/bash
# Server instructions for a task round trip, independent of the machine's load:
#   tools/bench/callgrind_tasks.sh BINARY N    prints BINARY N <total Ir of the server> <bench JSON>
# Run it for two N (say 2000 and 6000): (Ir(6000) - Ir(2000)) / 4000 is the
# marginal cost of one task (start-up cancels out). The client is BINARY too.
set -euo pipefail
BIN=$(realpath "$1"); N=$2; W=$(mktemp -d)
printf 'agents:\n  - id: bench1\n    subscribes: ["bench1.tasks"]\n    prefetch: 1\n' > $W/t.yaml
# The kernel alone, as before system agents existed (a binary without the flag has none).
NOSYS=; case "$("$BIN" serve --help)" in *--no-system-agents*) NOSYS=--no-system-agents;; esac
valgrind --tool=callgrind --callgrind-out-file=$W/cg.out $BIN serve --config $W/t.yaml --ledger-dir $W/ledger --port 0 --http-port off $NOSYS > $W/log 2>&1 &
VP=$!
PORT=""
for _ in $(seq 600); do PORT=$(grep -so "port=[0-9]*" "$W/log" | head -1 | cut -d= -f2 || true); [ -n "$PORT" ] && break; sleep 0.5; done
[ -n "$PORT" ] || { echo "callgrind_tasks: the server did not start:" >&2; cat "$W/log" >&2; exit 1; }
"$BIN" bench --tasks vimana --host 127.0.0.1 --port $PORT --topic bench1.tasks --agent bench1 --workers 2 --prefetch 1 --pipeline 1 --msgs $N --size 128 --json > $W/bench.json 2>$W/bench.err
kill -TERM $VP; wait $VP || true
echo "$BIN $N $(grep -h '^summary:' $W/cg.out | awk '{print $2}') $(cat $W/bench.json | head -c 300)"
rm -rf "$W"
