import Foundation
import Testing

/// Exact reply bytes from the real server for the connection-group commands.
@Suite struct CommandReplyTests {
    @Test func pipelinedInlineAndMultibulkCommandsReplyInOrder() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("PING\r\nping hello\r\n" + RawClient.command(["ECHO", "a b\r\nc"]) + "echo \"q\\x41\"\nSELECT 0\r\n")
        let expected = "+PONG\r\n$5\r\nhello\r\n$6\r\na b\r\nc\r\n$2\r\nqA\r\n+OK\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func unknownCommandAndWrongArityKeepTheConnectionOpen() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("FOO a b\r\nPUBLISH x\r\nECHO\r\nSELECT 1\r\nSELECT x\r\nPING a b\r\nPING\r\n")
        let expected = "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
            + "-ERR wrong number of arguments for 'publish' command\r\n"
            + "-ERR wrong number of arguments for 'echo' command\r\n"
            + "-ERR DB index is out of range\r\n"
            + "-ERR value is not an integer or out of range\r\n"
            + "-ERR wrong number of arguments for 'ping' command\r\n"
            + "+PONG\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func helloSwitchesProtocolAndRepliesWithAMap() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("CLIENT ID\r\n")
        let idLine = String(decoding: c.read(count: 4), as: UTF8.self)  // ":N\r\n" for a single-digit id
        let id = idLine.dropFirst().prefix { $0.isNumber }
        c.send("HELLO 3\r\n")
        let map = "%7\r\n$6\r\nserver\r\n$6\r\nvimana\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n"
            + "$2\r\nid\r\n:\(id)\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        #expect(c.read(matching: map) == map)
        c.send("CLIENT GETNAME\r\nHELLO 4\r\nHELLO x\r\nHELLO 3 SETNAME\r\nHELLO 2 SETNAME worker-1\r\n")
        let rest = "_\r\n-NOPROTO unsupported protocol version\r\n"
            + "-ERR Protocol version is not an integer or out of range\r\n"
            + "-ERR Syntax error in HELLO option 'SETNAME'\r\n"
            + "*14\r\n"
        #expect(c.read(matching: rest) == rest)
        _ = c.readReplies(14)  // the map's 7 pairs, as an array
        c.send("CLIENT GETNAME\r\n")
        #expect(c.read(matching: "$8\r\nworker-1\r\n") == "$8\r\nworker-1\r\n")
    }

    @Test func authExplainsThatNoPasswordIsConfigured() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("AUTH secret\r\nAUTH default secret\r\nAUTH alice secret\r\n")
        let expected = "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
            + "+OK\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    /// The password followed by 256 NUL bytes is another password (the
    /// length difference was once folded into a byte and vanished).
    @Test func authWithThePasswordFollowedByNULsIsRefused() throws {
        let server = try ServerProcess(config: "kernel:\n  password: secret\n", logLevel: "info")
        let c = try RawClient(port: server.port)
        let padded = "secret" + String(repeating: "\0", count: 256)
        c.send("*2\r\n$4\r\nAUTH\r\n$\(padded.utf8.count)\r\n\(padded)\r\nPING\r\nAUTH secret\r\nPING\r\n")
        let expected = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            + "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func clientSubcommands() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("CLIENT SETNAME \"a b\"\r\nCLIENT SETNAME me\r\nCLIENT GETNAME\r\nCLIENT SETINFO LIB-NAME redis-py\r\n"
            + "CLIENT SETINFO foo x\r\nCLIENT NOPE\r\nCLIENT SETNAME\r\nCLIENT KILL ID 999999\r\n")
        let expected = "-ERR Client names cannot contain spaces, newlines or special characters.\r\n+OK\r\n$2\r\nme\r\n+OK\r\n"
            + "-ERR Unrecognized option 'foo'\r\n-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"
            + "-ERR wrong number of arguments for 'client|setname' command\r\n:0\r\n"
        #expect(c.read(matching: expected) == expected)
        c.send("CLIENT LIST\r\n")
        let list = c.readReplies()
        #expect(list.contains(" name=me "))
        #expect(list.contains(" cmd=client|list "))
        #expect(list.contains("lib-name=redis-py"))
    }

    @Test func clientKillByIdClosesTheOtherConnection() throws {
        let server = try ServerProcess()
        let victim = try RawClient(port: server.port)
        victim.send("CLIENT ID\r\n")
        let line = victim.readReplies()
        let id = String(line.dropFirst().prefix { $0.isNumber })
        let killer = try RawClient(port: server.port)
        killer.send("CLIENT KILL ID \(id)\r\n")
        #expect(killer.read(matching: ":1\r\n") == ":1\r\n")
        #expect(victim.isClosedByPeer())
    }

    @Test func quitRepliesThenCloses() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("QUIT\r\nPING\r\n")
        #expect(c.read(matching: "+OK\r\n") == "+OK\r\n")
        #expect(c.isClosedByPeer())
    }

    @Test func configGetServesRedisBenchmarksQuestions() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("CONFIG GET save\r\nCONFIG GET appendonly\r\nCONFIG GET maxclients\r\nCONFIG GET nosuch\r\n")
        let expected = "*2\r\n$4\r\nsave\r\n$0\r\n\r\n*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
            + "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n*0\r\n"
        #expect(c.read(matching: expected) == expected)
        c.send("CONFIG SET save x\r\n")
        #expect(c.readReplies() == "-ERR CONFIG SET failed (possibly related to argument 'save') - can't set immutable config\r\n")
    }

    @Test func commandCountInfoAndDocs() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("COMMAND COUNT\r\n")
        #expect(c.read(matching: ":67\r\n") == ":67\r\n")
        c.send("COMMAND INFO ping nosuch\r\n")
        let info = "*2\r\n*10\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n$-1\r\n"
        #expect(c.read(matching: info) == info)
        c.send("COMMAND DOCS ping\r\n")
        let docs = "*2\r\n$4\r\nping\r\n*10\r\n$7\r\nsummary\r\n$15\r\nPing the server\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n"
            + "$5\r\ngroup\r\n$10\r\nconnection\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n"
            + "*6\r\n$4\r\nname\r\n$7\r\nmessage\r\n$4\r\ntype\r\n$6\r\nstring\r\n$5\r\nflags\r\n*1\r\n+optional\r\n"
        #expect(c.read(matching: docs) == docs)
    }

    @Test func infoHasTheDocumentedSections() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("INFO\r\n")
        let text = c.readReplies()
        for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Pubsub"] {
            #expect(text.contains("\r\n\(section)\r\n") || text.contains("\n\(section)\r\n") || text.contains("\(section)\r\n"))
        }
        #expect(text.contains("tcp_port:\(server.port)\r\n"))
        c.send("INFO pubsub\r\n")
        let pubsub = c.readReplies()
        #expect(pubsub.contains("# Pubsub\r\n"))
        #expect(!pubsub.contains("# Server"))
    }

    /// INFO's words for every section, in any case; a near miss names no section.
    @Test func infoAllEverythingAndDefaultInAnyCase() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        for word in ["ALL", "Everything", "dEFAULT", "all"] {
            c.send("INFO \(word)\r\n")
            let text = c.readReplies()
            #expect(text.contains("# Server\r\n") && text.contains("# Pubsub\r\n") && text.contains("# Ledger\r\n"), "INFO \(word)")
        }
        c.send("INFO alll\r\n")
        #expect(c.readReplies() == "$0\r\n\r\n")
    }

    /// The server's own topics (the journals, the removal markers) lose
    /// nothing to XDEL, XTRIM, XADD's trimming, DEL or UNLINK, whoever asks:
    /// a journal's records are trusted at the next start.
    @Test func removalsFromTheServersOwnTopicsAreRefused() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        func refusal(_ topic: String) -> String { "-ERR topic '\(topic)' is the server's own: nothing is removed from it\r\n" }
        c.send([["XADD", "t", "1-1", "f", "v"], ["XDEL", "t", "1-1"], ["XDEL", "_vimana.removals", "1-1"],
                ["XTRIM", "_vimana.groups", "MAXLEN", "0"], ["DEL", "t", "_vimana.acl"], ["UNLINK", "_vimana.removals"],
                ["XADD", "_vimana.removals", "MAXLEN", "0", "*", "f", "v"], ["XLEN", "_vimana.removals"]]
            .map(RawClient.command).joined())
        let expected = "$3\r\n1-1\r\n:1\r\n" + refusal("_vimana.removals") + refusal("_vimana.groups") + refusal("_vimana.acl")
            + refusal("_vimana.removals")
            + "-ERR topic '_vimana.removals' is not recorded (see ledger.record and ledger.exclude in phoenix.yaml)\r\n:1\r\n"
        #expect(c.read(matching: expected) == expected)
    }
}
