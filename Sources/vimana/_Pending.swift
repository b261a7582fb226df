// TEMPORARY while the config loader and client land; deleted before commit.
import VimanaConfig
enum PubSubCommands { static func pub(_ a: [String]) -> Int32 { 2 }; static func sub(_ a: [String]) -> Int32 { 2 } }
enum BenchCommand { static func run(_ a: [String]) -> Int32 { 2 } }
