import VimanaLedger

/// One task timer: when a pending task is next due, on the monotonic clock.
public struct TaskTimer {
    /// Monotonic milliseconds.
    public var due: Int64
    /// Push order: timers due at the same time come out in it (a leaving
    /// instance's tasks are given back in ID order and go out again so).
    var order: UInt64
    public let group: ConsumerGroup
    public let id: StreamID
    /// What the task's pending entry said when the timer was set (its
    /// delivery time for an ack_wait, its eligibility for a task given
    /// back): a timer whose entry has since changed is stale.
    public let stamp: Int64
}

/// Task timers in due order: a binary min-heap, so that finding what is due
/// costs what is due, not what is pending. It times what no instance holds:
/// tasks given back, and tasks read by Redis clients (XREADGROUP).
///
/// Timers are not removed when their task moves on (acknowledged, delivered
/// again, touched by PROGRESS): the owner recognises a stale one by its
/// `stamp` when it comes out. So that stale timers cannot pile up (an
/// instance acknowledging fast behind one that holds a task for minutes),
/// a push that finds the heap at `compactAt` drops the stale ones first and
/// sets the next limit at twice what is left: O(1) amortized per push.
public struct TimerHeap {
    public private(set) var timers: [TaskTimer] = []
    private var pushed: UInt64 = 0
    private var compactAt = TimerHeap.compactionFloor

    /// Below this many timers, dropping stale ones costs more than keeping
    /// them (each check is a binary search of a pending list).
    static let compactionFloor = 64

    public init() {}

    public var count: Int { timers.count }

    /// When the earliest timer is due (it may be stale); nil when there is none.
    public var earliest: Int64? { timers.first?.due }

    /// Adds a timer; `isLive` tells the stale from the live when the heap
    /// is compacted.
    public mutating func push(due: Int64, group: ConsumerGroup, id: StreamID, stamp: Int64,
                              isLive: (TaskTimer) -> Bool) {
        if timers.count >= compactAt {
            timers.removeAll { !isLive($0) }
            heapify()
            compactAt = max(Self.compactionFloor, 2 * timers.count)
        }
        pushed &+= 1
        timers.append(TaskTimer(due: due, order: pushed, group: group, id: id, stamp: stamp))
        siftUp(timers.count - 1)
    }

    /// Removes and returns the earliest timer if it is due by `now`.
    public mutating func popDue(now: Int64) -> TaskTimer? {
        guard let first = timers.first, first.due <= now else { return nil }
        let last = timers.removeLast()
        if !timers.isEmpty {
            timers[0] = last
            siftDown(0)
        }
        return first
    }

    // MARK: - Heap order

    private func before(_ a: Int, _ b: Int) -> Bool {
        timers[a].due < timers[b].due || (timers[a].due == timers[b].due && timers[a].order < timers[b].order)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard before(i, parent) else { return }
            timers.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var least = i
            if l < timers.count && before(l, least) { least = l }
            if r < timers.count && before(r, least) { least = r }
            guard least != i else { return }
            timers.swapAt(i, least)
            i = least
        }
    }

    private mutating func heapify() {
        var i = timers.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }
}

/// A task an agent instance holds, and when its ack_wait ends.
public struct HeldTask {
    public let group: ConsumerGroup
    public let id: StreamID
    /// Monotonic milliseconds.
    public var due: Int64
}

/// The tasks an instance holds, in the order their ack_wait ends: delivery
/// order, as ack_wait is one per agent (PROGRESS moves a task to the back).
/// At most `prefetch` of them; acknowledgements mostly come in delivery
/// order, so the one to remove is mostly the first, taken off in O(1).
public struct HeldTasks {
    private var items: [HeldTask] = []
    /// Items before `head` have left.
    private var head = 0

    public init() {}

    public var count: Int { items.count - head }
    /// The one whose ack_wait ends first.
    public var first: HeldTask? { head < items.count ? items[head] : nil }
    /// All of them, first to last.
    public var all: ArraySlice<HeldTask> { items[head...] }

    mutating func append(_ task: HeldTask) { items.append(task) }

    /// Removes the task; false when it was not there.
    @discardableResult
    mutating func remove(_ group: ConsumerGroup, _ id: StreamID) -> Bool {
        guard let k = index(group, id) else { return false }
        if k == head {
            head += 1
            // Reclaim the prefix once it is most of the array.
            if head == items.count || head >= Self.reclaimAfter && head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
        } else {
            items.remove(at: k)
        }
        return true
    }

    /// Moves the task to the back with a new deadline (PROGRESS).
    mutating func restart(_ group: ConsumerGroup, _ id: StreamID, due: Int64) {
        guard remove(group, id) else { return }
        items.append(HeldTask(group: group, id: id, due: due))
    }

    /// Removes every task of `group`.
    mutating func removeAll(of group: ConsumerGroup) {
        items.removeFirst(head)
        head = 0
        items.removeAll { $0.group === group }
    }

    /// Departed items kept before the array is shifted: shifting a long
    /// array for every acknowledgement would cost O(prefetch) each.
    static let reclaimAfter = 32

    private func index(_ group: ConsumerGroup, _ id: StreamID) -> Int? {
        var k = head
        while k < items.count {
            if items[k].id == id && items[k].group === group { return k }
            k += 1
        }
        return nil
    }
}
