#!/bin/bash
# tools/bench/ready_time.sh BINARY ROUNDS [serve flags...]
# Milliseconds from starting `vimana serve` (built-in default, fresh ledger, free ports) to the first
# /ready 200 (with the system agents on, that waits for discovery, required, to have joined), then the
# resident memory of the kernel and of its agent processes together, one line per round.
BIN=$1; N=$2; shift 2
for i in $(seq $N); do
  D=$(mktemp -d); P=$((20000 + RANDOM % 20000)); H=$((P + 1))
  t0=$(date +%s%N)
  "$BIN" serve --port $P --http-port $H --ledger-dir $D/l "$@" > $D/log 2>&1 & SP=$!
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' localhost:$H/ready 2>/dev/null)
    [ "$code" = 200 ] && break
    sleep 0.002
  done
  t1=$(date +%s%N)
  rss=$(ps -o rss= --ppid $SP | awk '{s+=$1} END {print s+0}')
  krss=$(ps -o rss= -p $SP)
  echo "$(( (t1 - t0) / 1000000 )) ms kernel_rss_kb=$krss agents_rss_kb=$rss"
  kill $SP; wait $SP 2>/dev/null; rm -rf $D
done
