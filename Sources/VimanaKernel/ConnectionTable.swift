/// Every open connection, indexed by file descriptor: the per-fd table that
/// is re-checked before every callback, so an fd closed earlier in the same
/// epoll batch is never touched. Each entry is one slot (`ClientState`)
/// holding both halves of a connection.
///
/// Promises: `insert` is the one place a slot is created and `remove` the
/// one place it is freed (its `deinit` closes the socket and frees the
/// buffers, the parser and the output queue); a slot does not move while it
/// lives, so the hot path keeps plain pointers to it. `~Copyable`: one value
/// owns the slots, and its `deinit` frees any still open.
struct ConnectionTable: ~Copyable {
    private var slots: UnsafeMutablePointer<UnsafeMutablePointer<ClientState>?>
    /// Number of fds the table covers: every fd below it is a valid index.
    private(set) var size: Int

    init(size: Int) {
        self.size = size
        slots = .allocate(capacity: size)
        slots.initialize(repeating: nil, count: size)
    }

    deinit {
        for i in 0..<size {
            if let c = slots[i] {
                c.deinitialize(count: 1)
                c.deallocate()
            }
        }
        slots.deallocate()
    }

    /// The connection on `fd`, or nil when none is open.
    @inline(__always)
    func client(_ fd: Int32) -> UnsafeMutablePointer<ClientState>? {
        fd >= 0 && Int(fd) < size ? slots[Int(fd)] : nil
    }

    /// The connection on an fd below `size`, or one the kernel stored itself
    /// while it was open (a subscriber list's): in range by construction, so
    /// not range-checked.
    @inline(__always)
    func client(known fd: Int32) -> UnsafeMutablePointer<ClientState>? {
        slots[Int(fd)]
    }

    /// Gives `connection` its slot (the table grows to cover its fd).
    mutating func insert(_ connection: consuming ClientState) -> UnsafeMutablePointer<ClientState> {
        let fd = Int(connection.fd)
        if fd >= size { grow(to: fd + 1) }
        let c = UnsafeMutablePointer<ClientState>.allocate(capacity: 1)
        c.initialize(to: connection)
        slots[fd] = c
        return c
    }

    /// Frees the slot of `fd`: closes the socket and frees everything the
    /// connection owns. No-op when none is open.
    mutating func remove(_ fd: Int32) {
        guard let c = client(fd) else { return }
        slots[Int(fd)] = nil
        c.deinitialize(count: 1)
        c.deallocate()
    }

    private mutating func grow(to need: Int) {
        var newSize = size
        while newSize < need { newSize *= 2 }
        let fresh = UnsafeMutablePointer<UnsafeMutablePointer<ClientState>?>.allocate(capacity: newSize)
        fresh.initialize(repeating: nil, count: newSize)
        fresh.update(from: slots, count: size)
        slots.deallocate()
        slots = fresh
        size = newSize
    }
}
