#!/usr/bin/env bash
# A citizen of the city, in Bash: bash_agent.sh's agent (the same
# connection, JOIN, tasks, ACK) taking part in governance as itself, over
# the public protocols alone (Protocol/AGENTS.md, docs/SYSTEM-AGENTS.md),
# as tools/agents/citizen.py does in Python.
#
# It registers itself with civic once, at its first join (a `register`
# request to tasks.civic as its own user; `exists` means it was registered
# before); civic not answering within 10 s leaves it to the next join, and
# the agent serves meanwhile.
# Its tasks, each {"action", "id", "reply_to", "args"}:
#   ask {agent, action, args?}: sends that request to tasks.<agent> as
#     itself and replies {"id", "ok": true, "result": <the agent's reply>}.
# Any other action is answered `unknown_action`.
#
# Requests go out on the agent's own connection (PUBLISH, so an agent's
# `publishes:` must allow tasks.<agent>); their replies come on a second one,
# fd 4, subscribed to replies.<id> first. A request's id is the task's entry
# ID and ":1", so a task delivered again asks again with the same id, and
# the asked agent applies it once; no reply within 10 s is answered
# `unavailable`. A reply the kernel refuses to publish (a suspended licence)
# has the refusal written to stdout, and the task is acknowledged all the
# same: what it did is done. Names from a task are printed with their
# control characters as '?': a newline cannot forge a line of the kernel's log.
#
#   VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=ticker VIMANA_USER=ticker \
#       VIMANA_PASSWORD=... bash tools/agents/citizen.sh
set -u

source "$(dirname "${BASH_SOURCE[0]}")/bash_agent.sh"

ASK_TIMEOUT=10 # seconds an asked agent has to reply
REPLY_TOPIC=replies.$AGENT_ID
REGISTERED=0

# json_quote TEXT: TEXT as a JSON string token into REPLY (control characters as '?').
json_quote() {
    local s=${1//[[:cntrl:]]/?}
    s=${s//\\/\\\\}
    REPLY="\"${s//\"/\\\"}\""
}

# clean TEXT: TEXT for a log line, its control characters as '?', into REPLY.
clean() { REPLY=${1//[[:cntrl:]]/?}; }

# listen: the reply connection (fd 4), authenticated and subscribed.
listen() {
    exec 4>&-
    { exec 4<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || return 1
    local FD=4 READ_TIMEOUT=$ASK_TIMEOUT
    if [[ -n $PASSWORD ]]; then
        send AUTH "$USER_NAME" "$PASSWORD" && read_value && [[ $T == + ]] || return 1
    fi
    send SUBSCRIBE "$REPLY_TOPIC" && read_value && [[ $T == '*' ]]
}

# on_joined: listen; then, once, the registration.
on_joined() {
    listen || return 1
    ((REGISTERED)) && return 0
    if ! ask civic '"register"' "{\"agent\":\"$AGENT_ID\",\"description\":\"a citizen in Bash\"}" "register-$$"; then
        note "civic did not answer the registration; serving unregistered"
        listen # the reply connection may be mid-reply: a fresh one
        return
    fi
    if json_object "$ANSWER" && [[ ${J[ok]:-} == true || ${J[error]:-} == *'"code":"exists"'* ]]; then
        REGISTERED=1
        say "registered with civic as $AGENT_ID"
    else
        note "civic did not register $AGENT_ID: $ANSWER"
    fi
}

# ask AGENT ACTION_TOKEN ARGS_TOKEN ID: the reply object's text into ANSWER
# (a refusal of our PUBLISH is an error object of our own); 1 when the
# connection failed or no reply came within ASK_TIMEOUT.
ask() {
    local request="{\"action\":$2,\"id\":\"$4\",\"reply_to\":\"$REPLY_TOPIC\",\"args\":$3}"
    command PUBLISH "tasks.$1" "$request" || return 1
    if [[ $T == - ]]; then
        json_quote "$V"
        ANSWER="{\"error\":{\"code\":\"refused\",\"message\":$REPLY},\"id\":\"$4\",\"ok\":false}"
        return 0
    fi
    # The whole wait is bounded, however chatty the reply topic: each read
    # gets what is left of it (microseconds from EPOCHREALTIME).
    local FD=4 READ_TIMEOUT now left deadline=$((${EPOCHREALTIME/./} + ASK_TIMEOUT * 1000000))
    while :; do
        now=${EPOCHREALTIME/./}
        left=$((deadline - now))
        ((left > 0)) || return 1
        printf -v READ_TIMEOUT '%d.%06d' $((left / 1000000)) $((left % 1000000))
        read_value || return 1
        [[ $T == '*' && ${#ITEMS[@]} -ge 3 && ${ITEMS[0]} == message ]] || continue
        json_object "${ITEMS[2]}" || continue
        if [[ ${J[id]:-} == "\"$4\"" ]]; then
            ANSWER=${ITEMS[2]}
            return 0
        fi
    done
}

# task TOPIC ENTRY DELIVERIES PAYLOAD PUBLISHER: work, reply, ACK.
task() {
    local topic=$1 entry=$2 id=null reply_to= action= agent= args='{}' reply
    if json_object "$4"; then
        id=${J[id]:-null} action=${J[action]:-}
        if [[ ${J[reply_to]:-} == '"'?*'"' ]]; then
            json_decode "${J[reply_to]}"
            reply_to=$REPLY
        fi
        local inner=${J[args]:-}
        if [[ $action == '"ask"' ]] && json_object "$inner" && [[ ${J[agent]:-} == '"'?*'"' && ${J[action]:-} == '"'?*'"' ]]; then
            json_decode "${J[agent]}"
            agent=$REPLY action=${J[action]}
            [[ ${J[args]:-} == '{'* ]] && args=${J[args]}
            clean "ask $agent $action"
            local what=$REPLY
            if ask "$agent" "$action" "$args" "$entry:1"; then
                reply="{\"id\":$id,\"ok\":true,\"result\":$ANSWER}"
                say "task $topic $entry: $what"
            else
                reply="{\"error\":{\"code\":\"unavailable\",\"message\":\"no reply within $ASK_TIMEOUT s\"},\"id\":$id,\"ok\":false}"
                say "task $topic $entry: $what: no reply within $ASK_TIMEOUT s"
                listen || return 1 # the reply connection may be mid-reply: a fresh one
            fi
        else
            reply="{\"error\":{\"code\":\"unknown_action\",\"message\":\"ask {agent, action, args}\"},\"id\":$id,\"ok\":false}"
            say "task $topic $entry: unknown action"
        fi
    else
        say "task $topic $entry: not a JSON object"
    fi
    if [[ -n $reply_to ]]; then
        command PUBLISH "$reply_to" "$reply" || return 1
        if [[ $T == - ]]; then
            clean "reply to $reply_to refused: $V"
            say "$REPLY"
        fi
    fi
    command ACK "$topic" "$entry" || return 1
}

run
