import Foundation
import ParleyCore
import SQLKit

/// Rows one purge removed from one table for one tenant (`tenantID` nil for installation-wide
/// rows such as expired one-time tokens without a tenant).
public struct PurgedRows: Sendable, Equatable {
    public var table: String
    public var tenantID: String?
    public var rows: Int

    public init(table: String, tenantID: String?, rows: Int) {
        self.table = table
        self.tenantID = tenantID
        self.rows = rows
    }
}

/// What the retention purge (docs/soft-delete.md) may delete: rows soft-deleted before a cutoff,
/// with the rows that depend on them, or rows that have simply expired. The core and each domain
/// pack contribute theirs (`DomainPack.purgeTargets`); the purge runs each in a transaction of
/// its own, at most `limit` parent rows at a time (nil: all, as a dry run does).
public struct PurgeTarget: Sendable {
    public struct Request: Sendable {
        /// Rows soft-deleted before this are purged.
        public var cutoff: Date
        public var now: Date
        public var limit: Int?
        public var kind: DatabaseKind

        public init(cutoff: Date, now: Date, limit: Int?, kind: DatabaseKind) {
            self.kind = kind
            self.cutoff = cutoff
            self.now = now
            self.limit = limit
        }
    }

    /// The table the target is named after (its parent rows).
    public var table: String
    public var purge: @Sendable (Request, any SQLDatabase) async throws -> [PurgedRows]

    public init(table: String, purge: @escaping @Sendable (Request, any SQLDatabase) async throws -> [PurgedRows]) {
        self.table = table
        self.purge = purge
    }

    /// A row that points at a purged parent row: deleted first.
    public struct Dependent: Sendable {
        public var table: String
        /// The column holding the parent's id.
        public var column: String

        public init(_ table: String, _ column: String) {
            self.table = table
            self.column = column
        }
    }

    /// The common case: `table` has `id`, `tenant_id` and `deleted_at`; its soft-deleted rows
    /// older than the cutoff go, after their `dependents` (in the order given). `extra` narrows
    /// further (e.g. "AND ..."), raw SQL from code, never from input.
    public static func softDeleted(_ table: String, dependents: [Dependent] = []) -> PurgeTarget {
        PurgeTarget(table: table) { request, db in
            var select: SQLQueryString = "SELECT id, tenant_id FROM \(ident: table) WHERE deleted_at IS NOT NULL AND deleted_at < \(bind: request.cutoff) ORDER BY id"
            if let limit = request.limit { select += " LIMIT \(literal: limit)" }
            let rows = try await db.raw(select).all()
            guard !rows.isEmpty else { return [] }
            var byTenant: [String: [String]] = [:]
            for row in rows {
                byTenant[try row.decode(column: "tenant_id", as: String.self), default: []].append(try row.decode(column: "id", as: String.self))
            }
            var out: [PurgedRows] = []
            for (tenantID, ids) in byTenant.sorted(by: { $0.key < $1.key }) {
                out += try await deleteRows(table, ids: ids, tenantID: tenantID, dependents: dependents, on: db)
            }
            return out
        }
    }

    /// Deletes `ids` of `table` (the tenant's) after their dependents; returns what went.
    public static func deleteRows(_ table: String, ids: [String], tenantID: String, dependents: [Dependent], on db: any SQLDatabase) async throws -> [PurgedRows] {
        var out: [PurgedRows] = []
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            for d in dependents {
                let n = try await count(db, "DELETE FROM \(ident: d.table) WHERE \(ident: d.column) IN (\(binds: chunk))")
                if n > 0 { out.append(PurgedRows(table: d.table, tenantID: tenantID, rows: n)) }
            }
            let n = try await count(db, "DELETE FROM \(ident: table) WHERE tenant_id = \(bind: tenantID) AND id IN (\(binds: chunk))")
            out.append(PurgedRows(table: table, tenantID: tenantID, rows: n))
        }
        return out
    }

    /// Runs a DELETE and returns how many rows it removed (`RETURNING 1`, which both databases have).
    public static func count(_ db: any SQLDatabase, _ delete: SQLQueryString) async throws -> Int {
        var sql = delete
        sql += " RETURNING 1 AS one"
        return try await db.raw(sql).all().count
    }
}
