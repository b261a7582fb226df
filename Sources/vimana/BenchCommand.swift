import VimanaBench

/// `vimana bench`: the load generator lives in VimanaBench.
enum BenchCommand {
    static func run(_ args: [String]) -> Int32 { BenchCLI.main(arguments: args) }
}
