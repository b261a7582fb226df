import Testing
import VimanaCore
@testable import VimanaACL

/// The compiled patterns (`ACLPatternList`) the kernel checks per request:
/// each kind must answer exactly as the glob (Redis's stringmatchlen) does.
@Suite struct ACLPatternTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func matches(_ set: ACLPatternSet, _ string: [UInt8], access: UInt8 = 0) -> Bool {
        string.withUnsafeBytes { set.list.matches($0.baseAddress, string.count, access: access) }
    }

    @Test func kindsAreStringmatchlensShapes() {
        let cases: [(String, ACLPatternList.Kind)] = [
            ("abc", .literal), ("", .literal), ("a]b", .literal), ("a-b.c", .literal),
            ("abc*", .prefix), ("abc**", .prefix), ("a]*", .prefix),
            ("*", .any), ("***", .any),
            ("a*b", .glob), ("*abc", .glob), ("ab?", .glob), ("ab?*", .glob), ("a[bc]*", .glob), ("a\\*", .glob),
            ("a\\**", .glob), ("\\*", .glob), ("[*]", .glob), ("?", .glob), ("a*?", .glob), ("ab\\", .glob),
        ]
        for (pattern, kind) in cases { #expect(ACLPatternList.kind(of: Self.bytes(pattern)) == kind, "\(pattern)") }
    }

    /// Every pattern of every kind against strings chosen to sit on its
    /// edges, and the glob's answer: equal for each pair.
    @Test func everyKindAgreesWithTheGlob() {
        let patterns = ["ch", "ch*", "ch**", "*", "**", "", "c", "ch\\*", "ch?", "ch[a-z]*", "c*h", "\\ch", "ch\\",
                        "[", "ch[", "a]", "a]*", "ev.*", "ab*cd", "longer.than.eight.bytes*", "longer.than.eight.bytes"]
        var strings = ["", "c", "ch", "chx", "ch*", "ch\\*", "CH", "chan", "h", "cc", "ch\\", "[", "ch[", "a]", "a]x",
                       "ev.", "ev.a", "ev", "abcd", "abxcd", "longer.than.eight.bytes", "longer.than.eight.bytes.x",
                       "longer.than.eight.byteZ", "longer.than.eight"]
        strings.append(String(decoding: [0x63, 0x68, 0x00, 0xFF], as: UTF8.self))
        var binary: [[UInt8]] = strings.map(Self.bytes)
        binary.append([0x63, 0x68, 0x00, 0xFF])  // "ch" then NUL and a byte UTF-8 has not
        binary.append([0x00])
        binary.append([0xFF, 0x63, 0x68])
        var patternBytes = patterns.map(Self.bytes)
        patternBytes.append([0x63, 0x68, 0x00])   // a literal with a NUL
        patternBytes.append([0x63, 0x68, 0x00, 0x2A])  // its prefix form
        patternBytes.append([0xFF, 0x2A])
        for pattern in patternBytes {
            let set = ACLPatternSet([(pattern, ACLPatternList.read | ACLPatternList.write)])
            for string in binary {
                let glob = Glob.matches(pattern, string)
                #expect(Self.matches(set, string) == glob, "pattern \(pattern) string \(string): glob \(glob)")
            }
        }
    }

    /// Redis's `*` needs a byte (stringmatchlen("*", "") is 0), `&*` and
    /// `~*` are the flags, which grant the empty name too.
    @Test func starAndAllDifferOnTheEmptyString() {
        #expect(!Self.matches(ACLPatternSet([(Self.bytes("*"), 3)]), []))
        #expect(Self.matches(ACLPatternSet([(Self.bytes("*"), 3)]), Self.bytes("x")))
        #expect(Self.matches(ACLPatternSet([], all: true), []))
        #expect(Self.matches(ACLPatternSet([(Self.bytes("q"), 3)], all: true), Self.bytes("x")))
        #expect(Self.matches(ACLPatternSet([(Self.bytes(""), 3)]), []))
        #expect(!Self.matches(ACLPatternSet([]), []) && !Self.matches(ACLPatternSet([]), Self.bytes("x")))
        #expect(!Self.matches(ACLPatternSet([(Self.bytes("ab*"), 3)]), Self.bytes("a")))
        #expect(Self.matches(ACLPatternSet([(Self.bytes("ab*"), 3)]), Self.bytes("ab")))
    }

    /// The first pattern that matches is not always the answer: a later one may.
    @Test func laterPatternsAreTried() {
        let set = ACLPatternSet([(Self.bytes("a"), 3), (Self.bytes("b*"), 3), (Self.bytes("c?"), 3), (Self.bytes("*z"), 3)])
        for (s, expected) in [("a", true), ("bq", true), ("cx", true), ("xz", true), ("c", false), ("ab", false)] {
            #expect(Self.matches(set, Self.bytes(s)) == expected, "\(s)")
        }
    }

    /// `%R~` grants reads, `%W~` writes, `~` both; an access of neither
    /// (XLEN) is granted by any pattern that matches.
    @Test func keyPatternsGrantTheirAccess() throws {
        let user = try TestCatalogue.user("%R~r*", "%W~w*", "~b*", "%RW~rw")
        let set = ACLPatternSet(keysOf: user.root)
        let r = ACLPatternList.read, w = ACLPatternList.write
        let cases: [(String, UInt8, Bool)] = [
            ("r1", r, true), ("r1", w, false), ("r1", r | w, false), ("r1", 0, true),
            ("w1", r, false), ("w1", w, true), ("w1", r | w, false), ("w1", 0, true),
            ("b1", r, true), ("b1", w, true), ("b1", r | w, true), ("rw", r | w, true), ("x", 0, false),
        ]
        for (key, access, expected) in cases {
            #expect(Self.matches(set, Self.bytes(key), access: access) == expected, "\(key) \(access)")
            let model = key.utf8.withContiguousStorageIfAvailable { user.root.allowsKey(UnsafeRawBufferPointer($0), access: ACLKeyAccess(read: access & r != 0, write: access & w != 0)) }
            #expect(model == expected, "model \(key) \(access)")
        }
        #expect(ACLKeyAccess.read.bits == r && ACLKeyAccess.write.bits == w && ACLKeyAccess.none.bits == 0)
    }

    @Test func selectorsFlagsCompileToAll() throws {
        let user = try TestCatalogue.user("allkeys", "allchannels")
        #expect(Self.matches(ACLPatternSet(keysOf: user.root), [], access: 3))
        #expect(Self.matches(ACLPatternSet(channelsOf: user.root), []))
        let none = try TestCatalogue.user("resetkeys", "resetchannels")
        #expect(!Self.matches(ACLPatternSet(keysOf: none.root), Self.bytes("k")))
        #expect(!Self.matches(ACLPatternSet(channelsOf: none.root), Self.bytes("c")))
    }

    /// An argument with no address (an empty bulk) is the empty string.
    @Test func nilAddressIsEmpty() {
        // The list points into its set: the set must outlive each use.
        let empty = ACLPatternSet([(Self.bytes(""), 3)]), star = ACLPatternSet([(Self.bytes("*"), 3)])
        withExtendedLifetime((empty, star)) {
            #expect(empty.list.matches(nil, 0))
            #expect(!star.list.matches(nil, 0))
        }
        #expect(ACLPatternList.none.matches(nil, 0) == false)
    }
}
