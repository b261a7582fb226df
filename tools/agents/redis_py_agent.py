#!/usr/bin/env python3
"""An agent written with redis-py alone, using Redis Streams consumer groups.

Vimana gives each declared agent a consumer group named by its id on every
topic it subscribes to (Protocol/AGENTS.md §5), so an agent can be any Redis
client: XREADGROUP to take tasks, XACK when done. This one upper-cases the
"text" of each task and publishes the result to the task's reply_to.

    VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=rpy TOPICS=tasks.rpy python3 tools/agents/redis_py_agent.py

When VIMANA_PASSWORD is set (a supervising kernel sets it, with VIMANA_USER,
in the environment and never in the arguments: Protocol/AGENTS.md section 9),
redis-py authenticates with them (HELLO 3 AUTH) on every connection.

phoenix.yaml:

    agents:
      - id: rpy
        subscribes: ["tasks.rpy"]
        command: ["python3", "tools/agents/redis_py_agent.py"]
        env: {TOPICS: "tasks.rpy"}
"""
import json
import os
import signal
import socket
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

running = True
# True while a task is in hand: SIGTERM then lets it finish (answer, XACK).
busy = False


class Stopped(Exception):
    """Raised by SIGTERM or SIGINT when no task is in hand: it interrupts
    whatever redis-py is waiting for (XREADGROUP's BLOCK, its own reconnect
    retries, which can take several seconds) so the agent exits well within
    the kernel's grace period."""


def stop(*_):
    global running
    running = False
    if not busy:
        raise Stopped


def create_groups(r, agent, topics):
    """Creates the agent's consumer group on each topic, and the topic with it
    (MKSTREAM), so that XREADGROUP can wait on a topic nobody has published to
    yet instead of failing with NOGROUP. The kernel uses the same group
    (Protocol/AGENTS.md section 5); BUSYGROUP means it, or an earlier run of
    this agent, already made it."""
    for t in topics:
        try:
            r.xgroup_create(t, agent, id="$", mkstream=True)
        except redis.ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):
                raise


def main() -> int:
    global busy
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, _, port = os.environ.get("VIMANA_ADDR", "127.0.0.1:7379").rpartition(":")
    agent = os.environ.get("VIMANA_AGENT_ID", "rpy")
    topics = os.environ.get("TOPICS", f"tasks.{agent}").split(",")
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    # No retries inside redis-py (by default it retries a lost connection for
    # seconds, deaf to SIGTERM): the loop below reconnects, with its own backoff.
    password = os.environ.get("VIMANA_PASSWORD") or None
    username = (os.environ.get("VIMANA_USER") or None) if password else None
    r = redis.Redis(host=host, port=int(port), username=username, password=password,
                    decode_responses=True, retry=Retry(NoBackoff(), 0))
    backoff = 0.2
    try:
        while running:
            try:
                create_groups(r, agent, topics)
                backoff = 0.2
                print(f"{agent}: connected as {consumer}, waiting for tasks on {','.join(topics)}", flush=True)
                while running:
                    # ">" : tasks never delivered to this group. Pending ones of a dead
                    # consumer come back through XAUTOCLAIM below.
                    batches = r.xreadgroup(agent, consumer, {t: ">" for t in topics}, count=16, block=1000) or []
                    if not batches:
                        for t in topics:
                            claimed = r.xautoclaim(t, agent, consumer, min_idle_time=30000, start_id="0-0", count=16)
                            if claimed and claimed[1]:
                                batches.append([t, claimed[1]])
                    for topic, entries in batches:
                        for entry_id, fields in entries:
                            if not running:
                                break  # the rest stay pending: the next run claims them
                            busy = True
                            handle(r, agent, topic, entry_id, fields)
                            r.xack(topic, agent, entry_id)
                            busy = False
            except redis.AuthenticationError as error:
                # Before ConnectionError, its base: wrong credentials are a configuration error.
                print(f"{agent}: cannot authenticate as user {username or 'default'!r}: {error}", flush=True)
                return 2
            except (redis.ConnectionError, ConnectionRefusedError, OSError) as error:
                busy = False
                if not running:
                    break
                print(f"{agent}: connection lost ({error}); retrying in {backoff:.1f}s", flush=True)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
    except Stopped:
        pass
    print(f"{agent}: stopped", flush=True)
    return 0


def handle(r, agent, topic, entry_id, fields):
    raw = fields.get("payload", json.dumps(fields))
    try:
        task = json.loads(raw)
    except ValueError:
        task = {"text": raw}
    result = {"id": task.get("id"), "agent": agent, "result": str(task.get("text", "")).upper()}
    if isinstance(task, dict) and task.get("reply_to"):
        r.publish(task["reply_to"], json.dumps(result, separators=(",", ":")))
    print(f"{agent}: {topic} {entry_id} done", flush=True)


if __name__ == "__main__":
    sys.exit(main())
