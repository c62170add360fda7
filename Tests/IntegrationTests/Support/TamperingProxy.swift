import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Sandbox

/// A proxy in front of a fake API that answers one kind of request with a canned (bad) answer
/// and forwards every other request to the fake: the bad-input corpus's way to put a broken
/// response — a torn TSV, JSON of the wrong shape, an HTML error page — exactly where a network
/// or a CRM would send it, while the rest of the conversation (tokens, other days) stays real.
enum TamperingProxy {
    struct Answer: Sendable {
        var status: Int
        var contentType: String
        var body: [UInt8]
    }

    /// Serves on loopback until `stop()`; a request whose path contains `pathContains` and whose
    /// query or body contains `requestContains` gets `answer` (counted in `hits`).
    static func start(upstream: String, pathContains: String, requestContains: String, answer: Answer) async throws -> (FakeServer.Running, Hits) {
        let hits = Hits()
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = Array(try await request.body.collect(upTo: 16 << 20).readableBytesView)
            let target = request.uri.description
            let query = request.uri.query ?? ""
            let text = (query.removingPercentEncoding ?? query) + String(decoding: body, as: UTF8.self)
            if request.uri.path.contains(pathContains) && text.contains(requestContains) {
                hits.add()
                return Response(status: .init(code: answer.status), headers: [.contentType: answer.contentType],
                                body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
            }
            var forward = HTTPClientRequest(url: upstream + target)
            forward.method = .init(rawValue: request.method.rawValue)
            for field in request.headers where ![.contentLength, .connection].contains(field.name) {
                forward.headers.add(name: field.name.rawName, value: field.value)
            }
            if !body.isEmpty { forward.body = .bytes(ByteBuffer(bytes: body)) }
            let response = try await HTTPClient.shared.execute(forward, timeout: .seconds(60))
            let answerBody = try await response.body.collect(upTo: 64 << 20)
            var headers = HTTPFields()
            for (name, value) in response.headers where !["content-length", "transfer-encoding", "connection"].contains(name.lowercased()) {
                if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
            }
            return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: answerBody))
        }
        router.get("**", use: handler)
        router.post("**", use: handler)
        return (try await FakeServer.start(router), hits)
    }

    final class Hits: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }
}
