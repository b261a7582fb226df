/// The clients blocked in XREAD or XREADGROUP BLOCK: per topic, in the order
/// they blocked, and by deadline.
///
/// Why this shape: with 9,000 clients blocked, each XADD stalled the loop
/// for 5.7 s (issue 9), growing with the square of their number. Now an
/// append marks its topic (one lookup), the loop pass walks that topic's
/// waiters once, oldest first (Redis serves them in that order), and
/// timeouts come off a heap instead of a walk of every blocked client per
/// pass.
///
/// Promises: `add`, `remove` and `wake` are O(1) amortised (`add` and a
/// timed `remove` O(log n)); a client is listed once by `takeReady` however
/// many of its topics were woken; a removed client is never listed again.
/// Queues and the heap drop removed clients lazily, when walked or once
/// they are more than half stale, so their memory stays proportional to
/// the clients blocked now.
struct BlockedReaders {
    private struct Waiter {
        var token: UInt64
        var topics: [[UInt8]]
        /// Monotonic ns; 0: no deadline.
        var deadline: Int64
    }

    private struct Ticket {
        var fd: Int32
        var token: UInt64
    }

    private struct Queue {
        var tickets: [Ticket] = []
        /// Tickets of clients still blocked (the rest are stale).
        var live = 0
        var ready = false
    }

    private struct Deadline {
        var at: Int64
        var ticket: Ticket
    }

    private var waiters: [Int32: Waiter] = [:]
    private var queues: [[UInt8]: Queue] = [:]
    private var readyTopics: [[UInt8]] = []
    /// Min-heap on `at`.
    private var deadlines: [Deadline] = []
    private var timedLive = 0
    private var nextToken: UInt64 = 1

    /// Clients blocked now (INFO's `blocked_clients`).
    var count: Int { waiters.count }
    var isEmpty: Bool { waiters.isEmpty }
    /// Whether an append woke a topic since the last `takeReady`.
    var hasReady: Bool { !readyTopics.isEmpty }
    /// The topics the last `takeReady` found woken (a woken reader is
    /// served for them only, as Redis serves a reader for the key made ready).
    private(set) var woken: [[UInt8]] = []
    /// The fds of the clients blocked now, in no particular order.
    var fds: [Int32] { Array(waiters.keys) }

    /// Blocks `fd` on `topics` until `deadline` (monotonic ns; 0: none).
    /// A client already blocked is first removed.
    mutating func add(_ fd: Int32, topics: [[UInt8]], deadline: Int64) {
        remove(fd)
        let ticket = Ticket(fd: fd, token: nextToken)
        nextToken &+= 1
        waiters[fd] = Waiter(token: ticket.token, topics: topics, deadline: deadline)
        for topic in topics {
            queues[topic, default: Queue()].tickets.append(ticket)
            queues[topic]?.live += 1
        }
        if deadline != 0 {
            timedLive += 1
            push(Deadline(at: deadline, ticket: ticket))
        }
    }

    /// Forgets `fd` (served, timed out or closed); nothing when not blocked.
    mutating func remove(_ fd: Int32) {
        guard let w = waiters.removeValue(forKey: fd) else { return }
        for topic in w.topics {
            guard var q = queues.removeValue(forKey: topic) else { continue }
            q.live -= 1
            if q.live == 0 && !q.ready { continue }  // dropped with its stale tickets
            if q.tickets.count > 2 * q.live + 16 { q.tickets.removeAll { !isLive($0) } }
            queues[topic] = q
        }
        if w.deadline != 0 { timedLive -= 1 }
        if timedLive == 0 {
            deadlines.removeAll()
        } else if deadlines.count > 2 * timedLive + 64 {
            rebuildHeap()
        }
    }

    /// Notes an append to `topic`: its waiters are listed by the next `takeReady`.
    mutating func wake(_ topic: UnsafeRawBufferPointer) {
        let name = Array(topic)
        guard queues[name]?.ready == false else { return }
        queues[name]?.ready = true
        readyTopics.append(name)
    }

    /// The clients waiting on the topics woken since the last call, each
    /// once: per topic in the order they blocked, topics in the order woken.
    /// They stay blocked until `remove`d.
    mutating func takeReady() -> [Int32] {
        let topics = readyTopics
        woken = topics
        readyTopics.removeAll()
        var out: [Int32] = []
        var listed = Set<Int32>()
        for topic in topics {
            guard var q = queues.removeValue(forKey: topic) else { continue }
            q.ready = false
            q.tickets.removeAll { !isLive($0) }
            for t in q.tickets where topics.count == 1 || listed.insert(t.fd).inserted { out.append(t.fd) }
            if q.live > 0 { queues[topic] = q }
        }
        return out
    }

    /// The clients whose deadline is at or before `now`, earliest first.
    /// They stay blocked until `remove`d.
    mutating func takeExpired(now: Int64) -> [Int32] {
        var out: [Int32] = []
        while let top = deadlines.first, top.at <= now {
            popTop()
            if isLive(top.ticket) { out.append(top.ticket.fd) }
        }
        return out
    }

    /// The earliest deadline (monotonic ns), or 0 when none. May be one of
    /// a client no longer blocked: the loop then wakes early, once.
    var nextDeadline: Int64 { deadlines.first?.at ?? 0 }

    // MARK: - Storage

    private func isLive(_ t: Ticket) -> Bool { waiters[t.fd]?.token == t.token }

    private mutating func push(_ d: Deadline) {
        deadlines.append(d)
        var i = deadlines.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if deadlines[parent].at <= deadlines[i].at { break }
            deadlines.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func popTop() {
        let last = deadlines.removeLast()
        guard !deadlines.isEmpty else { return }
        deadlines[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < deadlines.count && deadlines[l].at < deadlines[m].at { m = l }
            if r < deadlines.count && deadlines[r].at < deadlines[m].at { m = r }
            if m == i { return }
            deadlines.swapAt(i, m)
            i = m
        }
    }

    private mutating func rebuildHeap() {
        let live = waiters
        deadlines.removeAll { live[$0.ticket.fd]?.token != $0.ticket.token }
        var i = deadlines.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }
}
