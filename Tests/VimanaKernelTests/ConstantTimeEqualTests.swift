import Testing
@testable import VimanaKernel

/// The password comparison: equal only when the bytes and the lengths are,
/// whatever the lengths (a difference of 256 once folded to nothing).
@Suite struct ConstantTimeEqualTests {
    let password = Array("secret".utf8)

    @Test func theSamePasswordIsEqual() {
        #expect(Kernel.constantTimeEqual(password, password))
        #expect(Kernel.constantTimeEqual([], []))
    }

    @Test(arguments: [1, 255, 256, 512, 65536])
    func thePasswordFollowedByNULsIsNot(_ n: Int) {
        #expect(!Kernel.constantTimeEqual(password, password + [UInt8](repeating: 0, count: n)), "\(n) NULs")
    }

    @Test func prefixesAndOtherBytesAreNot() {
        #expect(!Kernel.constantTimeEqual(password, Array("secre".utf8)))
        #expect(!Kernel.constantTimeEqual(password, []))
        #expect(!Kernel.constantTimeEqual([], [0]))
        #expect(!Kernel.constantTimeEqual(password, Array("secreT".utf8)))
        #expect(!Kernel.constantTimeEqual(Array("secret".utf8) + [UInt8](repeating: 0, count: 256), password))
    }
}
