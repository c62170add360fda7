/// An error answer of the Yandex Direct API v5 (`{"error": {...}}`), or a transport failure.
public struct DirectAPIError: Error, CustomStringConvertible, Sendable {
    /// The API's `error_code` (0 when the answer was not an API error body).
    public var code: Int
    public var message: String
    public var detail: String
    public var httpStatus: Int?
    public var requestID: String?

    public init(code: Int, message: String, detail: String = "", httpStatus: Int? = nil, requestID: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.httpStatus = httpStatus
        self.requestID = requestID
    }

    /// Codes after which the same request may succeed later: auth server unavailable (52),
    /// method limit (56), too many concurrent connections (506), server errors (1000–1002),
    /// offline queue full (9000); plus HTTP 5xx without an API body.
    public var isRetryable: Bool {
        if [52, 56, 506, 1000, 1001, 1002, 9000].contains(code) { return true }
        if code == 0, let httpStatus, httpStatus >= 500 { return true }
        return false
    }

    /// Retrying will not help: bad token (53), no rights (54), out of units (152), bad request.
    public var stopsTheRun: Bool { !isRetryable }

    public var description: String {
        var text = "Yandex Direct error \(code)"
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        text += ": \(message)"
        if !detail.isEmpty { text += " — \(detail)" }
        switch code {
        case 53: text += " [the OAuth token is invalid or expired]"
        case 152: text += " [the account is out of API units for today; try later]"
        default: break
        }
        if let requestID { text += " [RequestId \(requestID)]" }
        return text
    }
}
