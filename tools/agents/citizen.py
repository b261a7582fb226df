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
licence suspended: only `tasks.supreme_court` is left to it) is written to
stdout and the task acknowledged all the same: what it did is done.

    VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=weather VIMANA_USER=weather \\
        VIMANA_PASSWORD=... python3 tools/agents/citizen.py
"""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_agent as base  # noqa: E402  (the connection, RESP and the loop)

ASK_TIMEOUT = 10.0   # seconds an asked agent has to reply
MAX_COUNT = 10000    # publishes in one task


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
        our own when it was refused or timed out."""
        request = {"action": action, "id": rid, "reply_to": self.topic, "args": args}
        self.sock.sendall(base.encode("PUBLISH", "tasks." + agent, dumps(request).encode()))
        self.sock.settimeout(ASK_TIMEOUT)
        try:
            while True:
                v = self.reader.value()
                if isinstance(v, base.ProtocolError):  # the PUBLISH refused: nothing was sent
                    return {"id": rid, "ok": False, "error": {"code": "refused", "message": str(v)}}
                if isinstance(v, list) and len(v) >= 3 and v[0] == b"message":
                    try:
                        reply = json.loads(v[2].decode("utf-8"))
                    except (UnicodeDecodeError, ValueError):
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
            reply = self.asker.ask("civic", "register",
                                   {"agent": base.AGENT_ID, "description": "a citizen in Python"},
                                   "register-%d" % os.getpid())
            code = (reply.get("error") or {}).get("code")
            if reply.get("ok") or code == "exists":
                self.registered = True
                base.say("registered with civic as %s" % base.AGENT_ID)
            else:
                base.note("civic did not register %s: %s" % (base.AGENT_ID, dumps(reply)))
        return super().serve(host, port)

    def work(self, entry, request):
        """The reply object for one task."""
        rid, args = request.get("id"), request.get("args") or {}
        action = request.get("action")
        if action == "ask" and isinstance(args.get("agent"), str) and isinstance(args.get("action"), str):
            try:
                answer = self.asker.ask(args["agent"], args["action"], args.get("args") or {}, "%s:1" % entry)
            except (OSError, ConnectionError) as e:
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
                base.say("publish to %s refused: %s" % (args["topic"], error))
            return {"id": rid, "ok": True, "result": {"published": published, "refused": refused, "error": error}}
        return {"id": rid, "ok": False,
                "error": {"code": "unknown_action", "message": "ask {agent, action, args} or publish {topic, message, count}"}}

    def task(self, v):
        _, topic, entry, deliveries, payload = v[:5]
        entry_s = entry.decode(errors="replace")
        try:
            request = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            request = None
        if isinstance(request, dict):
            reply = self.work(entry_s, request)
            base.say("task %s %s: %s %s" % (topic.decode(errors="replace"), entry_s, request.get("action"),
                                           "ok" if reply.get("ok") else dumps(reply.get("error"))))
            reply_to = request.get("reply_to")
            if isinstance(reply_to, str) and reply_to:
                r = self.command("PUBLISH", reply_to, dumps(reply).encode())
                if isinstance(r, base.ProtocolError):
                    base.say("reply to %s refused: %s" % (reply_to, r))
        else:
            base.say("task %s %s: not a JSON object" % (topic.decode(errors="replace"), entry_s))
        self.command("ACK", topic, entry)


if __name__ == "__main__":
    base.Agent = Citizen
    sys.exit(base.main())
