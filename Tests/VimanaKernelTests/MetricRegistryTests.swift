import Foundation
import Testing
import VimanaTestSupport
@testable import VimanaKernel

/// INFO and /metrics are both rendered from one registry (MetricRegistry.swift).
/// A figure declared there and missing from a rendering, or rendered without
/// being declared (a line written by hand), or the two renderings disagreeing
/// on a counter, fails here.
@Suite struct MetricRegistryTests {
    /// An agent, so that the agent families appear (the ledger is on by
    /// default), and a user with a publish limit, so that the users' published
    /// figures do.
    static let config = """
        agents:
          - id: civic
            subscribes: ["tasks.civic"]
        users:
          - name: metered
            limits: {publish_rate: 1000}
        """

    @Test func everyFigureIsDeclaredOnceAndShownSomewhere() {
        var names = Set<String>()
        var fields: [InfoSection: Set<String>] = [:]
        for (id, m) in MetricRegistry.all {
            #expect(m.info != nil || m.family != nil, "\(id) is declared and shown nowhere")
            if let info = m.info {
                #expect(!info.sections.isEmpty, "\(id): an INFO field in no section")
                for section in info.sections {
                    #expect(fields[section, default: []].insert(info.field).inserted, "INFO \(section) has \(info.field) twice")
                }
            }
            if let f = m.family {
                #expect(names.insert(f.name).inserted, "\(f.name) declared twice")
                #expect(f.name.hasPrefix("vimana_") && f.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "\(f.name)")
                // Prometheus's naming rule: counters, and only they, end in _total.
                #expect(f.name.hasSuffix("_total") == (f.kind == .counter), "\(f.name) is a \(f.kind)")
                #expect(!f.help.isEmpty && !f.help.contains("\n"), "\(f.name)'s HELP")
            }
        }
        let exposed = MetricRegistry.exposition.map(\.id)
        #expect(Set(exposed).count == exposed.count, "a family exported twice: \(exposed)")
        #expect(Set(exposed) == Set(MetricRegistry.all.filter { $0.metric.family != nil }.map(\.id)))
    }

    /// A server with an agent and the ledger (so every family and every INFO
    /// field applies), some traffic, then INFO, /metrics and INFO again.
    @Test func infoAndMetricsShowExactlyTheRegistryAndAgreeAfterTraffic() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let subscriber = try RawClient(port: server.port)
        subscriber.send(command: "SUBSCRIBE", "news")
        #expect(subscriber.readReplies() == "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n")
        let c = try RawClient(port: server.port)
        c.send("PUBLISH news a\r\nPUBLISH news b\r\nPUBLISH news c\r\nPUBLISH nobody d\r\nXADD tasks.civic * payload x\r\n")
        let replies = c.readBeforePong()
        #expect(replies.hasPrefix(":1\r\n:1\r\n:1\r\n:0\r\n$"), "\(visible(replies))")

        let before = try Self.info(c)
        let metrics = try Self.metrics(server.httpPort)
        let after = try Self.info(c)

        // The agents' figures: every integer field of AGENTS is a family of
        // /metrics with the same value (no instance has joined: they hold still).
        c.send("AGENTS\r\n")
        guard case .array(let agents)? = RESPReader(c).next(timeout: 10), case .array(let civic)? = agents.first else {
            throw TestFailure("AGENTS gave no agent")
        }
        var agentFigures = 0
        for k in stride(from: 0, to: civic.count - 1, by: 2) {
            guard case .bulk(let field) = civic[k], case .integer(let value) = civic[k + 1] else { continue }
            let name = "vimana_agent_" + field.replacingOccurrences(of: "-", with: "_")
            let family = metrics.first { $0.name == name || $0.name == name + "_total" }
            #expect(family?.samples == ["agent=\"civic\"": Double(value)], "AGENTS \(field) \(value), /metrics \(String(describing: family))")
            agentFigures += 1
        }
        #expect(agentFigures == 9, "AGENTS: \(civic)")

        // INFO: the registry's sections and fields, in its order, and nothing else.
        #expect(before.map(\.section) == InfoSection.allCases.map(\.rawValue))
        for section in InfoSection.allCases {
            let shown = before.first { $0.section == section.rawValue }?.fields.map(\.name) ?? []
            // A declaration of lines (INFO `users`) stands for the fields with its prefix.
            let declared = MetricRegistry.all.flatMap { _, m -> [String] in
                // The server has no `federation:`: its figures are not shown (FederationWireTests shows them).
                guard let info = m.info, info.sections.contains(section), section != .federation else { return [] }
                if case .lines = m.read { return shown.filter { $0.hasPrefix(info.field) } }
                return [info.field]
            }
            #expect(shown == declared, "INFO \(section): shown \(shown), declared \(declared)")
        }
        // Every user, the agent's included, with its name escaped.
        #expect(before.first { $0.section == "users" }?.fields.map(\.name) == ["user_agent%3Acivic", "user_default", "user_metered"])

        // /metrics: the registry's families, in its order, each with its HELP
        // and TYPE and at least one series, and no line outside a family.
        let declared = MetricRegistry.exposition.compactMap { $0.metric.family }.filter { !$0.name.hasPrefix("vimana_federation_") }
        #expect(metrics.map(\.name) == declared.map(\.name))
        for f in declared {
            guard let family = metrics.first(where: { $0.name == f.name }) else {
                Issue.record("\(f.name) is declared and not served")
                continue
            }
            #expect(family.help == f.help, "\(f.name)'s HELP")
            #expect(family.type == f.kind.rawValue, "\(f.name)'s TYPE")
            #expect(!family.samples.isEmpty, "\(f.name) has no series")
        }

        // The same counter in both: /metrics (the sum of its series) lies
        // between the two INFO readings around it. Only INFO's own requests
        // move a counter between them, so most are equal outright.
        var compared = 0
        for (id, m) in MetricRegistry.all {
            guard let info = m.info, let f = m.family, f.kind == .counter, !info.sections.contains(.federation) else { continue }
            let section = info.sections[0].rawValue
            let first = before.value(section, info.field), second = after.value(section, info.field)
            let scraped = metrics.first { $0.name == f.name }?.total
            guard let first, let second, let scraped else {
                Issue.record("\(id): INFO \(info.field) \(String(describing: first)), /metrics \(f.name) \(String(describing: scraped))")
                continue
            }
            #expect(first <= scraped && scraped <= second, "\(id): INFO \(info.field) \(first) then \(second), /metrics \(f.name) \(scraped)")
            compared += 1
        }
        #expect(compared >= 15, "only \(compared) counters are in both")
        // The traffic counted, the same in both.
        // Four PUBLISH, and the XADD's entry, published on its topic too.
        #expect(before.value("pubsub", "messages_published") == 5)
        #expect(before.value("pubsub", "messages_delivered") == 3)
        #expect(metrics.first { $0.name == "vimana_messages_delivered_total" }?.samples == ["": 3])
        #expect((metrics.first { $0.name == "vimana_http_requests_total" }?.total ?? 0) >= 1, "the scrape itself")
        #expect(after.value("stats", "total_commands_processed") == before.value("stats", "total_commands_processed").map { $0 + 1 })
    }

    // MARK: - Reading the renderings

    struct Section {
        let section: String
        let fields: [(name: String, value: String)]
    }

    struct Family {
        let name: String
        var help = "", type = ""
        /// Each series' value by its labels (`agent="civic"`; "" for none).
        var samples: [String: Double] = [:]
        var total: Double { samples.values.reduce(0, +) }
    }

    static func info(_ c: RawClient) throws -> [Section] {
        c.send("INFO everything\r\n")
        guard case .bulk(let text)? = RESPReader(c).next(timeout: 10) else { throw TestFailure("INFO gave no bulk string") }
        var sections: [Section] = []
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            if line.hasPrefix("# ") {
                sections.append(Section(section: line.dropFirst(2).lowercased(), fields: []))
            } else if let colon = line.firstIndex(of: ":"), let last = sections.popLast() {
                let field = (String(line[..<colon]), String(line[line.index(after: colon)...]))
                sections.append(Section(section: last.section, fields: last.fields + [field]))
            } else {
                throw TestFailure("INFO line outside a section: \(line)")
            }
        }
        return sections
    }

    /// /metrics' families; a line that is not HELP, TYPE or a sample of the
    /// family just introduced fails.
    static func metrics(_ port: Int) throws -> [Family] {
        let c = try RawClient(port: port)
        c.send("GET /metrics HTTP/1.1\r\n\r\n")
        let reply = c.readToEnd()
        guard reply.hasPrefix("HTTP/1.1 200 OK\r\n"), let body = reply.components(separatedBy: "\r\n\r\n").last else {
            throw TestFailure("/metrics: \(reply)")
        }
        var families: [Family] = []
        for line in body.split(separator: "\n").map(String.init) {
            let words = line.split(separator: " ", maxSplits: 3).map(String.init)
            if words.count == 4, words[0] == "#", words[1] == "HELP" {
                families.append(Family(name: words[2], help: words[3]))
            } else if words.count == 4, words[0] == "#", words[1] == "TYPE", words[2] == families.last?.name,
                      families.last?.type == "" {
                families[families.count - 1].type = words[3]
            } else if let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]),
                      let family = families.last, !family.type.isEmpty,
                      line[..<space].prefix(while: { $0 != "{" }) == family.name {
                let labels = line[..<space].dropFirst(family.name.count)
                let key = labels.hasPrefix("{") && labels.hasSuffix("}") ? String(labels.dropFirst().dropLast()) : String(labels)
                families[families.count - 1].samples[key] = value
            } else {
                throw TestFailure("/metrics line outside its family's HELP and TYPE: \(line)")
            }
        }
        return families
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}

extension [MetricRegistryTests.Section] {
    func value(_ section: String, _ field: String) -> Double? {
        first { $0.section == section }?.fields.first { $0.name == field }.flatMap { Double($0.value) }
    }
}
