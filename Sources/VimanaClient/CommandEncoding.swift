/// RESP multibulk encoding of a command: `*N\r\n$L\r\narg\r\n…`, the form
/// every server accepts (inline commands are for humans at a terminal).
public enum CommandEncoding {
    /// The encoded bytes of one command.
    public static func encode(_ args: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(args.reduce(16) { $0 + $1.count + 16 })
        append(args, to: &out)
        return out
    }

    /// Appends one encoded command to `out`.
    public static func append(_ args: [[UInt8]], to out: inout [UInt8]) {
        header(42, args.count, &out)
        for arg in args {
            header(36, arg.count, &out)
            out.append(contentsOf: arg)
            out.append(13)
            out.append(10)
        }
    }

    private static func header(_ marker: UInt8, _ n: Int, _ out: inout [UInt8]) {
        out.append(marker)
        out.append(contentsOf: String(n).utf8)
        out.append(13)
        out.append(10)
    }
}
