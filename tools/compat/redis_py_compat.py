#!/usr/bin/env python3
"""Drives a Vimana server with redis-py, the way applications do, and checks
every answer.

    tools/compat/redis_py_compat.py --host 127.0.0.1 --port 7379 [--password P]

Two clients: redis-py's default (RESP3: it connects with HELLO 3) and one
made with protocol=2. Each pings, echoes, publishes to a subscriber made
with pubsub() (subscribe, psubscribe, get_message), asks PUBSUB
NUMSUB/NUMPAT/CHANNELS, CLIENT SETNAME/GETNAME/ID/LIST, INFO and CONFIG GET,
and runs transactions: pipeline() (MULTI/EXEC), WATCH, transaction().
With --password (the server's kernel.password) redis-py authenticates as it
does for Redis's requirepass: HELLO 3 AUTH default P, or AUTH P in RESP2.

Exit status 0 and one summary line when every check passes; 1 and a line
`redis_py_compat: FAIL [resp3] what: got …, want …` at the first mismatch;
2 when the redis package is missing or the arguments are wrong.

The checks hold for redis-server 7.0 too (Vimana-only behaviour is checked
only when INFO reports `vimana_version`), so running this script against a
real Redis shows that the script, not only the server, is right. Names carry
a random suffix and counts are taken relative to a baseline, so a server with
other clients is fine.
"""
import argparse
import os
import sys
import traceback

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:
    print("redis_py_compat: FAIL: python3 cannot import the 'redis' package "
          "(install it: python3 -m pip install redis, or run tools/install-deps.sh test)")
    sys.exit(2)

PROG = "redis_py_compat"
TIMEOUT = 5.0  # seconds to wait for any one pub/sub frame


class Mismatch(Exception):
    pass


class Checker:
    """Counts checks; raises Mismatch with the client's label on the first failure."""

    def __init__(self):
        self.count = 0
        self.label = "-"

    def eq(self, what, got, want):
        self.count += 1
        if got != want:
            raise Mismatch(f"[{self.label}] {what}: got {got!r}, want {want!r}")

    def true(self, what, condition, detail=""):
        self.count += 1
        if not condition:
            raise Mismatch(f"[{self.label}] {what}" + (f": {detail}" if detail else ""))

    def raises(self, what, fn, text, errors=(redis.ResponseError,)):
        """fn() must raise one of `errors` whose message contains text."""
        self.count += 1
        try:
            value = fn()
        except errors as e:
            if text not in str(e):
                raise Mismatch(f"[{self.label}] {what}: error {str(e)!r} does not contain {text!r}")
            return
        raise Mismatch(f"[{self.label}] {what}: got reply {value!r}, want an error containing {text!r}")


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def next_message(ps, what, check):
    """The next pub/sub frame (confirmations included) within TIMEOUT seconds."""
    message = ps.get_message(timeout=TIMEOUT)
    check.true(f"{what}: a pub/sub frame arrives within {TIMEOUT:.0f}s", message is not None)
    return message


def expect_frame(ps, what, check, kind, channel, data, pattern=None):
    m = next_message(ps, what, check)
    check.eq(f"{what}: frame", (m["type"], m["pattern"], m["channel"], m["data"]),
             (kind, pattern, channel, data))


def transactions(client, check, tag):
    """redis-py's pipeline() is a MULTI/EXEC transaction by default: every
    command must be written exactly once, and WATCH must make EXEC fail when
    another connection appends to the watched stream."""
    key = f"{tag}.tx"
    pipe = client.pipeline()  # transaction=True
    for i in range(10):
        pipe.xadd(key, {"i": str(i)}, id=f"1-{i + 1}")
    pipe.xlen(key)
    replies = pipe.execute()
    check.eq("pipeline(): one reply per command", len(replies), 11)
    check.eq("pipeline(): the XADD IDs", [text(r) for r in replies[:10]], [f"1-{i + 1}" for i in range(10)])
    check.eq("pipeline(): XLEN inside the transaction", replies[10], 10)
    check.eq("pipeline(): each entry written once", client.xlen(key), 10)
    # A command the server refuses while queueing aborts the whole transaction.
    pipe = client.pipeline()
    pipe.xadd(key, {"i": "late"}, id="2-1")
    pipe.execute_command("XLEN")
    check.raises("pipeline() with a wrong-arity command", pipe.execute, "wrong number of arguments",
                 errors=(redis.ResponseError, redis.exceptions.ExecAbortError))
    check.eq("an aborted transaction writes nothing", client.xlen(key), 10)
    # Optimistic locking: WATCH, another connection appends, EXEC fails.
    with client.pipeline() as pipe:
        pipe.watch(key)
        client.xadd(key, {"i": "other"}, id="3-1")  # another pooled connection
        pipe.multi()
        pipe.xadd(key, {"i": "mine"}, id="4-1")
        check.raises("WATCH then an XADD elsewhere: EXEC fails", pipe.execute, "Watched variable changed",
                     errors=(redis.WatchError,))
    # client.transaction() retries on WatchError: exactly one more entry.
    def append(pipe):
        last = pipe.xrevrange(key, count=1)[0][0]
        pipe.multi()
        pipe.xadd(key, {"after": text(last)}, id="5-1")
    client.transaction(append, key)
    check.eq("transaction(): written once", client.xlen(key), 12)


def exercise(client, proto, check, vimana, suffix):
    """Every check for one client speaking RESP `proto`."""
    tag = f"compat.{proto}.{suffix}"

    # Connection basics.
    check.eq("PING", client.ping(), True)
    check.eq("ECHO text", client.echo("héllo wörld"), "héllo wörld".encode())
    binary = b"\x00\x01\r\n\xff bytes"
    check.eq("ECHO binary", client.echo(binary), binary)
    info = client.client_info()
    check.eq("CLIENT INFO resp=", str(info["resp"]), str(proto))
    check.raises("unknown command", lambda: client.execute_command("NO-SUCH-COMMAND", "x"), "unknown command")
    check.eq("SELECT 0", client.select(0), True)
    hello = client.execute_command("HELLO", proto)
    if proto == 2:  # RESP2: the map arrives as a flat list of pairs
        check.true("HELLO 2 reply is a flat list", isinstance(hello, list), repr(hello))
        hello = dict(zip(hello[0::2], hello[1::2]))
    check.eq("HELLO proto", hello[b"proto"], proto)
    check.eq("HELLO version", hello[b"version"], b"7.0.15")

    # Client naming and listing.
    name = f"compat-{proto}-{suffix}"
    check.eq("CLIENT SETNAME", client.client_setname(name), True)
    check.eq("CLIENT GETNAME", text(client.client_getname()), name)
    my_id = client.client_id()
    check.true("CLIENT ID is a positive integer", isinstance(my_id, int) and my_id > 0, repr(my_id))
    check.eq("CLIENT INFO id", int(client.client_info()["id"]), my_id)
    mine = [c for c in client.client_list() if c.get("name") == name]
    check.eq("CLIENT LIST has exactly this client by name", len(mine), 1)
    check.eq("CLIENT LIST id", int(mine[0]["id"]), my_id)
    check.eq("CLIENT LIST resp", mine[0]["resp"], str(proto))
    check.eq("CLIENT LIST flags", mine[0]["flags"], "N")

    # Publish and subscribe.
    channel, other, pattern = f"{tag}.ch", f"{tag}.other", f"{tag}.*"
    before = client.info("pubsub") if vimana else {}
    numpat_before = client.pubsub_numpat()
    ps = client.pubsub()
    try:
        ps.subscribe(channel)
        expect_frame(ps, "SUBSCRIBE confirmation", check, "subscribe", channel.encode(), 1)
        ps.psubscribe(pattern)
        expect_frame(ps, "PSUBSCRIBE confirmation", check, "psubscribe", pattern.encode(), 2)

        check.eq("PUBSUB NUMSUB", client.pubsub_numsub(channel, other),
                 [(channel.encode(), 1), (other.encode(), 0)])
        check.eq("PUBSUB NUMPAT", client.pubsub_numpat(), numpat_before + 1)
        check.eq("PUBSUB CHANNELS pattern", client.pubsub_channels(pattern), [channel.encode()])
        subscriber = [c for c in client.client_list() if c.get("sub") == "1" and c.get("psub") == "1"
                      and c.get("cmd") == "psubscribe"]
        check.true("CLIENT LIST shows the subscriber", len(subscriber) >= 1)
        check.eq("CLIENT LIST subscriber flags", subscriber[0]["flags"], "P")

        # Channel and pattern both match: two deliveries, both counted.
        check.eq("PUBLISH receivers (channel + pattern)", client.publish(channel, "hello"), 2)
        expect_frame(ps, "message", check, "message", channel.encode(), b"hello")
        expect_frame(ps, "pmessage", check, "pmessage", channel.encode(), b"hello", pattern.encode())
        # Only the pattern matches.
        check.eq("PUBLISH receivers (pattern only)", client.publish(other, binary), 1)
        expect_frame(ps, "pmessage binary", check, "pmessage", other.encode(), binary, pattern.encode())
        # Large enough to take the server's shared-buffer path.
        big = os.urandom(64 * 1024)
        check.eq("PUBLISH 64 KiB", client.publish(channel, big), 2)
        expect_frame(ps, "message 64 KiB", check, "message", channel.encode(), big)
        expect_frame(ps, "pmessage 64 KiB", check, "pmessage", channel.encode(), big, pattern.encode())
        check.eq("PUBLISH without receivers", client.publish(f"{tag}-nobody", "x"), 0)

        # PING on the subscribed connection (RESP2: the ['pong', ''] form).
        ps.ping()
        expect_frame(ps, "PING while subscribed", check, "pong", None, b"")

        ps.punsubscribe(pattern)
        expect_frame(ps, "PUNSUBSCRIBE confirmation", check, "punsubscribe", pattern.encode(), 1)
        check.eq("PUBSUB NUMPAT after PUNSUBSCRIBE", client.pubsub_numpat(), numpat_before)
        ps.unsubscribe(channel)
        expect_frame(ps, "UNSUBSCRIBE confirmation", check, "unsubscribe", channel.encode(), 0)
        check.eq("PUBSUB NUMSUB after UNSUBSCRIBE", client.pubsub_numsub(channel), [(channel.encode(), 0)])
        check.eq("PUBLISH after UNSUBSCRIBE", client.publish(channel, "late"), 0)
    finally:
        ps.close()

    # INFO and CONFIG GET.
    everything = client.info()
    check.eq("INFO redis_version", everything.get("redis_version"), "7.0.15")
    check.true("INFO connected_clients >= 1", everything.get("connected_clients", 0) >= 1)
    maxclients = client.config_get("maxclients")
    check.eq("CONFIG GET maxclients agrees with INFO", maxclients, {"maxclients": str(everything["maxclients"])})
    config = client.config_get("save", "appendonly")
    check.eq("CONFIG GET names", sorted(config), ["appendonly", "save"])
    check.eq("CONFIG GET appendonly", config["appendonly"], "no")
    check.eq("CONFIG GET no match", client.config_get("no-such-parameter"), {})

    transactions(client, check, tag)

    if vimana:
        check.eq("HELLO server", hello[b"server"], b"vimana")
        check.eq("CLIENT LIST lib-name (CLIENT SETINFO)", mine[0].get("lib-name"), "redis-py")
        check.raises("SELECT 1", lambda: client.select(1), "DB index is out of range")
        check.eq("CONFIG GET save", config["save"], "")
        all_config = client.config_get("*")
        for key in ("bind", "port", "http-port", "maxclients", "proto-max-bulk-len", "proto-inline-max-size",
                    "query-buffer-before-auth", "client-output-buffer-limit", "requirepass", "save", "appendonly",
                    "databases", "timeout", "loglevel", "log-format"):
            check.true(f"CONFIG GET * has {key}", key in all_config, repr(sorted(all_config)))
        check.eq("CONFIG GET port agrees with INFO", all_config["port"], str(everything["tcp_port"]))
        check.raises("CONFIG SET of an immutable parameter is refused", lambda: client.config_set("port", 5),
                     "can't set immutable config")
        check.true("CONFIG SET notify-keyspace-events", client.config_set("notify-keyspace-events", "KEt"), "")
        check.eq("CONFIG GET notify-keyspace-events", client.config_get("notify-keyspace-events")["notify-keyspace-events"], "tKE")
        check.true("CONFIG SET notify-keyspace-events off", client.config_set("notify-keyspace-events", ""), "")
        section = client.info("pubsub")
        for key in ("pubsub_channels", "pubsub_patterns", "pubsub_pattern_subscriptions",
                    "messages_published", "messages_delivered", "slow_subscriber_disconnects"):
            check.true(f"INFO pubsub has {key}", isinstance(section.get(key), int), repr(section))
        # This run published 5 messages and made 5 deliveries (other clients may add more).
        published = section["messages_published"] - before["messages_published"]
        delivered = section["messages_delivered"] - before["messages_delivered"]
        check.true("INFO pubsub counts this run's 5 publishes and 5 deliveries",
                   published >= 5 and delivered >= 5, f"published {published}, delivered {delivered}")


def main():
    parser = argparse.ArgumentParser(description="redis-py compatibility checks for a Vimana server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7379)
    parser.add_argument("--password", help="the server's password (kernel.password, or Redis's requirepass)")
    args = parser.parse_args()

    check = Checker()
    suffix = os.urandom(4).hex()
    try:
        common = {"host": args.host, "port": args.port, "password": args.password, "socket_timeout": TIMEOUT}
        default = redis.Redis(**common)
        check.label = "setup"
        vimana = "vimana_version" in default.info("server")
        # The default client (redis-py 8: RESP3 through HELLO 3), then RESP2.
        for label, client, proto in (("resp3", default, 3), ("resp2", redis.Redis(protocol=2, **common), 2)):
            check.label = label
            exercise(client, proto, check, vimana, suffix)
            if vimana and args.password is not None:
                check.eq("CONFIG GET requirepass is masked", client.config_get("requirepass"),
                         {"requirepass": "(set; not shown)"})
                # redis-py turns NOAUTH at connect (HELLO 3, or the first
                # command in RESP2) into AuthenticationError; no retries, which
                # would only add seconds of back-off.
                check.raises("a client without the password is refused",
                             lambda: redis.Redis(host=args.host, port=args.port, protocol=proto, socket_timeout=TIMEOUT,
                                                 retry=Retry(NoBackoff(), 0)).ping(),
                             "authenticated" if proto == 3 else "Authentication required",
                             errors=(redis.AuthenticationError, redis.ResponseError))
            client.close()
    except Mismatch as e:
        print(f"{PROG}: FAIL {e}")
        return 1
    except redis.AuthenticationError as e:
        print(f"{PROG}: FAIL [{check.label}] authentication refused by {args.host}:{args.port} "
              f"(does the server need --password?): {e}")
        return 1
    except redis.ConnectionError as e:
        print(f"{PROG}: FAIL [{check.label}] cannot talk to {args.host}:{args.port}: {e}")
        return 1
    except Exception:
        print(f"{PROG}: FAIL [{check.label}] unexpected exception after {check.count} checks:")
        traceback.print_exc(file=sys.stdout)
        return 1
    server = "vimana" if vimana else "redis"
    auth = ", with a password" if args.password is not None else ""
    print(f"{PROG}: OK: {check.count} checks passed against {server} at {args.host}:{args.port}{auth} "
          f"(redis-py {redis.__version__}; clients: default RESP3, protocol=2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
