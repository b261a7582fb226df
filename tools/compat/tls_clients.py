#!/usr/bin/env python3
"""Publish and subscribe through a TLS front (stunnel, docs/OPERATIONS.md)
with redis-py (ssl=True) and redis-cli (--tls), each in both roles.

Usage: tls_clients.py --host 127.0.0.1 --port TLS_PORT --cacert server.crt [--password P]
Exits 0 when every step worked; otherwise prints what failed and exits 1.
TLSTests (Tests/VimanaIntegrationTests) runs it.
"""
import argparse
import subprocess
import sys
import time

import redis

# Every wait is for a condition, bounded by this.
DEADLINE_SECONDS = 20


def fail(message):
    print(f"tls_clients: {message}", file=sys.stderr)
    sys.exit(1)


def redis_cli(args, extra):
    base = ["redis-cli", "--tls", "--cacert", args.cacert, "-h", args.host, "-p", str(args.port)]
    if args.password:
        base += ["--no-auth-warning", "-a", args.password]
    return base + extra


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cacert", required=True)
    parser.add_argument("--password")
    args = parser.parse_args()

    # The TLS port speaks only TLS: a plain client gets no reply.
    plain = redis.Redis(host=args.host, port=args.port, socket_timeout=5, password=args.password)
    try:
        plain.ping()
        fail("a plain (non-TLS) client was answered on the TLS port")
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        pass

    r = redis.Redis(host=args.host, port=args.port, password=args.password, ssl=True,
                    ssl_ca_certs=args.cacert, socket_timeout=10)
    if r.ping() is not True:
        fail("redis-py ssl=True: PING did not answer PONG")

    # redis-py subscribes, redis-cli --tls publishes.
    sub = r.pubsub()
    sub.subscribe("tls.from-cli")
    deadline = time.monotonic() + DEADLINE_SECONDS
    confirmed = None
    while confirmed is None and time.monotonic() < deadline:
        confirmed = sub.get_message(timeout=1)
    if not confirmed or confirmed["type"] != "subscribe":
        fail(f"redis-py ssl=True: no subscribe confirmation ({confirmed!r})")
    published = subprocess.run(redis_cli(args, ["PUBLISH", "tls.from-cli", "hello over tls"]),
                               capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    if published.returncode != 0 or published.stdout.strip() != "1":
        fail(f"redis-cli --tls PUBLISH: status {published.returncode}, output {published.stdout!r} {published.stderr!r}")
    message = None
    while message is None and time.monotonic() < deadline:
        message = sub.get_message(timeout=1)
    if not message or message["type"] != "message" or message["data"] != b"hello over tls":
        fail(f"redis-py ssl=True: expected the message redis-cli published, got {message!r}")
    sub.close()

    # redis-cli --tls subscribes, redis-py publishes.
    listener = subprocess.Popen(redis_cli(args, ["SUBSCRIBE", "tls.from-py"]), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while r.pubsub_numsub("tls.from-py")[0][1] != 1:
            if time.monotonic() > deadline or listener.poll() is not None:
                fail("redis-cli --tls SUBSCRIBE did not subscribe")
            time.sleep(0.02)
        receivers = r.publish("tls.from-py", "hello from redis-py")
        if receivers != 1:
            fail(f"redis-py ssl=True PUBLISH reached {receivers} subscribers, expected 1")
        # redis-cli prints each message as three lines: message, channel, payload.
        lines = []
        while lines[-3:] != ["message", "tls.from-py", "hello from redis-py"]:
            line = listener.stdout.readline()
            if not line:
                fail(f"redis-cli --tls SUBSCRIBE ended before the message: {lines!r}")
            lines.append(line.rstrip("\n"))
    finally:
        listener.kill()
        listener.wait()
    print("tls_clients: redis-py ssl=True and redis-cli --tls published and subscribed through TLS")


if __name__ == "__main__":
    main()
