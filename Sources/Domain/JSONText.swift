/// Writing JSON by hand where an encoder would cost too much (log lines, the tracker's answers).
public enum JSONText {
    /// A JSON string literal (`JSONWriter.string`'s escaping).
    public static func quote(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 2)
        writer.string(text)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
