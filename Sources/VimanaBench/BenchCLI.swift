#if canImport(Glibc)
import Glibc
#endif

/// `vimana bench [options]`: option parsing and output for the CLI.
public enum BenchCLI {
    static let usage = """
    Usage: vimana bench [options]
      --host H         server host (default \(BenchOptions().host))
      --port P         server port (default \(BenchOptions().port))
      --pub P          publisher connections (default 1)
      --sub S          subscriber connections (default 0); each receives every message
      --msgs N         messages published in total (default 100000)
      --size B         payload bytes (default 16; latency needs 8 or more)
      --pipeline D     PUBLISH commands in flight per publisher (default 1)
      --topic T        topic (default bench)
      --resp 2|3       protocol; 3 sends HELLO 3 first (default 2)
      --tasks PEER     task round trip instead of pub/sub: PEER is vimana (PUBLISH,
                       AGENT JOIN, ACK), redis (XADD, XREADGROUP, XACK) or beanstalkd
                       (put, reserve, delete); --msgs tasks, --pipeline for the producer
      --workers W      task mode: worker connections (default 2)
      --prefetch N     task mode: tasks in flight per worker (default 16; on vimana
                       the agent must be declared with this prefetch)
      --agent A        task mode: agent to join / Redis group (default bench)
      --idle C         open C idle connections, print a ready line, hold them
      --hold S         seconds to hold idle connections (default 30)
      --json           print one JSON object instead of the table
      --help           this text
    """

    /// Runs `vimana bench` with the arguments after `bench`; returns the exit
    /// status: 0 done, 1 run failed (connection refused, …), 2 usage error.
    /// A run with losses or disconnected subscribers still exits 0: those are
    /// measurements, reported in the output.
    public static func main(arguments: [String]) -> Int32 {
        let options: BenchOptions
        let json: Bool
        do {
            guard let parsed = try parse(arguments) else {
                write(1, usage + "\n")
                return 0
            }
            (options, json) = parsed
            try options.validate()
        } catch {
            write(2, "vimana bench: \(error) (try: vimana bench --help)\n")
            return 2
        }
        do {
            if let peer = options.tasks {
                let result = try TaskBench.run(options, peer: peer)
                write(1, json ? result.renderJSON() : result.renderTable())
                return 0
            }
            let result = try Bench.run(options) { write(2, $0 + "\n") }
            write(1, json ? result.renderJSON() : result.renderTable())
            return 0
        } catch {
            write(2, "vimana bench: \(error)\n")
            return 1
        }
    }

    /// The options and the `--json` flag, or nil for `--help`.
    static func parse(_ args: [String]) throws(BenchError) -> (BenchOptions, Bool)? {
        var o = BenchOptions()
        var json = false
        var i = 0
        func value(_ name: String) throws(BenchError) -> String {
            i += 1
            guard i < args.count else { throw .invalidOption("\(name) needs a value") }
            return args[i]
        }
        func int(_ name: String) throws(BenchError) -> Int {
            let v = try value(name)
            guard let n = Int(v) else { throw .invalidOption("\(name) expects an integer, got '\(v)'") }
            return n
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--help", "-h": return nil
            case "--json": json = true
            case "--host": o.host = try value(a)
            case "--port": o.port = try int(a)
            case "--pub": o.publishers = try int(a)
            case "--sub": o.subscribers = try int(a)
            case "--msgs": o.messages = try int(a)
            case "--size": o.payloadSize = try int(a)
            case "--pipeline": o.pipeline = try int(a)
            case "--topic": o.topic = try value(a)
            case "--resp": o.protocolVersion = try int(a)
            case "--idle": o.idleConnections = try int(a)
            case "--tasks":
                let v = try value(a)
                guard let peer = TaskPeer(rawValue: v) else {
                    throw .invalidOption("--tasks expects vimana, redis or beanstalkd, got '\(v)'")
                }
                o.tasks = peer
            case "--workers": o.workers = try int(a)
            case "--prefetch": o.prefetch = try int(a)
            case "--agent": o.agent = try value(a)
            case "--hold":
                let v = try value(a)
                guard let s = Double(v), s >= 0, s < 1e6 else { throw .invalidOption("--hold expects seconds, got '\(v)'") }
                o.idleHoldSeconds = s
            default: throw .invalidOption("unknown argument '\(a)'")
            }
            i += 1
        }
        return (o, json)
    }

    private static func write(_ fd: Int32, _ text: String) {
        var t = text
        t.withUTF8 { b in
            var off = 0
            while off < b.count, let base = b.baseAddress {
                let n = Glibc.write(fd, base + off, b.count - off)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                off += n
            }
        }
    }
}
