#!/usr/bin/env bash
# Drives a Vimana server with redis-cli and checks every answer.
#
#   tools/compat/redis_cli_compat.sh --port 7379 [--host 127.0.0.1]
#
# PING, ECHO, PUBLISH, a `redis-cli subscribe` (RESP2) and a `redis-cli -3
# psubscribe` (RESP3; redis-cli 7.0 spells --resp3 as -3) running in the
# background while a message is published, HELLO/CLIENT/CONFIG in RESP3,
# INFO, PUBSUB NUMSUB, and commands piped on stdin (CLIENT SETNAME/GETNAME).
#
# Exit status 0 and one summary line when every check passes; 1 and a line
# `redis_cli_compat: FAIL what: got '…', want '…'` at the first mismatch; 2
# when redis-cli is missing or the arguments are wrong. The checks hold for
# redis-server 7.0 too; Vimana-only ones run when INFO shows vimana_version.
set -u

prog=redis_cli_compat
host=127.0.0.1
port=
while [ $# -gt 0 ]; do
    case "$1" in
        --host|-h) host="${2:?--host needs a value}"; shift 2 ;;
        --port|-p) port="${2:?--port needs a value}"; shift 2 ;;
        *) echo "$prog: usage: $0 --port PORT [--host HOST]" >&2; exit 2 ;;
    esac
done
if [ -z "$port" ]; then
    echo "$prog: usage: $0 --port PORT [--host HOST]" >&2
    exit 2
fi
if ! command -v redis-cli >/dev/null 2>&1; then
    echo "$prog: FAIL: redis-cli is not installed (apt-get install redis-tools, or run tools/install-deps.sh test)"
    exit 2
fi

checks=0
background=()
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vimana-cli-compat.XXXXXX")
cleanup() {
    # KILL, not TERM: a parent may have started us with SIGTERM blocked (the
    # mask is inherited), and redis-cli would then never exit.
    for pid in "${background[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$scratch"
}
trap cleanup EXIT

# A unique suffix, so a server with other clients does not disturb the counts.
suffix="$$.$RANDOM"

cli() { redis-cli -h "$host" -p "$port" "$@" 2>&1 | tr -d '\r'; }

fail() {
    echo "$prog: FAIL $*"
    exit 1
}

# expect WHAT GOT WANT: exact comparison (multi-line values shown with \n).
expect() {
    checks=$((checks + 1))
    if [ "$2" != "$3" ]; then
        fail "$1: got '$(printf '%s' "$2" | sed -z 's/\n/\\n/g')', want '$(printf '%s' "$3" | sed -z 's/\n/\\n/g')'"
    fi
}

# expect_line WHAT TEXT LINE: TEXT has LINE as one of its lines.
expect_line() {
    checks=$((checks + 1))
    if ! printf '%s\n' "$2" | grep -qxF -- "$3"; then
        fail "$1: no line '$3' in '$(printf '%s' "$2" | head -c 600 | sed -z 's/\n/\\n/g')'"
    fi
}

# wait_until WHAT COMMAND...: retries COMMAND for up to 5 s.
wait_until() {
    local what=$1
    shift
    for _ in $(seq 100); do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    fail "$what: not within 5s"
}

numsub_is() { [ "$(cli pubsub numsub "$1" | sed -n 2p)" = "$2" ]; }
lines_at_least() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }

# Connection basics. Without a terminal redis-cli prints replies raw.
got=$(cli ping)
[ "$got" = PONG ] || fail "PING (is a server listening on $host:$port?): got '$got', want 'PONG'"
checks=$((checks + 1))
expect "ECHO" "$(cli echo 'hello world')" "hello world"
expect "ECHO (typed)" "$(cli --no-raw echo 'hello world')" '"hello world"'
expect "PUBLISH with no subscriber" "$(cli --no-raw publish "nobody.$suffix" x)" "(integer) 0"
expect "unknown command" "$(cli --no-raw no-such-command a)" \
    "(error) ERR unknown command 'no-such-command', with args beginning with: 'a' "

info=$(cli info)
expect_line "INFO redis_version" "$info" "redis_version:7.0.15"
expect_line "INFO section header" "$info" "# Clients"
vimana=no
if printf '%s\n' "$info" | grep -q '^vimana_version:'; then vimana=yes; fi

# RESP2 subscriber in the background; publish; read what it printed.
channel="compat.cli.$suffix"
# redis-cli itself in the background (not through `cli`): $! is its PID and
# nothing buffers its output.
redis-cli -h "$host" -p "$port" subscribe "$channel" > "$scratch/sub.out" 2>&1 &
background+=($!)
wait_until "redis-cli subscribe registers (PUBSUB NUMSUB $channel = 1)" numsub_is "$channel" 1
expect "PUBSUB NUMSUB" "$(cli pubsub numsub "$channel")" "$(printf '%s\n1' "$channel")"
expect "PUBLISH to the subscriber" "$(cli publish "$channel" 'hello from redis-cli')" "1"
wait_until "the subscriber prints the message" lines_at_least "$scratch/sub.out" 6
expect "redis-cli subscribe output" "$(tr -d '\r' < "$scratch/sub.out")" \
    "$(printf 'subscribe\n%s\n1\nmessage\n%s\nhello from redis-cli' "$channel" "$channel")"

# RESP3 pattern subscriber (messages arrive as push frames).
pattern="compat.cli3.$suffix.*"
topic="compat.cli3.$suffix.x"
redis-cli -h "$host" -p "$port" -3 psubscribe "$pattern" > "$scratch/psub.out" 2>&1 &
background+=($!)
wait_until "redis-cli -3 psubscribe registers" lines_at_least "$scratch/psub.out" 3
expect "PUBLISH to the RESP3 pattern subscriber" "$(cli --no-raw publish "$topic" 'push frame')" "(integer) 1"
wait_until "the RESP3 subscriber prints the message" lines_at_least "$scratch/psub.out" 7
expect "redis-cli -3 psubscribe output" "$(tr -d '\r' < "$scratch/psub.out")" \
    "$(printf 'psubscribe\n%s\n1\npmessage\n%s\n%s\npush frame' "$pattern" "$pattern" "$topic")"

# RESP3 replies, typed.
hello=$(cli -3 --no-raw hello 3)
expect_line "HELLO 3 proto" "$hello" '3# "proto" => (integer) 3'
expect_line "HELLO 3 version" "$hello" '2# "version" => "7.0.15"'
expect "CLIENT GETNAME (RESP3 null)" "$(cli -3 --no-raw client getname)" "(nil)"
maxclients=$(printf '%s\n' "$info" | sed -n 's/^maxclients://p')
expect "CONFIG GET (RESP3 map)" "$(cli -3 --no-raw config get maxclients)" "1# \"maxclients\" => \"$maxclients\""
expect "CONFIG GET (RESP2 array)" "$(cli --no-raw config get maxclients)" \
    "$(printf '1) "maxclients"\n2) "%s"' "$maxclients")"
client_info=$(cli -3 client info)
expect_line "CLIENT INFO resp=3" "$(printf '%s\n' "$client_info" | tr ' ' '\n')" "resp=3"
expect "SELECT 0" "$(cli select 0)" "OK"

if [ "$vimana" = yes ]; then
    expect_line "HELLO 3 server" "$hello" '1# "server" => "vimana"'
    expect "SELECT 1" "$(cli --no-raw select 1)" "(error) ERR DB index is out of range"
    expect "CONFIG SET immutable" "$(cli --no-raw config set port 5)" \
        "(error) ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    expect "CONFIG SET" "$(cli config set notify-keyspace-events KEt)" "OK"
    expect "CONFIG GET" "$(cli config get notify-keyspace-events)" "notify-keyspace-events
tKE"
    expect "CONFIG SET off" "$(cli config set notify-keyspace-events '')" "OK"
    pubsub=$(cli info pubsub)
    for key in pubsub_channels pubsub_patterns messages_published messages_delivered slow_subscriber_disconnects; do
        checks=$((checks + 1))
        printf '%s\n' "$pubsub" | grep -q "^$key:[0-9][0-9]*\$" || fail "INFO pubsub: no numeric '$key' in '$pubsub'"
    done
fi

# Last, because it fails on a server redis-cli cannot read: with no command
# on its command line redis-cli reads commands from stdin (or a terminal),
# and first asks COMMAND DOCS to build its help and hints.
piped=$(printf 'PING\nECHO piped\nCLIENT SETNAME cli-%s\nCLIENT GETNAME\n' "$$" | redis-cli -h "$host" -p "$port" 2>&1)
status=$?
checks=$((checks + 1))
if [ "$status" -ne 0 ]; then
    reason="exit status $status"
    [ "$status" -eq 139 ] && reason="redis-cli crashed (SIGSEGV, exit 139): it builds its help from COMMAND DOCS at start"
    fail "commands piped on stdin (redis-cli without a command, as typed at its prompt): $reason; output '$piped'"
fi
expect "commands piped on stdin" "$(printf '%s' "$piped" | tr -d '\r')" "$(printf 'PONG\npiped\nOK\ncli-%s' "$$")"

server=redis
[ "$vimana" = yes ] && server=vimana
echo "$prog: OK: $checks checks passed against $server at $host:$port ($(redis-cli --version))"
