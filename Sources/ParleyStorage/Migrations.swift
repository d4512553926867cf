import Foundation
import ParleyCore
import SQLKit

/// A schema change, written once for both databases. Column types that differ are written as
/// tokens: `%TIMESTAMP%` (timestamptz / REAL seconds), `%BOOL%`, `%JSON%` (jsonb / TEXT), `%BIGINT%`, `%UNLOGGED%`.
/// Ids are text UUIDv7 on both, so they read the same in logs, URLs and either database.
public struct Migration: Sendable {
    public var id: String
    public var statements: [String]

    public init(_ id: String, _ statements: [String]) {
        self.id = id
        self.statements = statements
    }

    func sql(for kind: DatabaseKind) -> [String] {
        let types: [(String, String)] = switch kind {
        case .postgres: [("%TIMESTAMP%", "timestamptz"), ("%BOOL%", "boolean"), ("%JSON%", "jsonb"), ("%BIGINT%", "bigint")]
        case .sqlite: [("%TIMESTAMP%", "REAL"), ("%BOOL%", "INTEGER"), ("%JSON%", "TEXT"), ("%BIGINT%", "INTEGER")]
        }
        // `%UNLOGGED%`: PostgreSQL keeps the table out of its write-ahead log (emptied after a crash).
        let unlogged = kind == .postgres ? "UNLOGGED" : ""
        return statements.map { stmt in types.reduce(stmt) { $0.replacingOccurrences(of: $1.0, with: $1.1) }.replacingOccurrences(of: "%UNLOGGED%", with: unlogged) }
    }
}

public struct MigrationStatus: Sendable, Equatable {
    public var id: String
    public var appliedAt: Date?
}

/// Applies migrations in order, each recorded in `schema_migrations`. All pending migrations run in
/// one transaction under a lock, so two processes starting at once apply them exactly once.
public struct Migrator: Sendable {
    public static let lockKey: Int64 = 0x5041_524C_4559  // "PARLEY"
    let store: any Store
    let migrations: [Migration]

    public init(store: any Store, migrations: [Migration]) {
        self.store = store
        self.migrations = migrations
    }

    private static let createTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            id TEXT PRIMARY KEY,
            applied_at %TIMESTAMP% NOT NULL
        )
        """

    @discardableResult
    public func migrate(at now: Date) async throws -> [String] {
        let migrations = self.migrations
        let kind = store.kind
        return try await store.transaction(lockKey: Self.lockKey) { db in
            for stmt in Migration("", [Self.createTable]).sql(for: kind) {
                try await db.raw("\(unsafeRaw: stmt)").run()
            }
            let applied = Set(try await db.raw("SELECT id FROM schema_migrations").all().map { try $0.decode(column: "id", as: String.self) })
            var done: [String] = []
            for m in migrations where !applied.contains(m.id) {
                for stmt in m.sql(for: kind) {
                    try await db.raw("\(unsafeRaw: stmt)").run()
                }
                try await db.raw("INSERT INTO schema_migrations (id, applied_at) VALUES (\(bind: m.id), \(bind: now))").run()
                done.append(m.id)
            }
            return done
        }
    }

    public func status() async throws -> [MigrationStatus] {
        let migrations = self.migrations
        let kind = store.kind
        let applied: [String: Date] = try await store.read { db in
            let exists: Bool
            switch kind {
            case .sqlite:
                exists = try await db.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").first() != nil
            case .postgres:
                exists = try await db.raw("SELECT 1 AS one FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'").first() != nil
            }
            guard exists else { return [:] }
            var out: [String: Date] = [:]
            for row in try await db.raw("SELECT id, applied_at FROM schema_migrations").all() {
                out[try row.decode(column: "id", as: String.self)] = try row.decode(column: "applied_at", as: Date.self)
            }
            return out
        }
        return migrations.map { MigrationStatus(id: $0.id, appliedAt: applied[$0.id]) }
    }

    public func pending() async throws -> [String] {
        try await status().filter { $0.appliedAt == nil }.map(\.id)
    }
}

/// The platform's own tables. Domain packs add theirs after these.
public enum CoreSchema {
    public static let migrations: [Migration] = [
        Migration("0001_tenants_keys_audit", [
            """
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT NOT NULL UNIQUE,
                time_zone TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                deleted_at %TIMESTAMP%
            )
            """,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                prefix TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP%,
                revoked_at %TIMESTAMP%,
                last_used_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id)",
            """
            CREATE TABLE audit_log (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target_type TEXT NOT NULL,
                target_id TEXT,
                request_id TEXT,
                details TEXT,
                created_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id)",
        ]),
        // Installation-wide facts, such as which secret key this database's secrets are sealed with.
        Migration("0009_instance_settings", [
            """
            CREATE TABLE instance_settings (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
        ]),
    ]
}
