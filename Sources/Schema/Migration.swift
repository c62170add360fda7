import Domain

/// One versioned SQL migration, embedded in the binary from `Sources/Schema/Migrations`.
///
/// Files are named `V<4-digit version>__<name>.sql`; a migration is never edited once released
/// (the migrator refuses to run when an applied migration's checksum changed).
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    init(version: Int, name: String, bytes: [UInt8]) {
        self.init(version: version, name: name, sql: String(decoding: bytes, as: UTF8.self))
    }

    /// FNV-1a 64 of the SQL text, hex: detects edits of applied migrations.
    public var checksum: String { FNV1a.hex(sql) }

    /// Every migration, in version order. Adding a file means adding its line here
    /// (`MigrationsTests` fails if a file in the folder is missing from this list).
    public static let all: [Migration] = [
        Migration(version: 1, name: "core", bytes: PackageResources.V0001__core_sql),
        Migration(version: 2, name: "runtime", bytes: PackageResources.V0002__runtime_sql),
        Migration(version: 3, name: "outbox_attempts", bytes: PackageResources.V0003__outbox_attempts_sql),
        Migration(version: 4, name: "spend", bytes: PackageResources.V0004__spend_sql),
        Migration(version: 5, name: "link_tags", bytes: PackageResources.V0005__link_tags_sql),
        Migration(version: 6, name: "crm", bytes: PackageResources.V0006__crm_sql),
        Migration(version: 7, name: "journey", bytes: PackageResources.V0007__journey_sql),
        Migration(version: 8, name: "links", bytes: PackageResources.V0008__links_sql),
        Migration(version: 9, name: "identity_keys_bytewise", bytes: PackageResources.V0009__identity_keys_bytewise_sql),
        Migration(version: 10, name: "journey_lean", bytes: PackageResources.V0010__journey_lean_sql),
        Migration(version: 11, name: "report", bytes: PackageResources.V0011__report_sql),
        Migration(version: 12, name: "bi_logins", bytes: PackageResources.V0012__bi_logins_sql),
        Migration(version: 13, name: "report_facts", bytes: PackageResources.V0013__report_facts_sql),
        Migration(version: 14, name: "mart_mends", bytes: PackageResources.V0014__mart_mends_sql),
        Migration(version: 15, name: "cost_of_goods_precision", bytes: PackageResources.V0015__cost_of_goods_precision_sql),
        Migration(version: 16, name: "deals_by_contact", bytes: PackageResources.V0016__deals_by_contact_sql),
        Migration(version: 17, name: "deals_by_contact_without_pending_list", bytes: PackageResources.V0017__deals_by_contact_without_pending_list_sql),
    ]
}
