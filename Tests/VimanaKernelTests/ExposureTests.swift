import Testing
@testable import VimanaKernel

/// Protected mode's decision and the HTTP bearer-token check, edge by edge
/// (the wire tests are ProtectedModeTests and HTTPTokenTests).
@Suite struct ExposureTests {
    // MARK: - Protected mode

    @Test func onlyExactly127001IsServedWithoutAPassword() {
        let refused: [UInt32?] = [0x7F00_0002, 0x7FFF_FFFF, 0xC633_6407, 0x0A00_0001, 0, nil]
        for peer in refused {
            #expect(Kernel.protectedModeRefuses(peer: peer, protectedMode: true, defaultUserHasPassword: false),
                    "peer \(peer.map(Kernel.dottedQuad) ?? "unknown")")
        }
        #expect(!Kernel.protectedModeRefuses(peer: 0x7F00_0001, protectedMode: true, defaultUserHasPassword: false))
    }

    @Test func aPasswordOrProtectedModeOffServesEveryone() {
        for peer: UInt32? in [0xC633_6407, nil, 0x7F00_0001] {
            #expect(!Kernel.protectedModeRefuses(peer: peer, protectedMode: true, defaultUserHasPassword: true))
            #expect(!Kernel.protectedModeRefuses(peer: peer, protectedMode: false, defaultUserHasPassword: false))
        }
    }

    @Test func addressesPrintAsDottedQuads() {
        #expect(Kernel.dottedQuad(0x7F00_0001) == "127.0.0.1")
        #expect(Kernel.dottedQuad(0xC633_6407) == "198.51.100.7")
    }

    // MARK: - Bearer token

    static let token = "0123456789abcdef0123456789abcdef"

    func head(_ headers: String) -> ArraySlice<UInt8> {
        Array(("GET /metrics HTTP/1.1\r\nHost: x\r\n" + headers).utf8)[...]
    }

    @Test func theRightTokenIsAccepted() {
        for header in ["Authorization: Bearer \(Self.token)\r\n", "authorization:bearer \(Self.token)\r\n",
                       "AUTHORIZATION:   BEARER\t\(Self.token)  \r\n", "Authorization: Bearer \(Self.token)\n"] {
            #expect(Kernel.httpAuthorized(head: head(header), token: Self.token), "\(header.debugDescription)")
        }
    }

    @Test func anythingElseIsRefused() {
        for header in ["", "Authorization: Bearer\r\n", "Authorization: Bearer \r\n", "Authorization: Basic \(Self.token)\r\n",
                       "Authorization: Bearer\(Self.token)\r\n", "Authorization: Bearer \(Self.token)x\r\n",
                       "Authorization: Bearer \(Self.token.dropLast())\r\n", "Authorization: Bearer \(Self.token) x\r\n",
                       "X-Authorization: Bearer \(Self.token)\r\n", "Authorization : Bearer \(Self.token)\r\n"] {
            #expect(!Kernel.httpAuthorized(head: head(header), token: Self.token), "\(header.debugDescription)")
        }
        // The request line is not a header, whatever it holds.
        let inPath = Array("GET /Authorization: Bearer \(Self.token) HTTP/1.1\r\n".utf8)[...]
        #expect(!Kernel.httpAuthorized(head: inPath, token: Self.token))
    }

    @Test func theFirstAuthorizationHeaderDecides() {
        let right = "Authorization: Bearer \(Self.token)\r\n", wrong = "Authorization: Bearer nope-nope-nope-nope\r\n"
        #expect(Kernel.httpAuthorized(head: head(right + wrong), token: Self.token))
        #expect(!Kernel.httpAuthorized(head: head(wrong + right), token: Self.token))
    }

    @Test func withoutATokenEveryRequestIsServed() {
        #expect(Kernel.httpAuthorized(head: head(""), token: nil))
        #expect(Kernel.httpAuthorized(head: head("Authorization: Bearer whatever\r\n"), token: nil))
    }
}
