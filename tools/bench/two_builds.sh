#!/bin/bash
# tools/bench/two_builds.sh BEFORE AFTER [ROUNDS] [N]: interleaved rates and server CPU per request of two vimana binaries:
# PUBLISH and XADD, redis-benchmark -c 50 -n N, servers on CPU 0, client on CPU 1.
set -euo pipefail
B=$1; A=$2; ROUNDS=${3:-5}; N=${4:-200000}
W=$(mktemp -d)
start() { taskset -c 0 "$1" serve --port 0 --http-port off --no-system-agents --ledger-dir "$W/$2" > "$W/$2.log" 2>&1 & echo $!; }
PB=$(start $B base); PA=$(start $A new)
trap 'kill $PB $PA 2>/dev/null; wait $PB $PA 2>/dev/null; rm -rf "$W"' EXIT
port() { for _ in $(seq 100); do p=$(grep -so "port=[0-9]*" "$W/$1.log" | head -1 | cut -d= -f2 || true); [ -n "$p" ] && { echo $p; return; }; sleep 0.1; done; }
QB=$(port base); QA=$(port new)
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
run() {  # port pid args: "rate us/req"
  local t0=$(ticks $2)
  local r=$(taskset -c 1 redis-benchmark -p $1 -c 50 -n $N -q "${@:3}" 2>/dev/null | grep -o '[0-9.]* requests per second' | cut -d' ' -f1)
  local t1=$(ticks $2)
  echo "$r $(awk -v t=$((t1 - t0)) -v n=$N 'BEGIN{printf "%.2f", t * 10000 / n}')"
}
echo "# round server publish_rate publish_us/req xadd_rate xadd_us/req (N $N, load $(cut -d' ' -f1 /proc/loadavg))"
for r in $(seq $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for which in $order; do
    p=$QB; pid=$PB; [ $which = new ] && { p=$QA; pid=$PA; }
    echo "$r $which $(run $p $pid PUBLISH ch hello) $(run $p $pid XADD s '*' f 0123456789abcdef)"
  done
done
