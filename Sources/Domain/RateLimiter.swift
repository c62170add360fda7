import Foundation

/// Spaces calls at most `perSecond` a second (an API's request-rate limit, e.g. amoCRM's 7/s),
/// across every task that shares it.
public actor RateLimiter {
    private let interval: Double
    private var next: ContinuousClock.Instant

    public init(perSecond: Double) {
        interval = perSecond > 0 ? 1 / perSecond : 0
        next = ContinuousClock.now
    }

    /// Waits for this call's slot.
    public func acquire() async throws {
        guard interval > 0 else { return }
        let now = ContinuousClock.now
        let slot = max(now, next)
        next = slot.advanced(by: .milliseconds(Int64(interval * 1000)))
        if slot > now { try await Task.sleep(until: slot, clock: .continuous) }
    }
}
