#!/usr/bin/env python3
"""A citizen of the city, in Python (standard library only): an agent that
takes part in governance as itself, over the public protocols alone
(Protocol/AGENTS.md, docs/SYSTEM-AGENTS.md).

It is python_agent.py's agent (the same connection, JOIN, tasks, ACK) with
other work. At each start it registers itself with civic (a `register`
request published to `tasks.civic` as its own user; `exists` means it was
registered before). Then its tasks, each `{"action", "id", "reply_to",
"args"}`, are:

- `ask {agent, action, args?}`: sends that request to `tasks.<agent>` as
  itself and replies with the agent's reply (`{"id", "ok", "result"}` or
  `{"id", "ok": false, "error"}`), so whoever drives it sees the city answer
  this agent's own user: a broadcast through herald, a vote at forum, an
  appeal to the court;
- `publish {topic, message?, count?}`: PUBLISHes `message` (default
  "tick") `count` times (1 to 10,000, default 1) to `topic` and replies
  `{"published", "refused", "error"}` (the kernel's last refusal, or null).

Its requests go out on a second connection, in RESP3 (HELLO 3), which
subscribes to `replies.<id>` first; each request's id is the task's entry ID
and a counter, so a task delivered again asks again with the same ids, and
the asked agent applies it once. A reply the kernel refuses to publish (its
licence suspended: only `tasks.supreme_court` is left to it) has the
kernel's refusal written to stdout, and the task is acknowledged all the
same: what it did is done. A registration civic does not answer within 10 s
is tried again at the next connection; the agent serves meanwhile.

    VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=weather VIMANA_USER=weather \\
        VIMANA_PASSWORD=... python3 tools/agents/citizen.py
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_agent as base  # noqa: E402  (the connection, RESP and the loop)

ASK_TIMEOUT = 10.0   # seconds an asked agent has to reply
MAX_COUNT = 10000    # publishes in one task


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def clean(text):
    """A name for a log line: control characters as '?', so that a newline in
    it cannot forge a line of the kernel's log."""
    return "".join(c if c >= " " and c != "\x7f" else "?" for c in str(text))


class Asker:
    """Requests to other agents: PUBLISH on a RESP3 connection subscribed to
    this agent's reply topic, then the push with the request's id."""

    def __init__(self, host, port):
        self.topic = "replies." + base.AGENT_ID
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = base.Reader(self.sock)
        hello = ["HELLO", "3"] + (["AUTH", base.USER, base.PASSWORD] if base.PASSWORD else [])
        for command in (hello, ["SUBSCRIBE", self.topic]):
            self.sock.sendall(base.encode(*command))
            v = self.reader.value()
            if isinstance(v, base.ProtocolError):
                raise ConnectionError("%s: %s" % (command[0], v))

    def ask(self, agent, action, args, rid):
        """The reply object of `agent` to one request, or an error object of
        our own when the PUBLISH was refused; ConnectionError when no reply
        came within ASK_TIMEOUT (the connection is then done with)."""
        request = {"action": action, "id": rid, "reply_to": self.topic, "args": args}
        self.sock.sendall(base.encode("PUBLISH", "tasks." + agent, dumps(request).encode()))
        deadline = time.monotonic() + ASK_TIMEOUT
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                self.sock.settimeout(left)  # the whole wait, however chatty the reply topic
                v = self.reader.value()
                if isinstance(v, base.ProtocolError):  # the PUBLISH refused: nothing was sent
                    return {"id": rid, "ok": False, "error": {"code": "refused", "message": str(v)}}
                if isinstance(v, list) and len(v) >= 3 and v[0] == b"message":
                    try:
                        reply = json.loads(v[2].decode("utf-8"))
                    except (UnicodeDecodeError, ValueError, RecursionError):
                        continue
                    if isinstance(reply, dict) and reply.get("id") == rid:
                        return reply
        except socket.timeout:
            # Mid-value perhaps: this connection is done; the next task makes another.
            raise ConnectionError("%s did not answer %s within %s s" % (agent, action, ASK_TIMEOUT))
        finally:
            self.sock.settimeout(None)

    def close(self):
        self.sock.close()


class Citizen(base.Agent):
    asker = None
    registered = False

    def serve(self, host, port):
        if self.asker is not None:
            self.asker.close()
        self.asker = Asker(host, port)
        self.address = (host, port)
        if not self.registered:
            # Best effort: a civic that is down or slow costs the registration
            # (tried again at the next connection), not the agent's work.
            try:
                reply = self.asker.ask("civic", "register",
                                       {"agent": base.AGENT_ID, "description": "a citizen in Python"},
                                       "register-%d" % os.getpid())
                error = reply.get("error")
                if reply.get("ok") or (isinstance(error, dict) and error.get("code") == "exists"):
                    self.registered = True
                    base.say("registered with civic as %s" % base.AGENT_ID)
                else:
                    base.note("civic did not register %s: %s" % (base.AGENT_ID, dumps(reply)))
            except (OSError, ConnectionError) as e:
                base.note("civic did not answer the registration (%s); serving unregistered" % e)
                self.asker.close()
                self.asker = Asker(host, port)
        return super().serve(host, port)

    def work(self, entry, request):
        """The reply object for one task."""
        rid, args = request.get("id"), request.get("args", {})
        action = request.get("action")
        if not isinstance(args, dict):
            return {"id": rid, "ok": False, "error": {"code": "bad_argument", "message": "args must be a JSON object"}}
        if action == "ask" and isinstance(args.get("agent"), str) and isinstance(args.get("action"), str):
            inner = args.get("args", {})
            if not isinstance(inner, dict):
                return {"id": rid, "ok": False, "error": {"code": "bad_argument", "message": "args.args must be a JSON object"}}
            try:
                answer = self.asker.ask(args["agent"], args["action"], inner, "%s:1" % entry)
            except (OSError, ConnectionError) as e:
                self.asker.close()
                self.asker = Asker(*self.address)
                return {"id": rid, "ok": False, "error": {"code": "unavailable", "message": str(e)}}
            return {"id": rid, "ok": True, "result": answer}
        if action == "publish" and isinstance(args.get("topic"), str):
            count = args.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
                return {"id": rid, "ok": False,
                        "error": {"code": "bad_argument", "message": "count must be from 1 to %d" % MAX_COUNT}}
            message = str(args.get("message", "tick")).encode()
            published, refused, error = 0, 0, None
            for _ in range(count):
                r = self.command("PUBLISH", args["topic"], message)
                if isinstance(r, base.ProtocolError):
                    refused, error = refused + 1, str(r)
                else:
                    published += 1
            if error:
                base.say("publish to %s refused: %s" % (clean(args["topic"]), clean(error)))
            return {"id": rid, "ok": True, "result": {"published": published, "refused": refused, "error": error}}
        return {"id": rid, "ok": False,
                "error": {"code": "unknown_action", "message": "ask {agent, action, args} or publish {topic, message, count}"}}

    def task(self, v):
        _, topic, entry, deliveries, payload = v[:5]
        entry_s = entry.decode(errors="replace")
        try:
            request = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            request = None
        if isinstance(request, dict):
            try:
                reply = self.work(entry_s, request)
            except (OSError, ConnectionError):
                raise  # the connection: the kernel gives the task back
            except Exception as e:  # a bug of ours: the caller is told, the agent goes on
                reply = {"id": request.get("id"), "ok": False, "error": {"code": "internal", "message": type(e).__name__}}
            base.say("task %s %s: %s %s" % (topic.decode(errors="replace"), entry_s, clean(request.get("action")),
                                           "ok" if reply.get("ok") else dumps(reply.get("error"))))
            reply_to = request.get("reply_to")
            if isinstance(reply_to, str) and reply_to:
                r = self.command("PUBLISH", reply_to, dumps(reply).encode())
                if isinstance(r, base.ProtocolError):
                    base.say("reply to %s refused: %s" % (clean(reply_to), clean(r)))
        else:
            base.say("task %s %s: not a JSON object" % (topic.decode(errors="replace"), entry_s))
        self.command("ACK", topic, entry)


if __name__ == "__main__":
    base.Agent = Citizen
    sys.exit(base.main())
