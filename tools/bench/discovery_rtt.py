#!/usr/bin/env python3
"""Round trip of a discovery query (find_by_capability), published on one connection and its reply read
on another subscribed to reply_to: tools/bench/discovery_rtt.py PORT N prints p50 and p99 in ms."""
import socket, sys, time, json
port = int(sys.argv[1]); n = int(sys.argv[2])
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x.encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
sub = socket.create_connection(("127.0.0.1", port)); sub.sendall(cmd("SUBSCRIBE", "r.rtt")); sub.recv(100)
pub = socket.create_connection(("127.0.0.1", port))
times = []
for i in range(n):
    t = json.dumps({"action": "find_by_capability", "id": "q%d" % i, "reply_to": "r.rtt", "args": {"capability": "directory"}})
    t0 = time.perf_counter(); pub.sendall(cmd("PUBLISH", "tasks.discovery", t)); pub.recv(100)
    buf = b""
    while b'"q%d"' % i not in buf: buf += sub.recv(4096)
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print("n=%d p50=%.2f ms p99=%.2f ms" % (n, times[n // 2], times[int(n * 0.99) - 1]))
