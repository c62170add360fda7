import Foundation

/// Exponential backoff with jitter: `initial` seconds, doubling per attempt, capped at
/// `maximum`, ±20 % so that many clients do not retry in step. Used by the AMQP links, the
/// worker runtime and every external API client.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double

    public init(initial: Double = 0.1, maximum: Double = 5) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Seconds to wait before attempt `attempt` (1-based).
    public func delay(attempt: Int) -> Double {
        let base = min(maximum, initial * pow(2, Double(max(0, attempt - 1))))
        return base * Double.random(in: 0.8...1.2)
    }

    /// Sleeps `delay(attempt:)`.
    public func sleep(attempt: Int) async throws {
        try await Task.sleep(for: .milliseconds(Int(delay(attempt: attempt) * 1000)))
    }
}
