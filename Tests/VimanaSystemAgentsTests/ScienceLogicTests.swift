import Foundation
import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// science's logic as functions: records folded into buckets, checkpoints
/// folded into the state, and the queries' answers from it.
@Suite struct ScienceLogicTests {
    let settings = ScienceSettings(bucketSeconds: 60, retentionSeconds: 3600)
    var logic: ScienceLogic { ScienceLogic(settings: settings) }
    /// 2023-11-14T22:13:20Z, a bucket boundary (1_700_000_000 is not: 1_699_999_980 is).
    let t0: Int64 = 1_699_999_980

    func record(_ seq: UInt64, _ topic: String, _ publisher: String, _ bytes: Int, at seconds: Int64) -> ScienceRecord {
        ScienceRecord(sequence: seq, topic: topic, id: "\(seconds * 1000)-\(seq)", publisher: publisher, bytes: bytes,
                      micros: seconds * 1_000_000)
    }

    func request(_ action: String, _ args: [String: JSON] = [:], atSeconds s: Int64) -> AgentRequest {
        AgentRequest(action: action, id: 1, replyTo: "r", args: args, entryID: "\(s * 1000)-0")
    }

    /// The records of the tests: two topics, two publishers, three buckets.
    var records: [ScienceRecord] {
        [record(1, "orders", "alice", 10, at: t0), record(2, "orders", "bob", 100, at: t0 + 1),
         record(3, "orders", "alice", 1000, at: t0 + 61), record(4, "audit", "bob", 5, at: t0 + 62),
         record(5, "_vimana.groups", "", 50, at: t0 + 62), record(6, "orders", "alice", 20, at: t0 + 125)]
    }

    /// The state a scanner reaches, and the events it wrote on the way.
    func scanned(_ pages: [[ScienceRecord]], now: Int64) -> (ScienceState, [AgentEvent]) {
        var a = ScienceAggregator(settings: settings, state: ScienceState())
        var events: [AgentEvent] = []
        for page in pages {
            a.ingest(page, cursor: (page.last?.sequence ?? 0) + 1, skipped: 0, nowMillis: now * 1000)
            events.append(a.checkpoint(nowMillis: now * 1000))
        }
        return (a.state, events)
    }

    /// `handle` for caller x, the kernel allowing every ACL DRYRUN the request reads.
    func allowed(_ r: AgentRequest, state: ScienceState) -> AgentOutcome {
        var replies: [KernelRead: RESPValue] = [:]
        for read in logic.reads(for: r, caller: "x", state: state) where read.arguments.prefix(2) == ["ACL", "DRYRUN"] {
            replies[read] = .simpleString("OK")
        }
        return logic.handle(r, caller: "x", state: state, kernel: KernelView(replies))
    }

    /// The answers are the ledger's metadata: topics only to a caller that
    /// may run LEDGER SCAN, topic_stats also to one that may read the topic.
    @Test func answersGoOnlyToCallersTheKernelWouldLetSeeThem() {
        let (state, _) = scanned([records], now: t0 + 130)
        let no: RESPValue = .bulkString(Array("User x has no permissions to run the 'ledger|scan' command".utf8))
        let noRead: RESPValue = .bulkString(Array("No permissions to access the 'orders' key".utf8))
        let topics = request("topics", atSeconds: t0 + 130)
        #expect(logic.handle(topics, caller: "x", state: state, kernel: KernelView([CallerRights.scan("x"): no])).reply
                == .error(code: "forbidden", message: "x may not see every topic (topics needs what LEDGER SCAN needs): "
                          + "User x has no permissions to run the 'ledger|scan' command"))
        #expect(logic.handle(topics, caller: "x", state: state).reply
                == .error(code: "unavailable", message: "no answer to ACL DRYRUN from the kernel"))
        let stats = request("topic_stats", ["topic": "orders"], atSeconds: t0 + 130)
        #expect(logic.reads(for: stats, caller: "x", state: state) == [CallerRights.scan("x"), CallerRights.read("x", "orders")])
        guard case .ok(let v) = logic.handle(stats, caller: "x", state: state,
                                             kernel: KernelView([CallerRights.scan("x"): no, CallerRights.read("x", "orders"): .simpleString("OK")])).reply else {
            Issue.record("topic_stats with the right to read the topic was refused")
            return
        }
        #expect(v["messages"] == 4)
        #expect(logic.handle(stats, caller: "x", state: state,
                             kernel: KernelView([CallerRights.scan("x"): no, CallerRights.read("x", "orders"): noRead])).reply
                == .error(code: "forbidden", message: "x may not read orders: No permissions to access the 'orders' key"))
    }

    func folded(_ events: [AgentEvent]) -> ScienceState {
        var s = ScienceState()
        for e in events { logic.apply(e, to: &s) }
        return s
    }

    /// A snapshot (Protocol/AGENTS.md §10) holds the whole state: restored,
    /// it is the state, and a later checkpoint folds onto it as onto the original.
    @Test func aSnapshotIsTheWholeStateAndLaterCheckpointsFoldOntoIt() throws {
        let (state, _) = scanned([Array(records.prefix(3)), Array(records.suffix(3))], now: t0 + 130)
        let text = try #require(logic.snapshot(of: state))
        var restored = try #require(logic.state(fromSnapshot: text))
        #expect(restored == state && restored.cursor == 7 && restored.topics["orders"]?.count == 3)
        var a = ScienceAggregator(settings: settings, state: state)
        a.ingest([record(7, "orders", "carol", 7, at: t0 + 126)], cursor: 8, skipped: 0, nowMillis: (t0 + 131) * 1000)
        let next = a.checkpoint(nowMillis: (t0 + 131) * 1000)
        var original = state
        logic.apply(next, to: &original)
        logic.apply(next, to: &restored)
        #expect(restored == original && restored.cursor == 8)
        // A snapshot that is not one is refused, not half read.
        #expect(logic.state(fromSnapshot: #"{"cursor":"x"}"#) == nil)
        #expect(logic.state(fromSnapshot: #"{"buckets":[{"topic":"t"}],"checkpoints":1,"cursor":"1","skipped":"0","time":0,"untracked":"0"}"#) == nil)
    }

    @Test func sizeClassesAreExactBelow32AndWithinASixteenthAbove() {
        for v in 0..<32 { #expect(SizeHistogram.upperBound(SizeHistogram.sizeClass(v)) == v) }
        for v in [32, 33, 47, 100, 1000, 4095, 4096, 65_537, 1 << 40, Int.max / 3] {
            let k = SizeHistogram.sizeClass(v), upper = SizeHistogram.upperBound(k)
            #expect(upper >= v && Double(upper - v) <= Double(v) / 16, "\(v) -> class \(k) up to \(upper)")
            #expect(k == 0 || SizeHistogram.upperBound(k - 1) < v)
        }
        #expect(SizeHistogram.upperBound(SizeHistogram.sizeClass(Int.max)) == Int.max)
    }

    @Test func percentilesByNearestRankCappedAtTheMax() {
        var h = SizeHistogram()
        for v in 1...100 { h.add(v) }
        // Ranks 50, 90, 99 of 1…100: classes are 2 wide from 32 to 63, 4 wide from 64 to 127.
        #expect(h.percentile(50, max: 100) == 51)
        #expect(h.percentile(90, max: 100) == 91)
        #expect(h.percentile(99, max: 100) == 99)
        #expect(h.percentile(100, max: 100) == 100)
        #expect(SizeHistogram().percentile(50, max: 0) == 0)
        var one = SizeHistogram()
        one.add(1000)
        #expect(one.percentile(50, max: 1000) == 1000)
    }

    @Test func recordsAreCountedPerTopicBucketAndPublisherInternalTopicsLeftOut() {
        let (state, _) = scanned([records], now: t0 + 130)
        #expect(state.cursor == 7)
        #expect(state.topics.keys.sorted() == ["audit", "orders"])
        let orders = state.topics["orders"] ?? [:]
        #expect(orders.keys.sorted() == [t0, t0 + 60, t0 + 120])
        #expect(orders[t0]?.messages == 2 && orders[t0]?.bytes == 110 && orders[t0]?.publishers == ["alice": 1, "bob": 1])
        #expect(orders[t0]?.firstID == "\(t0 * 1000)-1" && orders[t0]?.lastID == "\((t0 + 1) * 1000)-2")
        #expect(orders[t0 + 60]?.maxBytes == 1000)
    }

    @Test func rebuildFromTheEventsEqualsTheLiveState() {
        let pages = [Array(records.prefix(2)), Array(records.dropFirst(2).prefix(3)), Array(records.suffix(1))]
        let (live, events) = scanned(pages, now: t0 + 130)
        #expect(folded(events) == live)
        // And the answers from either are the same.
        let r = request("topic_stats", ["topic": "orders", "window": 3600], atSeconds: t0 + 130)
        #expect(allowed(r, state: folded(events)) == allowed(r, state: live))
    }

    @Test func aCheckpointAppliedTwiceOrLateCountsOnce() {
        let pages = [Array(records.prefix(3)), Array(records.suffix(3))]
        let (live, events) = scanned(pages, now: t0 + 130)
        #expect(folded(events + events) == live)
        #expect(folded([events[0], events[1], events[0]]) == live)
        // A second scanner from the same events: whole values, not increments.
        var again = ScienceAggregator(settings: settings, state: folded([events[0]]))
        again.ingest(Array(records.suffix(3)), cursor: 7, skipped: 0, nowMillis: (t0 + 130) * 1000)
        let repeated = again.checkpoint(nowMillis: (t0 + 130) * 1000)
        #expect(folded(events + [repeated]) == live)
        // Records before the cursor are never counted again.
        var late = ScienceAggregator(settings: settings, state: live)
        late.ingest(records, cursor: 7, skipped: 0, nowMillis: (t0 + 130) * 1000)
        #expect(late.state == live && late.dirty.isEmpty)
    }

    @Test func topicsFollowsTheContractWithScribe() {
        var recs = records
        // Eleven publishers on orders: ten listed, by messages then name.
        for k in 0..<11 { recs.append(record(UInt64(10 + k), "orders", "p\(k)", 1, at: t0 + 126)) }
        recs.append(record(30, "orders", "p3", 1, at: t0 + 126))
        let (state, _) = scanned([recs], now: t0 + 130)
        let reply = allowed(request("topics", atSeconds: t0 + 130), state: state)
        guard case .ok(let result) = reply.reply else { Issue.record("\(reply)"); return }
        #expect(result["window"] == 3600)
        let topics = result["topics"]?.arrayValue ?? []
        #expect(topics.map { $0["topic"]?.string } == ["audit", "orders"])
        #expect(topics[0] == ["topic": "audit", "messages": 1, "bytes": 5, "publishers": [["publisher": "bob", "messages": 1]]])
        let publishers = topics[1]["publishers"]?.arrayValue ?? []
        #expect(publishers.count == 10)
        #expect(publishers.prefix(4).map { $0["publisher"]?.string } == ["alice", "p3", "bob", "p0"])
        #expect(publishers.first?["messages"] == 3 && topics[1]["messages"] == 16)
        // Default window is an hour; an argument outside the contract is refused.
        guard case .error(let code, _) = allowed(request("topics", ["window": 0], atSeconds: t0), state: state).reply,
              case .error(let code2, _) = allowed(request("topics", ["limit": 1], atSeconds: t0), state: state).reply else {
            Issue.record("bad arguments accepted")
            return
        }
        #expect(code == "bad_argument" && code2 == "bad_argument")
    }

    @Test func windowEdgesCountWholeBucketsOverlappingTheWindow() {
        let (state, _) = scanned([records], now: t0 + 130)
        func messages(_ window: Int64, at now: Int64) -> Int64? {
            let r = allowed(request("topic_stats", ["topic": "orders", "window": .int(window)], atSeconds: now), state: state)
            guard case .ok(let v) = r.reply else { return nil }
            return v["messages"]?.int
        }
        // At t0+130 (in the bucket t0+120): a window of 10 s reaches back to t0+120: that bucket only.
        #expect(messages(10, at: t0 + 130) == 1)
        // 11 s reaches t0+119, in the bucket t0+60: it counts whole.
        #expect(messages(11, at: t0 + 130) == 2)
        #expect(messages(70, at: t0 + 130) == 2)
        #expect(messages(71, at: t0 + 130) == 4)
        // A window longer than the retention is answered for the retention.
        let r = allowed(request("topics", ["window": 999_999], atSeconds: t0 + 130), state: state)
        guard case .ok(let v) = r.reply else { Issue.record("\(r)"); return }
        #expect(v["window"] == 3600)
    }

    @Test func topicStatsGivesRatesPercentilesAndFirstAndLast() {
        let (state, _) = scanned([records], now: t0 + 130)
        let r = allowed(request("topic_stats", ["topic": "orders", "window": 200], atSeconds: t0 + 130), state: state)
        guard case .ok(let v) = r.reply else { Issue.record("\(r)"); return }
        #expect(v["messages"] == 4 && v["bytes"] == 1130 && v["rate"] == .double(0.02))
        #expect(v["size"] == ["p50": 20, "p90": 1000, "p99": 1000, "max": 1000])
        #expect(v["first"] == ["id": .string("\(t0 * 1000)-1"), "time_ms": .int(t0 * 1000)])
        #expect(v["last"] == ["id": .string("\((t0 + 125) * 1000)-6"), "time_ms": .int((t0 + 125) * 1000)])
        #expect(v["publishers"] == [["publisher": "alice", "messages": 3], ["publisher": "bob", "messages": 1]])
        let none = allowed(request("topic_stats", ["topic": "nothing"], atSeconds: t0 + 130), state: state)
        guard case .ok(let n) = none.reply else { Issue.record("\(none)"); return }
        #expect(n["messages"] == 0 && n["first"] == .null && n["size"]?["p99"] == 0)
    }

    @Test func oldBucketsArePrunedAndOldRecordsNotCounted() {
        var a = ScienceAggregator(settings: settings, state: ScienceState())
        a.ingest(records, cursor: 7, skipped: 3, nowMillis: (t0 + 130) * 1000)
        _ = a.checkpoint(nowMillis: (t0 + 130) * 1000)
        // An hour later only the bucket t0+120 is within the retention.
        a.ingest([record(8, "orders", "alice", 1, at: t0 + 10)], cursor: 9, skipped: 0, nowMillis: (t0 + 3600 + 121) * 1000)
        let event = a.checkpoint(nowMillis: (t0 + 3600 + 121) * 1000)
        #expect(a.state.topics["orders"]?.keys.sorted() == [t0 + 120])
        #expect(a.state.topics["audit"] == nil)
        #expect(a.state.untracked == 1 && a.state.skipped == 3 && a.state.cursor == 9)
        var s = ScienceState()
        logic.apply(AgentEvent("checkpoint", ["cursor": "7", "time": String((t0 + 130) * 1000),
                                              "buckets": "[]"]), to: &s)
        logic.apply(event, to: &s)
        #expect(s.cursor == 9 && s.untracked == 1 && s.skipped == 3)
    }

    @Test func aCheckpointIsDueOnlyForOtherTopicsOrAMovedCursor() {
        var a = ScienceAggregator(settings: settings, state: ScienceState(), ownTopic: "events.science")
        #expect(!a.wantsCheckpoint(due: true))
        a.ingest([record(1, "events.science", "agent:science", 300, at: t0)], cursor: 2, skipped: 0, nowMillis: t0 * 1000)
        // Its own checkpoint's record alone does not call for another.
        #expect(!a.wantsCheckpoint(due: true))
        a.ingest([record(2, "orders", "alice", 3, at: t0)], cursor: 3, skipped: 0, nowMillis: t0 * 1000)
        #expect(!a.wantsCheckpoint(due: false) && a.wantsCheckpoint(due: true))
        _ = a.checkpoint(nowMillis: t0 * 1000)
        a.ingest([], cursor: 10, skipped: 7, nowMillis: t0 * 1000)
        #expect(a.wantsCheckpoint(due: true))
    }

    @Test func rewoundSetsTheCursorBack() {
        var a = ScienceAggregator(settings: settings, state: ScienceState())
        a.ingest(records, cursor: 7, skipped: 0, nowMillis: (t0 + 130) * 1000)
        let c = a.checkpoint(nowMillis: (t0 + 130) * 1000)
        let r = a.rewind(to: 4, nowMillis: (t0 + 131) * 1000)
        #expect(folded([c, r]).cursor == 4 && a.state.cursor == 4)
    }

    @Test func statusSaysHowFarBehindTheLedgersEndScienceIs() {
        var a = ScienceAggregator(settings: settings, state: ScienceState())
        a.ingest(records, cursor: 7, skipped: 2, nowMillis: (t0 + 130) * 1000)
        _ = a.checkpoint(nowMillis: (t0 + 130) * 1000)
        let r = request("status", atSeconds: t0 + 131)
        #expect(logic.reads(for: r, caller: "x", state: a.state) == [ScienceLogic.ledgerEnd])
        let end: RESPValue = .map([(.bulkString(Array("cursor".utf8)), .bulkString(Array("10".utf8))),
                                   (.bulkString(Array("end".utf8)), .integer(10))])
        guard case .ok(let v) = logic.handle(r, caller: "x", state: a.state, kernel: KernelView([ScienceLogic.ledgerEnd: end])).reply,
              case .ok(let refused) = logic.handle(r, caller: "x", state: a.state).reply else {
            Issue.record("status failed")
            return
        }
        #expect(v["cursor"] == "7" && v["end"] == "10" && v["lag"] == 3 && v["skipped"] == 2 && v["topics"] == 2 && v["buckets"] == 4)
        #expect(refused["end"] == .null && refused["lag"] == .null)
        #expect(logic.reads(for: request("topics", atSeconds: t0), caller: "x", state: a.state) == [CallerRights.scan("x")])
    }

    /// Memory is bounded: at most `ScienceLimits.topics` topics (later ones
    /// counted in `untracked`), at most `publishersPerBucket` publishers a bucket.
    @Test func topicsAndPublishersPerBucketAreBounded() {
        var a = ScienceAggregator(settings: settings, state: ScienceState())
        let many = (0...ScienceLimits.topics).map { record(UInt64($0 + 1), "t\($0)", "p", 1, at: t0) }
        // Pages cut at the checkpoint budget: fed again from the cursor, as the scanner does.
        for _ in 0..<1000 where a.state.cursor < UInt64(many.count + 1) {
            a.ingest(many.filter { $0.sequence >= a.state.cursor }, cursor: UInt64(many.count + 1), skipped: 0, nowMillis: t0 * 1000)
            if a.wantsCheckpoint(due: false) { _ = a.checkpoint(nowMillis: t0 * 1000) }
        }
        #expect(a.state.topics.count == ScienceLimits.topics && a.state.untracked == 1 && a.state.skipped == 0)
        // A known topic still counts.
        a.ingest([record(UInt64(many.count + 1), "t0", "p", 1, at: t0)], cursor: UInt64(many.count + 2), skipped: 0, nowMillis: t0 * 1000)
        #expect(a.state.topics["t0"]?[t0]?.messages == 2)
        var b = ScienceAggregator(settings: settings, state: ScienceState())
        let publishers = (0...ScienceLimits.publishersPerBucket + 1).map { record(UInt64($0 + 1), "t", "p\($0)", 1, at: t0) }
        b.ingest(publishers, cursor: 200, skipped: 0, nowMillis: t0 * 1000)
        let bucket = b.state.topics["t"]?[t0]
        #expect(bucket?.publishers.count == ScienceLimits.publishersPerBucket + 1)
        #expect(bucket?.publishers[ScienceLimits.otherPublishers] == 2 && bucket?.messages == ScienceLimits.publishersPerBucket + 2)
    }

    @Test func unknownActionsAreRefused() {
        let r = logic.handle(request("rescan", atSeconds: t0), caller: "x", state: ScienceState())
        #expect(r == .error("unknown_action", "unknown action 'rescan' (topics, topic_stats, status)"))
        let s = allowed(request("topic_stats", ["window": 10], atSeconds: t0), state: ScienceState())
        #expect(s == .error("bad_argument", "topic must be a non-empty string"))
    }
    /// A checkpoint stays under its byte budget whatever the names: the page
    /// is cut at the record that reaches it (cursor just after it, the gaps
    /// before it in `skipped`), a topic longer than `nameBytes` is untracked,
    /// a longer publisher counted as `(other)`; every record is counted once.
    @Test func checkpointsStayUnderTheirByteBudgetCutAtARecord() throws {
        var a = ScienceAggregator(settings: settings, state: ScienceState())
        let long = String(repeating: "t", count: ScienceLimits.nameBytes)
        // Sequences 1, 3, 5, ...: every other one a gap.
        let publisher = "p" + String(long.dropFirst())
        let page: [ScienceRecord] = (0..<2000).map { (i: Int) -> ScienceRecord in
            let topic: String = String(i) + String(long.dropFirst(String(i).count))
            return record(UInt64(2 * i + 1), topic, publisher, 1, at: t0)
        }
        let end = UInt64(4001)
        var events: [AgentEvent] = []
        for _ in 0..<100 where a.state.cursor < end {
            // As LEDGER SCAN answers: from the cursor (0 as 1), the sequences no record has skipped.
            let rest = page.filter { $0.sequence >= a.state.cursor }
            let gaps = end - max(a.state.cursor, 1) - UInt64(rest.count)
            let cut = a.ingest(rest, cursor: end, skipped: gaps, nowMillis: t0 * 1000)
            if cut { #expect(a.state.cursor % 2 == 0 && a.wantsCheckpoint(due: false)) }
            if a.wantsCheckpoint(due: true) { events.append(a.checkpoint(nowMillis: t0 * 1000)) }
        }
        #expect(events.count > 4 && a.state.cursor == end)
        for e in events {
            let size = e.data.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
            #expect(size < ScienceLimits.checkpointBytes + ScienceLimits.bucketBytesMax, "\(size)")
        }
        // Folded from the events: every record once, the 2000 gaps before the end skipped.
        var s = ScienceState()
        for e in events { logic.apply(e, to: &s) }
        #expect(s.topics.count == 2000 && s.topics.values.allSatisfy { $0[t0]?.messages == 1 })
        #expect(s.skipped == 2000 && s.untracked == 0 && s.cursor == end, "\(s.skipped) \(s.untracked) \(s.cursor)")
        // A topic longer than nameBytes is not bucketed; a longer publisher is (other).
        var b = ScienceAggregator(settings: settings, state: ScienceState())
        b.ingest([record(1, long + "x", "p", 1, at: t0), record(2, "short", long + "x", 1, at: t0)], cursor: 3, skipped: 0, nowMillis: t0 * 1000)
        #expect(b.state.untracked == 1 && b.state.topics.count == 1 && b.state.topics["short"]?[t0]?.publishers == [ScienceLimits.otherPublishers: 1])
    }
    /// `topics` stays under max_payload however many and however long the
    /// topics: a page ends with `next`, and asking `after` it gives the rest.
    @Test func topicsRepliesArePagedUnderTheirByteBudget() throws {
        var state = ScienceState()
        let long = String(repeating: "n", count: 1000)
        for i in 0..<300 {
            var buckets: [Int64: TopicBucket] = [:]
            var b = TopicBucket()
            for p in 0..<10 {
                b.add(record(UInt64(i * 10 + p + 1), "x", String(p) + long, 1, at: t0))
            }
            buckets[t0] = b
            state.topics[String(format: "%04d", i) + long] = buckets
        }
        var seen: [String] = [], after: JSON?, pages = 0
        for _ in 0..<100 {
            let args: [String: JSON] = after.map { ["after": $0] } ?? [:]
            let r = allowed(request("topics", args, atSeconds: t0 + 10), state: state)
            guard case .ok(let reply) = r.reply else {
                Issue.record("refused")
                return
            }
            pages += 1
            #expect(reply.text.utf8.count < 1 << 20)
            guard case .array(let topics)? = reply["topics"] else { break }
            for t in topics { seen.append(t["topic"]?.string ?? "") }
            guard let next = reply["next"] else { break }
            #expect(next.string == seen.last)
            after = next
        }
        #expect(pages > 1 && seen == state.topics.keys.sorted(), "\(pages) \(seen.count)")
    }
    /// Buckets in all are bounded (`bucketsMax`) whatever the settings: a
    /// record that would start one more is counted in `untracked`; one of a
    /// bucket already kept still counts.
    @Test func bucketsInAllAreBoundedWhateverTheSettings() {
        var state = ScienceState()
        state.topics["old"] = Dictionary(uniqueKeysWithValues: (0..<ScienceLimits.bucketsMax - 1).map { (Int64($0) * 60, TopicBucket()) })
        var a = ScienceAggregator(settings: settings, state: state)
        a.ingest([record(1, "orders", "alice", 1, at: t0), record(2, "audit", "bob", 1, at: t0),
                  record(3, "orders", "bob", 1, at: t0 + 1)], cursor: 4, skipped: 0, nowMillis: t0 * 1000)
        #expect(a.buckets == ScienceLimits.bucketsMax && a.state.untracked == 1)
        #expect(a.state.topics["orders"]?[t0]?.messages == 2 && a.state.topics["audit"] == nil)
        // Retention drops the old buckets at the checkpoint: room again.
        _ = a.checkpoint(nowMillis: t0 * 1000)
        #expect(a.buckets == 1)
        a.ingest([record(4, "audit", "bob", 1, at: t0)], cursor: 5, skipped: 0, nowMillis: t0 * 1000)
        #expect(a.state.topics["audit"]?[t0]?.messages == 1)
    }
}
