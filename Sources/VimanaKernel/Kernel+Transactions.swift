import VimanaCore
import VimanaRESP

/// MULTI, EXEC, DISCARD, WATCH and UNWATCH, as Redis 7.0 runs them: between
/// MULTI and EXEC commands are checked (name, arity, subcommand) and queued;
/// EXEC runs them back to back on the loop thread, so nothing else runs in
/// between, and answers one array of their replies. A WATCHed topic that
/// receives an entry before EXEC makes EXEC answer a null array instead.
extension Kernel {
    // MARK: - Commands

    func multiCommand(_ c: UnsafeMutablePointer<ClientState>) {
        // Not a queueing error: the transaction goes on (Redis does the same).
        if c.pointee.flags.contains(.multi) {
            c.pointee.output.tail.writeError(ErrorReply.nestedMulti)
            return
        }
        c.pointee.flags.insert(.multi)
        c.pointee.output.tail.append("+OK\r\n")
    }

    func execCommand(_ c: UnsafeMutablePointer<ClientState>) {
        guard c.pointee.flags.contains(.multi), let info = clientInfo(c.pointee.fd) else {
            c.pointee.output.tail.writeError(ErrorReply.execWithoutMulti)
            return
        }
        if c.pointee.flags.contains(.dirtyExec) {
            c.pointee.output.tail.writeError(ErrorReply.execAbortAfterErrors)
            discardTransaction(c)
            return
        }
        if c.pointee.flags.contains(.dirtyCAS) {
            c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3))
            discardTransaction(c)
            return
        }
        unwatchAll(c)
        // The queue stays until the end, as Redis's: CLIENT INFO run by the
        // transaction shows `flags=x` and `multi=` the queued count.
        let queued = info.transaction.commands
        // Where the reply starts in the output stream: if a queued command's
        // reply waits for the ledger (an XADD's), the whole array waits.
        let replyStart = c.pointee.flushedBytes &+ c.pointee.output.pendingBytes
        let holdsBefore = s.pointee.ledgerGate.holdCount(c)
        c.pointee.output.tail.writeArrayHeader(queued.count)
        for command in queued {
            command.withArguments { args in
                if permittedAtExec(c, command.command, args) {
                    call(c, s.pointee.commands.record(command.command), args, topLevel: false)
                }
            }
        }
        s.pointee.ledgerGate.restartHolds(c, from: holdsBefore, at: replyStart)
        info.transaction = TransactionQueue()
        c.pointee.flags.remove([.multi, .dirtyExec, .dirtyCAS])
    }

    func discardCommand(_ c: UnsafeMutablePointer<ClientState>) {
        guard c.pointee.flags.contains(.multi) else {
            c.pointee.output.tail.writeError(ErrorReply.discardWithoutMulti)
            return
        }
        discardTransaction(c)
        c.pointee.output.tail.append("+OK\r\n")
    }

    func watchCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        // Not a queueing error either: the transaction goes on.
        if c.pointee.flags.contains(.multi) {
            c.pointee.output.tail.writeError(ErrorReply.watchInsideMulti)
            return
        }
        guard let info = clientInfo(c.pointee.fd) else { return }
        for i in 1..<args.count {
            let topic = args.bytes(i)
            if info.watched.contains(topic) { continue }
            info.watched.append(topic)
            s.pointee.watches.add(c.pointee.fd, topic)
        }
        c.pointee.output.tail.append("+OK\r\n")
    }

    func unwatchCommand(_ c: UnsafeMutablePointer<ClientState>) {
        unwatchAll(c)
        c.pointee.flags.remove(.dirtyCAS)
        c.pointee.output.tail.append("+OK\r\n")
    }

    // MARK: - Queueing

    /// Copies a checked command into the transaction and answers QUEUED.
    /// A connection whose queue outgrows `KernelConstants.transactionLimit`
    /// is closed, as one whose query buffer does.
    func queueCommand(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) {
        guard let info = clientInfo(c.pointee.fd) else { return }
        info.transaction.append(command, args)
        if info.transaction.bytes > KernelConstants.transactionLimit(s.pointee.limits) {
            s.pointee.metrics.queryBufferDisconnects += 1
            log.warn("client closed: transaction queue limit",
                     ["id": .int(c.pointee.id), "bytes": .int(info.transaction.bytes),
                      "commands": .int(info.transaction.commands.count)])
            discardTransaction(c)
            markClose(c, reason: "transaction queue limit")
            return
        }
        c.pointee.output.tail.append("+QUEUED\r\n")
    }

    /// Checks a container command's subcommand and its arity at queue time,
    /// as Redis's command lookup does; replies the error and returns false
    /// when either fails.
    func subcommandQueueable(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) -> Bool {
        let spec = CommandTable.spec(command)
        if spec.subcommands.isEmpty { return true }
        // Refused as Redis refuses them before queueing: an error counted,
        // and a known subcommand's rejected call.
        guard let (index, sub) = CommandTable.subcommand(of: command, args, 1) else {
            let mark = c.pointee.flushedBytes &+ c.pointee.output.pendingBytes
            replyUnknownSubcommand(c, command, args)
            if let head = errorHead(c, mark) { s.pointee.stats.countError(head) }
            return false
        }
        if !CommandTable.arityOK(sub, args.count) {
            s.pointee.stats.slots[s.pointee.stats.slot(command.rawValue, index)].rejected &+= 1
            countError(ErrorReply.wrongArity(sub.name))
            c.pointee.output.tail.writeError(ErrorReply.wrongArity(sub.name))
            return false
        }
        return true
    }

    /// Forgets the queue, the transaction's flags and the watches
    /// (DISCARD, EXEC, a refused EXEC, RESET).
    func discardTransaction(_ c: UnsafeMutablePointer<ClientState>) {
        clientInfo(c.pointee.fd)?.transaction = TransactionQueue()
        c.pointee.flags.remove([.multi, .dirtyExec, .dirtyCAS])
        unwatchAll(c)
    }

    /// Redis's reply to an EXEC refused before it runs (arity, NOAUTH, RESP2
    /// subscribed context): `ErrorReply.execAbort`. The transaction goes.
    func refuseExec(_ c: UnsafeMutablePointer<ClientState>, _ refusal: String) {
        discardTransaction(c)
        c.pointee.output.tail.writeError(ErrorReply.execAbort(refusal))
    }

    // MARK: - Watches

    func unwatchAll(_ c: UnsafeMutablePointer<ClientState>) {
        guard let info = clientInfo(c.pointee.fd), !info.watched.isEmpty else { return }
        for topic in info.watched { s.pointee.watches.remove(c.pointee.fd, topic) }
        info.watched.removeAll()
    }

    /// A topic's stream changed (an entry was appended, or MKSTREAM created
    /// it): every connection watching it will see EXEC fail.
    func touchWatched(_ topic: UnsafeRawBufferPointer) {
        guard let fds = s.pointee.watches.watchers(topic) else { return }
        for fd in fds {
            s.pointee.client(fd)?.pointee.flags.insert(.dirtyCAS)
        }
    }
}

/// A MULTI block's commands, each a copy of its arguments (the read buffer
/// they arrived in is reused long before EXEC).
struct TransactionQueue {
    private(set) var commands: [QueuedCommand] = []
    /// Bytes of argument data queued, the measure the queue limit applies to.
    private(set) var bytes = 0

    mutating func append(_ command: Command, _ args: Arguments) {
        var storage: [UInt8] = []
        var slots: [Int] = []
        slots.reserveCapacity(args.count * 2)
        for i in 0..<args.count {
            slots.append(storage.count)
            slots.append(args.length(i))
            storage.append(contentsOf: args.buffer(i))
        }
        // The slot array and per-argument overhead count too, so a block of
        // many empty arguments is bounded as well.
        bytes = bytes.addingSaturating(storage.count.addingSaturating(args.count &* 16))
        commands.append(QueuedCommand(command: command, storage: storage, slots: slots))
    }
}

struct QueuedCommand {
    let command: Command
    let storage: [UInt8]
    let slots: [Int]

    /// `command` with `words` (its name first) as its arguments.
    init(_ command: Command, words: [[UInt8]]) {
        var storage: [UInt8] = []
        var slots: [Int] = []
        for word in words {
            slots += [storage.count, word.count]
            storage += word
        }
        self.init(command: command, storage: storage, slots: slots)
    }

    init(command: Command, storage: [UInt8], slots: [Int]) {
        self.command = command
        self.storage = storage
        self.slots = slots
    }

    /// Runs `body` with the queued arguments laid out as the parser's.
    func withArguments(_ body: (Arguments) -> Void) {
        var bytes = storage
        // An all-empty storage has no base address; any valid pointer will do
        // for arguments of length 0, but the name is never empty.
        if bytes.isEmpty { bytes.append(0) }
        bytes.withUnsafeMutableBufferPointer { b in
            slots.withUnsafeBufferPointer { sl in
                guard let base = b.baseAddress, let slotBase = sl.baseAddress else { return }
                body(Arguments(base: base, slots: slotBase, count: sl.count / 2))
            }
        }
    }
}

/// Which connections WATCH which topic. A connection's own list
/// (`ClientInfo.watched`) says what to remove when it unwatches or closes.
/// A `ByteTable`: every recorded append asks for its topic's watchers
/// while anyone watches, from the request bytes, without building a key.
struct WatchTable {
    private var byTopic = ByteTable<[Int32]>(slots: 16)

    var isEmpty: Bool { byTopic.isEmpty }

    mutating func add(_ fd: Int32, _ topic: [UInt8]) {
        topic.withUnsafeBytes { key in
            let (i, _) = byTopic.findOrInsert(key) { [] }
            byTopic[i].append(fd)
        }
    }

    mutating func remove(_ fd: Int32, _ topic: [UInt8]) {
        topic.withUnsafeBytes { key in
            guard let i = byTopic.index(forKey: key) else { return }
            byTopic[i].removeAll { $0 == fd }
            if byTopic[i].isEmpty { byTopic.remove(at: i) }
        }
    }

    func watchers(_ topic: UnsafeRawBufferPointer) -> [Int32]? {
        byTopic[topic]
    }

    /// Frees the table; it must not be used afterwards.
    mutating func release() { byTopic.release() }
}
