import Foundation

/// An OAuth token pair as a client keeps it between runs and replicas (VK Ads, myTarget, amoCRM).
public struct StoredToken: Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String?
    public var expiresAt: Date
    public init(accessToken: String, refreshToken: String?, expiresAt: Date) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
    }
}
