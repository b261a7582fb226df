// vimana: the command-line entry point. Parses the subcommand and hands off;
// each subcommand lives in its own file.
#if canImport(Glibc)
import Glibc
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
exit(CLI.run(arguments))
