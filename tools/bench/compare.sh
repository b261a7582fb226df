#!/usr/bin/env bash
# tools/bench/compare.sh: Vimana and Redis side by side on loopback.
#
# Starts redis-server (snapshots and AOF off, Redis's default pubsub output
# limits) and `vimana serve` on free ports, servers pinned to CPU 0 and
# clients to CPU 1 when there are two cores, and runs each row against both
# servers interleaved for ROUNDS rounds (the order alternates per round):
#
#   ping       redis-benchmark -c 50 -n 200000 -t ping        (INLINE and MBULK together)
#   publish    redis-benchmark -c 50 -n 200000 PUBLISH ch hello
#   ping P16   the same with -P 16
#   publish P16
#   fanout 1>1   vimana bench, 1 publisher -> 1 subscriber, 16-byte messages   (deliveries/s)
#   fanout 1>10  vimana bench, 1 publisher -> 10 subscribers, 16-byte messages (deliveries/s)
#   idle 10k   RSS growth with 10,000 idle connections (once per server)
#
# Every row reports the rate and each server's CPU time per request
# (utime+stime from /proc/PID/stat before and after, CLK_TCK ticks), medians
# over the rounds, and the ratio Vimana/Redis. Shared 2-core machines are
# noisy (redis against itself varies 0.7-1.2x per round): trust medians and
# the CPU column more than one round's rate.
#
# Usage: tools/bench/compare.sh [options] [VIMANA_BINARY]
#   VIMANA_BINARY        default .build/release/vimana (built with swift build -c release if missing)
#   --rounds N           rounds per row (default 5, or $ROUNDS)
#   --out FILE           also write the result table to FILE
#   --redis-only         measure Redis alone (a dry run of the harness before Vimana serves)
#   --rows LIST          comma-separated subset: ping,publish,ping16,publish16,fanout1,fanout10,idle
#   --quick              smaller runs, for checking the harness itself
# Environment: BENCH_BIN (binary providing `bench`, default VIMANA_BINARY),
#   FANOUT_PIPELINE (default 1024: shallower windows measure thread wake-ups
#   on the client core, not the server), FANOUT1_MSGS / FANOUT10_MSGS (default: calibrated
#   so the faster server runs >= 2 s), IDLE_CONNS (default 10000).
set -euo pipefail

# ---------------------------------------------------------------- options
ROUNDS=${ROUNDS:-5}
OUT=""
REDIS_ONLY=0
QUICK=0
ROWS="ping,publish,ping16,publish16,fanout1,fanout10,idle"
VIMANA=""
while (($#)); do
    case "$1" in
        --rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
        --out) OUT=${2:?--out needs a value}; shift 2 ;;
        --redis-only) REDIS_ONLY=1; shift ;;
        --rows) ROWS=${2:?--rows needs a value}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
        *) VIMANA=$1; shift ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds must be a positive integer" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/../.." && pwd)
VIMANA=${VIMANA:-$REPO/.build/release/vimana}
if [[ ! -x $VIMANA ]]; then
    if [[ $VIMANA == "$REPO/.build/release/vimana" ]]; then
        echo "building $VIMANA (swift build -c release)..." >&2
        (cd "$REPO" && swift build -c release >&2)
    fi
    [[ -x $VIMANA ]] || { echo "compare.sh: no vimana binary at $VIMANA" >&2; exit 1; }
fi
BENCH_BIN=${BENCH_BIN:-$VIMANA}
FANOUT_PIPELINE=${FANOUT_PIPELINE:-1024}
IDLE_CONNS=${IDLE_CONNS:-10000}
BENCH_N=200000
if ((QUICK)); then BENCH_N=20000; IDLE_CONNS=${IDLE_CONNS_QUICK:-1000}; fi

for tool in redis-server redis-benchmark redis-cli jq getconf awk; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (apt-get install redis-server redis-tools jq)" >&2; exit 1; }
done
CLK_TCK=$(getconf CLK_TCK)

# 10,000 idle connections need as many descriptors in the bench and in each server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < IDLE_CONNS + 200 )); then
    IDLE_CONNS=$(( $(ulimit -n) - 200 ))
    echo "compare.sh: open-file limit $(ulimit -n): idle row reduced to $IDLE_CONNS connections" >&2
fi

SERVER_PIN=() CLIENT_PIN=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
    SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1)
fi

# ---------------------------------------------------------------- processes
WORK=$(mktemp -d /tmp/vimana-compare.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do [[ -n $pid ]] && wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nothing listens on, from a random start so parallel runs rarely collide.
TAKEN=" "
free_port() {
    local p=$(( 20000 + RANDOM % 20000 ))
    while [[ $TAKEN == *" $p "* ]] || (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    TAKEN+="$p "
    echo "$p"
}

wait_ready() {  # port name pid
    local i
    for i in $(seq 100); do
        redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        kill -0 "$3" 2>/dev/null || { echo "compare.sh: $2 exited at startup; log:" >&2; cat "$WORK/$2.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "compare.sh: $2 did not answer PING on port $1" >&2; exit 1
}

REDIS_PORT=$(free_port)
# maxclients: room for the 10,000 idle connections plus the harness's own.
"${SERVER_PIN[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --client-output-buffer-limit 'pubsub 32mb 8mb 60' --maxclients $((IDLE_CONNS + 100)) \
    --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_ready "$REDIS_PORT" redis "$REDIS_PID"

SERVERS=(redis)
if ((!REDIS_ONLY)); then
    VIMANA_PORT=$(free_port)
    VIMANA_HTTP=$(free_port)
    "${SERVER_PIN[@]}" "$VIMANA" serve --port "$VIMANA_PORT" --http-port "$VIMANA_HTTP" >"$WORK/vimana.log" 2>&1 &
    VIMANA_PID=$!
    PIDS+=("$VIMANA_PID")
    wait_ready "$VIMANA_PORT" vimana "$VIMANA_PID"
    SERVERS=(redis vimana)
fi
port_of() { if [[ $1 == redis ]]; then echo "$REDIS_PORT"; else echo "$VIMANA_PORT"; fi; }
pid_of() { if [[ $1 == redis ]]; then echo "$REDIS_PID"; else echo "$VIMANA_PID"; fi; }

# utime+stime in ticks. The command name in field 2 may hold spaces: cut after ')'.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-) on port $REDIS_PORT (pid $REDIS_PID)" >&2
((REDIS_ONLY)) || echo "vimana $VIMANA on port $VIMANA_PORT (pid $VIMANA_PID)" >&2
echo "pinning: servers ${SERVER_PIN[*]:-none}, clients ${CLIENT_PIN[*]:-none}; $ROUNDS rounds; CLK_TCK $CLK_TCK" >&2

# ---------------------------------------------------------------- measurements
# Each run prints "RATE REQUESTS" on stdout; REQUESTS is what CPU is divided by.
run_benchmark() {  # server, then redis-benchmark arguments
    local port csv
    port=$(port_of "$1"); shift
    csv=$("${CLIENT_PIN[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$BENCH_N" --csv "$@" 2>>"$WORK/benchmark.err")
    # One CSV line per test ("PING_INLINE","123.45",...); several tests are
    # combined as total requests over total time.
    echo "$csv" | awk -F'","' -v n="$BENCH_N" 'NR > 1 { gsub(/"/, "", $2); if ($2 > 0) { t += n / $2; c += n } }
        END { if (c == 0) print "0 0"; else printf "%.1f %d\n", c / t, c }'
}

run_fanout() {  # server subscribers messages
    local port json
    port=$(port_of "$1")
    json=$("${CLIENT_PIN[@]}" "$BENCH_BIN" bench --host 127.0.0.1 --port "$port" --pub 1 --sub "$2" \
        --msgs "$3" --size 16 --pipeline "$FANOUT_PIPELINE" --json 2>>"$WORK/bench.err") || { echo "0 0"; return; }
    local lost disconnected
    lost=$(jq -r .lost <<<"$json"); disconnected=$(jq -r .disconnected <<<"$json")
    if [[ $lost != 0 || $disconnected != 0 ]]; then
        echo "    note: $1 fanout 1>$2 lost $lost messages, $disconnected subscribers disconnected" >&2
    fi
    jq -r '"\(.delivered_rate) \(.delivered)"' <<<"$json"
}

# Messages for a fan-out row so that the faster server runs at least 2 s:
# a short calibration run against each server (it also warms them up).
calibrate() {  # subscribers
    local best=0 s rate
    for s in "${SERVERS[@]}"; do
        rate=$(run_fanout "$s" "$1" 300000 | awk -v s="$1" '{print int($1 / s)}')
        ((rate > best)) && best=$rate
    done
    echo $(( best * 25 / 10 > 200000 ? best * 25 / 10 : 200000 ))
}

declare -A RATE CPU  # key "row|server" -> space-separated per-round figures
measure() {  # row server, then the command producing "RATE REQUESTS"
    local row=$1 server=$2 pid before after out rate requests cpu
    shift 2
    pid=$(pid_of "$server")
    before=$(cpu_ticks "$pid")
    out=$("$@")
    after=$(cpu_ticks "$pid")
    read -r rate requests <<<"$out"
    cpu=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { if (n > 0) printf "%.4f", d / hz * 1e6 / n; else print "nan" }')
    RATE[$row|$server]+="$rate "
    CPU[$row|$server]+="$cpu "
    printf '  %-12s %-7s %14s /s  %9s us CPU/req  (%d ticks, %s requests)\n' "$row" "$server" "$rate" "$cpu" $((after - before)) "$requests" >&2
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

want() { [[ ",$ROWS," == *",$1,"* ]]; }

ORDER=()
want ping && ORDER+=("ping|run_benchmark SERVER -t ping")
want publish && ORDER+=("publish|run_benchmark SERVER PUBLISH ch hello")
want ping16 && ORDER+=("ping P16|run_benchmark SERVER -P 16 -t ping")
want publish16 && ORDER+=("publish P16|run_benchmark SERVER -P 16 PUBLISH ch hello")
if want fanout1; then
    N1=${FANOUT1_MSGS:-$( ((QUICK)) && echo 100000 || calibrate 1)}
    ORDER+=("fanout 1>1|run_fanout SERVER 1 $N1")
fi
if want fanout10; then
    N10=${FANOUT10_MSGS:-$( ((QUICK)) && echo 50000 || calibrate 10)}
    ORDER+=("fanout 1>10|run_fanout SERVER 10 $N10")
fi

for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    servers=("${SERVERS[@]}")
    if ((round % 2 == 0 && ${#servers[@]} == 2)); then servers=(vimana redis); fi
    for entry in "${ORDER[@]}"; do
        row=${entry%%|*}
        for s in "${servers[@]}"; do
            command=${entry#*|}
            # shellcheck disable=SC2086 # the command template splits into words on purpose
            measure "$row" "$s" ${command//SERVER/$s}
        done
    done
done

# Idle memory: RSS growth with IDLE_CONNS idle connections, once per server.
declare -A IDLE
if want idle; then
    for s in "${SERVERS[@]}"; do
        pid=$(pid_of "$s")
        before=$(rss_kb "$pid")
        "${CLIENT_PIN[@]}" "$BENCH_BIN" bench --host 127.0.0.1 --port "$(port_of "$s")" --idle "$IDLE_CONNS" \
            --hold 120 --json >"$WORK/idle.json" 2>"$WORK/idle.err" &
        bench_pid=$!
        PIDS+=("$bench_pid")
        for _ in $(seq 1200); do
            grep -q '^ready' "$WORK/idle.err" 2>/dev/null && break
            kill -0 "$bench_pid" 2>/dev/null || break
            sleep 0.1
        done
        open=$(sed -n 's/^ready: \([0-9]*\) idle.*/\1/p' "$WORK/idle.err")
        sleep 1  # let the server settle
        after=$(rss_kb "$pid")
        kill "$bench_pid" 2>/dev/null || true
        wait "$bench_pid" 2>/dev/null || true
        PIDS=("${PIDS[@]/$bench_pid}")  # reaped: never signal that number again
        if [[ -z $open || $open == 0 ]]; then
            echo "  idle: $s: no connections opened: $(cat "$WORK/idle.err")" >&2
            IDLE[$s]="nan nan nan"
        else
            per=$(awk -v a="$after" -v b="$before" -v n="$open" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
            IDLE[$s]="$per $before $after"
            [[ $open != "$IDLE_CONNS" ]] && echo "  idle: $s accepted only $open of $IDLE_CONNS connections" >&2
            printf '  %-12s %-7s RSS %s kB -> %s kB with %s connections: %s bytes/connection\n' idle "$s" "$before" "$after" "$open" "$per" >&2
        fi
        sleep 1  # connections close
    done
fi

# ---------------------------------------------------------------- report
ratio() { awk -v v="$1" -v r="$2" 'BEGIN { if (v == "nan" || r == "nan" || v == "-" || r + 0 == 0) print "-"; else printf "%.2f", v / r }'; }
fmt() { awk -v x="$1" -v p="$2" 'BEGIN { if (x == "nan" || x == "-") print "-"; else printf "%.*f", p, x }'; }

{
    echo "# Vimana vs Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), loopback, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, medians of $ROUNDS rounds"
    echo "# rates: requests/s (redis-benchmark -c 50 -n $BENCH_N; ping = INLINE+MBULK) or deliveries/s (vimana bench, 16-byte messages, pipeline $FANOUT_PIPELINE)"
    echo "# CPU: server utime+stime per request or delivery, in microseconds (resolution 1/$CLK_TCK s per row run)"
    printf '%-12s %14s %14s %7s %13s %13s %9s\n' row "redis /s" "vimana /s" ratio "redis us/req" "vimana us/req" "CPU ratio"
    for entry in "${ORDER[@]}"; do
        row=${entry%%|*}
        rr=$(median <<<"${RATE[$row|redis]}"); rc=$(median <<<"${CPU[$row|redis]}")
        vr="-" vc="-"
        if ((!REDIS_ONLY)); then vr=$(median <<<"${RATE[$row|vimana]}"); vc=$(median <<<"${CPU[$row|vimana]}"); fi
        printf '%-12s %14s %14s %7s %13s %13s %9s\n' "$row" "$(fmt "$rr" 0)" "$(fmt "$vr" 0)" "$(ratio "$vr" "$rr")" \
            "$(fmt "$rc" 3)" "$(fmt "$vc" 3)" "$(ratio "$vc" "$rc")"
    done
    if want idle; then
        read -r rper rbefore rafter <<<"${IDLE[redis]}"
        vper="-"; ((REDIS_ONLY)) || read -r vper _ _ <<<"${IDLE[vimana]}"
        printf '%-12s %14s %14s %7s   (RSS bytes per idle connection, %s connections; redis %s -> %s kB)\n' \
            "idle ${IDLE_CONNS}" "$rper" "$vper" "$(ratio "$vper" "$rper")" "$IDLE_CONNS" "$rbefore" "$rafter"
    fi
} >"$WORK/table.txt"

cat "$WORK/table.txt"
if [[ -n $OUT ]]; then cp "$WORK/table.txt" "$OUT"; echo "table written to $OUT" >&2; fi
