/// Turns a `DecodingError` into a message naming the field: `projects[1].time_zone: expected
/// String`, `payload.visits[3].occurred_at: missing`.
public enum DecodingProblem {
    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            var text = ""
            for key in context.codingPath {
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = path(context)
            return "\(at.isEmpty ? "" : at + ".")\(key.stringValue): missing"
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): null where \(type) is required"
        case .dataCorrupted(let context):
            let at = path(context)
            return at.isEmpty ? "not valid: \(context.debugDescription)" : "\(at): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
