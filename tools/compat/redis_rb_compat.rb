#!/usr/bin/env ruby
# frozen_string_literal: true

# Drives a Vimana server with redis-rb (Debian's ruby-redis, 4.8), the way a
# Ruby application does, as named ACL users, and checks every answer.
#
#     tools/compat/redis_rb_compat.rb --host 127.0.0.1 --port 7379
#
# The server must declare these two users (the phoenix.yaml that
# CompatibilityTests gives the server; for redis-server 7.0 the same as
# `user` lines: `user rb-app on #23a1… -@all +@connection …`):
#
#     users:
#       - name: rb-app                # password rb-app-secret
#         password_hashes: ["23a17bf433f18631d90e48668fc5758cd477c51b6f5d79b30446f52014dd8b6e"]
#         permissions: ["-@all", "+@connection", "+publish", "+subscribe", "+psubscribe",
#                       "+unsubscribe", "+punsubscribe", "+xadd", "+xrange", "+acl|whoami",
#                       "&rb.*", "~rb.*"]
#       - name: rb-off                # password rb-off-secret, but off
#         enabled: false
#         password_hashes: ["1e284bd0e18a9372ed76dfe41ca109663fc89dec09f315ea46757d122491ac93"]
#
# and leave the `default` user as it is without users (nopass).
#
# redis-rb authenticates natively: Redis.new(username:, password:) sends
# `AUTH username password` on connect (RESP2; redis-rb 4 has no RESP3). The
# checks: ACL WHOAMI (Redis#call, redis-rb 4 has no acl method) names the
# user; PUBLISH to and SUBSCRIBE/PSUBSCRIBE on allowed channels deliver
# the message; XADD then XRANGE on an allowed key return the entry; a
# channel (PUBLISH, SUBSCRIBE), a key (XADD) and a command (XLEN) the user
# may not use raise Redis::CommandError with Redis's exact -NOPERM text,
# and the connection goes on as the same user; a wrong password, an
# unknown user and a disabled user raise -WRONGPASS (redis-rb then tries
# `AUTH password` for the default user, which a nopass default refuses, and
# raises the WRONGPASS); a client without credentials is `default`.
#
# Exit status 0 and one summary line when every check passes; 1 and a line
# `redis_rb_compat: FAIL what: got …, want …` at the first mismatch; 2 when
# the redis gem is missing or the arguments are wrong. The checks hold for
# redis-server 7.0 too, so running this against a real Redis shows that the
# script, not only the server, is right. Names carry a random suffix.

require "optparse"
require "securerandom"

begin
  require "redis"
rescue LoadError
  puts "redis_rb_compat: FAIL: ruby cannot load the 'redis' gem " \
       "(install it: apt-get install ruby-redis, or run tools/install-deps.sh test)"
  exit 2
end

PROG = "redis_rb_compat"
TIMEOUT = 5.0 # seconds to wait for any one reply or pub/sub frame
USER = "rb-app"
PASSWORD = "rb-app-secret"
OFF_USER = "rb-off"
OFF_PASSWORD = "rb-off-secret"
NOPERM_CHANNEL = "NOPERM this user has no permissions to access one of the channels used as arguments"
NOPERM_KEY = "NOPERM this user has no permissions to access one of the keys used as arguments"
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."

class Mismatch < StandardError; end

# Counts checks; raises Mismatch on the first failure.
class Checker
  attr_reader :count

  def initialize
    @count = 0
  end

  def eq(what, got, want)
    @count += 1
    raise Mismatch, "#{what}: got #{got.inspect}, want #{want.inspect}" unless got == want
  end

  # The block must raise Redis::CommandError whose message is exactly `text`.
  def refused(what, text)
    @count += 1
    begin
      value = yield
    rescue Redis::CommandError => e
      raise Mismatch, "#{what}: error #{e.message.inspect}, want #{text.inspect}" unless e.message == text
      return
    end
    raise Mismatch, "#{what}: got reply #{value.inspect}, want the error #{text.inspect}"
  end
end

options = { host: "127.0.0.1", port: 7379 }
begin
  OptionParser.new do |o|
    o.banner = "usage: #{$PROGRAM_NAME} --host H --port P"
    o.on("--host HOST") { |v| options[:host] = v }
    o.on("--port PORT", Integer) { |v| options[:port] = v }
  end.parse!
rescue OptionParser::ParseError => e
  warn "#{PROG}: #{e.message}"
  exit 2
end

def connect(options, **credentials)
  Redis.new(host: options[:host], port: options[:port], timeout: TIMEOUT, reconnect_attempts: 0, **credentials)
end

check = Checker.new
suffix = SecureRandom.hex(4)
channel = "rb.#{suffix}.ch"
stream = "rb.#{suffix}.stream"
begin
  app = connect(options, username: USER, password: PASSWORD)
  check.eq("PING as #{USER}", app.ping, "PONG")
  check.eq("ACL WHOAMI", app.call("ACL", "WHOAMI"), USER)

  # Publish and subscribe on allowed channels: a subscriber of its own (the
  # same user), the message published from `app` once the subscription is
  # confirmed, then UNSUBSCRIBE ends the loop.
  subscriber = connect(options, username: USER, password: PASSWORD)
  frames = []
  subscriber.subscribe_with_timeout(TIMEOUT, channel) do |on|
    on.subscribe do |name, count|
      frames << [:subscribe, name, count]
      check.eq("PUBLISH to a subscribed, allowed channel", app.publish(channel, "hello ruby"), 1)
    end
    on.message do |name, message|
      frames << [:message, name, message]
      subscriber.unsubscribe(channel)
    end
    on.unsubscribe { |name, count| frames << [:unsubscribe, name, count] }
  end
  check.eq("SUBSCRIBE: the frames received",
           frames, [[:subscribe, channel, 1], [:message, channel, "hello ruby"], [:unsubscribe, channel, 0]])

  # PSUBSCRIBE on the user's own channel pattern (Redis: literally one of them).
  frames = []
  subscriber.psubscribe_with_timeout(TIMEOUT, "rb.*") do |on|
    on.psubscribe do |pattern, count|
      frames << [:psubscribe, pattern, count]
      check.eq("PUBLISH to a channel the pattern matches", app.publish(channel, "by pattern"), 1)
    end
    on.pmessage do |pattern, name, message|
      frames << [:pmessage, pattern, name, message]
      subscriber.punsubscribe("rb.*")
    end
    on.punsubscribe { |pattern, count| frames << [:punsubscribe, pattern, count] }
  end
  check.eq("PSUBSCRIBE: the frames received",
           frames, [[:psubscribe, "rb.*", 1], [:pmessage, "rb.*", channel, "by pattern"], [:punsubscribe, "rb.*", 0]])

  # Streams on an allowed key.
  id = app.xadd(stream, { "order" => "1", "item" => "tea" })
  check.eq("XADD returns an ID", id.match?(/\A\d+-\d+\z/), true)
  check.eq("XRANGE returns the entry", app.xrange(stream), [[id, { "order" => "1", "item" => "tea" }]])

  # Refused: a channel, a key, a command; the connection stays this user's.
  check.refused("PUBLISH to a channel outside &rb.*", NOPERM_CHANNEL) { app.publish("other.#{suffix}", "x") }
  check.refused("SUBSCRIBE to a channel outside &rb.*", NOPERM_CHANNEL) do
    subscriber.subscribe_with_timeout(TIMEOUT, "other.#{suffix}") { |_on| nil }
  end
  check.refused("PSUBSCRIBE to a pattern that is not literally the user's", NOPERM_CHANNEL) do
    subscriber.psubscribe_with_timeout(TIMEOUT, "rb.#{suffix}.*") { |_on| nil }
  end
  check.refused("XADD to a key outside ~rb.*", NOPERM_KEY) { app.xadd("other.#{suffix}", { "x" => "1" }) }
  check.refused("XRANGE on a key outside ~rb.*", NOPERM_KEY) { app.xrange("other.#{suffix}") }
  check.refused("XLEN, a command the user was not given", "NOPERM this user has no permissions to run the 'xlen' command") do
    app.xlen(stream)
  end
  check.refused("CONFIG GET, a command the user was not given",
                "NOPERM this user has no permissions to run the 'config|get' command") { app.call("CONFIG", "GET", "save") }
  check.eq("ACL WHOAMI after the refusals", app.call("ACL", "WHOAMI"), USER)
  check.eq("ACL WHOAMI of the subscriber after its refusals", subscriber.call("ACL", "WHOAMI"), USER)
  check.eq("XRANGE still has the one entry", app.xrange(stream).length, 1)

  # Refused at connect.
  check.refused("a wrong password", WRONGPASS) { connect(options, username: USER, password: "wrong").ping }
  check.refused("a user that does not exist", WRONGPASS) { connect(options, username: "rb-nobody", password: PASSWORD).ping }
  check.refused("a disabled user with its right password", WRONGPASS) do
    connect(options, username: OFF_USER, password: OFF_PASSWORD).ping
  end

  # Without credentials: the default user.
  anonymous = connect(options)
  check.eq("ACL WHOAMI without credentials", anonymous.call("ACL", "WHOAMI"), "default")
  [app, subscriber, anonymous].each(&:close)
rescue Mismatch => e
  puts "#{PROG}: FAIL #{e.message}"
  exit 1
rescue Redis::BaseConnectionError => e
  puts "#{PROG}: FAIL after #{check.count} checks: cannot talk to #{options[:host]}:#{options[:port]}: " \
       "#{e.class}: #{e.message}"
  exit 1
rescue StandardError => e
  puts "#{PROG}: FAIL after #{check.count} checks: unexpected #{e.class}: #{e.message}"
  puts e.backtrace.first(8)
  exit 1
end
puts "#{PROG}: OK: #{check.count} checks passed at #{options[:host]}:#{options[:port]} " \
     "(redis-rb #{Redis::VERSION}, ruby #{RUBY_VERSION}; users #{USER}, #{OFF_USER})"
