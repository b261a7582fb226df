import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaConfig

/// The publisher: the user whose connection published or appended an
/// entry, kept in its ledger record (Protocol/LEDGER.md §3), pushed with
/// every task (Protocol/AGENTS.md §3) and shown to Redis clients that ask
/// (CLIENT PUBLISHER, Protocol/PROTOCOL.md §6). Only the kernel names it:
/// nothing a client sends (a field, a client name) can; XADD refuses a
/// field of that name.
extension Kernel {
    /// The field a connection with CLIENT PUBLISHER ON sees last in every
    /// stream entry: its value is the entry's publisher.
    static let publisherField: [UInt8] = Array("_publisher".utf8)

    /// XADD's refusal of a field named `_publisher`: a reader must be able
    /// to trust every `_publisher` it sees to be the kernel's.
    static let publisherFieldReserved = "ERR the field name '_publisher' is reserved: the kernel adds it, naming "
        + "each entry's publisher, to entries read with CLIENT PUBLISHER ON"

    /// True when one of XADD's field names (every other argument from
    /// `first`) is `_publisher`: one length compare per field on the common path.
    @inline(__always)
    static func namesPublisherField(_ args: Arguments, fieldsFrom first: Int) -> Bool {
        var i = first
        while i < args.count {
            if args.length(i) == publisherField.count && args.buffer(i).elementsEqual(publisherField) { return true }
            i &+= 2
        }
        return false
    }

    /// Calls `body` with the name of the user connection `c` is
    /// authenticated as (`default` until AUTH): what its PUBLISH and XADD
    /// records carry.
    @inline(__always)
    func withPublisherName<R>(_ c: UnsafeMutablePointer<ClientState>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        c.pointee.info.userHandle.nameBytes.withUnsafeBytes(body)
    }

    /// The name a built-in agent publishes its results as: `agent:<id>`
    /// (Protocol/AGENTS.md §8). Built-in agents run inside the kernel, with
    /// no connection and so no user of their own; the prefix is one no
    /// user may take, so nobody can publish as a built-in.
    public func publisherName(agent id: String) -> [UInt8] { Array((AgentConfig.madeUserPrefix + id).utf8) }

    /// CLIENT PUBLISHER ON|OFF: whether this connection's stream replies
    /// carry each entry's publisher as a last `_publisher` field, and its
    /// pub/sub messages the publisher as a last element (Kernel+PubSub.swift).
    func clientPublisher(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        switch args.keyword(2, as: OnOff.self) {
        case .on: c.pointee.flags.insert(.showPublisher)
        case .off: c.pointee.flags.remove(.showPublisher)
        case nil:
            c.pointee.output.tail.writeError(ErrorReply.syntax)
            return
        }
        c.pointee.output.tail.append("+OK\r\n")
    }
}

/// Who published a message, for the subscribers that see it (CLIENT
/// PUBLISHER ON): the publishing connection, whose user's name is looked up
/// only when such a subscriber receives the message, or the name the kernel
/// publishes as (`appendEntry`: built-in agents, dead letters). Trivial, so
/// handing it down the fan-out costs no reference counting.
struct MessagePublisher {
    private let client: UnsafeMutablePointer<ClientState>?
    private let name: UnsafeRawBufferPointer

    init(_ c: UnsafeMutablePointer<ClientState>) {
        client = c
        name = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// `name` must stay valid until the message is delivered (`publish` returns).
    init(named name: UnsafeRawBufferPointer) {
        client = nil
        self.name = name
    }

    /// Calls `body` with the name's bytes (a valid pointer also for an empty name).
    func withName<R>(_ body: (UnsafeRawPointer, Int) -> R) -> R {
        if let client {
            return client.pointee.info.userHandle.nameBytes.withUnsafeBytes { b in
                b.baseAddress.map { body($0, b.count) } ?? Self.withEmpty(body)
            }
        }
        return name.baseAddress.map { body($0, name.count) } ?? Self.withEmpty(body)
    }

    private static func withEmpty<R>(_ body: (UnsafeRawPointer, Int) -> R) -> R {
        var none: UInt8 = 0
        return withUnsafePointer(to: &none) { body(UnsafeRawPointer($0), 0) }
    }
}

/// CLIENT PUBLISHER's argument (as Redis's CLIENT NO-EVICT and NO-TOUCH).
enum OnOff: String, Keyword {
    case on, off
}
