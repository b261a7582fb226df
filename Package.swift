// swift-tools-version:6.0
// Vimana: a message-bus microkernel. The target graph is the architecture
// (docs/ARCHITECTURE.md draws it). Each target and the targets it depends on,
// checked against the declarations below by ArchitectureTests, as is every
// import in Sources/ and Tests/:
//
//   vimana             → VimanaKernel VimanaAgents VimanaConfig VimanaConfigLoader VimanaEventLoop VimanaLedger VimanaClient VimanaBench VimanaSystemAgents VimanaCore
//   VimanaKernel       → VimanaCore VimanaRESP VimanaBus VimanaACL VimanaConfig VimanaEventLoop VimanaLedger VimanaAgents VimanaSupervisor VimanaFederation CLinuxShim
//   VimanaFederation   → VimanaCore VimanaConfig VimanaLedger VimanaRESP VimanaCluster
//   VimanaAgents       → VimanaCore VimanaLedger VimanaConfig
//   VimanaLedger       → VimanaCore VimanaConfig CZlib
//   VimanaSupervisor   → VimanaCore VimanaConfig CLinuxShim
//   VimanaEventLoop    → VimanaCore CLinuxShim
//   VimanaConfigLoader → VimanaCore VimanaConfig CYAML
//   VimanaConfig       → VimanaCore
//   VimanaBench        → VimanaCore VimanaRESP VimanaConfig VimanaClient
//   VimanaAgentKit     → VimanaClient VimanaRESP VimanaConfig VimanaCore
//   CounterAgent       → VimanaAgentKit
//   KitFixtureAgent    → VimanaAgentKit
//   VimanaSystemAgents → VimanaAgentKit VimanaClient VimanaRESP VimanaConfig VimanaConfigLoader VimanaCore CZlib
//   VimanaCluster      → VimanaCore VimanaRESP VimanaClient
//   VimanaClient       → VimanaCore VimanaRESP
//   VimanaRESP         → VimanaCore
//   VimanaBus          → VimanaCore
//   VimanaACL          → VimanaCore
//   VimanaCore         →
//   CLinuxShim         →
//   CYAML              →
//   CZlib              →
//   VimanaTestSupport  →
//
// VimanaTestSupport (Tests/VimanaTestSupport) is for test targets only: the
// real server and redis-server on free ports, a Redis Cluster on loopback, a
// raw RESP client, reply readers that wait for whole replies, a loopback listener.
//
// No package dependencies: only the toolchain, libyaml and zlib (the C
// targets are system libraries: the shim's header, libyaml, zlib).
import PackageDescription

// Release builds skip the run-time exclusivity checks (the compile-time ones
// stay, and debug builds and tests keep both): the hot path's class state
// would otherwise pay a check and a TLS lookup per access (docs/PERFORMANCE.md).
let optimize: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "vimana",
    products: [
        .executable(name: "vimana", targets: ["vimana"]),
        // For anyone writing an agent in Swift (Protocol/AGENTS.md §10).
        .library(name: "VimanaAgentKit", targets: ["VimanaAgentKit"]),
    ],
    targets: [
        // C: what Glibc does not expose to Swift (epoll, eventfd, signalfd, accept4).
        .systemLibrary(name: "CLinuxShim", path: "Sources/CLinuxShim"),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),

        // Bytes, the byte-keyed hash table, logging, clocks, Redis's glob matching, SHA-256:
        // shared by everything, knows nothing of the network.
        .target(name: "VimanaCore", swiftSettings: optimize),
        // RESP2/RESP3 request parser and reply encoder; knows nothing of sockets.
        .target(name: "VimanaRESP", dependencies: ["VimanaCore"], swiftSettings: optimize),
        // Channel and pattern tables, subscription sets; knows nothing of RESP.
        .target(name: "VimanaBus", dependencies: ["VimanaCore"], swiftSettings: optimize),
        // The settings: value types for every phoenix.yaml key, each default written once.
        // No libyaml: the ledger and the supervisor take these types directly.
        .target(name: "VimanaConfig", dependencies: ["VimanaCore"]),
        // Redis 7.0's ACL users: SETUSER rules, permission checks, ACL LIST / GETUSER text.
        // Pure: no kernel, no sockets (the kernel gives it its command catalogue).
        .target(name: "VimanaACL", dependencies: ["VimanaCore"], swiftSettings: optimize),
        // phoenix.yaml: parsing with libyaml into VimanaConfig's types, validation with
        // file:line:column errors, flags, and the text `vimana check` prints.
        .target(name: "VimanaConfigLoader", dependencies: ["VimanaCore", "VimanaConfig", "CYAML"]),
        // epoll loop, sockets, eventfd wake-ups, signals; knows nothing of topics.
        .target(name: "VimanaEventLoop", dependencies: ["VimanaCore", "CLinuxShim"], swiftSettings: optimize),
        // The ledger: zlib-compressed segments on disk, a writer thread, recovery,
        // reads by sequence and stream ID. Knows nothing of the network.
        .target(name: "VimanaLedger", dependencies: ["VimanaCore", "VimanaConfig", "CZlib"], swiftSettings: optimize),
        // Agents: consumer groups (journaled in the ledger), agent runtimes, built-in agents.
        .target(name: "VimanaAgents", dependencies: ["VimanaCore", "VimanaLedger", "VimanaConfig"],
                swiftSettings: optimize),
        // The kernel: connections, commands, pub/sub delivery, HTTP observability.
        .target(name: "VimanaKernel",
                dependencies: ["VimanaCore", "VimanaRESP", "VimanaBus", "VimanaACL", "VimanaConfig", "VimanaEventLoop", "VimanaLedger",
                               "VimanaAgents", "VimanaSupervisor", "VimanaFederation", "CLinuxShim"],
                swiftSettings: optimize),
        // Federation through a Redis Cluster: the mirror (ledger → cluster) and the reader
        // (cluster → the loop), each on its own thread (Protocol/FEDERATION.md).
        .target(name: "VimanaFederation", dependencies: ["VimanaCore", "VimanaConfig", "VimanaLedger", "VimanaRESP", "VimanaCluster"]),
        // A small blocking RESP client, for the CLI's pub/sub and the load generator.
        .target(name: "VimanaClient", dependencies: ["VimanaCore", "VimanaRESP"], swiftSettings: optimize),
        // A blocking Redis Cluster client (slot map, hash slots, MOVED/ASK, retries,
        // pub/sub), for federation; RESP and connections reused from VimanaClient.
        .target(name: "VimanaCluster", dependencies: ["VimanaCore", "VimanaRESP", "VimanaClient"], swiftSettings: optimize),
        // `vimana bench`: a native load generator for any RESP server.
        .target(name: "VimanaBench", dependencies: ["VimanaCore", "VimanaRESP", "VimanaConfig", "VimanaClient"],
                swiftSettings: optimize),
        // The Swift agent kit: an agent's logic as a pure function of its events and a
        // task, and the runtime that speaks the agent protocol over TCP for it.
        .target(name: "VimanaAgentKit", dependencies: ["VimanaClient", "VimanaRESP", "VimanaConfig", "VimanaCore"]),
        // The kit's example agent (Protocol/AGENTS.md §10 quotes its source).
        .executableTarget(name: "CounterAgent", dependencies: ["VimanaAgentKit"]),
        // A fixture for the kit's wire tests: an agent whose tasks publish messages (Tests/KitFixtureAgent).
        .executableTarget(name: "KitFixtureAgent", dependencies: ["VimanaAgentKit"], path: "Tests/KitFixtureAgent"),
        // The system agents (`vimana agent <id>`), written with the kit.
        .target(name: "VimanaSystemAgents", dependencies: ["VimanaAgentKit", "VimanaClient", "VimanaRESP", "VimanaConfig", "VimanaConfigLoader", "VimanaCore", "CZlib"]),
        .target(name: "VimanaSupervisor", dependencies: ["VimanaCore", "VimanaConfig", "CLinuxShim"], swiftSettings: optimize),
        .executableTarget(name: "vimana",
                          dependencies: ["VimanaKernel", "VimanaAgents", "VimanaConfig", "VimanaConfigLoader", "VimanaEventLoop", "VimanaLedger", "VimanaClient",
                                         "VimanaBench", "VimanaSystemAgents", "VimanaCore"],
                          swiftSettings: optimize),

        .testTarget(name: "VimanaRESPTests", dependencies: ["VimanaRESP", "VimanaCore"]),
        .testTarget(name: "VimanaCoreTests", dependencies: ["VimanaCore"]),
        .testTarget(name: "VimanaACLTests", dependencies: ["VimanaACL", "VimanaCore", "VimanaTestSupport"]),
        .testTarget(name: "VimanaBusTests", dependencies: ["VimanaBus"]),
        .testTarget(name: "VimanaAgentsTests", dependencies: ["VimanaAgents", "VimanaConfig", "VimanaLedger", "VimanaCore"]),
        .testTarget(name: "VimanaFederationTests", dependencies: ["VimanaFederation", "VimanaConfig", "VimanaLedger", "VimanaClient", "VimanaRESP", "VimanaCore", "VimanaTestSupport"]),
        .testTarget(name: "VimanaLedgerTests", dependencies: ["VimanaLedger", "VimanaConfig", "VimanaCore"]),
        .testTarget(name: "VimanaKernelTests", dependencies: ["VimanaKernel", "VimanaRESP", "VimanaLedger", "VimanaACL", "VimanaConfig", "VimanaCore", "VimanaTestSupport"]),
        .testTarget(name: "VimanaEventLoopTests", dependencies: ["VimanaEventLoop", "VimanaCore"]),
        .testTarget(name: "VimanaConfigTests", dependencies: ["VimanaConfigLoader", "VimanaConfig", "VimanaCore"]),
        // Test-only library, used by the test targets that talk to a server or play one.
        .target(name: "VimanaTestSupport", path: "Tests/VimanaTestSupport"),
        .testTarget(name: "VimanaIntegrationTests", dependencies: ["VimanaCore", "VimanaTestSupport"]),
        .testTarget(name: "VimanaClusterTests", dependencies: ["VimanaCluster", "VimanaRESP", "VimanaClient", "VimanaCore", "VimanaTestSupport"]),
        .testTarget(name: "VimanaClientTests", dependencies: ["VimanaClient", "VimanaRESP", "VimanaTestSupport"]),
        .testTarget(name: "VimanaAgentKitTests", dependencies: ["VimanaAgentKit", "CounterAgent", "KitFixtureAgent", "VimanaRESP", "VimanaTestSupport"]),
        .testTarget(name: "VimanaSystemAgentsTests", dependencies: ["VimanaSystemAgents", "VimanaAgentKit", "VimanaConfig", "VimanaConfigLoader", "VimanaRESP", "VimanaTestSupport"]),
        .testTarget(name: "VimanaSupervisorTests", dependencies: ["VimanaSupervisor", "VimanaConfig", "VimanaCore"]),
    ],
    swiftLanguageModes: [.v6]
)
