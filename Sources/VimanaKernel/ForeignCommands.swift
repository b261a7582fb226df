import VimanaRESP

/// Redis's commands for the key types Vimana does not keep (strings,
/// hashes, lists, sets, sorted sets, bitmaps, HyperLogLogs, geo): a Redis
/// user tries them, and deserves Redis's answer where Redis has one, and
/// otherwise a reason rather than "unknown command". Checked in Redis's
/// order: the arity (Redis 7.0.15's), NOAUTH, RESP2's subscribed state;
/// then WRONGTYPE when the command's first key (argument 1) is a topic the
/// user may name, as Redis answers for a stream key, else the design error
/// (`ErrorReply.onlyStreams`). A command that would replace a key in Redis
/// (SET, MSET, a STORE destination) answers WRONGTYPE too: a topic is never
/// replaced. Looked up only for names the command table does not have, so
/// no hot path pays for it; none of them is in the table, COMMAND, or ACL.
struct ForeignCommand {
    let name: String
    /// Redis's arity (n exactly, -n at least).
    let arity: Int
    /// What Redis calls its key type, for the error.
    let kind: String
    /// Argument 1 is a key Redis checks the type of (false: MGET, whose
    /// reply has nil for a key of another type, and the commands whose
    /// first argument is a count of keys).
    let keyed: Bool

    private static func f(_ name: String, _ arity: Int, _ keyed: Bool = true) -> (String, Int, Bool) { (name, arity, keyed) }

    private static let groups: [(String, [(String, Int, Bool)])] = [
        ("string", [
            f("append", 3), f("decr", 2), f("decrby", 3), f("get", 2), f("getdel", 2), f("getex", -2), f("getrange", 4),
            f("getset", 3), f("incr", 2), f("incrby", 3), f("incrbyfloat", 3), f("lcs", -3), f("mget", -2, false), f("mset", -3),
            f("msetnx", -3), f("psetex", 4), f("set", -3), f("setex", 4), f("setnx", 3), f("setrange", 4), f("strlen", 2),
            f("substr", 4),
        ]),
        ("bitmap", [
            f("bitcount", -2), f("bitfield", -2), f("bitfield_ro", -2), f("bitpos", -3), f("getbit", 3), f("setbit", 4),
        ]),
        ("hyperloglog", [
            f("pfadd", -2), f("pfcount", -2), f("pfmerge", -2),
        ]),
        ("hash", [
            f("hdel", -3), f("hexists", 3), f("hget", 3), f("hgetall", 2), f("hincrby", 4), f("hincrbyfloat", 4), f("hkeys", 2),
            f("hlen", 2), f("hmget", -3), f("hmset", -4), f("hrandfield", -2), f("hscan", -3), f("hset", -4), f("hsetnx", 4),
            f("hstrlen", 3), f("hvals", 2),
        ]),
        ("list", [
            f("blmove", 6), f("blmpop", -5, false), f("blpop", -3), f("brpop", -3), f("brpoplpush", 4), f("lindex", 3),
            f("linsert", 5), f("llen", 2), f("lmove", 5), f("lmpop", -4, false), f("lpop", -2), f("lpos", -3), f("lpush", -3),
            f("lpushx", -3), f("lrange", 4), f("lrem", 4), f("lset", 4), f("ltrim", 4), f("rpop", -2), f("rpoplpush", 3),
            f("rpush", -3), f("rpushx", -3),
        ]),
        ("set", [
            f("sadd", -3), f("scard", 2), f("sdiff", -2), f("sdiffstore", -3), f("sinter", -2), f("sintercard", -3, false),
            f("sinterstore", -3), f("sismember", 3), f("smembers", 2), f("smismember", -3), f("smove", 4), f("spop", -2),
            f("srandmember", -2), f("srem", -3), f("sscan", -3), f("sunion", -2), f("sunionstore", -3),
        ]),
        ("sorted set", [
            f("bzmpop", -5, false), f("bzpopmax", -3), f("bzpopmin", -3), f("zadd", -4), f("zcard", 2), f("zcount", 4),
            f("zdiff", -3, false), f("zdiffstore", -4), f("zincrby", 4), f("zinter", -3, false), f("zintercard", -3, false),
            f("zinterstore", -4), f("zlexcount", 4), f("zmpop", -4, false), f("zmscore", -3), f("zpopmax", -2), f("zpopmin", -2),
            f("zrandmember", -2), f("zrange", -4), f("zrangebylex", -4), f("zrangebyscore", -4), f("zrangestore", -5),
            f("zrank", 3), f("zrem", -3), f("zremrangebylex", 4), f("zremrangebyrank", 4), f("zremrangebyscore", 4),
            f("zrevrange", -4), f("zrevrangebylex", -4), f("zrevrangebyscore", -4), f("zrevrank", 3), f("zscan", -3),
            f("zscore", 3), f("zunion", -3, false), f("zunionstore", -4),
        ]),
        ("geo", [
            f("geoadd", -5), f("geodist", -4), f("geohash", -2), f("geopos", -2), f("georadius", -6), f("georadius_ro", -6),
            f("georadiusbymember", -5), f("georadiusbymember_ro", -5), f("geosearch", -7), f("geosearchstore", -8),
        ]),
    ]

    /// Every such command by its lower-case name.
    static let byName: [String: ForeignCommand] = {
        var table: [String: ForeignCommand] = [:]
        for (kind, commands) in groups {
            for (name, arity, keyed) in commands { table[name] = ForeignCommand(name: name, arity: arity, kind: kind, keyed: keyed) }
        }
        return table
    }()

    /// The command named by argument 0, in any case.
    static func named(_ args: Arguments) -> ForeignCommand? {
        guard args.length(0) <= longestName else { return nil }
        return byName[args.string(0).lowercased()]
    }

    static let longestName = 24

    func arityOK(_ argc: Int) -> Bool { arity > 0 ? argc == arity : argc >= -arity }
}

extension Kernel {
    /// Answers a command of another key type (`ForeignCommand`) and
    /// returns true, or false when the name is not one.
    func answerForeignCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) -> Bool {
        guard let command = ForeignCommand.named(args) else { return false }
        flagTransaction(c)
        let error: String
        if !command.arityOK(args.count) {
            error = ErrorReply.wrongArity(command.name)
        } else if !c.pointee.flags.contains(.authenticated) {
            error = ErrorReply.noAuth
        } else if c.pointee.isSubscribed && !c.pointee.flags.contains(.resp3) {
            error = ErrorReply.notAllowedWhileSubscribed(command.name)
        } else if command.keyed && isKey(args, 1) && mayNameKey(c, args, 1) {
            error = ErrorReply.wrongType
        } else {
            error = ErrorReply.onlyStreams(command.name, kind: command.kind)
        }
        c.pointee.output.tail.writeError(error)
        return true
    }

    /// Whether the user may name argument `i` as a key with no particular
    /// access (EXISTS's check): a WRONGTYPE tells no more than EXISTS would.
    func mayNameKey(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, _ i: Int) -> Bool {
        if c.pointee.flags.contains(.allKeys) { return true }
        return Self.mayName(args.pointer(i), args.length(i), admin: c.pointee.flags.contains(.admin))
            && c.pointee.info.user.allowsKey(UnsafeRawBufferPointer(args.buffer(i)), access: .none)
    }
}
