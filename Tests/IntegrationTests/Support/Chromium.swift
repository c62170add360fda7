import Demo
import Foundation

/// Headless Chromium (Debian package `chromium`, installed by scripts/test.sh): the page as the
/// browser built it — after its HTML parser fixed or refused whatever markup it had to — so a
/// test asserts on what a marketer's browser shows, not on the server's text.
enum Chromium {
    static var binary: String? {
        if let path = TestStack.environment["CHROMIUM"], !path.isEmpty { return path }
        let directories = (TestStack.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init) + ["/usr/bin"]
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }

    /// The serialised DOM of `url` after loading, as `--dump-dom` prints it.
    static func dumpDOM(_ url: String) throws -> String {
        guard let binary else { throw TestFailure("chromium is not installed (scripts/test.sh installs the Debian package)") }
        let name = TestStack.unique("chromium")
        let profile = "/tmp/\(name)-profile"
        let output = "/tmp/\(name).html"
        let errors = "/tmp/\(name).err"
        defer {
            try? FileManager.default.removeItem(atPath: profile)
            try? FileManager.default.removeItem(atPath: output)
            try? FileManager.default.removeItem(atPath: errors)
        }
        // `timeout` bounds a hung browser; the profile is the test's own.
        let status = try Spawn.run("/usr/bin/timeout", [
            "-k", "5", "120", binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--user-data-dir=\(profile)", "--window-size=1280,1800",
            "--dump-dom", url,
        ], environment: TestStack.environment, outputPath: output, errorPath: errors)
        let dom = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0, !dom.isEmpty else {
            let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            throw TestFailure("chromium --dump-dom \(url) ended with status \(status): \(stderr.suffix(2000))")
        }
        return dom
    }
}

/// A DOM read back from serialised HTML (as Chromium writes it: every element closed except the
/// void ones, attribute values double-quoted), enough to find elements and read their text.
final class DOMNode {
    let tag: String
    let attributes: [String: String]
    var children: [DOMNode] = []
    var text = ""
    weak var parent: DOMNode?

    init(tag: String, attributes: [String: String]) {
        self.tag = tag
        self.attributes = attributes
    }

    subscript(_ name: String) -> String? { attributes[name] }

    /// The element's text with its descendants', whitespace collapsed.
    var textContent: String {
        var all = text
        for child in children { all += " " + child.textContent }
        return all.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// Every descendant (depth first) for which `match` holds.
    func all(_ match: (DOMNode) -> Bool) -> [DOMNode] {
        var found: [DOMNode] = []
        for child in children {
            if match(child) { found.append(child) }
            found += child.all(match)
        }
        return found
    }

    func all(_ tag: String, _ attribute: String? = nil, _ value: String? = nil) -> [DOMNode] {
        all { node in
            node.tag == tag && (attribute == nil || (value == nil ? node[attribute!] != nil : node[attribute!] == value))
        }
    }

    func first(_ tag: String, _ attribute: String? = nil, _ value: String? = nil) -> DOMNode? { all(tag, attribute, value).first }

    var classes: Set<String> { Set((self["class"] ?? "").split(separator: " ").map(String.init)) }

    static let void: Set<String> = ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]

    static func unescape(_ text: some StringProtocol) -> String {
        var out = String(text)
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&nbsp;", "\u{A0}"), ("&amp;", "&")] {
            out = out.replacingOccurrences(of: entity, with: character)
        }
        return out
    }

    /// Parses serialised HTML into a tree under a `#document` node.
    static func parse(_ html: String) -> DOMNode {
        let root = DOMNode(tag: "#document", attributes: [:])
        var current = root
        let characters = Array(html.unicodeScalars)
        var index = 0
        func string(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(characters[range])) }
        while index < characters.count {
            guard characters[index] == "<" else {
                let start = index
                while index < characters.count && characters[index] != "<" { index += 1 }
                current.text += unescape(string(start..<index))
                continue
            }
            // A comment or a doctype: skipped.
            if string(index..<min(index + 4, characters.count)) == "<!--" {
                while index < characters.count && string(index..<min(index + 3, characters.count)) != "-->" { index += 1 }
                index += 3
                continue
            }
            var end = index + 1
            var quote: Unicode.Scalar?
            while end < characters.count {
                let c = characters[end]
                if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == ">" { break }
                end += 1
            }
            let inside = string(index + 1..<end)
            index = end + 1
            if inside.hasPrefix("!") || inside.hasPrefix("?") { continue }
            if inside.hasPrefix("/") {
                let name = inside.dropFirst().trimmingCharacters(in: .whitespaces).lowercased()
                var node: DOMNode? = current
                while let candidate = node, candidate.tag != name { node = candidate.parent }
                if let closed = node, let parent = closed.parent { current = parent }
                continue
            }
            let name = String(inside.prefix { !$0.isWhitespace && $0 != "/" }).lowercased()
            var attributes: [String: String] = [:]
            let pattern = /([^\s=\/]+)(?:="([^"]*)")?/
            for match in inside.dropFirst(name.count).matches(of: pattern) {
                attributes[String(match.1).lowercased()] = match.2.map { unescape($0) } ?? ""
            }
            let node = DOMNode(tag: name, attributes: attributes)
            node.parent = current
            current.children.append(node)
            if !void.contains(name) && !inside.hasSuffix("/") { current = node }
            // Raw text elements: their content up to the closing tag, unparsed.
            if name == "style" || name == "script" {
                let close = "</\(name)"
                let start = index
                while index < characters.count && string(index..<min(index + close.count, characters.count)).lowercased() != close { index += 1 }
                node.text = string(start..<index)
            }
        }
        return root
    }
}
