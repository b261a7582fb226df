#!/usr/bin/env python3
"""Runs every example in Protocol/PROTOCOL.md against a live server, byte for
byte, so that the document cannot drift from the implementation.

    tools/compat/protocol_examples.py --port 7379 [--host H] [--doc FILE]
    tools/compat/protocol_examples.py --port 7379 --requirepass secret

An example is a fenced block tagged `resp`, run against a server with the
default configuration; one tagged `resp requirepass=secret` is run instead
when --requirepass secret says the server has that kernel.password. Each
line of a block is one of:

    C: bytes     client 1 sends these bytes (escapes: \\r \\n \\t \\0 \\\\ \\xHH)
    T: text      client 1 types this line at a terminal: the text exactly as
                 written (no escapes) followed by \\n, which is what netcat sends
    S: bytes     client 1 must receive exactly these bytes next (same escapes;
                 {int} stands for any integer, such as a client id, and {ID}
                 for any stream ID, ms-seq, which the block remembers)
    S: <closed>  the server must close client 1's connection
    C2: T2: S2:  the same for client 2 (any digit: clients 1-9)
    {ID} in a C: or T: line is the stream ID an S: line of the same block
                 last matched with {ID} (an ID the server chose, sent back)
    # ...        a comment

Connections open at their first use and close at the end of the block; after
the last line no client may have unread bytes. Standard library only.
Exit status 0 with a summary line when every example holds, 1 at the first
one that does not (with the document's line number), 2 on bad arguments.
"""
import argparse
import os
import re
import select
import socket
import sys
import time

PROG = "protocol_examples"
WAIT = 3.0    # seconds to wait for expected bytes or a close
QUIET = 0.15  # seconds of silence that end a block
LINE = re.compile(r"^([CTS])([1-9]?): ?(.*)$")
ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[rnt0\\])")


class Failure(Exception):
    pass


def unescape(text):
    """The bytes an escaped C:/S: field stands for."""
    def one(m):
        e = m.group(1)
        if e[:1] == b"x":
            return bytes([int(e[1:], 16)])
        return {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0", b"\\": b"\\"}[e]
    return ESCAPE.sub(one, text.encode("utf-8"))


def pattern(text):
    """A regex for an S: field: literal bytes with {int} as an integer and
    {ID} as a stream ID (the last {ID} of the line is the group `ID`)."""
    parts = re.split(r"(\{int\}|\{ID\})", text)
    last_id = max((i for i, p in enumerate(parts) if p == "{ID}"), default=None)
    regex = b""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(unescape(part))
        elif part == "{int}":
            regex += b"-?[0-9]+"
        else:
            regex += b"(?P<ID>[0-9]+-[0-9]+)" if i == last_id else b"[0-9]+-[0-9]+"
    return re.compile(regex, re.S)


def sent(text, remembered, where):
    """A C:/T: field with {ID} replaced by the stream ID last matched."""
    if "{ID}" not in text:
        return text
    if remembered is None:
        raise Failure(f"{where}: {{ID}} before any S: line matched one")
    return text.replace("{ID}", remembered)


def blocks(path, shown, tag):
    """(line number, [(line number, kind, client, text)]) for each block whose
    fence reads ```<tag>; `shown` is the path as errors name it."""
    out, current, start, wanted = [], None, 0, False
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if current is None:
                fence = line.strip()
                if fence == "```resp" or fence.startswith("```resp "):
                    current, start, wanted = [], n, fence == "```" + tag
                continue
            if line.strip() == "```":
                if wanted:
                    out.append((start, current))
                current = None
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                raise Failure(f"{shown}:{n}: not a C:/T:/S: line: {line!r}")
            current.append((n, m.group(1), int(m.group(2) or 1), m.group(3)))
    if current is not None:
        raise Failure(f"{shown}:{start}: unterminated ```resp block")
    return out


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.buffer = b""
        self.closed = False

    def fill(self, timeout):
        """Reads what arrives within `timeout`; False when nothing did."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.buffer += data
        return True


def run_block(host, port, path, lines):
    clients = {}
    remembered = None   # the stream ID an S: line last matched with {ID}
    try:
        for n, kind, who, text in lines:
            where = f"{path}:{n}"
            if who not in clients:
                clients[who] = Client(host, port)
            c = clients[who]
            if kind == "C":
                c.sock.sendall(unescape(sent(text, remembered, where)))
            elif kind == "T":
                c.sock.sendall(sent(text, remembered, where).encode("utf-8") + b"\n")
            elif text == "<closed>":
                deadline = time.monotonic() + WAIT
                while not c.closed and not c.buffer and time.monotonic() < deadline:
                    c.fill(deadline - time.monotonic())
                if c.buffer:
                    raise Failure(f"{where}: client {who}: want the connection closed, got {c.buffer!r}")
                if not c.closed:
                    raise Failure(f"{where}: client {who}: want the connection closed; it stayed open {WAIT}s")
            else:
                want = pattern(text)
                deadline = time.monotonic() + WAIT
                while True:
                    m = want.match(c.buffer)
                    if m:
                        c.buffer = c.buffer[m.end():]
                        if "ID" in want.groupindex:
                            remembered = m.group("ID").decode("ascii")
                        break
                    if time.monotonic() >= deadline or (c.closed and not c.fill(0)):
                        state = " (connection closed)" if c.closed else ""
                        raise Failure(f"{where}: client {who}: want {unescape(text)!r}, got {c.buffer!r}{state}")
                    c.fill(min(0.05, max(0.0, deadline - time.monotonic())))
        # Nothing unexpected may follow.
        end = time.monotonic() + QUIET
        while time.monotonic() < end:
            for who, c in clients.items():
                c.fill(0.01)
                if c.buffer:
                    raise Failure(f"{path}:{lines[-1][0]}: client {who}: unexpected bytes after the example: {c.buffer!r}")
    finally:
        for c in clients.values():
            c.sock.close()
        time.sleep(0.02)  # let the server see the closes before the next example counts clients


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="check PROTOCOL.md's examples against a server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7379)
    parser.add_argument("--doc", default=os.path.join(here, "..", "..", "Protocol", "PROTOCOL.md"))
    parser.add_argument("--requirepass", help="the server's kernel.password: run the blocks written for it")
    args = parser.parse_args()
    path = os.path.relpath(args.doc)
    if path.startswith(".."):
        path = os.path.abspath(args.doc)
    try:
        tag = "resp" if args.requirepass is None else f"resp requirepass={args.requirepass}"
        examples = blocks(args.doc, path, tag)
        if not examples:
            raise Failure(f"{path}: no ```{tag} examples found")
        for _, lines in examples:
            run_block(args.host, args.port, path, lines)
    except Failure as e:
        print(f"{PROG}: FAIL {e}")
        return 1
    except OSError as e:
        print(f"{PROG}: FAIL cannot talk to {args.host}:{args.port}: {e}")
        return 1
    count = sum(len(lines) for _, lines in examples)
    print(f"{PROG}: OK: {len(examples)} ```{tag} examples ({count} lines) in {path} hold against {args.host}:{args.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
