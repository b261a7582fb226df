#!/usr/bin/env python3
"""The smallest useful Vimana agent: 22 lines of code, standard library only."""
import json, os, socket, sys

host, port = os.environ["VIMANA_ADDR"].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
inbox = sock.makefile("rb")

def send(*args):  # a command as a RESP array of bulk strings
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    sock.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))

def read():  # one RESP value; arrays and bulk strings are all a task needs
    line = inbox.readline()[:-2] or sys.exit(1)  # the kernel went away
    if line[:1] == b"*": return [read() for _ in range(int(line[1:]))]
    if line[:1] == b"$": return inbox.read(int(line[1:]) + 2)[:-2]
    return line

if os.environ.get("VIMANA_PASSWORD"):  # the kernel's credentials for us (environment, never argv)
    send("AUTH", os.environ.get("VIMANA_USER", "default"), os.environ["VIMANA_PASSWORD"])
send("AGENT", "JOIN", os.environ["VIMANA_AGENT_ID"])
while True:
    v = read()
    if isinstance(v, list) and v[0] == b"task":  # [task, topic, id, deliveries, payload, publisher]
        _, topic, entry, deliveries, payload = v[:5]
        task = json.loads(payload)  # not JSON? we crash, the kernel restarts us and redelivers
        send("PUBLISH", task["reply_to"], json.dumps({"id": task.get("id"), "text": task["text"].upper()}))
        send("ACK", topic, entry)
