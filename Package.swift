// swift-tools-version:6.0
// Vimana: a message-bus microkernel. The target graph is the architecture:
//
//   vimana (CLI) ──► VimanaKernel ──► VimanaEventLoop ──► CLinuxShim
//        │               ├──► VimanaRESP ───┐
//        │               ├──► VimanaBus ────┼──► VimanaCore
//        │               ├──► VimanaAgents, VimanaLedger (──► CZlib), VimanaSupervisor
//        │               └──► VimanaConfig (settings: value types) ◄── ledger, supervisor, agents, bench
//        ├──► VimanaConfigLoader ──► VimanaConfig, CYAML
//        └──► VimanaBench ──► VimanaClient ──► VimanaRESP
//
// No package dependencies: only the toolchain, libyaml and zlib.
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
    ],
    targets: [
        // C: what Glibc does not expose to Swift (epoll, eventfd, signalfd, accept4).
        .systemLibrary(name: "CLinuxShim", path: "Sources/CLinuxShim"),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),

        // Bytes, logging, clocks: shared by everything, knows nothing of the network.
        .target(name: "VimanaCore", swiftSettings: optimize),
        // RESP2/RESP3 request parser and reply encoder; knows nothing of sockets.
        .target(name: "VimanaRESP", dependencies: ["VimanaCore"], swiftSettings: optimize),
        // Topics, subscriptions, glob patterns; knows nothing of RESP.
        .target(name: "VimanaBus", dependencies: ["VimanaCore"], swiftSettings: optimize),
        // The settings: value types for every phoenix.yaml key, each default written once.
        // No libyaml: the ledger and the supervisor take these types directly.
        .target(name: "VimanaConfig", dependencies: ["VimanaCore"]),
        // phoenix.yaml: parsing with libyaml into VimanaConfig's types, validation with
        // file:line:column errors, flags, and the text `vimana check` prints.
        .target(name: "VimanaConfigLoader", dependencies: ["VimanaCore", "VimanaConfig", "CYAML"]),
        // epoll loop, sockets, eventfd wake-ups, signals; knows nothing of topics.
        .target(name: "VimanaEventLoop", dependencies: ["VimanaCore", "CLinuxShim"], swiftSettings: optimize),
        // The ledger: zlib-compressed segments on disk, a writer thread, recovery,
        // reads by sequence and stream ID. Knows nothing of the network.
        .target(name: "VimanaLedger", dependencies: ["VimanaCore", "VimanaBus", "VimanaConfig", "CZlib"],
                swiftSettings: optimize),
        // Agents: consumer groups (journaled in the ledger), agent runtimes, built-in agents.
        .target(name: "VimanaAgents", dependencies: ["VimanaCore", "VimanaBus", "VimanaLedger", "VimanaConfig"],
                swiftSettings: optimize),
        // The kernel: connections, commands, pub/sub delivery, HTTP observability.
        .target(name: "VimanaKernel",
                dependencies: ["VimanaCore", "VimanaRESP", "VimanaBus", "VimanaConfig", "VimanaEventLoop", "VimanaLedger",
                               "VimanaAgents", "VimanaSupervisor", "CLinuxShim"],
                swiftSettings: optimize),
        // A small blocking RESP client, for the CLI's pub/sub and the load generator.
        .target(name: "VimanaClient", dependencies: ["VimanaCore", "VimanaRESP"], swiftSettings: optimize),
        // `vimana bench`: a native load generator for any RESP server.
        .target(name: "VimanaBench", dependencies: ["VimanaCore", "VimanaConfig", "VimanaClient"], swiftSettings: optimize),
        .target(name: "VimanaSupervisor", dependencies: ["VimanaCore", "VimanaConfig", "CLinuxShim"], swiftSettings: optimize),
        .executableTarget(name: "vimana",
                          dependencies: ["VimanaKernel", "VimanaConfig", "VimanaConfigLoader", "VimanaEventLoop", "VimanaLedger", "VimanaClient",
                                         "VimanaBench", "VimanaCore"],
                          swiftSettings: optimize),

        .testTarget(name: "VimanaRESPTests", dependencies: ["VimanaRESP", "VimanaCore"]),
        .testTarget(name: "VimanaBusTests", dependencies: ["VimanaBus"]),
        .testTarget(name: "VimanaAgentsTests", dependencies: ["VimanaAgents", "VimanaConfig", "VimanaLedger", "VimanaCore"]),
        .testTarget(name: "VimanaLedgerTests", dependencies: ["VimanaLedger", "VimanaConfig", "VimanaCore"]),
        .testTarget(name: "VimanaKernelTests", dependencies: ["VimanaKernel", "VimanaRESP"]),
        .testTarget(name: "VimanaEventLoopTests", dependencies: ["VimanaEventLoop", "VimanaCore"]),
        .testTarget(name: "VimanaConfigTests", dependencies: ["VimanaConfigLoader", "VimanaConfig"]),
        .testTarget(name: "VimanaIntegrationTests", dependencies: ["VimanaCore"]),
        .testTarget(name: "VimanaClientTests", dependencies: ["VimanaClient", "VimanaRESP"]),
        .testTarget(name: "VimanaSupervisorTests", dependencies: ["VimanaSupervisor", "VimanaConfig", "VimanaCore"]),
    ],
    swiftLanguageModes: [.v6]
)
