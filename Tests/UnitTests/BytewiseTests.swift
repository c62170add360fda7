import Domain
import Foundation
import Testing

@Suite struct BytewiseTests {
    /// The order of `COLLATE "C"`: UTF-8 bytes, a prefix first — not Swift's Unicode order, which
    /// puts "é" (one scalar) and "e\u{301}" (two) together.
    @Test func ordersAsTheUTF8BytesDo() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "b", "Z", "0", "\u{0}", "é", "e\u{301}", "ё", "🦔", "~", "\u{7f}", "\u{80}"]
        var strings = ["", "a", "ab", "abc", "b", "é", "e\u{301}", String(repeating: "x", count: 40), String(repeating: "x", count: 41)]
        for _ in 0..<300 {
            let length = Int.random(in: 0...24, using: &generator)
            strings.append((0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined())
        }
        for a in strings {
            for b in strings {
                let expected = a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : (Array(a.utf8) == Array(b.utf8) ? 0 : 1)
                #expect(Bytewise.compare(a, b).signum() == expected, "\(a.debugDescription) vs \(b.debugDescription)")
                #expect(Bytewise.precedes(a, b) == (expected < 0))
            }
        }
        // Canonically equivalent strings are equal to Swift, not bytewise.
        #expect("é" == "e\u{301}")
        #expect(Bytewise.compare("é", "e\u{301}") != 0)
    }
}
