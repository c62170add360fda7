import AmoCRM
import Domain
import Foundation
import Postgres

/// The tokens of one amoCRM connection in `crm.tokens`. A refresh runs in a transaction holding
/// the row's lock (`FOR UPDATE`): two replicas never spend the same rotating refresh token.
public struct PGAmoTokenStore: AmoTokenStore {
    let pool: PGPool
    let project: String
    let connection: String

    public init(pool: PGPool, project: String, connection: String) {
        self.pool = pool
        self.project = project
        self.connection = connection
    }

    public func load() async throws -> StoredToken? {
        try await pool.withConnection { try await read(on: $0, lock: false) }
    }

    public func rotate(stale: String?, _ refresh: @Sendable (StoredToken?) async throws -> StoredToken) async throws -> StoredToken {
        try await pool.withTransaction { connection in
            // The row exists before it can be locked; a placeholder that is already expired.
            try await connection.query("""
                INSERT INTO crm.tokens (project_id, connection_id, access_token, expires_at) VALUES ($1, $2, '', 'epoch')
                ON CONFLICT DO NOTHING
                """, [project, self.connection])
            let stored = try await read(on: connection, lock: true)
            if let stored, !stored.accessToken.isEmpty, stored.accessToken != stale, stored.expiresAt > Date().addingTimeInterval(60) {
                return stored  // another replica renewed it meanwhile
            }
            let fresh = try await refresh(stored.flatMap { $0.accessToken.isEmpty && $0.refreshToken == nil ? nil : $0 })
            try await connection.query("""
                UPDATE crm.tokens SET access_token = $3, refresh_token = $4, expires_at = $5, updated_at = now()
                WHERE project_id = $1 AND connection_id = $2
                """, [project, self.connection, fresh.accessToken, fresh.refreshToken, fresh.expiresAt])
            return fresh
        }
    }

    private func read(on connection: PGConnection, lock: Bool) async throws -> StoredToken? {
        let rows = try await connection.query("""
            SELECT access_token, refresh_token, expires_at FROM crm.tokens WHERE project_id = $1 AND connection_id = $2\(lock ? " FOR UPDATE" : "")
            """, [project, self.connection])
        guard let row = rows.first else { return nil }
        return StoredToken(accessToken: try row.decode(String.self, 0), refreshToken: try row.decode(String?.self, 1),
                        expiresAt: try row.decode(Date.self, 2))
    }
}
