/// Reads CSV as spreadsheets export it: UTF-8 (a BOM is skipped), `,` or `;` (or tab) as the
/// separator — detected from the header line — fields optionally in double quotes with `""`
/// for a quote, quoted fields may hold separators and line breaks, CRLF or LF.
public struct DelimitedText: Sendable {
    public struct Row: Sendable, Equatable {
        /// 1-based line where the row starts.
        public let line: Int
        public let fields: [String]
        public init(line: Int, fields: [String]) {
            self.line = line
            self.fields = fields
        }

        /// The trimmed field at `index`; nil when the column is absent or the field empty.
        public func value(_ index: Int?) -> String? {
            guard let index, index < fields.count else { return nil }
            let text = fields[index].trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : text
        }

        /// Whether every field is empty (a blank line of a spreadsheet export).
        public var isBlank: Bool { fields.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }

        /// An error naming this row's line and `column`.
        public func error(_ column: String, _ message: String) -> CSVError { CSVError(line: line, "\(column): \(message)") }
    }

    public let separator: Character
    public let header: [String]
    public let rows: [Row]

    /// - Throws: `CSVError` for an empty text or an unterminated quote (naming the line).
    public init(_ text: String) throws {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        // (`isNewline`: Swift reads CR LF as one Character, which is neither "\r" nor "\n".)
        let firstLine = body.prefix { !$0.isNewline }
        let candidates: [Character] = [";", ",", "\t"]
        separator = candidates.max { a, b in
            firstLine.filter { $0 == a }.count < firstLine.filter { $0 == b }.count
        } ?? ","
        var records: [Row] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var fieldWasQuoted = false
        var line = 1
        var recordLine = 1
        var index = body.startIndex
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !fieldWasQuoted) {
                records.append(Row(line: recordLine, fields: fields))
            }
            fields = []
            field = ""
            fieldWasQuoted = false
        }
        while index < body.endIndex {
            let char = body[index]
            index = body.index(after: index)
            if quoted {
                if char == "\"" {
                    if index < body.endIndex, body[index] == "\"" {
                        field.append("\"")
                        index = body.index(after: index)
                    } else {
                        quoted = false
                    }
                } else {
                    if char == "\n" || char == "\r\n" || char == "\r" { line += 1 }
                    field.append(char)
                }
                continue
            }
            switch char {
            case "\"" where field.isEmpty:
                quoted = true
                fieldWasQuoted = true
            case separator:
                fields.append(field)
                field = ""
                fieldWasQuoted = false
            case "\r\n", "\n", "\r":
                endRecord()
                line += 1
                recordLine = line
            default:
                field.append(char)
            }
        }
        if quoted { throw CSVError(line: recordLine, "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { endRecord() }
        guard let first = records.first else { throw CSVError(line: 1, "the file is empty") }
        header = first.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        rows = Array(records.dropFirst())
    }

    /// The column index of the first of `names` present in the header.
    public func column(_ names: String...) -> Int? {
        for name in names { if let index = header.firstIndex(of: name) { return index } }
        return nil
    }
}

/// A CSV problem, naming the line.
public struct CSVError: Error, CustomStringConvertible, Sendable, Equatable {
    public let line: Int
    public let message: String
    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { "line \(line): \(message)" }
}

import Foundation
