/// Quotes SQL identifiers (table and column names), which cannot be statement parameters.
public enum PGIdentifier {
    /// `"schema"."table"` from `schema.table` (each dot-separated part quoted, `"` doubled).
    /// - Throws: `PGError(.usage)` for an empty name or part, or a NUL character.
    public static func quote(_ name: String) throws -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }), !name.contains("\0") else {
            throw PGError(.usage, "invalid SQL identifier '\(name)'")
        }
        return parts.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: ".")
    }

    /// Quotes each name and joins them with `, `.
    public static func list(_ names: [String]) throws -> String {
        try names.map(quote).joined(separator: ", ")
    }
}

import Foundation
