#!/usr/bin/env bash
# Runs a command (the Swift tests) with tools/dev/close_guard.c preloaded and
# fails when any of Vimana's processes closed a descriptor it no longer had:
# the sign of a double close, which elsewhere closes another thread's socket.
#   tools/dev/close-guard.sh swift test --skip-build
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.build/close-guard"
rm -rf "$dir" && mkdir -p "$dir/logs"
cc -shared -fPIC -O2 -o "$dir/close_guard.so" "$root/tools/dev/close_guard.c" -ldl || exit 1

LD_PRELOAD="$dir/close_guard.so${LD_PRELOAD:+:$LD_PRELOAD}" VIMANA_CLOSE_GUARD="$dir/logs" "$@"
status=$?

logs=("$dir"/logs/*.log)
if [ -e "${logs[0]}" ]; then
    echo "close-guard: a descriptor was closed twice (close failed with EBADF) in:" >&2
    for log in "${logs[@]}"; do
        echo "--- $(basename "$log")" >&2
        head -c 20000 "$log" >&2
    done
    echo "close-guard: resolve a frame with: addr2line -f -C -e <binary> <offset>" >&2
    [ "$status" -ne 0 ] || status=1
fi
exit "$status"
