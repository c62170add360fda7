import Foundation

/// One case of the bad-input corpus (issue 8): a file under `Tests/corpus/<kind>/`.
///
/// ```
/// # what the case is (comment lines start with #)
/// key: value
/// expect: 400 field=occurred_at
/// ---
/// the body, byte for byte, to the end of the file
/// ```
///
/// Header keys are lower-case; a key may repeat (`error-contains` twice: both must appear). The
/// body follows the first line that is exactly `---`. Each kind's test documents its keys
/// (`BadInputCorpusTests`); `Tests/corpus/README.md` lists them all.
struct CorpusCase: CustomStringConvertible, Sendable {
    let kind: String
    let name: String
    let about: String
    let headers: [(key: String, value: String)]
    let body: [UInt8]

    var description: String { "\(kind)/\(name)" }
    var bodyText: String { String(decoding: body, as: UTF8.self) }

    func value(_ key: String) -> String? { headers.first { $0.key == key }?.value }
    func values(_ key: String) -> [String] { headers.filter { $0.key == key }.map(\.value) }

    /// `expect: 400 field=phone accepted=2` → ("400", ["field": "phone", "accepted": "2"]).
    var expectation: (outcome: String, details: [String: String]) {
        let words = (value("expect") ?? "").split(separator: " ").map(String.init)
        var details: [String: String] = [:]
        for word in words.dropFirst() {
            let pair = word.split(separator: "=", maxSplits: 1).map(String.init)
            details[pair[0]] = pair.count > 1 ? pair[1] : ""
        }
        return (words.first ?? "", details)
    }

    static let root = TestStack.repositoryRoot.appendingPathComponent("Tests/corpus")

    /// Every case of a kind, by file name.
    static func all(_ kind: String) throws -> [CorpusCase] {
        let directory = root.appendingPathComponent(kind)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".case") }.sorted()
        return try names.map { try parse(kind: kind, name: $0, bytes: Array(Data(contentsOf: directory.appendingPathComponent($0)))) }
    }

    static func parse(kind: String, name: String, bytes: [UInt8]) throws -> CorpusCase {
        var headers: [(String, String)] = []
        var about: [String] = []
        var index = 0
        while index < bytes.count {
            let end = bytes[index...].firstIndex(of: 0x0A) ?? bytes.count
            let line = String(decoding: bytes[index..<end], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            index = min(end + 1, bytes.count)
            if line == "---" {
                return CorpusCase(kind: kind, name: name, about: about.joined(separator: " "), headers: headers, body: Array(bytes[index...]))
            }
            if line.hasPrefix("#") { about.append(line.dropFirst().trimmingCharacters(in: .whitespaces)); continue }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard let colon = line.firstIndex(of: ":") else { throw TestFailure("\(kind)/\(name): '\(line)' is not 'key: value'") }
            headers.append((line[..<colon].trimmingCharacters(in: .whitespaces).lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        throw TestFailure("\(kind)/\(name): no '---' line before the body")
    }
}
