import Testing
@testable import VimanaKernel
#if canImport(Glibc)
import Glibc
#endif

/// A connection's slot owns its socket: freeing the slot closes it, and so
/// does freeing the table with the slot still in it. Seen from the other
/// end of a socket pair, which reads end-of-file only once every copy of
/// the descriptor is closed (so a reused descriptor number cannot fool it).
@Suite struct ConnectionTableTests {
    /// Both ends of a local stream socket pair, non-blocking.
    static func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return (fds[0], fds[1])
    }

    /// True when `fd` reads end-of-file now: its peer is closed.
    static func peerClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    static func slot(_ fd: Int32) -> ClientState {
        ClientState(fd: fd, id: 1, flags: [], maxPayload: 1 << 20, maxInline: 64 << 10,
                    info: ClientInfo(address: "a", localAddress: "b", createdMillis: 0, user: Users.unrestrictedDefault()),
                    nowMillis: 0)
    }

    @Test func removingASlotClosesItsSocket() {
        let (a, b) = Self.socketPair()
        defer { close(b) }
        var table = ConnectionTable(size: 1)  // the fd is past the end: the table grows
        let c = table.insert(Self.slot(a))
        #expect(table.size > Int(a))
        #expect(table.client(a) == c)
        #expect(c.pointee.info.address == "a")
        #expect(!Self.peerClosed(b))
        table.remove(a)
        #expect(table.client(a) == nil)
        #expect(Self.peerClosed(b))
    }

    @Test func freeingTheTableClosesTheSocketsStillOpen() {
        let (a, b) = Self.socketPair()
        defer { close(b) }
        do {
            var table = ConnectionTable(size: 4)
            _ = table.insert(Self.slot(a))
            #expect(!Self.peerClosed(b))
        }
        #expect(Self.peerClosed(b))
    }
}
