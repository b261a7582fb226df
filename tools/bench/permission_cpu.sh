#!/bin/bash
# Server CPU per PUBLISH for two users of ONE server, interleaved, so that the
# machine's load and the server's state (its ledger's size, compaction) weigh
# on both alike: what compare.sh's two separate servers cannot show.
#   tools/bench/permission_cpu.sh BINARY CONFIG USER PASSWORD [ROUNDS] [N] [PIPELINE]
# CONFIG declares USER (e.g. permissions ["&ch*", "+@all"]). Each round runs
# redis-benchmark -c 50 -P PIPELINE -n N PUBLISH ch hello as `default` and as
# USER (odd rounds `default` first, even rounds USER first), each under `perf stat -e task-clock -p <server>` (server CPU only;
# a virtual machine without hardware counters still has task-clock).
# Prints one line per round (µs of server CPU per request, each user, and
# their ratio), then the median ratio. The server records (fresh ledger,
# fsync everysec), as compare.sh's publish rows do.
set -euo pipefail
BIN=$(realpath "$1"); CONFIG=$2; USER_NAME=$3; PASS=$4; ROUNDS=${5:-20}; N=${6:-1000000}; P=${7:-16}
W=$(mktemp -d)
NOSYS=; case "$("$BIN" serve --help)" in *--no-system-agents*) NOSYS=--no-system-agents;; esac
"$BIN" serve --port 0 --http-port off $NOSYS --ledger-dir "$W/ledger" --config "$CONFIG" > "$W/log" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$W"' EXIT
PORT=""
for _ in $(seq 300); do PORT=$(grep -so "port=[0-9]*" "$W/log" | head -1 | cut -d= -f2 || true); [ -n "$PORT" ] && break; sleep 0.2; done
[ -n "$PORT" ] || { echo "permission_cpu: the server did not start:" >&2; cat "$W/log" >&2; exit 1; }
cpu() {  # µs of server task-clock per request for one run as $1
    local auth=(); [ "$1" != default ] && auth=(--user "$USER_NAME" -a "$PASS")
    perf stat -x, -e task-clock -p $SP -o "$W/perf" -- redis-benchmark -p "$PORT" -n "$N" -c 50 -P "$P" "${auth[@]}" -q PUBLISH ch hello > /dev/null 2>&1
    awk -F, -v n="$N" '$3 == "task-clock" {printf "%.3f", $1 * 1000 / n}' "$W/perf"
}
echo "# round default_us/req ${USER_NAME}_us/req ratio (N $N, P$P, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
    # The order alternates: the ledger grows by N records a run, so neither
    # user always meets the larger one.
    if [ $((r % 2)) = 1 ]; then d=$(cpu default); u=$(cpu "$USER_NAME"); else u=$(cpu "$USER_NAME"); d=$(cpu default); fi
    echo "$r $d $u $(awk -v d="$d" -v u="$u" 'BEGIN {printf "%.3f", u / d}')"
done | tee "$W/rounds"
sort -k4 -n "$W/rounds" | awk '{a[NR] = $4} END {printf "median ratio %s over %d rounds\n", a[int((NR + 1) / 2)], NR}'
