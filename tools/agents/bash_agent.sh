#!/usr/bin/env bash
# A Vimana agent in Bash: /dev/tcp for the connection, RESP2 read line by
# line with `read -r`, JSON scanned in pure Bash (Protocol/AGENTS.md).
#
# Joins as an instance of its agent, takes the tasks the kernel pushes, and
# answers each by the request/reply convention (§4): a JSON object payload
# with `reply_to` gets a JSON object with the same `id` published there; then
# the task is acknowledged. The result: the `text` field upper-cased when
# there is one, and always "ok":true and the agent's id.
#
#   VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=sh bash tools/agents/bash_agent.sh
#
# When VIMANA_PASSWORD is set (a supervising kernel sets it, with VIMANA_USER,
# in the environment and never in the arguments: Protocol/AGENTS.md §9), the
# agent authenticates with AUTH before it joins; without it, it joins as the
# connection's default user. `printf` is a builtin: the password is in no
# process's arguments.
#
# One line per task goes to stdout, connection events to stderr (both reach
# the kernel's log when it supervises the agent). SIGTERM exits 0, after the
# task in hand if there is one. A lost connection is retried with backoff;
# once the process that started the agent is gone (a supervising kernel that
# died), the agent exits instead, since a kernel that comes back starts its own.
#
# JSON, minimally but without producing invalid output: only the top level
# of the payload object is looked at, every value in it checked to be JSON
# (nesting to 64 levels); `id` is copied to the reply as the
# exact token it was (string, number, ...); `text` is upper-cased where it is
# not an escape sequence (\n, \u00e9 stay as they are), so non-ASCII letters
# change only when written raw and the C.UTF-8 locale exists.
set -u

# Bytes, not characters: RESP lengths count bytes, and `read -N` must too.
export LC_ALL=C

ADDR=${VIMANA_ADDR:-127.0.0.1:7379}
AGENT_ID=${VIMANA_AGENT_ID:-sh}
USER_NAME=${VIMANA_USER:-default}
PASSWORD=${VIMANA_PASSWORD:-} # never printed
BACKOFF_FIRST_MS=100  # before the first reconnect
BACKOFF_MAX_MS=5000   # reconnects never wait longer than this
NACK_DELAY_MS=1000    # a task whose reply could not be published comes back after this

HOST=${ADDR%:*}
PORT=${ADDR##*:}
if [[ $HOST == "$ADDR" || ! $PORT =~ ^[0-9]+$ ]]; then
    echo "VIMANA_ADDR must be host:port, got '$ADDR'" >&2
    exit 2
fi

say() { printf '%s\n' "$*"; }
note() { printf '%s\n' "$*" >&2; }

# MARK: - RESP

# The connection's descriptor (the agent's own: 3), and a read's timeout in
# seconds (none when empty): a script that sources this one (citizen.sh)
# sets them, as locals, to read another connection.
FD=3 READ_TIMEOUT=

# send ARG...: one command as a RESP multibulk on fd $FD.
send() {
    local out="*$#"$'\r\n' a
    for a in "$@"; do out+="\$${#a}"$'\r\n'"$a"$'\r\n'; done
    printf '%s' "$out" 2>/dev/null >&"$FD"
}

# read_line: the next CRLF-terminated line into LINE, without the CRLF.
read_line() {
    IFS= read -r ${READ_TIMEOUT:+-t "$READ_TIMEOUT"} -u "$FD" LINE || return 1
    LINE=${LINE%$'\r'}
}

# read_bulk N: N bytes and their CRLF into BULK.
read_bulk() {
    BULK=
    if (($1 > 0)); then
        IFS= read -r -N "$1" ${READ_TIMEOUT:+-t "$READ_TIMEOUT"} -u "$FD" BULK || return 1
        ((${#BULK} == $1)) || return 1 # a NUL byte (Bash cannot hold one)
    fi
    read_line && [[ -z $LINE ]]
}

# read_value: the next reply or push. Sets T to its type (+ - : $ *), V to
# its text (a null bulk is type _), and for an array ITEMS to its elements.
read_value() {
    read_line || return 1
    T=${LINE:0:1} V=${LINE:1}
    case $T in
        '+' | '-' | ':') ;;
        '$')
            if ((V < 0)); then T=_ V=; else read_bulk "$V" || return 1; V=$BULK; fi
            ;;
        '*')
            local n=$V i
            ITEMS=()
            for ((i = 0; i < n; i++)); do
                read_line || return 1
                case ${LINE:0:1} in
                    '$') read_bulk "${LINE:1}" || return 1; ITEMS+=("$BULK") ;;
                    '+' | ':') ITEMS+=("${LINE:1}") ;;
                    *) return 1 ;; # nothing the kernel sends an agent nests deeper
                esac
            done
            ;;
        *) return 1 ;;
    esac
}

# Tasks pushed while a command waited for its reply, handled in order after.
Q_TOPIC=() Q_ID=() Q_DELIVERIES=() Q_PAYLOAD=() Q_PUBLISHER=()

# Five elements and the publisher; any added later are ignored (AGENTS.md §3).
is_task() { [[ $T == '*' && ${#ITEMS[@]} -ge 5 && ${ITEMS[0]} == task ]]; }

# command ARG...: sends it and reads its reply into T and V, queueing tasks.
command() {
    send "$@" || return 1
    while read_value; do
        if is_task; then
            Q_TOPIC+=("${ITEMS[1]}") Q_ID+=("${ITEMS[2]}") Q_DELIVERIES+=("${ITEMS[3]}") Q_PAYLOAD+=("${ITEMS[4]}")
            Q_PUBLISHER+=("${ITEMS[5]:-}")
        else
            return 0
        fi
    done
    return 1
}

# MARK: - JSON

RE_STRING=$'^"([^"\\\\\x01-\x1f]|\\\\(["\\\\/bfnrt]|u[0-9a-fA-F]{4}))*"'
RE_NUMBER='^-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][-+]?[0-9]+)?'
RE_LITERAL='^(true|false|null)'
RE_ESCAPE='^([^\\]*)\\(u[0-9a-fA-F]{4}|.)'

# skip_ws: drops leading JSON whitespace from S.
skip_ws() { S=${S#"${S%%[!$' \t\r\n']*}"}; }

# skip_value: drops one JSON value from the front of S, checked: 1 when
# there is none, when it is not JSON, or when it nests deeper than 64.
skip_value() { json_value 0; }

# json_value DEPTH: skip_value's work, one level.
json_value() {
    (($1 <= 64)) || return 1
    skip_ws
    case ${S:0:1} in
        '"') [[ $S =~ $RE_STRING ]] || return 1; S=${S:${#BASH_REMATCH[0]}} ;;
        '{')
            S=${S:1}
            skip_ws
            if [[ ${S:0:1} == '}' ]]; then S=${S:1}; return 0; fi
            while :; do
                skip_ws
                [[ $S =~ $RE_STRING ]] || return 1
                S=${S:${#BASH_REMATCH[0]}}
                skip_ws
                [[ ${S:0:1} == : ]] || return 1
                S=${S:1}
                json_value $(($1 + 1)) || return 1
                skip_ws
                case ${S:0:1} in
                    ,) S=${S:1} ;;
                    '}') S=${S:1}; return 0 ;;
                    *) return 1 ;;
                esac
            done
            ;;
        '[')
            S=${S:1}
            skip_ws
            if [[ ${S:0:1} == ']' ]]; then S=${S:1}; return 0; fi
            while :; do
                json_value $(($1 + 1)) || return 1
                skip_ws
                case ${S:0:1} in
                    ,) S=${S:1} ;;
                    ']') S=${S:1}; return 0 ;;
                    *) return 1 ;;
                esac
            done
            ;;
        *)
            [[ $S =~ $RE_NUMBER || $S =~ $RE_LITERAL ]] || return 1
            S=${S:${#BASH_REMATCH[0]}}
            ;;
    esac
}

# json_object TEXT: the top-level members of a JSON object into J, as the
# exact tokens they were (a string keeps its quotes). 1 if not an object.
declare -A J
json_object() {
    local key before
    J=()
    S=$1
    skip_ws
    [[ ${S:0:1} == '{' ]] || return 1
    S=${S:1}
    skip_ws
    if [[ ${S:0:1} == '}' ]]; then S=${S:1}; skip_ws; [[ -z $S ]]; return; fi
    while :; do
        skip_ws
        [[ $S =~ $RE_STRING ]] || return 1
        key=${BASH_REMATCH[0]}
        S=${S:${#key}}
        skip_ws
        [[ ${S:0:1} == : ]] || return 1
        S=${S:1}
        skip_ws
        before=$S
        skip_value || return 1
        ((${#key} > 2)) && J[${key:1:${#key}-2}]=${before:0:${#before}-${#S}}
        skip_ws
        case ${S:0:1} in
            ,) S=${S:1} ;;
            '}') S=${S:1}; skip_ws; [[ -z $S ]]; return ;;
            *) return 1 ;;
        esac
    done
}

# json_decode TOKEN: a string token's text into REPLY (escapes resolved).
json_decode() {
    local s=${1:1:${#1}-2} ch
    REPLY=
    while [[ $s =~ $RE_ESCAPE ]]; do
        REPLY+=${BASH_REMATCH[1]}
        case ${BASH_REMATCH[2]} in
            b) ch=$'\b' ;; f) ch=$'\f' ;; n) ch=$'\n' ;; r) ch=$'\r' ;; t) ch=$'\t' ;;
            u*) LC_ALL=C.UTF-8 printf -v ch "\\${BASH_REMATCH[2]}" 2>/dev/null ;;
            *) ch=${BASH_REMATCH[2]} ;;
        esac
        REPLY+=$ch
        s=${s:${#BASH_REMATCH[0]}}
    done
    REPLY+=$s
}

# json_upper TOKEN: a string token with its letters upper-cased, escapes kept, into REPLY.
json_upper() {
    local LC_ALL=C.UTF-8 s=$1
    REPLY=
    while [[ $s =~ $RE_ESCAPE ]]; do
        REPLY+=${BASH_REMATCH[1]^^}\\${BASH_REMATCH[2]}
        s=${s:${#BASH_REMATCH[0]}}
    done
    REPLY+=${s^^}
}

# MARK: - The work

# task TOPIC ENTRY DELIVERIES PAYLOAD PUBLISHER: answer, then ACK (or NACK when the reply failed).
task() {
    local topic=$1 entry=$2 head="task $1 $2 delivery=$3 publisher=${5:--}" reply_to= reply
    if ! json_object "$4"; then
        say "$head payload is not a JSON object"
    else
        if [[ ${J[reply_to]:-} == '"'?*'"' ]]; then
            json_decode "${J[reply_to]}"
            reply_to=$REPLY
        fi
        say "$head id=${J[id]:--} reply_to=${reply_to:--}"
    fi
    if [[ -n $reply_to ]]; then
        reply='{'
        [[ -n ${J[id]:-} ]] && reply+="\"id\":${J[id]},"
        reply+="\"ok\":true,\"agent\":\"$AGENT_ID\""
        if [[ ${J[text]:-} == '"'*'"' ]]; then
            json_upper "${J[text]}" 2>/dev/null
            reply+=",\"text\":$REPLY"
        fi
        reply+='}'
        command PUBLISH "$reply_to" "$reply" || return 1
        if [[ $T == - ]]; then
            note "reply to $reply_to failed ($V): task $topic $entry given back"
            command NACK "$topic" "$entry" "$NACK_DELAY_MS"
            return
        fi
    fi
    command ACK "$topic" "$entry" || return 1
    [[ $T$V == :1 ]] || note "ACK $topic $entry answered $T$V: the task was no longer ours"
}

# MARK: - Connection

BUSY=0 STOPPING=0 SLEEPER=
on_term() {
    STOPPING=1
    if ((!BUSY)); then
        [[ -n $SLEEPER ]] && kill "$SLEEPER" 2>/dev/null
        exit 0
    fi
}
trap on_term TERM INT
trap '' PIPE # a write to a closed connection fails instead of killing the agent

# serve: one connection, from AGENT JOIN until it drops (status 1).
serve() {
    { exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || return 2
    Q_TOPIC=() Q_ID=() Q_DELIVERIES=() Q_PAYLOAD=()
    if [[ -n $PASSWORD ]]; then
        command AUTH "$USER_NAME" "$PASSWORD" || return 1
        if [[ $T == - ]]; then
            note "cannot authenticate as user '$USER_NAME': $V"
            exit 2 # a configuration error: retrying cannot help
        fi
    fi
    command AGENT JOIN "$AGENT_ID" || return 1
    if [[ $T == - ]]; then
        note "cannot join as agent '$AGENT_ID': $V"
        exit 2 # a configuration error: retrying cannot help
    fi
    note "joined $ADDR as agent $AGENT_ID"
    on_joined || return 1
    DELAY_MS=$BACKOFF_FIRST_MS
    local t e d p u
    while :; do
        if ((${#Q_ID[@]} > 0)); then
            t=${Q_TOPIC[0]} e=${Q_ID[0]} d=${Q_DELIVERIES[0]} p=${Q_PAYLOAD[0]} u=${Q_PUBLISHER[0]}
            Q_TOPIC=("${Q_TOPIC[@]:1}") Q_ID=("${Q_ID[@]:1}")
            Q_DELIVERIES=("${Q_DELIVERIES[@]:1}") Q_PAYLOAD=("${Q_PAYLOAD[@]:1}") Q_PUBLISHER=("${Q_PUBLISHER[@]:1}")
        else
            read_value || return 1
            if ! is_task; then
                [[ $T == - ]] && note "server error: $V"
                continue
            fi
            t=${ITEMS[1]} e=${ITEMS[2]} d=${ITEMS[3]} p=${ITEMS[4]} u=${ITEMS[5]:-}
        fi
        BUSY=1
        task "$t" "$e" "$d" "$p" "$u" || return 1
        BUSY=0
        ((STOPPING)) && exit 0
    done
}

# on_joined: after each JOIN; a script that sources this one may define its own.
on_joined() { :; }

# parent_alive: whether the process that started the agent is still its parent.
parent_alive() {
    local stat
    if [[ -r /proc/$$/stat ]] && read -r stat </proc/$$/stat; then
        stat=${stat##*) } # after the command name, which may hold spaces
        stat=${stat#* }
        [[ ${stat%% *} == "$PPID" ]]
    else
        kill -0 "$PPID" 2>/dev/null
    fi
}

# run: serve, reconnecting, until stopped or orphaned.
run() {
    DELAY_MS=$BACKOFF_FIRST_MS
    while :; do
        serve
        case $? in
            1) note "connection to $ADDR lost; reconnecting" ;;
            2) ((DELAY_MS == BACKOFF_FIRST_MS)) && note "cannot connect to $ADDR; retrying" ;;
        esac
        exec 3>&-
        BUSY=0
        ((STOPPING)) && exit 0
        if ! parent_alive; then
            note "the process that started this agent is gone; exiting"
            exit 1
        fi
        printf -v secs '%d.%03d' $((DELAY_MS / 1000)) $((DELAY_MS % 1000))
        sleep "$secs" &
        SLEEPER=$!
        wait "$SLEEPER"
        SLEEPER=
        DELAY_MS=$((DELAY_MS * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : DELAY_MS * 2))
    done
}

# Sourced (by citizen.sh), it only defines; run, it runs.
[[ ${BASH_SOURCE[0]} != "$0" ]] || run
