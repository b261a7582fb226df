import VimanaCore
import VimanaRESP
import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// INFO's words for every section Vimana has (Redis's `all`, `everything`, `default`).
enum InfoSectionGroup: String, Keyword {
    case all, everything, `default`
}

/// INFO [section ...]: Redis's `# Section` / `key:value` text.
extension Kernel {
    static let version = "0.1.0"
    static let defaultSections = InfoSection.defaults.map(\.rawValue)
    static let allSections = InfoSection.allCases.map(\.rawValue)

    func infoCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var wanted: [String] = []
        if args.count == 1 {
            wanted = Self.defaultSections
        } else {
            for i in 1..<args.count {
                if let group = args.keyword(i, as: InfoSectionGroup.self) {
                    wanted += group == .default ? Self.defaultSections : Self.allSections
                } else {
                    wanted.append(args.string(i).lowercased())
                }
            }
        }
        c.pointee.output.tail.writeVerbatim(infoText(sections: wanted), resp3: c.pointee.flags.contains(.resp3))
    }

    /// The INFO text for the named sections; unknown names are skipped, as
    /// Redis. The fields are the registry's (MetricRegistry.swift).
    func infoText(sections: [String]) -> String {
        var text = ""
        var seen = Set<String>()
        let reader = MetricReader(self)
        for name in sections where !seen.contains(name) {
            seen.insert(name)
            guard let section = InfoSection(rawValue: name) else { continue }
            if !text.isEmpty { text += "\r\n" }
            text += "# \(name.prefix(1).uppercased() + name.dropFirst())\r\n"
            for (k, v) in MetricRegistry.info(section, reader) { text += "\(k):\(v)\r\n" }
        }
        return text
    }

    /// Clients waiting in XREAD or XREADGROUP BLOCK (Redis's blocked_clients).
    var blockedClientCount: Int { blockedReaders.count }

    // MARK: - Process facts

    static func osName() -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ v: T) -> String {
            withUnsafeBytes(of: v) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    /// Bytes in use by the allocator (glibc mallinfo2).
    static func heapBytes() -> Int {
        Int(vimana_heap_bytes())
    }

    /// Resident set size from /proc/self/statm.
    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buffer, 127)
        guard n > 0 else { return 0 }
        let fields = buffer[0..<n].split(separator: 32)
        guard fields.count > 1, let pages = Decimal.parse(Array(fields[1])) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Redis's bytesToHuman: `1.50K`, `12.00M`.
    static func human(_ bytes: Int) -> String {
        let units: [(Int, String)] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (size, unit) in units where bytes >= size {
            let hundredths = (bytes * 100 + size / 2) / size
            let frac = hundredths % 100
            return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)\(unit)"
        }
        return "\(bytes)B"
    }
}

extension String {
    /// A non-negative number with two decimals, without Foundation.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let frac = hundredths % 100
        self = "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}
