#!/usr/bin/env python3
"""stalls.py: how long one command holds the whole server (issue 9 §1).

Each scenario builds its state against a server (Vimana or Redis, both
speak RESP), then times one command from the moment it is sent to the
moment its whole reply has been read, while another connection PINGs in a
loop: its longest round trip is the stall every client saw (`ping_max_s`):

  xautoclaim   SIZE entries XADDed to topic t, all delivered to consumer c1
               of group g (XREADGROUP), then `XAUTOCLAIM t g c 0 0 COUNT 10000`
  blocked      SIZE clients blocked in `XREADGROUP GROUP g cN BLOCK 0 STREAMS t >`,
               then `XADD t * f v` (median and max of --repeat XADDs); the
               reply comes after the server has served its blocked readers
  unsubscribe  one connection SUBSCRIBEd to SIZE channels, then one UNSUBSCRIBE
               of SIZE/10 of them by name (every tenth)
  patterns     one connection PSUBSCRIBEd to SIZE patterns is closed; timed
               from the close until `PUBSUB NUMPAT` on another connection says 0

Usage: stalls.py SCENARIO (--port PORT | --vimana BIN | --redis) [--size N] [--repeat N]
  --vimana BIN   start `BIN serve` on a free port with a fresh ledger (fsync
                 everysec, the default) and max_clients 20000, stop it after
  --redis        start redis-server (--save '' --appendonly no --maxclients 20000)
Default sizes: xautoclaim 200000, blocked 9000, unsubscribe 1000000, patterns 50000.
`blocked` raises this process's RLIMIT_NOFILE as far as the hard limit allows.
Prints one JSON line per scenario.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


class Prober(threading.Thread):
    """PINGs the server in a loop on its own connection and keeps the
    longest round trip: the stall every other client saw."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.conn = Conn(port)
        self.done = threading.Event()
        self.worst = 0.0

    def run(self):
        while not self.done.is_set():
            t = time.monotonic()
            self.conn.command("PING")
            self.worst = max(self.worst, time.monotonic() - t)

    def finish(self):
        self.done.set()
        self.join()
        self.conn.close()
        return self.worst


def timed(conn, port, command, replies=1):
    """Sends `command` on `conn` while a Prober PINGs; returns (seconds until
    `command`'s replies were all read, the longest PING round trip)."""
    prober = Prober(port)
    prober.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    conn.send(command)
    for _ in range(replies):
        conn.reply()
    elapsed = time.monotonic() - t0
    return elapsed, prober.finish()


def xautoclaim(port, size, repeat):
    c = Conn(port)
    c.pipeline([encode("XADD", "t", "*", "f", "value-%d" % i) for i in range(size)])
    c.command("XGROUP", "CREATE", "t", "g", "0")
    c.command("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "t", ">")
    command_s, ping_s = timed(c, port, encode("XAUTOCLAIM", "t", "g", "c", "0", "0", "COUNT", "10000"))
    return {"entries": size, "command_s": round(command_s, 4), "ping_max_s": round(ping_s, 4)}


def blocked(port, size, repeat):
    c = Conn(port)
    c.command("XGROUP", "CREATE", "t", "g", "$", "MKSTREAM")
    readers = []
    for i in range(size):
        r = Conn(port)
        r.send(encode("XREADGROUP", "GROUP", "g", "c%d" % i, "BLOCK", "0", "STREAMS", "t", ">"))
        readers.append(r)
    # CLIENT LIST, not INFO's blocked_clients: Vimana before issue 9 always said 0 there.
    deadline = time.monotonic() + 300
    while c.command("CLIENT", "LIST").count(b"cmd=xreadgroup") < size:
        if time.monotonic() > deadline:
            raise RuntimeError("readers did not block (CLIENT LIST cmd=xreadgroup)")
        time.sleep(0.2)
    times, pings = [], []
    for _ in range(repeat):
        command_s, ping_s = timed(c, port, encode("XADD", "t", "*", "f", "v"))
        times.append(command_s)
        pings.append(ping_s)
    for r in readers:
        r.close()
    return {"blocked": size, "xadds": repeat, "median_s": round(statistics.median(times), 4),
            "max_s": round(max(times), 4), "ping_max_s": round(max(pings), 4)}


def unsubscribe(port, size, repeat):
    c = Conn(port)
    names = ["channel:%d" % i for i in range(size)]
    for i in range(0, size, 1000):
        part = names[i : i + 1000]
        c.send(encode("SUBSCRIBE", *part))
        for _ in part:  # one reply per channel, read as they come (the pubsub output limit)
            c.reply()
    drop = names[::10]
    command_s, ping_s = timed(c, port, encode("UNSUBSCRIBE", *drop), replies=len(drop))
    return {"channels": size, "unsubscribed": len(drop), "command_s": round(command_s, 4),
            "ping_max_s": round(ping_s, 4)}


def patterns(port, size, repeat):
    c, probe = Conn(port), Conn(port)
    for i in range(0, size, 1000):
        part = ["pattern:%d:*" % k for k in range(i, min(i + 1000, size))]
        c.send(encode("PSUBSCRIBE", *part))
        for _ in part:
            c.reply()
    if int(probe.command("PUBSUB", "NUMPAT")) != size:
        raise RuntimeError("patterns not subscribed")
    prober = Prober(port)
    prober.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    c.close()
    while int(probe.command("PUBSUB", "NUMPAT")) != 0:
        pass
    elapsed = time.monotonic() - t0
    return {"patterns": size, "close_to_numpat0_s": round(elapsed, 4), "ping_max_s": round(prober.finish(), 4)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(vimana, redis):
    """Starts a fresh server; returns (process, port, directory to delete)."""
    port = free_port()
    work = tempfile.mkdtemp(prefix="stalls-")
    if vimana:
        config = os.path.join(work, "phoenix.yaml")
        with open(config, "w") as f:
            f.write("kernel:\n  limits:\n    max_clients: 20000\n")
        cmd = [vimana, "serve", "--no-system-agents", "--config", config, "--port", str(port), "--http-port", "0",
               "--ledger-dir", os.path.join(work, "ledger"), "--log-level", "warn"]
    else:
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--maxclients", "20000", "--dir", work]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            Conn(port).close()
            return proc, port, work
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: %s" % " ".join(cmd))
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=sorted(DEFAULT_SIZE))
    p.add_argument("--port", type=int)
    p.add_argument("--vimana")
    p.add_argument("--redis", action="store_true")
    p.add_argument("--size", type=int)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    size = a.size or DEFAULT_SIZE[a.scenario]
    proc = work = None
    port = a.port
    if a.vimana or a.redis:
        proc, port, work = start_server(a.vimana, a.redis)
    elif port is None:
        p.error("give --port, --vimana or --redis")
    try:
        result = globals()[a.scenario](port, size, a.repeat)
    finally:
        if proc:
            proc.kill()
            proc.wait()
            shutil.rmtree(work, ignore_errors=True)
    server = "redis" if a.redis else ("vimana" if a.vimana else "port %d" % port)
    print(json.dumps({"scenario": a.scenario, "server": server, **result}), flush=True)


if __name__ == "__main__":
    main()
