#!/usr/bin/env python3
"""Round trip of a query to a system agent: a task published on one connection, its reply read on another
subscribed to reply_to, N times in sequence.

    tools/bench/agent_rtt.py PORT N [AGENT ACTION [ARGS_JSON]]

prints p50 and p99 in ms. Default: discovery find_by_capability {"capability": "directory"}."""
import json
import socket
import sys
import time

port = int(sys.argv[1]); n = int(sys.argv[2])
agent = sys.argv[3] if len(sys.argv) > 3 else "discovery"
action = sys.argv[4] if len(sys.argv) > 4 else "find_by_capability"
args = json.loads(sys.argv[5]) if len(sys.argv) > 5 else ({"capability": "directory"} if len(sys.argv) <= 3 else {})
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x.encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
sub = socket.create_connection(("127.0.0.1", port)); sub.sendall(cmd("SUBSCRIBE", "r.rtt")); sub.recv(100)
pub = socket.create_connection(("127.0.0.1", port))
times = []
buf = b""
for i in range(n):
    t = json.dumps({"action": action, "id": "q%d" % i, "reply_to": "r.rtt", "args": args})
    t0 = time.perf_counter(); pub.sendall(cmd("PUBLISH", "tasks." + agent, t)); pub.recv(100)
    # Whole replies: the message push's payload is read to its last byte (a
    # reply of tens of KB, scribe's documents, arrives in several reads).
    while True:
        while buf.count(b"\r\n") < 6: buf += sub.recv(65536)
        head = buf.split(b"\r\n", 6)
        size = int(head[5][1:])
        start = len(b"\r\n".join(head[:6])) + 2
        while len(buf) < start + size + 2: buf += sub.recv(65536)
        body, buf = buf[start:start + size], buf[start + size + 2:]
        if b'"q%d"' % i in body: break
    if b'"ok":false' in body: sys.exit("error reply: %r" % body[:300])
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print("%s %s n=%d p50=%.2f ms p99=%.2f ms" % (agent, action, n, times[n // 2], times[int(n * 0.99) - 1]))
