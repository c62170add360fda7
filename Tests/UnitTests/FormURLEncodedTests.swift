import Domain
import Testing
@testable import Tracker

@Suite struct FormURLEncodedTests {
    /// Pairs split on the bytes `&` and `=`, in order; `+` a space, `%XX` decoded, a bad escape
    /// kept, bytes that are not UTF-8 replaced.
    @Test func pairsAreSplitOnBytesAndDecoded() {
        func pairs(_ text: String) -> [String] { FormURLEncoded.parse(text).map { "\($0.key)=\($0.value)" } }
        #expect(pairs("") == [])
        #expect(pairs("a=1&b=2") == ["a=1", "b=2"])
        #expect(pairs("&&a=&b&") == ["a=", "b="])
        #expect(pairs("a=1=2") == ["a=1=2"])
        #expect(pairs("k%3Dx=v%26w") == ["k=x=v&w"])
        #expect(pairs("q=%D0%B2%D0%B5%D1%81%D0%BD%D0%B0+2026") == ["q=весна 2026"])
        #expect(pairs("bad=%zz%4&end=%4") == ["bad=%zz%4", "end=%4"])
        #expect(pairs("x=%FF") == ["x=\u{FFFD}"])
        #expect(pairs("=v") == ["=v"])
        #expect(pairs("ключ=значение&a=b") == ["ключ=значение", "a=b"])
        #expect(FormURLEncoded.decode("a+b%20c"[...]) == "a b c")
    }

    /// A visit reads UTM tags and click ids from its landing URL's query whatever the keys' case,
    /// the first of a repeated key, and nothing else.
    @Test func aLandingQueryGivesOnlyItsTagsWithKeysInAnyCase() {
        let tags = EventReader.tags(inQuery: "UTM_Source=yandex&utm_source=second&utm_MEDIUM=cpc&other=1&GCLID=g&utm_term=%D1%81%D0%BB%D0%BE%D0%B2%D0%BE").dictionary
        #expect(tags == ["utm_source": "yandex", "utm_medium": "cpc", "gclid": "g", "utm_term": "слово"])
        #expect(EventReader.tags(inQuery: "").dictionary.isEmpty)
        // A key that lower-cases to a tag only through Unicode (KELVIN SIGN → k).
        #expect(EventReader.tags(inQuery: "rb_clic\u{212A}id=1").dictionary == ["rb_clickid": "1"])
    }
}
