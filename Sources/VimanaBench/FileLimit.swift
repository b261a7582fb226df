#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit, raised as far as the hard limit allows:
/// the idle mode alone holds 10,000 sockets, beyond the usual soft 1024.
enum FileLimit {
    static func raise(to needed: Int) throws(BenchError) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur >= rlim_t(needed) { return }
        let hard = limit.rlim_max
        limit.rlim_cur = hard == rlim_t.max ? rlim_t(needed) : min(rlim_t(needed), hard)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < rlim_t(needed) {
            throw .fileLimit(needed: needed, limit: Int(limit.rlim_cur))
        }
    }
}
