#!/usr/bin/env python3
"""A Vimana agent in Python, standard library only (Protocol/AGENTS.md).

Joins as an instance of its agent, takes the tasks the kernel pushes, and
answers each by the request/reply convention (§4): a JSON object payload with
`reply_to` gets a JSON object with the same `id` published there; then the
task is acknowledged. The result: the `text` field upper-cased when there is
one, and always `"ok":true` and the agent's id.

    VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=py python3 tools/agents/python_agent.py

When VIMANA_PASSWORD is set (a supervising kernel sets it, with VIMANA_USER,
in the environment and never in the arguments: Protocol/AGENTS.md §9), the
agent authenticates with `AUTH` before it joins; without it, it joins as the
connection's default user.

One line per task goes to stdout, connection events to stderr (both reach
the kernel's log when it supervises the agent). SIGTERM exits 0, after the
task in hand if there is one. A lost connection is retried with backoff;
once the process that started the agent is gone (a supervising kernel that
died), the agent exits instead, since a kernel that comes back starts its own.
"""

import json
import os
import signal
import socket
import sys
import time

ADDR = os.environ.get("VIMANA_ADDR") or "127.0.0.1:7379"
AGENT_ID = os.environ.get("VIMANA_AGENT_ID") or "py"
USER = os.environ.get("VIMANA_USER") or "default"
PASSWORD = os.environ.get("VIMANA_PASSWORD")  # never printed
BACKOFF_FIRST = 0.1   # seconds before the first reconnect
BACKOFF_MAX = 5.0     # reconnects never wait longer than this
NACK_DELAY_MS = 1000  # a task whose reply could not be published comes back after this


class ProtocolError(Exception):
    pass


# MARK: - RESP

def encode(*args):
    """A command as a RESP multibulk of bulk strings (byte lengths)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Reader:
    """Whole RESP2/RESP3 values from a socket. Bulk strings stay bytes;
    errors come back as ProtocolError instances (not raised)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exactly(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def value(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"("):
            return rest.decode()
        if kind == b"-":
            return ProtocolError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"_":
            return None
        if kind == b"#":
            return rest == b"t"
        if kind == b",":
            return float(rest)
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            return None if n < 0 else self._exactly(n)
        if kind in (b"*", b">", b"~", b"%"):
            n = int(rest)
            if n < 0:
                return None
            return [self.value() for _ in range(n * 2 if kind == b"%" else n)]
        if kind == b"|":  # attributes precede the value they describe
            [self.value() for _ in range(int(rest) * 2)]
            return self.value()
        raise ConnectionError("unexpected RESP type %r" % kind)


def is_task(v):
    # Five elements and the publisher; any added later are ignored (AGENTS.md §3).
    return isinstance(v, list) and len(v) >= 5 and v[0] == b"task"


# MARK: - The work

def handle(payload):
    """(request, reply): the parsed request (None when the payload is not a
    JSON object) and the reply object (None when nothing is to be published)."""
    try:
        request = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(request, dict):
        return None, None
    reply_to = request.get("reply_to")
    if not isinstance(reply_to, str) or not reply_to:
        return request, None
    reply = {}
    if "id" in request:
        reply["id"] = request["id"]
    reply["ok"] = True
    reply["agent"] = AGENT_ID
    if isinstance(request.get("text"), str):
        reply["text"] = request["text"].upper()
    return request, reply


def say(line):
    print(line, flush=True)


def note(line):
    print(line, file=sys.stderr, flush=True)


# MARK: - Connection

class Agent:
    def __init__(self):
        self.sock = None
        self.reader = None
        self.queue = []  # tasks pushed while waiting for a reply
        self.busy = False
        self.stopping = False

    def command(self, *args):
        """Sends a command and returns its reply; pushes that arrive first are queued."""
        self.sock.sendall(encode(*args))
        while True:
            v = self.reader.value()
            if is_task(v):
                self.queue.append(v)
            else:
                return v

    def serve(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader(self.sock)
        self.queue = []
        if PASSWORD:
            authenticated = self.command("AUTH", USER, PASSWORD)
            if isinstance(authenticated, ProtocolError):
                note("cannot authenticate as user %r: %s" % (USER, authenticated))
                sys.exit(2)  # a configuration error: retrying cannot help
        joined = self.command("AGENT", "JOIN", AGENT_ID)
        if isinstance(joined, ProtocolError):
            note("cannot join as agent %r: %s" % (AGENT_ID, joined))
            sys.exit(2)  # a configuration error: retrying cannot help
        note("joined %s as agent %s" % (ADDR, AGENT_ID))
        return self.loop()

    def loop(self):
        while True:
            v = self.queue.pop(0) if self.queue else self.reader.value()
            if not is_task(v):
                if isinstance(v, ProtocolError):
                    note("server error: %s" % v)
                continue
            self.busy = True
            self.task(v)
            self.busy = False
            if self.stopping:
                sys.exit(0)

    def task(self, v):
        _, topic, entry, deliveries, payload = v[:5]
        publisher = v[5].decode(errors="replace") if len(v) > 5 and v[5] else "-"
        topic_s, entry_s = topic.decode(errors="replace"), entry.decode(errors="replace")
        request, reply = handle(payload)
        head = "task %s %s delivery=%s publisher=%s" % (topic_s, entry_s, deliveries, publisher)
        if request is None:
            say(head + " payload is not a JSON object")
        else:
            rid = json.dumps(request["id"], ensure_ascii=False) if "id" in request else "-"
            say("%s id=%s reply_to=%s" % (head, rid, request.get("reply_to") if reply else "-"))
        if reply is not None:
            body = json.dumps(reply, ensure_ascii=False, separators=(",", ":"))
            r = self.command("PUBLISH", request["reply_to"], body.encode())
            if isinstance(r, ProtocolError):
                note("reply to %s failed (%s): task %s %s given back" % (request["reply_to"], r, topic_s, entry_s))
                self.command("NACK", topic, entry, NACK_DELAY_MS)
                return
        r = self.command("ACK", topic, entry)
        if r != 1:
            note("ACK %s %s answered %r: the task was no longer ours" % (topic_s, entry_s, r))

    def on_term(self, signum, frame):
        self.stopping = True
        if not self.busy:
            sys.exit(0)


def main():
    host, _, port = ADDR.rpartition(":")
    if not host or not port.isdigit():
        note("VIMANA_ADDR must be host:port, got %r" % ADDR)
        return 2
    agent = Agent()
    signal.signal(signal.SIGTERM, agent.on_term)
    signal.signal(signal.SIGINT, agent.on_term)
    parent = os.getppid()
    delay = BACKOFF_FIRST
    while True:
        try:
            agent.serve(host, int(port))
        except (OSError, ConnectionError, ValueError) as e:
            # A task the connection cut off is the kernel's to give back; a
            # SIGTERM that came meanwhile (the kernel stopping: it closes the
            # connection, then signals) is obeyed now, not after reconnecting.
            agent.busy = False
            if agent.stopping:
                return 0
            if agent.sock is not None:
                agent.sock.close()
                agent.sock = None
            if agent.reader is not None:  # was connected: start the backoff afresh
                agent.reader = None
                delay = BACKOFF_FIRST
                note("connection to %s lost (%s); reconnecting" % (ADDR, e))
            elif delay == BACKOFF_FIRST:
                note("cannot connect to %s (%s); retrying" % (ADDR, e))
        if os.getppid() != parent:
            note("the process that started this agent is gone; exiting")
            return 1
        time.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX)


if __name__ == "__main__":
    sys.exit(main())
