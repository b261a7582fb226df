/// The script a mirror appends a batch of one topic's entries with
/// (Protocol/FEDERATION.md §3). Appending the entries and raising the
/// origin's high mark in one script makes them one change: a master that
/// fails over has both or neither, so a batch sent again after any error
/// appends only what is missing — an entry is never stored twice.
///
/// It always writes the high mark, even when it appends nothing: the WAIT
/// sent after it then waits for the replicas to have everything the master
/// has up to this script, including entries an earlier, lost reply appended.
///
/// `expected` is the high mark the mirror last saw acknowledged by WAIT for
/// the topic (0 when it knows none). A master with a lower one lost
/// acknowledged entries in a failover (WAIT is not consensus: the replica
/// promoted may not be the one that had them): the script then appends
/// nothing and answers `VIMANAGAP <its high mark>`, and the mirror sends
/// again from the ledger after that mark, before anything newer, so that
/// nothing is lost and the origin's entries stay in order.
enum MirrorScript {
    static let text = """
    -- Vimana federation mirror (Protocol/FEDERATION.md section 3).
    -- KEYS[1] P:{T}   KEYS[2] P:{T}:origins
    -- ARGV: origin, expected, n, then n entries: seq, id, ts, publisher, k, k name/value pairs
    local function above(a, b)
      if #a ~= #b then return #a > #b end
      return a > b
    end
    local origin = ARGV[1]
    local high = redis.call('HGET', KEYS[2], origin) or '0'
    if above(ARGV[2], high) then
      return redis.error_reply('VIMANAGAP ' .. high)
    end
    local n = tonumber(ARGV[3])
    local i = 4
    local appended = 0
    for e = 1, n do
      local seq = ARGV[i]
      local k = tonumber(ARGV[i + 4])
      local first = i + 5
      local after = first + 2 * k
      if above(seq, high) then
        local args = {'XADD', KEYS[1], '*', 'origin', origin, 'seq', seq, 'id', ARGV[i + 1],
                      'ts', ARGV[i + 2], 'publisher', ARGV[i + 3]}
        for j = first, after - 1 do args[#args + 1] = ARGV[j] end
        redis.call(unpack(args))
        high = seq
        appended = appended + 1
      end
      i = after
    end
    redis.call('HSET', KEYS[2], origin, high)
    return appended
    """

    static var bytes: [UInt8] { Array(text.utf8) }

    /// Lua's `unpack` returns at most about 8,000 values (LUAI_MAXCSTACK):
    /// an entry with more fields than this cannot be appended by the
    /// script. The mirror skips it, counts it and logs it (docs/FEDERATION.md).
    static let maxFields = 3_980

    /// The error the script answers when the cluster's high mark is below
    /// the one expected, followed by that high mark.
    static let gapPrefix = "VIMANAGAP "
}
