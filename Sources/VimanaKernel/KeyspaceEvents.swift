/// `notify-keyspace-events`: which keyspace notifications are published,
/// as Redis 7.0's flags (server.h's NOTIFY_*), parsed and printed as
/// Redis's notify.c does. Of the event classes only `g` (generic) and `t`
/// (stream) ever fire here, topics being the only keys; the others are
/// kept, so that CONFIG GET echoes what was set exactly as Redis does.
struct KeyspaceEvents: OptionSet, Equatable {
    let rawValue: Int

    /// `K`: publish on `__keyspace@0__:<key>`, the event as the message.
    static let keyspace = KeyspaceEvents(rawValue: 1 << 0)
    /// `E`: publish on `__keyevent@0__:<event>`, the key as the message.
    static let keyevent = KeyspaceEvents(rawValue: 1 << 1)
    /// `g`: DEL, EXPIRE, RENAME… (for topics: DEL, UNLINK).
    static let generic = KeyspaceEvents(rawValue: 1 << 2)
    static let string = KeyspaceEvents(rawValue: 1 << 3)
    static let list = KeyspaceEvents(rawValue: 1 << 4)
    static let set = KeyspaceEvents(rawValue: 1 << 5)
    static let hash = KeyspaceEvents(rawValue: 1 << 6)
    static let zset = KeyspaceEvents(rawValue: 1 << 7)
    static let expired = KeyspaceEvents(rawValue: 1 << 8)
    static let evicted = KeyspaceEvents(rawValue: 1 << 9)
    /// `t`: the stream commands (XADD, XGROUP …, XSETID, XDEL, XTRIM).
    static let stream = KeyspaceEvents(rawValue: 1 << 10)
    static let keyMiss = KeyspaceEvents(rawValue: 1 << 11)
    static let loaded = KeyspaceEvents(rawValue: 1 << 12)
    static let module = KeyspaceEvents(rawValue: 1 << 13)
    static let new = KeyspaceEvents(rawValue: 1 << 14)
    /// `A`: Redis 7.0's NOTIFY_ALL, "g$lshzxetd" (not `m`, not `n`).
    static let all: KeyspaceEvents = [.generic, .string, .list, .set, .hash, .zset, .expired, .evicted, .stream, .module]

    /// The letters Redis's error names, in its order.
    static let letters = "Ag$lshzxeKEtmdn"

    /// Redis's keyspaceEventsStringToFlags: every character one flag; nil
    /// when any is not a flag letter (a space included). "" is no flags.
    init?(parsing text: String) {
        var flags: KeyspaceEvents = []
        for ch in text.utf8 {
            switch ch {
            case UInt8(ascii: "A"): flags.formUnion(.all)
            case UInt8(ascii: "g"): flags.insert(.generic)
            case UInt8(ascii: "$"): flags.insert(.string)
            case UInt8(ascii: "l"): flags.insert(.list)
            case UInt8(ascii: "s"): flags.insert(.set)
            case UInt8(ascii: "h"): flags.insert(.hash)
            case UInt8(ascii: "z"): flags.insert(.zset)
            case UInt8(ascii: "x"): flags.insert(.expired)
            case UInt8(ascii: "e"): flags.insert(.evicted)
            case UInt8(ascii: "K"): flags.insert(.keyspace)
            case UInt8(ascii: "E"): flags.insert(.keyevent)
            case UInt8(ascii: "t"): flags.insert(.stream)
            case UInt8(ascii: "m"): flags.insert(.keyMiss)
            case UInt8(ascii: "d"): flags.insert(.module)
            case UInt8(ascii: "n"): flags.insert(.new)
            default: return nil
            }
        }
        self = flags
    }

    init(rawValue: Int) { self.rawValue = rawValue }

    /// Redis's keyspaceEventsFlagsToString: `A` when every class of `all`
    /// is on (and then no other class letter, `n` included), else each
    /// class in Redis's order; then `K`, `E`, `m`.
    var text: String {
        var out = ""
        if isSuperset(of: .all) {
            out = "A"
        } else {
            let classes: [(KeyspaceEvents, String)] = [
                (.generic, "g"), (.string, "$"), (.list, "l"), (.set, "s"), (.hash, "h"), (.zset, "z"),
                (.expired, "x"), (.evicted, "e"), (.stream, "t"), (.module, "d"), (.new, "n"),
            ]
            for (flag, letter) in classes where contains(flag) { out += letter }
        }
        if contains(.keyspace) { out += "K" }
        if contains(.keyevent) { out += "E" }
        if contains(.keyMiss) { out += "m" }
        return out
    }

    /// True when an event of `type` is published anywhere: its class is on
    /// and at least one of `K` and `E` (Redis publishes nothing otherwise).
    @inline(__always)
    func publishes(_ type: KeyspaceEvents) -> Bool {
        !isDisjoint(with: type) && !isDisjoint(with: [.keyspace, .keyevent])
    }
}
