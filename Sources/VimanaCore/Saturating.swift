/// Arithmetic that clamps to the type's bounds instead of trapping.
///
/// Swift traps on overflow, and a trap ends the whole server: a number that
/// came from a client, a configuration or a file is range-checked where it is
/// parsed, and where such a value is legitimately huge (a BLOCK timeout of
/// 2^63 - 1 ms, an ENTRIESREAD of 2^63 - 1, a delivery count set by XCLAIM
/// RETRYCOUNT) the arithmetic on it saturates: "as late as can be said" is
/// the meaning such a value has anyway.
extension FixedWidthInteger {
    /// `self + other`, or the bound it would have crossed.
    @inlinable
    public func addingSaturating(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }

    /// `self - other`, or the bound it would have crossed.
    @inlinable
    public func subtractingSaturating(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        guard overflow else { return difference }
        return other > 0 ? .min : .max
    }

    /// `self * other`, or the bound it would have crossed.
    @inlinable
    public func multipliedSaturating(by other: Self) -> Self {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return product }
        return (self < 0) != (other < 0) ? .min : .max
    }
}
