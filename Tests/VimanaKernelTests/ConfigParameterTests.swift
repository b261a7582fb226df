import Testing
import VimanaConfig
@testable import VimanaKernel

/// `notify-keyspace-events` as Redis 7.0's notify.c parses and prints it,
/// CONFIG SET's value parsers (Redis's memtoull and string2ll, with its
/// error texts), and the one table CONFIG GET, CONFIG SET and SIGHUP read.
@Suite struct ConfigParameterTests {
    // MARK: - notify-keyspace-events

    @Test func everyFlagLetterParsesAndAnythingElseIsRefused() {
        #expect(KeyspaceEvents(parsing: "") == [])
        #expect(KeyspaceEvents(parsing: "K") == .keyspace)
        #expect(KeyspaceEvents(parsing: "E") == .keyevent)
        #expect(KeyspaceEvents(parsing: "gt") == [.generic, .stream])
        #expect(KeyspaceEvents(parsing: "KEA") == KeyspaceEvents.all.union([.keyspace, .keyevent]))
        #expect(KeyspaceEvents(parsing: "Ag$lshzxeKEtmdn") == KeyspaceEvents(rawValue: ((1 << 15) - 1) & ~(1 << 12)))
        for bad in ["Q", "KEA ", " K", "k", "a", "G", "KE\n", "é"] {
            #expect(KeyspaceEvents(parsing: bad) == nil, "\(bad)")
        }
    }

    /// `A` is g$lshzxetd: neither `m` nor `n`; printed alone, so an `n`
    /// beside it is not echoed (Redis's keyspaceEventsFlagsToString).
    @Test func textIsRedisCanonicalForm() {
        func text(_ s: String) -> String? { KeyspaceEvents(parsing: s)?.text }
        #expect(text("KEA") == "AKE")
        #expect(text("EKA") == "AKE")
        #expect(text("Ag$lshzxetdnmKE") == "AKEm")
        #expect(text("tgK") == "gtK")
        #expect(text("nEtd") == "tdnE")
        #expect(text("mlsxe") == "lsxem")
        #expect(text("g$lshzxetd") == "A")
        #expect(text("g$lshzxet") == "g$lshzxet")
        #expect(text("") == "")
        #expect(text("x") == "x")
    }

    /// Published only when a class and at least one of K and E are on.
    @Test func publishesNeedsAClassAndAChannel() {
        #expect(KeyspaceEvents(parsing: "Kt")?.publishes(.stream) == true)
        #expect(KeyspaceEvents(parsing: "Et")?.publishes(.stream) == true)
        #expect(KeyspaceEvents(parsing: "t")?.publishes(.stream) == false)
        #expect(KeyspaceEvents(parsing: "KEg")?.publishes(.stream) == false)
        #expect(KeyspaceEvents(parsing: "KEA")?.publishes(.generic) == true)
        #expect(KeyspaceEvents(parsing: "KEA")?.publishes(.new) == false)
    }

    // MARK: - Values

    @Test func memoryValuesAsRedisMemtoull() {
        #expect(ConfigValue.memtoull("0") == 0)
        #expect(ConfigValue.memtoull("") == 0)
        #expect(ConfigValue.memtoull("mb") == 0)
        #expect(ConfigValue.memtoull("12") == 12)
        #expect(ConfigValue.memtoull("1b") == 1)
        #expect(ConfigValue.memtoull("1k") == 1000)
        #expect(ConfigValue.memtoull("1KB") == 1024)
        #expect(ConfigValue.memtoull("2m") == 2_000_000)
        #expect(ConfigValue.memtoull("2Mb") == 2 << 20)
        #expect(ConfigValue.memtoull("3g") == 3_000_000_000)
        #expect(ConfigValue.memtoull("3gb") == 3 << 30)
        #expect(ConfigValue.memtoull("99999999999999999999gb") == UInt64.max)
        for bad in ["-1", "1.5mb", "1 mb", " 1", "1xb", "1tb", "0x10", "+1"] {
            #expect(ConfigValue.memtoull(bad) == nil, "\(bad)")
        }
    }

    @Test func integerAndMemoryRefusalsAreRedisTexts() throws {
        func reason<T>(_ r: Result<T, ConfigValue.Refusal>) -> String? {
            if case .failure(let f) = r { return f.text }
            return nil
        }
        #expect(reason(ConfigValue.integer("abc", 0...10)) == "argument couldn't be parsed into an integer")
        #expect(reason(ConfigValue.integer("007", 0...10)) == "argument couldn't be parsed into an integer")
        #expect(reason(ConfigValue.integer("11", 0...10)) == "argument must be between 0 and 10 inclusive")
        #expect(reason(ConfigValue.integer("-1", 0...10)) == "argument must be between 0 and 10 inclusive")
        #expect(try ConfigValue.integer("10", 0...10).get() == 10)
        #expect(reason(ConfigValue.memory("1.5mb", 0...10)) == "argument must be a memory value")
        #expect(reason(ConfigValue.memory("1k", 0...10)) == "argument must be between 0 and 10 inclusive")
        #expect(reason(ConfigValue.memory("99999999999999999999gb", 0...Int.max))
                == "argument must be between 0 and 9223372036854775807 inclusive")
        #expect(reason(ConfigValue.boolean("maybe")) == "argument must be 'yes' or 'no'")
        #expect(try ConfigValue.boolean("YES").get() == true)
        #expect(reason(ConfigValue.oneOf("x", [("a", 1), ("b", 2)])) == "argument(s) must be one of the following: a, b")
    }

    // MARK: - The table

    /// Names are unique (aliases included) and lower case; every
    /// phoenix.yaml key a parameter stands for is one `changedKeys` knows;
    /// a parameter read back from a file is one CONFIG SET can set.
    @Test func tableIsConsistent() {
        let names = Kernel.configTable.flatMap { [$0.name] + $0.aliases }
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0 == $0.lowercased() })
        var changed = Configuration()
        changed.kernel.bind = "0.0.0.0"
        let known = Set(Configuration.comparedKeyNames)
        for p in Kernel.configTable {
            for key in p.keys { #expect(known.contains(key), "\(p.name): \(key)") }
            if p.fromFile != nil { #expect(p.set != nil, "\(p.name)") }
        }
        #expect(Kernel.configParameter("MAXCLIENTS")?.name == "maxclients")
        #expect(Kernel.configParameter("nope") == nil)
    }

    /// `changedKeys` names each key whose value differs, never a value.
    @Test func changedKeysNameEveryDifference() {
        let old = Configuration()
        var new = old
        #expect(new.changedKeys(from: old) == [])
        new.kernel.password = "s3cret"
        new.kernel.limits.maxClients = 5
        new.ledger.retentionMaxBytes = 1 << 30
        new.system.oracle.scanEntries = 11
        new.users = [UserConfig(name: "alice")]
        #expect(new.changedKeys(from: old) == ["kernel.password", "kernel.limits.max_clients", "ledger.retention.max_bytes",
                                               "users", "system.oracle"])
    }
}
