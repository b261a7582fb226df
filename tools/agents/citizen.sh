#!/usr/bin/env bash
# A citizen of the city, in Bash: bash_agent.sh's agent (the same
# connection, JOIN, tasks, ACK) taking part in governance as itself, over
# the public protocols alone (Protocol/AGENTS.md, docs/SYSTEM-AGENTS.md),
# as tools/agents/citizen.py does in Python.
#
# At each join it registers itself with civic (a `register` request to
# tasks.civic as its own user; `exists` means it was registered before).
# Its tasks, each {"action", "id", "reply_to", "args"}:
#   ask {agent, action, args?}: sends that request to tasks.<agent> as
#     itself and replies {"id", "ok": true, "result": <the agent's reply>}.
# Any other action is answered `unknown_action`.
#
# Requests go out on the agent's own connection (PUBLISH); their replies
# come on a second one, fd 4, subscribed to replies.<id> first. A request's
# id is the task's entry ID and ":1", so a task delivered again asks again
# with the same id, and the asked agent applies it once. A reply the kernel
# refuses to publish (a suspended licence) goes to stdout, and the task is
# acknowledged all the same: what it did is done.
#
#   VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=ticker VIMANA_USER=ticker \
#       VIMANA_PASSWORD=... bash tools/agents/citizen.sh
set -u

source "$(dirname "${BASH_SOURCE[0]}")/bash_agent.sh"

ASK_TIMEOUT=10 # seconds an asked agent has to reply
REPLY_TOPIC=replies.$AGENT_ID
REGISTERED=0

# json_quote TEXT: TEXT as a JSON string token into REPLY (no control characters expected).
json_quote() {
    local s=${1//\\/\\\\}
    REPLY="\"${s//\"/\\\"}\""
}

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
    ask civic '"register"' "{\"agent\":\"$AGENT_ID\",\"description\":\"a citizen in Bash\"}" "register-$$" || return 1
    if json_object "$ANSWER" && [[ ${J[ok]:-} == true || ${J[error]:-} == *'"code":"exists"'* ]]; then
        REGISTERED=1
        say "registered with civic as $AGENT_ID"
    else
        note "civic did not register $AGENT_ID: $ANSWER"
    fi
}

# ask AGENT ACTION_TOKEN ARGS_TOKEN ID: the reply object's text into ANSWER
# (a refusal of our PUBLISH is an error object of our own); 1 when the
# connection failed or no reply came in time.
ask() {
    local request="{\"action\":$2,\"id\":\"$4\",\"reply_to\":\"$REPLY_TOPIC\",\"args\":$3}"
    command PUBLISH "tasks.$1" "$request" || return 1
    if [[ $T == - ]]; then
        json_quote "$V"
        ANSWER="{\"error\":{\"code\":\"refused\",\"message\":$REPLY},\"id\":\"$4\",\"ok\":false}"
        return 0
    fi
    local FD=4 READ_TIMEOUT=$ASK_TIMEOUT
    while read_value; do
        [[ $T == '*' && ${#ITEMS[@]} -ge 3 && ${ITEMS[0]} == message ]] || continue
        json_object "${ITEMS[2]}" || continue
        if [[ ${J[id]:-} == "\"$4\"" ]]; then
            ANSWER=${ITEMS[2]}
            return 0
        fi
    done
    return 1
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
            ask "$agent" "$action" "$args" "$entry:1" || return 1
            reply="{\"id\":$id,\"ok\":true,\"result\":$ANSWER}"
            say "task $topic $entry: ask $agent $action"
        else
            reply="{\"error\":{\"code\":\"unknown_action\",\"message\":\"ask {agent, action, args}\"},\"id\":$id,\"ok\":false}"
            say "task $topic $entry: unknown action"
        fi
    else
        say "task $topic $entry: not a JSON object"
    fi
    if [[ -n $reply_to ]]; then
        command PUBLISH "$reply_to" "$reply" || return 1
        [[ $T == - ]] && say "reply to $reply_to refused: $V"
    fi
    command ACK "$topic" "$entry" || return 1
}

run
