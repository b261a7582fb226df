import VimanaRESP

/// Words a command takes from a fixed set (subcommands, options, client
/// types): an enum whose raw values are the lower-case words. Scanned with
/// `Arguments.keyword`, matched with `switch`, not compared as strings.
protocol Keyword: RawRepresentable, CaseIterable where RawValue == String {}

extension Arguments {
    /// The keyword argument `i` spells, ignoring ASCII case; nil for any other word.
    func keyword<K: Keyword>(_ i: Int, as _: K.Type = K.self) -> K? {
        let p = pointer(i), n = length(i)
        for k in K.allCases {
            var word = k.rawValue
            let same = word.withUTF8 { w in
                guard w.count == n else { return false }
                for j in 0..<n {
                    let b = p[j]
                    // Fold only A-Z: no other byte may match a letter.
                    if (b >= 65 && b <= 90 ? b | 0x20 : b) != w[j] { return false }
                }
                return true
            }
            if same { return k }
        }
        return nil
    }
}
