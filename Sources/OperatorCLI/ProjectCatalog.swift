import Foundation
import Postgres
import Settings

/// Mirrors the configured projects and sources into `core.projects` / `core.sources`
/// (credentials stay in configuration).
public enum ProjectCatalog {
    /// Upserts every project and source in one transaction; returns the counts.
    public static func apply(_ settings: Settings, pool: PGPool) async throws -> (projects: Int, sources: Int) {
        try await pool.withTransaction { connection in
            var sources = 0
            for project in settings.projects {
                try await connection.query("""
                    INSERT INTO core.projects (project_id, name, time_zone, currency) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (project_id) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone,
                        currency = EXCLUDED.currency, updated_at = now()
                    """, [project.id, project.name, project.timeZone, project.currency])
                for source in project.sources {
                    let options = try PGJSON(encoding: source.options)
                    try await connection.query("""
                        INSERT INTO core.sources (project_id, source_id, kind, account, options) VALUES ($1, $2, $3, $4, $5::jsonb)
                        ON CONFLICT (project_id, source_id) DO UPDATE SET kind = EXCLUDED.kind, account = EXCLUDED.account,
                            options = EXCLUDED.options, updated_at = now()
                        """, [project.id, source.id, source.kind, source.account, options])
                    sources += 1
                }
            }
            return (settings.projects.count, sources)
        }
    }
}
