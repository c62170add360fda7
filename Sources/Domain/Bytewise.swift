#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytewise (UTF-8 byte by byte) ordering of strings: the order of PostgreSQL's `COLLATE "C"`
/// columns, which Swift's own `<` (Unicode canonical order) is not for every string.
///
/// One `memcmp` over the strings' contiguous UTF-8 instead of iterating `String.UTF8View`
/// element by element, which sorting hundreds of thousands of keys a second made a hot spot.
public enum Bytewise {
    /// Negative, zero or positive as `a` sorts before, equal to or after `b`.
    @inlinable
    public static func compare(_ a: String, _ b: String) -> Int {
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y -> Int in
                let common = Swift.min(x.count, y.count)
                if common > 0 {
                    let order = memcmp(x.baseAddress!, y.baseAddress!, common)
                    if order != 0 { return Int(order) }
                }
                return x.count - y.count
            }
        }
        if let fast, let order = fast { return order }
        if a.utf8.elementsEqual(b.utf8) { return 0 }
        return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
    }

    /// Whether `a` sorts strictly before `b`, bytewise.
    @inlinable
    public static func precedes(_ a: String, _ b: String) -> Bool { compare(a, b) < 0 }
}
