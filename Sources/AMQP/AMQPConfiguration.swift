import Foundation

/// How to reach RabbitMQ: parsed from `AMQP_URL` (`amqp://user:password@host:port/vhost`).
///
/// The vhost is the URL's path, percent-decoded (`/%2f` and an empty path both mean `/`).
/// Defaults: user `guest`, password `guest`, port 5672.
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var user: String
    /// Never logged: `description` and `redactedURL` mask it.
    public var password: String
    /// Heartbeat interval the client asks for, in seconds (0 = off).
    public var heartbeatSeconds: Int
    /// Seconds a TCP connect or login may take.
    public var connectTimeoutSeconds: Int
    /// Largest frame, in bytes.
    public var frameMax: Int

    public init(
        host: String = "127.0.0.1", port: Int = 5672, virtualHost: String = "/", user: String = "guest",
        password: String = "guest", heartbeatSeconds: Int = 30, connectTimeoutSeconds: Int = 5,
        frameMax: Int = 131_072
    ) {
        self.host = host
        self.port = port
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.heartbeatSeconds = heartbeatSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.frameMax = frameMax
    }

    /// Parses an `amqp://` URL.
    /// - Throws: `AMQPError(.usage)` naming what is wrong (never echoing the password).
    public init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "amqp" else {
            throw AMQPError(.usage, "AMQP URL must look like amqp://user:password@host:port/vhost", operation: "parse URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw AMQPError(.usage, "AMQP URL has no host", operation: "parse URL")
        }
        self.init(host: host, port: components.port ?? 5672)
        if let user = components.user { self.user = user.removingPercentEncoding ?? user }
        if let password = components.percentEncodedPassword { self.password = password.removingPercentEncoding ?? password }
        let path = components.percentEncodedPath
        if path.isEmpty || path == "/" {
            virtualHost = "/"
        } else {
            let raw = String(path.dropFirst())
            virtualHost = raw.removingPercentEncoding ?? raw
        }
        for item in components.queryItems ?? [] {
            switch item.name {
            case "heartbeat": heartbeatSeconds = Int(item.value ?? "") ?? heartbeatSeconds
            case "connection_timeout": connectTimeoutSeconds = Int(item.value ?? "") ?? connectTimeoutSeconds
            case "frame_max": frameMax = Int(item.value ?? "") ?? frameMax
            default: break
            }
        }
    }

    /// The URL with the password masked.
    public var description: String { redactedURL }

    /// `amqp://user:***@host:port/vhost`, safe for logs.
    public var redactedURL: String {
        let vhost = virtualHost == "/" ? "%2f" : virtualHost
        return "amqp://\(user):***@\(host):\(port)/\(vhost)"
    }
}
