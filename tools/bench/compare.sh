#!/usr/bin/env bash
# tools/bench/compare.sh: Vimana and Redis side by side on loopback.
#
# Starts redis-server (snapshots and AOF off, Redis's default pubsub output
# limits) and `vimana serve` (recording every topic into a fresh ledger in a
# temporary directory, fsync everysec: the default) on free ports, servers
# pinned to CPU 0 and clients to CPU 1 when there are two cores, and runs each
# row against both servers interleaved for ROUNDS rounds (the order alternates
# per round). Rows (--rows names in brackets):
#
#   ping [ping]          redis-benchmark -c 50 -n 200000 -t ping        (INLINE and MBULK together)
#   publish [publish]    redis-benchmark -c 50 -n 200000 PUBLISH ch hello   (vimana records it)
#   publish (no ledger) [publish_nl]   the same against a second vimana started with --no-ledger
#   publish (user) [publish_user]   the same as user `bench`, allowed the channels ch* only
#                        (redis-server --user, a users: entry in vimana's config; both record
#                        as their publish row does), redis-benchmark --user bench -a benchpass
#   ping P16 [ping16]    the same with -P 16
#   publish P16 [publish16], publish P16 (no ledger) [publish16_nl], publish P16 (user) [publish16_user]
#   fanout 1>1 [fanout1]   vimana bench, 1 publisher -> 1 subscriber, 16-byte messages   (deliveries/s)
#   fanout 1>10 [fanout10] vimana bench, 1 publisher -> 10 subscribers, 16-byte messages (deliveries/s)
#   fanout 1>10 (no ledger) [fanout10_nl]
#   xadd everysec [xadd_everysec]  redis-benchmark -c 50 -n N XADD s * f 0123456789abcdef against
#                        redis-server --appendonly yes --appendfsync everysec --dir TMP and
#                        vimana --fsync everysec (N calibrated so that the faster server runs >= 2 s)
#   xadd everysec P16 [xadd_everysec16] the same with -P 16
#   xadd maxlen [xadd_maxlen]      redis-benchmark -c 50 -n N XADD m MAXLEN ~ 1000 * f 0123456789abcdef,
#                        servers as xadd everysec (a capped stream: each server trims as it goes)
#   xadd always [xadd_always]      the same with appendfsync always / --fsync always
#   xadd always P16 [xadd_always16] the same with -P 16
#   idle 10k [idle]      RSS growth with 10,000 idle connections (once per server, on fresh
#                        servers started after the other rows)
#
# The Redis column of a "(no ledger)" row is measured again in that row (not
# copied from the matching row), so every row's ratio comes from adjacent runs;
# a "recording cost" block compares the two Vimana columns. A "permission
# cost" block compares Vimana's publish rows as `bench` and as `default`.
#
# Every row reports the rate and each server's CPU time per request
# (utime+stime of all threads from /proc/PID/stat before and after, CLK_TCK
# ticks), medians over the rounds, and the ratio Vimana/Redis. Shared 2-core
# machines are noisy (redis against itself varies 0.7-1.2x per round): trust
# medians and the CPU column more than one round's rate.
#
# Task round trip, after the rows, on fresh servers (Vimana, Redis and beanstalkd):
#   tasks [tasks]        vimana bench --tasks PEER: 1 producer, 2 workers, 128-byte tasks, TASKS_ROUNDS
#                        (default ROUNDS) interleaved runs per peer, two settings: pipeline 1 and
#                        prefetch 1 (TASKS1_MSGS, 100000), pipeline 16 and prefetch 16 (TASKS16_MSGS,
#                        400000). vimana: PUBLISH to a recorded topic, workers AGENT JOIN an agent
#                        declared with that prefetch and ACK (ledger fsync everysec); redis: XADD,
#                        XREADGROUP COUNT prefetch + one XACK per batch (--appendonly yes
#                        --appendfsync everysec); beanstalkd: put, reserve, delete (-b binlog,
#                        -f 1000: fsync at most every second; one job per worker at a time).
#                        Tasks/s (submission to confirmed ack), p50/p99 of that round trip,
#                        server CPU per task.
#
# Vimana-only sections, after the rows (each on fresh servers and ledgers):
#   sustained [sustained]  vimana bench --pub 4 --sub 0 --size 256 --pipeline 1024 --msgs N
#                        against vimana recording and vimana --no-ledger, N calibrated for
#                        >= SUSTAINED_SECONDS (12) s, SUSTAINED_ROUNDS (3) runs each,
#                        interleaved: msgs/s, CPU, INFO ledger_stalls (publisher pauses)
#   compression [compression]  tools/bench/gen_tasks.py publishes COMPRESSION_BYTES (200MB) of
#                        JSON tasks (pipeline 256) to vimana with ledger.segment_bytes
#                        COMPRESSION_SEGMENT (4MiB); after every sealed segment is compacted:
#                        INFO ledger_raw_bytes / sum of *.seg sizes, and the live (level 1)
#                        ratio; then 20,000 more tasks at pipeline 1 (one record per frame)
#   restart [restart]    tools/bench/restart_time.py: a ledger of RESTART_SIZE (1GiB) on disk
#                        of random base64, then RESTART_RUNS (3) restarts after SIGTERM, after
#                        SIGKILL during writes, and with the active segment's index deleted:
#                        ms from fork to the `listening` log line (medians)
# A full run takes about 15-20 minutes; the restart section needs ~2 GB of /tmp.
#
# Usage: tools/bench/compare.sh [options] [VIMANA_BINARY]
#   VIMANA_BINARY        default .build/release/vimana (built with swift build -c release if missing)
#   --rounds N           rounds per row (default 5, or $ROUNDS)
#   --out FILE           also write the result table to FILE
#   --redis-only         measure Redis alone (a dry run of the harness before Vimana serves)
#   --rows LIST          comma-separated subset of the names in brackets above
#                        (default: all of them)
#   --quick              smaller runs, for checking the harness itself
# Environment: BENCH_BIN (binary providing `bench`, default VIMANA_BINARY),
#   BENCH_N (requests per redis-benchmark row run, default 200000: at -P 16 a
#   run is then ~20 CPU ticks, so a CPU figure moves by 5% per tick; 2000000 for a finer one),
#   FANOUT_PIPELINE (default 1024: shallower windows measure thread wake-ups
#   on the client core, not the server), FANOUT1_MSGS / FANOUT10_MSGS (default: calibrated
#   so the faster server runs >= 2 s), XADD_EVERYSEC_N / XADD_EVERYSEC16_N / XADD_ALWAYS_N / XADD_ALWAYS16_N
#   (default: calibrated likewise), IDLE_CONNS (default 10000), SUSTAINED_SECONDS,
#   SUSTAINED_ROUNDS, COMPRESSION_BYTES, COMPRESSION_SEGMENT, RESTART_SIZE, RESTART_RUNS,
#   TASKS_ROUNDS, TASKS1_MSGS, TASKS16_MSGS.
set -euo pipefail

# ---------------------------------------------------------------- options
ROUNDS=${ROUNDS:-5}
OUT=""
REDIS_ONLY=0
QUICK=0
ALL_ROWS="ping,publish,publish_nl,publish_user,ping16,publish16,publish16_nl,publish16_user,fanout1,fanout10,fanout10_nl"
ALL_ROWS+=",xadd_everysec,xadd_everysec16,xadd_maxlen,xadd_always,xadd_always16,idle,tasks,sustained,compression,restart"
ROWS=$ALL_ROWS
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
for name in ${ROWS//,/ }; do
    [[ ",$ALL_ROWS," == *",$name,"* ]] || { echo "compare.sh: unknown row $name (rows: $ALL_ROWS)" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/tools/bench
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
BENCH_N=${BENCH_N:-200000}  # requests per redis-benchmark row run
XADD_VALUE=0123456789abcdef  # 16 bytes
SUSTAINED_SECONDS=${SUSTAINED_SECONDS:-12}
SUSTAINED_ROUNDS=${SUSTAINED_ROUNDS:-3}
COMPRESSION_BYTES=${COMPRESSION_BYTES:-200MB}
COMPRESSION_SEGMENT=${COMPRESSION_SEGMENT:-4MiB}
RESTART_SIZE=${RESTART_SIZE:-1GiB}
RESTART_RUNS=${RESTART_RUNS:-3}
TASKS_ROUNDS=${TASKS_ROUNDS:-$ROUNDS}
TASKS1_MSGS=${TASKS1_MSGS:-100000}
TASKS16_MSGS=${TASKS16_MSGS:-400000}
if ((QUICK)); then
    TASKS1_MSGS=10000 TASKS16_MSGS=40000
    BENCH_N=20000; IDLE_CONNS=${IDLE_CONNS_QUICK:-1000}
    SUSTAINED_SECONDS=2 SUSTAINED_ROUNDS=1 COMPRESSION_BYTES=20MB RESTART_SIZE=128MiB
fi

for tool in redis-server redis-benchmark redis-cli jq getconf awk python3; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (apt-get install redis-server redis-tools jq python3)" >&2; exit 1; }
done
CLK_TCK=$(getconf CLK_TCK)
if [[ ",$ROWS," == *",tasks,"* ]] && ! command -v beanstalkd >/dev/null; then
    echo "compare.sh: beanstalkd not found (apt-get install beanstalkd), needed by the tasks row" >&2; exit 1
fi

# 10,000 idle connections need as many descriptors in the bench and in each server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < IDLE_CONNS + 200 )); then
    IDLE_CONNS=$(( $(ulimit -n) - 200 ))
    echo "compare.sh: open-file limit $(ulimit -n): idle row reduced to $IDLE_CONNS connections" >&2
fi

SERVER_PIN=() CLIENT_PIN=() RESTART_PIN=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
    SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1) RESTART_PIN=(--server-cpu 0 --client-cpu 1)
fi

want() { [[ ",$ROWS," == *",$1,"* ]]; }

# ---------------------------------------------------------------- processes
# Everything the script writes (server logs, AOF files, ledgers) is under WORK.
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
forget_pid() {  # a reaped child: never signal that number again
    local i
    for i in "${!PIDS[@]}"; do [[ ${PIDS[$i]} == "$1" ]] && unset 'PIDS[i]'; done
    PIDS=("${PIDS[@]}")
}

# A port nothing listens on, from a random start so parallel runs rarely collide.
TAKEN=" "
free_port() {
    local p=$(( 20000 + RANDOM % 20000 ))
    while [[ $TAKEN == *" $p "* ]] || (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    TAKEN+="$p "
    echo "$p"
}

wait_ready() {  # port name pid: 0 when it answers PING, 1 when it exited (log in $WORK/name.log)
    local i
    for i in $(seq 100); do
        redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        kill -0 "$3" 2>/dev/null || { wait "$3" 2>/dev/null || true; forget_pid "$3"; return 1; }
        sleep 0.1
    done
    echo "compare.sh: $2 did not answer PING on port $1" >&2; exit 1
}

# Starts a server (its command line after "--port P") on a free port; tries
# another port when something else took this one in the meantime.
launch() {  # name, then the command with PORT where the port goes
    local name=$1 attempt
    shift
    for attempt in 1 2 3 4 5; do
        PORT[$name]=$(free_port)
        "${SERVER_PIN[@]}" "${@/#PORT/${PORT[$name]}}" >"$WORK/$name.log" 2>&1 &
        PID[$name]=$!
        PIDS+=("${PID[$name]}")
        wait_ready "${PORT[$name]}" "$name" "${PID[$name]}" && return 0
        grep -qi 'in use' "$WORK/$name.log" || break
        echo "compare.sh: $name: port ${PORT[$name]} taken, retrying" >&2
    done
    echo "compare.sh: $name exited at startup; log:" >&2; cat "$WORK/$name.log" >&2; exit 1
}

# Server instances by name: PORT[name], PID[name]; logs in $WORK/name.log.
declare -A PORT PID
start_redis() {  # name, then extra redis-server arguments
    local name=$1; shift
    # maxclients: room for the 10,000 idle connections plus the harness's own.
    launch "$name" redis-server --port PORT --bind 127.0.0.1 --save '' \
        --client-output-buffer-limit 'pubsub 32mb 8mb 60' --maxclients $((IDLE_CONNS + 100)) --daemonize no "$@"
}
start_vimana() {  # name, then extra `vimana serve` arguments (always give --ledger-dir or --no-ledger)
    local name=$1; shift
    # The kernel alone (no system agents), as the figures have always measured it.
    local nosys=; case "$("$VIMANA" serve --help)" in *--no-system-agents*) nosys=--no-system-agents;; esac
    launch "$name" "$VIMANA" serve --port PORT --http-port -1 $nosys "$@"
}
stop_server() {  # name: SIGTERM, wait
    local pid=${PID[$1]}
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}
info_field() {  # name field: one INFO field of a running server
    { redis-cli -p "${PORT[$1]}" info all 2>/dev/null || true; } | tr -d '\r' | awk -F: -v k="$2" '$1 == k && !seen { print $2; seen = 1 }'
}

# Row table: "label|redis instance|vimana instance|command template" (SERVER = the instance).
ORDER=()
XADD=(XADD s '*' f "$XADD_VALUE")
XADD_MAXLEN=(XADD m MAXLEN '~' 1000 '*' f "$XADD_VALUE")
add_row() { ORDER+=("$1|$2|$3|$4"); }

want ping && add_row "ping" redis vimana "run_benchmark SERVER $BENCH_N -t ping"
want publish && add_row "publish" redis vimana "run_benchmark SERVER $BENCH_N PUBLISH ch hello"
want publish_nl && add_row "publish (no ledger)" redis vimana_nl "run_benchmark SERVER $BENCH_N PUBLISH ch hello"
USER_AUTH="--user bench -a benchpass"
want publish_user && add_row "publish (user)" redis_user vimana_user "run_benchmark SERVER $BENCH_N $USER_AUTH PUBLISH ch hello"
want ping16 && add_row "ping P16" redis vimana "run_benchmark SERVER $BENCH_N -P 16 -t ping"
want publish16 && add_row "publish P16" redis vimana "run_benchmark SERVER $BENCH_N -P 16 PUBLISH ch hello"
want publish16_nl && add_row "publish P16 (no ledger)" redis vimana_nl "run_benchmark SERVER $BENCH_N -P 16 PUBLISH ch hello"
want publish16_user && add_row "publish P16 (user)" redis_user vimana_user "run_benchmark SERVER $BENCH_N -P 16 $USER_AUTH PUBLISH ch hello"
want fanout1 && add_row "fanout 1>1" redis vimana "run_fanout SERVER 1 N1"
want fanout10 && add_row "fanout 1>10" redis vimana "run_fanout SERVER 10 N10"
want fanout10_nl && add_row "fanout 1>10 (no ledger)" redis vimana_nl "run_fanout SERVER 10 N10"
want xadd_everysec && add_row "xadd everysec" redis_es vimana_es "run_benchmark SERVER NXE ${XADD[*]}"
want xadd_everysec16 && add_row "xadd everysec P16" redis_es vimana_es "run_benchmark SERVER NXE16 -P 16 ${XADD[*]}"
want xadd_maxlen && add_row "xadd maxlen" redis_es vimana_es "run_benchmark SERVER NXM ${XADD_MAXLEN[*]}"
want xadd_always && add_row "xadd always" redis_al vimana_al "run_benchmark SERVER NXA ${XADD[*]}"
want xadd_always16 && add_row "xadd always P16" redis_al vimana_al "run_benchmark SERVER NXA16 -P 16 ${XADD[*]}"

used() {  # instance: does a selected row use it?
    local e
    for e in "${ORDER[@]}"; do [[ $e == *"|$1|"* ]] && return 0; done
    return 1
}

start_redis redis --appendonly no
# The restricted user of the "(user)" rows, the same on both servers: the
# channels ch* only (new users have no channels), every command.
used redis_user && start_redis redis_user --appendonly no --user bench on '>benchpass' '&ch*' '+@all'
if used redis_es; then
    mkdir -p "$WORK/redis-everysec"
    start_redis redis_es --appendonly yes --appendfsync everysec --dir "$WORK/redis-everysec"
fi
if used redis_al; then
    mkdir -p "$WORK/redis-always"
    start_redis redis_al --appendonly yes --appendfsync always --dir "$WORK/redis-always"
fi
SIDES=(redis)
if ((!REDIS_ONLY)); then
    start_vimana vimana --ledger-dir "$WORK/ledger-main"
    used vimana_nl && start_vimana vimana_nl --no-ledger
    if used vimana_user; then
        # sha256("benchpass"), as Redis's ACL LIST shows it for redis_user.
        printf '%s\n' 'users:' '  - name: bench' \
            '    password_hashes: ["#ab48ebab2f25d3ced2a92b8a707155c91569f8015552f8e0c1b654c1b22763ac"]' \
            '    permissions: ["&ch*", "+@all"]' > "$WORK/user.yaml"
        start_vimana vimana_user --config "$WORK/user.yaml" --ledger-dir "$WORK/ledger-user"
    fi
    used vimana_es && start_vimana vimana_es --fsync everysec --ledger-dir "$WORK/ledger-everysec"
    used vimana_al && start_vimana vimana_al --fsync always --ledger-dir "$WORK/ledger-always"
    SIDES=(redis vimana)
fi

# utime+stime in ticks. The command name in field 2 may hold spaces: cut after ')'.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

REDIS_VERSION=$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)
for name in "${!PID[@]}"; do echo "$name on port ${PORT[$name]} (pid ${PID[$name]})" >&2; done | sort >&2
echo "redis-server $REDIS_VERSION; vimana $VIMANA; pinning: servers ${SERVER_PIN[*]:-none}, clients ${CLIENT_PIN[*]:-none}; $ROUNDS rounds; CLK_TCK $CLK_TCK" >&2

# ---------------------------------------------------------------- measurements
# Each run prints "RATE REQUESTS [P50 P99]" on stdout; REQUESTS is what CPU is
# divided by; P50 and P99 (ms, per request) only where the client reports them.
run_benchmark() {  # instance requests, then redis-benchmark arguments
    local port=${PORT[$1]} n=$2 csv
    shift 2
    csv=$("${CLIENT_PIN[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$n" --csv "$@" 2>>"$WORK/benchmark.err")
    # One CSV line per test ("PING_INLINE","123.45",...,"p50","p95","p99","max");
    # several tests are combined as total requests over total time, and the
    # mean of their percentiles.
    echo "$csv" | awk -F'","' -v n="$n" 'NR > 1 { gsub(/"/, "", $2); if ($2 > 0) { t += n / $2; c += n; p50 += $5; p99 += $7; k++ } }
        END { if (c == 0) print "0 0"; else printf "%.1f %d %.3f %.3f\n", c / t, c, p50 / k, p99 / k }'
}

run_fanout() {  # instance subscribers messages
    local port=${PORT[$1]} json
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
calibrate() {  # subscribers, then instances
    local subs=$1 best=0 s rate
    shift
    for s in "$@"; do
        rate=$(run_fanout "$s" "$subs" 300000 | awk -v s="$subs" '{print int($1 / s)}')
        ((rate > best)) && best=$rate
    done
    echo $(( best * 25 / 10 > 200000 ? best * 25 / 10 : 200000 ))
}

# Requests for a redis-benchmark row so that the faster server runs at least 2 s.
calibrate_benchmark() {  # "instance instance" trial-requests, then redis-benchmark arguments
    local instances=$1 trial=$2 best=0 s rate
    shift 2
    for s in $instances; do
        rate=$(run_benchmark "$s" "$trial" "$@" | awk '{print int($1)}')
        ((rate > best)) && best=$rate
    done
    echo $(( best * 25 / 10 > 100000 ? best * 25 / 10 : 100000 ))
}

pair() {  # row label -> "redis-instance vimana-instance" (vimana omitted with --redis-only)
    local e r
    for e in "${ORDER[@]}"; do
        [[ ${e%%|*} == "$1" ]] || continue
        r=${e#*|}
        if ((REDIS_ONLY)); then echo "${r%%|*}"; else r=${r%|*}; echo "${r/|/ }"; fi
    done
}

N1=0 N10=0 NXE=0 NXE16=0 NXM=0 NXA=0 NXA16=0
if want fanout1; then
    N1=${FANOUT1_MSGS:-$( ((QUICK)) && echo 100000 || calibrate 1 $(pair "fanout 1>1"))}
fi
if want fanout10 || want fanout10_nl; then
    # One message count for both rows, from every server they use.
    N10=${FANOUT10_MSGS:-$( ((QUICK)) && echo 50000 || calibrate 10 $( (pair "fanout 1>10"; pair "fanout 1>10 (no ledger)") | tr ' ' '\n' | sort -u))}
fi
if want xadd_everysec; then
    NXE=${XADD_EVERYSEC_N:-$( ((QUICK)) && echo 20000 || calibrate_benchmark "$(pair "xadd everysec")" 20000 "${XADD[@]}")}
fi
if want xadd_everysec16; then
    NXE16=${XADD_EVERYSEC16_N:-$( ((QUICK)) && echo 50000 || calibrate_benchmark "$(pair "xadd everysec P16")" 100000 -P 16 "${XADD[@]}")}
fi
if want xadd_maxlen; then
    NXM=${XADD_MAXLEN_N:-$( ((QUICK)) && echo 20000 || calibrate_benchmark "$(pair "xadd maxlen")" 20000 "${XADD_MAXLEN[@]}")}
fi
if want xadd_always; then
    NXA=${XADD_ALWAYS_N:-$( ((QUICK)) && echo 20000 || calibrate_benchmark "$(pair "xadd always")" 20000 "${XADD[@]}")}
fi
if want xadd_always16; then
    NXA16=${XADD_ALWAYS16_N:-$( ((QUICK)) && echo 50000 || calibrate_benchmark "$(pair "xadd always P16")" 100000 -P 16 "${XADD[@]}")}
fi
((${#ORDER[@]})) && echo "messages/requests: fanout 1>1 $N1, fanout 1>10 $N10, xadd everysec $NXE, xadd everysec P16 $NXE16, xadd maxlen $NXM, xadd always $NXA, xadd always P16 $NXA16" >&2

declare -A RATE CPU P50 P99  # key "row|side" -> space-separated per-round figures
measure() {  # row side instance, then the command producing "RATE REQUESTS [P50 P99]"
    local row=$1 side=$2 inst=$3 pid before after out rate requests p50 p99 cpu
    shift 3
    pid=${PID[$inst]}
    before=$(cpu_ticks "$pid")
    out=$("$@")
    after=$(cpu_ticks "$pid")
    read -r rate requests p50 p99 <<<"$out"
    cpu=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { if (n > 0) printf "%.4f", d / hz * 1e6 / n; else print "nan" }')
    RATE[$row|$side]+="$rate "
    CPU[$row|$side]+="$cpu "
    [[ -n $p50 ]] && { P50[$row|$side]+="$p50 "; P99[$row|$side]+="$p99 "; }
    printf '  %-24s %-10s %14s /s  %9s us CPU/req  p50 %s p99 %s ms  (%d ticks, %s requests)\n' "$row" "$inst" "$rate" "$cpu" \
        "${p50:--}" "${p99:--}" $((after - before)) "$requests" >&2
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if ((${#ORDER[@]})); then
    for round in $(seq "$ROUNDS"); do
        echo "round $round/$ROUNDS" >&2
        sides=("${SIDES[@]}")
        if ((round % 2 == 0 && ${#sides[@]} == 2)); then sides=(vimana redis); fi
        for entry in "${ORDER[@]}"; do
            IFS='|' read -r row rinst vinst command <<<"$entry"
            command=${command/N10/$N10}; command=${command/N1/$N1}
            command=${command/NXA16/$NXA16}; command=${command/NXA/$NXA}
            command=${command/NXE16/$NXE16}; command=${command/NXE/$NXE}; command=${command/NXM/$NXM}
            for side in "${sides[@]}"; do
                inst=$rinst; [[ $side == vimana ]] && inst=$vinst
                # noglob: the XADD template holds a literal *.
                set -f
                # shellcheck disable=SC2086 # the command template splits into words on purpose
                measure "$row" "$side" "$inst" ${command//SERVER/$inst}
                set +f
            done
        done
    done
fi

# What the XADD rows left on disk, per entry (before anything is stopped).
XADD_NOTES=()
for pairing in "redis_es vimana_es everysec" "redis_al vimana_al always"; do
    read -r rinst vinst mode <<<"$pairing"
    [[ -n ${PID[$rinst]:-} ]] || continue
    rlen=$(redis-cli -p "${PORT[$rinst]}" xlen s)
    rdisk=$(du -sb "$WORK/redis-$mode" | cut -f1)
    rewrites=$(info_field "$rinst" aof_rewrites)
    # After an AOF rewrite Redis keeps a compact RDB base plus the increments since.
    note="xadd $mode, disk per stream entry: redis appendonlydir $(awk -v b="$rdisk" -v n="$rlen" 'BEGIN { printf "%.1f", n ? b / n : 0 }') bytes ($rlen entries, $rewrites automatic AOF rewrites)"
    if [[ -n ${PID[$vinst]:-} ]]; then
        vlen=$(redis-cli -p "${PORT[$vinst]}" xlen s)
        vdisk=$(info_field "$vinst" ledger_disk_bytes)
        note+=", vimana ledger $(awk -v b="$vdisk" -v n="$vlen" 'BEGIN { printf "%.1f", n ? b / n : 0 }') bytes ($vlen entries, $(info_field "$vinst" ledger_fsyncs) fsyncs)"
    fi
    XADD_NOTES+=("$note")
    echo "  $note" >&2
done

# The row servers are done: stop them so the sections below have the CPU and disk.
for name in $(printf '%s\n' "${!PID[@]}" | sort); do
    echo "  $name: RSS $(rss_kb "${PID[$name]}") kB after the rows" >&2
    stop_server "$name"
done
rm -rf "$WORK"/ledger-* "$WORK"/redis-*

# Idle memory: RSS growth with IDLE_CONNS idle connections, once per server, on
# fresh servers: after the rows a recording vimana's heap has grown (ledger
# batches, subscriber buffers) and would absorb the connections unmeasured.
declare -A IDLE
if want idle; then
    for s in "${SIDES[@]}"; do
        if [[ $s == redis ]]; then start_redis idle_redis --appendonly no; else start_vimana idle_vimana --ledger-dir "$WORK/ledger-idle"; fi
        pid=${PID[idle_$s]}
        before=$(rss_kb "$pid")
        "${CLIENT_PIN[@]}" "$BENCH_BIN" bench --host 127.0.0.1 --port "${PORT[idle_$s]}" --idle "$IDLE_CONNS" \
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
        forget_pid "$bench_pid"
        if [[ -z $open || $open == 0 ]]; then
            echo "  idle: $s: no connections opened: $(cat "$WORK/idle.err")" >&2
            IDLE[$s]="nan nan nan"
        else
            per=$(awk -v a="$after" -v b="$before" -v n="$open" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
            IDLE[$s]="$per $before $after"
            [[ $open != "$IDLE_CONNS" ]] && echo "  idle: $s accepted only $open of $IDLE_CONNS connections" >&2
            printf '  %-24s %-10s RSS %s kB -> %s kB with %s connections: %s bytes/connection\n' idle "$s" "$before" "$after" "$open" "$per" >&2
        fi
        stop_server "idle_$s"
    done
    rm -rf "$WORK/ledger-idle"
fi

# ---------------------------------------------------------------- tasks: vimana, redis streams, beanstalkd
declare -A TASK_RATE TASK_P50 TASK_P99 TASK_CPU
TASK_SETTINGS=()
if want tasks; then
    printf 'agents:\n' >"$WORK/tasks.yaml"
    for p in 1 16; do
        printf '  - id: bench%s\n    subscribes: ["bench%s.tasks"]\n    prefetch: %s\n' "$p" "$p" "$p" >>"$WORK/tasks.yaml"
    done
    TASK_PEERS=(redis beanstalkd)
    ((REDIS_ONLY)) || { TASK_PEERS=(vimana redis beanstalkd); start_vimana tasks_vimana --config "$WORK/tasks.yaml" --ledger-dir "$WORK/ledger-tasks"; }
    mkdir -p "$WORK/redis-tasks" "$WORK/beanstalkd"
    start_redis tasks_redis --appendonly yes --appendfsync everysec --dir "$WORK/redis-tasks"
    PORT[tasks_beanstalkd]=$(free_port)
    "${SERVER_PIN[@]}" beanstalkd -l 127.0.0.1 -p "${PORT[tasks_beanstalkd]}" -b "$WORK/beanstalkd" -f 1000 >"$WORK/beanstalkd.log" 2>&1 &
    PID[tasks_beanstalkd]=$!
    PIDS+=("${PID[tasks_beanstalkd]}")
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/${PORT[tasks_beanstalkd]}") 2>/dev/null && break; sleep 0.1; done
    echo "tasks: vimana bench --tasks PEER --workers 2 --size 128; beanstalkd $(beanstalkd -v 2>&1 | head -1) on port ${PORT[tasks_beanstalkd]}" >&2
    run_tasks() {  # peer prefetch messages -> JSON from vimana bench
        "${CLIENT_PIN[@]}" "$BENCH_BIN" bench --tasks "$1" --host 127.0.0.1 --port "${PORT[tasks_$1]}" \
            --topic "bench$2.tasks" --agent "bench$2" --workers 2 --prefetch "$2" --pipeline "$2" --msgs "$3" \
            --size 128 --json 2>>"$WORK/bench.err" || echo '{}'
    }
    for setting in "1 $TASKS1_MSGS" "16 $TASKS16_MSGS"; do
        read -r pf n <<<"$setting"
        TASK_SETTINGS+=("$pf")
        for peer in "${TASK_PEERS[@]}"; do run_tasks "$peer" "$pf" $((n / 10)) >/dev/null; done  # warm-up
        for round in $(seq "$TASKS_ROUNDS"); do
            order=("${TASK_PEERS[@]}")
            ((round % 2 == 0)) && order=($(printf '%s\n' "${TASK_PEERS[@]}" | tac))
            for peer in "${order[@]}"; do
                t0=$(cpu_ticks "${PID[tasks_$peer]}")
                json=$(run_tasks "$peer" "$pf" "$n")
                t1=$(cpu_ticks "${PID[tasks_$peer]}")
                rate=$(jq -r '.rate // "nan"' <<<"$json"); acked=$(jq -r '.acknowledged // 0' <<<"$json")
                p50=$(jq -r '.p50_us // "nan"' <<<"$json"); p99=$(jq -r '.p99_us // "nan"' <<<"$json")
                lost=$(jq -r '.lost // "all"' <<<"$json"); failures=$(jq -r '(.failures // ["no result"]) | join("; ")' <<<"$json")
                cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$acked" 'BEGIN { if (n > 0) printf "%.4f", d / hz * 1e6 / n; else print "nan" }')
                TASK_RATE[$pf|$peer]+="$rate " TASK_P50[$pf|$peer]+="$p50 " TASK_P99[$pf|$peer]+="$p99 " TASK_CPU[$pf|$peer]+="$cpu "
                printf '  %-24s %-10s %12s tasks/s  p50 %8s us  p99 %8s us  %8s us CPU/task  lost %s %s\n' \
                    "tasks P$pf" "$peer" "$rate" "$p50" "$p99" "$cpu" "$lost" "$failures" >&2
            done
        done
    done
    ((REDIS_ONLY)) || stop_server tasks_vimana
    stop_server tasks_redis; stop_server tasks_beanstalkd
    rm -rf "$WORK/ledger-tasks" "$WORK/redis-tasks" "$WORK/beanstalkd"
fi

# ---------------------------------------------------------------- sustained recorded publish
SUSTAINED=()
if want sustained && ((!REDIS_ONLY)); then
    echo "sustained recorded publish: vimana bench --pub 4 --sub 0 --size 256 --pipeline 1024, >= $SUSTAINED_SECONDS s per run" >&2
    start_vimana sus_rec --ledger-dir "$WORK/ledger-sustained" --log-format json
    start_vimana sus_nl --no-ledger
    declare -A SUS_N SUS_RATE SUS_SECS SUS_CPU SUS_STALLS SUS_RAW SUS_DISK
    run_sustained() {  # instance messages -> JSON from vimana bench
        "${CLIENT_PIN[@]}" "$BENCH_BIN" bench --host 127.0.0.1 --port "${PORT[$1]}" --pub 4 --sub 0 --size 256 \
            --pipeline 1024 --msgs "$2" --json 2>>"$WORK/bench.err"
    }
    for inst in sus_rec sus_nl; do  # calibration, also a warm-up
        rate=$(run_sustained "$inst" 2000000 | jq -r '.publish_rate | floor')
        SUS_N[$inst]=$(( rate * SUSTAINED_SECONDS / 4 * 4 ))
        echo "  calibration $inst: $rate msgs/s -> ${SUS_N[$inst]} messages" >&2
    done
    for round in $(seq "$SUSTAINED_ROUNDS"); do
        order=(sus_rec sus_nl); ((round % 2 == 0)) && order=(sus_nl sus_rec)
        for inst in "${order[@]}"; do
            stalls0=0 raw0=0 disk0=0
            if [[ $inst == sus_rec ]]; then
                stalls0=$(info_field "$inst" ledger_stalls); raw0=$(info_field "$inst" ledger_raw_bytes)
                disk0=$(info_field "$inst" ledger_compressed_bytes)
            fi
            t0=$(cpu_ticks "${PID[$inst]}")
            json=$(run_sustained "$inst" "${SUS_N[$inst]}")
            t1=$(cpu_ticks "${PID[$inst]}")
            rate=$(jq -r .publish_rate <<<"$json"); secs=$(jq -r .publish_s <<<"$json")
            errors=$(jq -r .publish_errors <<<"$json")
            cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${SUS_N[$inst]}" 'BEGIN { printf "%.4f", d / hz * 1e6 / n }')
            SUS_RATE[$inst]+="$rate " SUS_SECS[$inst]+="$secs " SUS_CPU[$inst]+="$cpu "
            extra=""
            if [[ $inst == sus_rec ]]; then
                sleep 1.5  # the writer drains what is pending
                stalls=$(( $(info_field "$inst" ledger_stalls) - stalls0 ))
                raw=$(awk -v a="$(info_field "$inst" ledger_raw_bytes)" -v b="$raw0" -v s="$secs" 'BEGIN { printf "%.1f", (a - b) / s / 1e6 }')
                disk=$(awk -v a="$(info_field "$inst" ledger_compressed_bytes)" -v b="$disk0" -v s="$secs" 'BEGIN { printf "%.1f", (a - b) / s / 1e6 }')
                SUS_STALLS[$inst]+="$stalls " SUS_RAW[$inst]+="$raw " SUS_DISK[$inst]+="$disk "
                extra=", $stalls stalls, ledger $raw MB/s raw -> $disk MB/s written"
            fi
            printf '  %-24s %-10s %12s msgs/s in %s s, %s us CPU/msg, %s errors%s\n' sustained "$inst" "$rate" "$secs" "$cpu" "$errors" "$extra" >&2
        done
    done
    SUSTAINED=(
        "$(median <<<"${SUS_RATE[sus_rec]}")" "$(median <<<"${SUS_RATE[sus_nl]}")"
        "$(median <<<"${SUS_SECS[sus_rec]}")" "$(median <<<"${SUS_SECS[sus_nl]}")"
        "$(median <<<"${SUS_CPU[sus_rec]}")" "$(median <<<"${SUS_CPU[sus_nl]}")"
        "$(median <<<"${SUS_STALLS[sus_rec]}")" "$(median <<<"${SUS_RAW[sus_rec]}")" "$(median <<<"${SUS_DISK[sus_rec]}")"
        "$(info_field sus_rec ledger_segments)" "$(info_field sus_rec ledger_compression_ratio)"
        "$(jq -Rr 'fromjson? | select(.event == "ledger segment sealed") | .segment' "$WORK/sus_rec.log" | sort -u | wc -l)"
        "$(jq -Rr 'fromjson? | select(.event == "ledger segment compacted") | .segment' "$WORK/sus_rec.log" | sort -u | wc -l)"
    )
    stop_server sus_rec; stop_server sus_nl
    rm -rf "$WORK/ledger-sustained"
fi

# ---------------------------------------------------------------- compression (JSON tasks)
COMPRESSION=()
if want compression && ((!REDIS_ONLY)); then
    echo "compression: $COMPRESSION_BYTES of JSON tasks, ledger.segment_bytes $COMPRESSION_SEGMENT" >&2
    printf 'ledger:\n  segment_bytes: %s\n' "$COMPRESSION_SEGMENT" >"$WORK/compression.yaml"
    start_vimana comp --config "$WORK/compression.yaml" --ledger-dir "$WORK/ledger-compression" --log-format json
    "${CLIENT_PIN[@]}" python3 "$HERE/gen_tasks.py" --bytes "$COMPRESSION_BYTES" --pipeline 256 \
        --send "127.0.0.1:${PORT[comp]}" 2>"$WORK/gen.json" >/dev/null || { cat "$WORK/gen.json" >&2; exit 1; }
    gen=$(tail -1 "$WORK/gen.json")
    echo "  gen_tasks: $gen" >&2
    # The writer drains, then every sealed segment is compacted.
    for _ in $(seq 600); do
        [[ $(info_field comp ledger_pending_bytes) == 0 ]] && break
        sleep 0.1
    done
    start=$SECONDS
    while :; do
        pending=$(comm -23 \
            <(jq -Rr 'fromjson? | select(.event == "ledger segment sealed") | .segment' "$WORK/comp.log" | sort -u) \
            <(jq -Rr 'fromjson? | select(.event == "ledger segment compacted") | .segment' "$WORK/comp.log" | sort -u) | wc -l)
        ((pending == 0)) && break
        if ((SECONDS - start > 900)); then echo "compare.sh: compaction not finished after 900 s" >&2; break; fi
        sleep 0.5
    done
    wait_s=$((SECONDS - start))
    raw=$(info_field comp ledger_raw_bytes); live=$(info_field comp ledger_compressed_bytes)
    live_ratio=$(info_field comp ledger_compression_ratio); records=$(info_field comp ledger_records)
    seg=$(find "$WORK/ledger-compression" -name '*.seg' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    idx=$(find "$WORK/ledger-compression" -name '*.idx' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    nseg=$(find "$WORK/ledger-compression" -name '*.seg' | wc -l)
    ncompacted=$(jq -Rr 'fromjson? | select(.event == "ledger segment compacted") | .segment' "$WORK/comp.log" | sort -u | wc -l)
    active=$(find "$WORK/ledger-compression" -name '*.seg' | sort | tail -1 | xargs stat -c %s)
    payload=$(jq -r .payload_bytes <<<"$gen"); messages=$(jq -r .messages <<<"$gen")
    echo "  after compaction (${wait_s} s): raw $raw, live-written $live, *.seg $seg ($nseg segments, $ncompacted compacted, active $active), *.idx $idx" >&2
    # One record per frame: tasks sent one at a time.
    raw0=$raw comp0=$live
    "${CLIENT_PIN[@]}" python3 "$HERE/gen_tasks.py" --count 20000 --seed 2 --pipeline 1 \
        --send "127.0.0.1:${PORT[comp]}" 2>"$WORK/gen1.json" >/dev/null || { cat "$WORK/gen1.json" >&2; exit 1; }
    sleep 1.5
    p1_ratio=$(awk -v r="$(info_field comp ledger_raw_bytes)" -v r0="$raw0" -v c="$(info_field comp ledger_compressed_bytes)" -v c0="$comp0" \
        'BEGIN { printf "%.2f", (r - r0) / (c - c0) }')
    echo "  pipeline 1: $(tail -1 "$WORK/gen1.json"); live ratio $p1_ratio" >&2
    COMPRESSION=("$messages" "$payload" "$raw" "$live" "$live_ratio" "$seg" "$idx" "$nseg" "$ncompacted" "$active" "$p1_ratio" "$wait_s" "$records")
    stop_server comp
    rm -rf "$WORK/ledger-compression"
fi

# ---------------------------------------------------------------- restart with a big ledger
RESTART=""
if want restart && ((!REDIS_ONLY)); then
    echo "restart: building a $RESTART_SIZE ledger (random base64), $RESTART_RUNS restarts per scenario" >&2
    python3 "$HERE/restart_time.py" --vimana "$VIMANA" --dir "$WORK/ledger-restart" --size "$RESTART_SIZE" \
        --runs "$RESTART_RUNS" "${RESTART_PIN[@]}" >"$WORK/restart.json" 2>"$WORK/restart.err" &
    restart_pid=$!
    PIDS+=("$restart_pid")
    rc=0; wait "$restart_pid" || rc=$?
    forget_pid "$restart_pid"
    sed 's/^/  /' "$WORK/restart.json" >&2
    ((rc == 0)) || { echo "compare.sh: restart_time.py failed ($rc):" >&2; cat "$WORK/restart.err" >&2; }
    RESTART=$(grep '"summary"' "$WORK/restart.json" || true)
    BUILD=$(grep '"build"' "$WORK/restart.json" || true)
    rm -rf "$WORK/ledger-restart"
fi

# ---------------------------------------------------------------- report
ratio() { awk -v v="$1" -v r="$2" 'BEGIN { if (v == "nan" || r == "nan" || v == "-" || r + 0 == 0) print "-"; else printf "%.2f", v / r }'; }
fmt() { awk -v x="$1" -v p="$2" 'BEGIN { if (x == "nan" || x == "-" || x == "") print "-"; else printf "%.*f", p, x }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

{
    echo "# Vimana vs Redis $REDIS_VERSION, loopback, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, medians of $ROUNDS rounds"
    if ((${#ORDER[@]})); then
        echo "# rates: requests/s (redis-benchmark -c 50; ping = INLINE+MBULK) or deliveries/s (vimana bench, 16-byte messages, pipeline $FANOUT_PIPELINE)"
        echo "# vimana records every topic (fresh ledger, fsync everysec) except in the (no ledger) rows (--no-ledger);"
        echo "# xadd rows: XADD s * f <16 bytes> against redis --appendonly yes --appendfsync MODE and vimana --fsync MODE"
        echo "# CPU: server utime+stime per request or delivery, in microseconds (resolution 1/$CLK_TCK s per row run)"
        printf '%-24s %14s %14s %7s %13s %13s %9s\n' row "redis /s" "vimana /s" ratio "redis us/req" "vimana us/req" "CPU ratio"
        for entry in "${ORDER[@]}"; do
            row=${entry%%|*}
            rr=$(median <<<"${RATE[$row|redis]}"); rc=$(median <<<"${CPU[$row|redis]}")
            vr="-" vc="-"
            if ((!REDIS_ONLY)); then vr=$(median <<<"${RATE[$row|vimana]}"); vc=$(median <<<"${CPU[$row|vimana]}"); fi
            printf '%-24s %14s %14s %7s %13s %13s %9s\n' "$row" "$(fmt "$rr" 0)" "$(fmt "$vr" 0)" "$(ratio "$vr" "$rr")" \
                "$(fmt "$rc" 3)" "$(fmt "$vc" 3)" "$(ratio "$vc" "$rc")"
        done
    fi
    if want idle; then
        read -r rper rbefore rafter <<<"${IDLE[redis]}"
        vper="-"; ((REDIS_ONLY)) || read -r vper _ _ <<<"${IDLE[vimana]}"
        printf '%-24s %14s %14s %7s   (RSS bytes per idle connection, %s connections; redis %s -> %s kB)\n' \
            "idle ${IDLE_CONNS}" "$rper" "$vper" "$(ratio "$vper" "$rper")" "$IDLE_CONNS" "$rbefore" "$rafter"
    fi
    for note in "${XADD_NOTES[@]}"; do echo "# $note"; done
    # Latency of the redis-benchmark rows (each request's round trip, as the client reports it).
    header=0
    for entry in "${ORDER[@]}"; do
        row=${entry%%|*}
        [[ -n ${P50[$row|redis]:-} ]] || continue
        if ((header == 0)); then
            echo
            echo "# latency: redis-benchmark p50 / p99 per request in ms, medians of $ROUNDS rounds"
            printf '%-24s %11s %11s %11s %11s\n' row "redis p50" "redis p99" "vimana p50" "vimana p99"
            header=1
        fi
        vp50="-" vp99="-"
        if ((!REDIS_ONLY)); then vp50=$(median <<<"${P50[$row|vimana]:-}"); vp99=$(median <<<"${P99[$row|vimana]:-}"); fi
        printf '%-24s %11s %11s %11s %11s\n' "$row" "$(fmt "$(median <<<"${P50[$row|redis]}")" 3)" \
            "$(fmt "$(median <<<"${P99[$row|redis]}")" 3)" "$(fmt "$vp50" 3)" "$(fmt "$vp99" 3)"
    done

    if ((${#TASK_SETTINGS[@]})); then
        echo
        echo "# tasks: vimana bench --tasks PEER, 1 producer, 2 workers, 128-byte tasks, medians of $TASKS_ROUNDS rounds;"
        echo "# P1: pipeline 1, prefetch 1; P16: pipeline 16, prefetch 16 (beanstalkd: one job per worker at a time)."
        echo "# tasks/s: submission to confirmed acknowledgement; p50/p99 of that round trip; CPU: server utime+stime per task"
        printf '%-12s %-11s %12s %10s %10s %12s %12s\n' row peer "tasks/s" "p50 us" "p99 us" "us CPU/task" "vimana/peer"
        for pf in "${TASK_SETTINGS[@]}"; do
            vr="nan"; ((REDIS_ONLY)) || vr=$(median <<<"${TASK_RATE[$pf|vimana]}")
            for peer in $( ((REDIS_ONLY)) || echo vimana) redis beanstalkd; do
                r=$(median <<<"${TASK_RATE[$pf|$peer]}")
                rel="-"; [[ $peer != vimana ]] && rel=$(ratio "$vr" "$r")
                printf '%-12s %-11s %12s %10s %10s %12s %12s\n' "tasks P$pf" "$peer" "$(fmt "$r" 0)" \
                    "$(fmt "$(median <<<"${TASK_P50[$pf|$peer]}")" 0)" "$(fmt "$(median <<<"${TASK_P99[$pf|$peer]}")" 0)" \
                    "$(fmt "$(median <<<"${TASK_CPU[$pf|$peer]}")" 3)" "$rel"
            done
        done
    fi

    # Two Vimana columns of the same row side by side: "title" "a b ratio a-CPU b-CPU CPU-ratio" pairings ("a|b")...
    vimana_pairs() {
        local title=$1 a b r ac bc cr header=0 pairing on off onr offr onc offc
        read -r a b r ac bc cr <<<"$2"
        shift 2
        for pairing in "$@"; do
            on=${pairing%|*} off=${pairing#*|}
            [[ -n ${RATE[$on|vimana]:-} && -n ${RATE[$off|vimana]:-} ]] || continue
            if ((header == 0)); then
                echo
                echo "# $title, medians of $ROUNDS rounds"
                printf '%-24s %14s %14s %7s %13s %13s %9s\n' row "$a /s" "$b /s" "$r" "$ac us/req" "$bc us/req" "CPU $cr"
                header=1
            fi
            onr=$(median <<<"${RATE[$on|vimana]}"); offr=$(median <<<"${RATE[$off|vimana]}")
            onc=$(median <<<"${CPU[$on|vimana]}"); offc=$(median <<<"${CPU[$off|vimana]}")
            printf '%-24s %14s %14s %7s %13s %13s %9s\n' "$on" "$(fmt "$onr" 0)" "$(fmt "$offr" 0)" "$(ratio "$onr" "$offr")" \
                "$(fmt "$onc" 3)" "$(fmt "$offc" 3)" "$(ratio "$onc" "$offc")"
        done
    }
    if ((!REDIS_ONLY)); then
        # Recording cost: the same row against vimana recording and vimana --no-ledger.
        vimana_pairs "recording cost: vimana recording (ledger on, fsync everysec) vs vimana --no-ledger" \
            "on off on/off on off on/off" \
            "publish|publish (no ledger)" "publish P16|publish P16 (no ledger)" "fanout 1>10|fanout 1>10 (no ledger)"
        # Permission cost: the same row as the restricted user and as the default user.
        vimana_pairs "permission cost: vimana as user bench (channels ch* only) vs as default (unrestricted)" \
            "user default u/d user def u/d" \
            "publish (user)|publish" "publish P16 (user)|publish P16"
    fi

    if ((${#SUSTAINED[@]})); then
        echo
        echo "# sustained publish: vimana bench --pub 4 --sub 0 --size 256 --pipeline 1024 --msgs N (N: >= $SUSTAINED_SECONDS s), medians of $SUSTAINED_ROUNDS runs"
        printf '%-24s %14s %9s %13s %9s %22s\n' "" "msgs/s" seconds "us CPU/msg" stalls "ledger raw -> written"
        printf '%-24s %14s %9s %13s %9s %22s\n' "recording (everysec)" "$(fmt "${SUSTAINED[0]}" 0)" "$(fmt "${SUSTAINED[2]}" 1)" \
            "$(fmt "${SUSTAINED[4]}" 3)" "$(fmt "${SUSTAINED[6]}" 0)" "${SUSTAINED[7]} -> ${SUSTAINED[8]} MB/s"
        printf '%-24s %14s %9s %13s %9s\n' "no ledger" "$(fmt "${SUSTAINED[1]}" 0)" "$(fmt "${SUSTAINED[3]}" 1)" "$(fmt "${SUSTAINED[5]}" 3)" "-"
        printf '%-24s %14s\n' "recording / no ledger" "$(ratio "${SUSTAINED[0]}" "${SUSTAINED[1]}")"
        echo "# stalls: INFO ledger_stalls during the run (a publisher paused because more than ledger.max_pending was unwritten);"
        echo "# payloads are vimana bench's (256 x 'x' with a timestamp): live compression ratio ${SUSTAINED[10]};"
        echo "# by the end ${SUSTAINED[11]} segments were sealed and ${SUSTAINED[12]} compacted (compaction runs on the server's core too)"
    fi

    if ((${#COMPRESSION[@]})); then
        read -r messages payload raw live live_ratio seg idx nseg ncompacted active p1_ratio wait_s records <<<"${COMPRESSION[*]}"
        echo
        echo "# compression (JSON tasks): tools/bench/gen_tasks.py --bytes $COMPRESSION_BYTES --pipeline 256 (PUBLISH), ledger.segment_bytes $COMPRESSION_SEGMENT"
        printf '%-36s %s\n' "messages, JSON payload" "$messages, $(mb "$payload") ($(awk -v p="$payload" -v n="$messages" 'BEGIN { printf "%.0f", p / n }') B/message)"
        printf '%-36s %s\n' "ledger raw (INFO ledger_raw_bytes)" "$(mb "$raw") (records with their headers)"
        printf '%-36s %s\n' "written live (level 1, group commits)" "$(mb "$live"): ratio $live_ratio (INFO ledger_compression_ratio)"
        printf '%-36s %s\n' "on disk after compaction (*.seg)" "$(mb "$seg") in $nseg segments ($ncompacted compacted, active one $(mb "$active") not), *.idx $(mb "$idx")"
        printf '%-36s %s\n' "compression ratio raw / *.seg" "$(ratio "$raw" "$seg")"
        printf '%-36s %s\n' "JSON payload / *.seg" "$(ratio "$payload" "$seg")"
        printf '%-36s %s\n' "live ratio at pipeline 1" "$p1_ratio (20,000 more tasks, one per frame)"
        printf '%-36s %s\n' "compaction finished" "${wait_s} s after the writer drained"
    fi

    if [[ -n $RESTART ]]; then
        echo
        echo "# restart: tools/bench/restart_time.py --size $RESTART_SIZE --runs $RESTART_RUNS: ms from fork to the \`listening\` log line (medians; ledger = the \`ledger opened\` ms field)"
        jq -r '"ledger: \(.seg_bytes / 1e6 | floor) MB of *.seg in \(.segments) segments, \(.records) records (random base64, 4096 B); built in \(.build_s) s, compaction \(.compaction_wait_s) s more; SIGTERM to exit \(.sigterm_to_exit_ms) ms"' <<<"$BUILD"
        jq -r '"after SIGTERM:                 \(.clean_ms) ms (ledger \(.clean_ledger_ms) ms)",
               "after SIGKILL while writing:   \(.crash_ms) ms (ledger \(.crash_ledger_ms) ms)",
               "active segment index deleted:  \(."no-index_ms") ms (ledger \(."no-index_ledger_ms") ms)"' <<<"$RESTART"
    fi
} >"$WORK/table.txt"

cat "$WORK/table.txt"
if [[ -n $OUT ]]; then cp "$WORK/table.txt" "$OUT"; echo "table written to $OUT" >&2; fi
