import Domain

/// How to reach PostgreSQL.
///
/// Read from `DATABASE_URL` (`postgresql://user:password@host:port/database?sslmode=...`) by the
/// executables; any libpq connection URL or key/value string works.
public struct PGConfiguration: Sendable, CustomStringConvertible {
    /// The libpq connection URL. Contains the password: never log it (see `redactedURL`).
    public var url: String
    /// Shown in `pg_stat_activity`.
    public var applicationName: String
    /// Seconds libpq waits for a connection before giving up.
    public var connectTimeoutSeconds: Int
    /// Most connections a `PGPool` opens.
    public var poolSize: Int

    public init(url: String, applicationName: String = "skvoznaya", connectTimeoutSeconds: Int = 5, poolSize: Int = 4) {
        self.url = url
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.poolSize = poolSize
    }

    /// The URL with its password masked: safe to log.
    public var description: String { Redaction.url(url) }
}
