#!/usr/bin/env python3
"""stalls.py: how long one command holds the whole server (issue 9 §1).

Each scenario builds its state against a running server (Vimana or Redis,
both speak RESP), then times one command from the moment it is sent to the
moment its whole reply has been read, and a PING on another connection sent
right behind it (a stall holds every client, not only the caller):

  xautoclaim   SIZE entries XADDed to topic t, all delivered to consumer c1
               of group g (XREADGROUP), then `XAUTOCLAIM t g c 0 0 COUNT 10000`
  blocked      SIZE clients blocked in `XREADGROUP GROUP g cN BLOCK 0 STREAMS t >`,
               then `XADD t * f v` (median and max of --repeat XADDs); the
               reply comes after the server has served its blocked readers
  unsubscribe  one connection SUBSCRIBEd to SIZE channels, then one UNSUBSCRIBE
               of SIZE/10 of them by name (every tenth)
  patterns     one connection PSUBSCRIBEd to SIZE patterns is closed; timed
               from the close until `PUBSUB NUMPAT` on another connection says 0

Usage: stalls.py --port PORT SCENARIO [--size N] [--repeat N]
Default sizes: xautoclaim 200000, blocked 9000, unsubscribe 1000000, patterns 50000.
Raise `ulimit -n` (and the server's maxclients) for `blocked`.
Prints one JSON line per scenario.
"""

import argparse
import json
import socket
import statistics
import sys
import time

sys.dont_write_bytecode = True

DEFAULT_SIZE = {"xautoclaim": 200000, "blocked": 9000, "unsubscribe": 1000000, "patterns": 50000}


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A raw RESP connection that can skip whole replies without decoding them."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.pos > 1 << 20:
            del self.buf[: self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def reply(self):
        """Reads one reply; returns it for simple types, None for aggregates' contents skipped."""
        line = self._line()
        kind = line[:1]
        if kind in (b"+", b":"):
            return line[1:]
        if kind == b"-":
            raise RuntimeError(line.decode())
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            value = bytes(self.buf[self.pos : self.pos + n])
            self.pos += n + 2
            return value
        if kind in (b"*", b">", b"%"):
            n = int(line[1:]) * (2 if kind == b"%" else 1)
            items = [self.reply() for _ in range(max(n, 0))]
            return items
        if kind == b"_":
            return None
        raise RuntimeError("unexpected reply %r" % line)

    def command(self, *args):
        self.send(encode(*args))
        return self.reply()

    def pipeline(self, commands, window=1000):
        """Sends commands in windows, reading (and dropping) their replies."""
        for start in range(0, len(commands), window):
            part = commands[start : start + window]
            self.send(b"".join(part))
            for _ in part:
                self.reply()

    def close(self):
        self.sock.close()


def timed(conn, probe, command, replies=1):
    """Sends `command` on `conn` and PING on `probe` right behind it; returns
    (seconds until `command`'s replies were read, seconds until PONG)."""
    t0 = time.monotonic()
    conn.send(command)
    probe.send(encode("PING"))
    for _ in range(replies):
        conn.reply()
    t1 = time.monotonic()
    probe.reply()
    t2 = time.monotonic()
    return t1 - t0, max(t1, t2) - t0


def xautoclaim(port, size, repeat):
    c, probe = Conn(port), Conn(port)
    c.pipeline([encode("XADD", "t", "*", "f", "value-%d" % i) for i in range(size)])
    c.command("XGROUP", "CREATE", "t", "g", "0")
    c.command("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "t", ">")
    command_s, ping_s = timed(c, probe, encode("XAUTOCLAIM", "t", "g", "c", "0", "0", "COUNT", "10000"))
    return {"entries": size, "command_s": round(command_s, 4), "ping_s": round(ping_s, 4)}


def info_field(conn, section, name):
    text = conn.command("INFO", section).decode()
    for line in text.split("\r\n"):
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    return None


def blocked(port, size, repeat):
    c, probe = Conn(port), Conn(port)
    c.command("XGROUP", "CREATE", "t", "g", "$", "MKSTREAM")
    readers = []
    for i in range(size):
        r = Conn(port)
        r.send(encode("XREADGROUP", "GROUP", "g", "c%d" % i, "BLOCK", "0", "STREAMS", "t", ">"))
        readers.append(r)
    deadline = time.monotonic() + 120
    while (info_field(c, "clients", "blocked_clients") or 0) < size:
        if time.monotonic() > deadline:
            raise RuntimeError("readers did not block (INFO clients blocked_clients)")
        time.sleep(0.05)
    times, pings = [], []
    for _ in range(repeat):
        command_s, ping_s = timed(c, probe, encode("XADD", "t", "*", "f", "v"))
        times.append(command_s)
        pings.append(ping_s)
    for r in readers:
        r.close()
    return {"blocked": size, "xadds": repeat, "median_s": round(statistics.median(times), 4),
            "max_s": round(max(times), 4), "ping_max_s": round(max(pings), 4)}


def unsubscribe(port, size, repeat):
    c, probe = Conn(port), Conn(port)
    names = ["channel:%d" % i for i in range(size)]
    for i in range(0, size, 1000):
        part = names[i : i + 1000]
        c.send(encode("SUBSCRIBE", *part))
        for _ in part:  # one reply per channel, read as they come (the pubsub output limit)
            c.reply()
    drop = names[::10]
    command_s, ping_s = timed(c, probe, encode("UNSUBSCRIBE", *drop), replies=len(drop))
    return {"channels": size, "unsubscribed": len(drop), "command_s": round(command_s, 4), "ping_s": round(ping_s, 4)}


def patterns(port, size, repeat):
    c, probe = Conn(port), Conn(port)
    for i in range(0, size, 1000):
        part = ["pattern:%d:*" % k for k in range(i, min(i + 1000, size))]
        c.send(encode("PSUBSCRIBE", *part))
        for _ in part:
            c.reply()
    if int(probe.command("PUBSUB", "NUMPAT")) != size:
        raise RuntimeError("patterns not subscribed")
    t0 = time.monotonic()
    c.close()
    while int(probe.command("PUBSUB", "NUMPAT")) != 0:
        pass
    return {"patterns": size, "close_to_numpat0_s": round(time.monotonic() - t0, 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=sorted(DEFAULT_SIZE))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--size", type=int)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    size = a.size or DEFAULT_SIZE[a.scenario]
    result = globals()[a.scenario](a.port, size, a.repeat)
    print(json.dumps({"scenario": a.scenario, **result}), flush=True)


if __name__ == "__main__":
    main()
