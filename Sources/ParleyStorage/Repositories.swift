import Foundation
import ParleyCore
import SQLKit

// Repositories are stateless: each call takes the `SQLDatabase` of the caller's read or transaction.
// Every query on tenant-owned rows is scoped by `tenant_id`; the one exception is the API key
// lookup by hash, which is how a request's tenant is found in the first place.

public struct TenantRepository: Sendable {
    public init() {}

    public func insert(_ t: Tenant, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO tenants (id, name, slug, time_zone, created_at, updated_at)
            VALUES (\(bind: t.id), \(bind: t.name), \(bind: t.slug), \(bind: t.timeZone), \(bind: t.createdAt), \(bind: t.updatedAt))
            """).run()
    }

    /// Writes a tenant's name, zone and `updated_at`.
    public func update(_ t: Tenant, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE tenants SET name = \(bind: t.name), time_zone = \(bind: t.timeZone), handoff_email = \(bind: t.handoffEmail),
                updated_at = \(bind: t.updatedAt)
            WHERE id = \(bind: t.id) AND deleted_at IS NULL
            """).run()
    }

    public func list(includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> [Tenant] {
        let filter: SQLQueryString = includeDeleted ? "" : "WHERE deleted_at IS NULL"
        return try await db.raw("SELECT * FROM tenants \(filter) ORDER BY id").all().map(Self.decode)
    }

    public func find(id: String, on db: any SQLDatabase) async throws -> Tenant? {
        try await db.raw("SELECT * FROM tenants WHERE id = \(bind: id) AND deleted_at IS NULL").first().map(Self.decode)
    }

    public func find(slug: String, on db: any SQLDatabase) async throws -> Tenant? {
        try await db.raw("SELECT * FROM tenants WHERE slug = \(bind: slug) AND deleted_at IS NULL").first().map(Self.decode)
    }

    public func count(on db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM tenants").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    static func decode(_ row: any SQLRow) throws -> Tenant {
        Tenant(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            slug: try row.decode(column: "slug", as: String.self),
            timeZone: try row.decode(column: "time_zone", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self),
            updatedAt: try row.decode(column: "updated_at", as: Date.self),
            deletedAt: try row.decode(column: "deleted_at", as: Date?.self),
            // Added by migration 0016 (a database not yet migrated has no such column).
            handoffEmail: (try? row.decode(column: "handoff_email", as: String?.self)) ?? nil)
    }
}

public struct APIKeyRepository: Sendable {
    public init() {}

    public func insert(_ k: APIKeyRecord, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO api_keys (id, tenant_id, name, role, prefix, key_hash, created_at, updated_at, expires_at)
            VALUES (\(bind: k.id), \(bind: k.tenantID), \(bind: k.name), \(bind: k.role.rawValue), \(bind: k.prefix),
                    \(bind: k.hash), \(bind: k.createdAt), \(bind: k.createdAt), \(bind: k.expiresAt))
            """).run()
    }

    public func list(tenantID: String, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> [APIKeyRecord] {
        let filter: SQLQueryString = includeDeleted ? "" : " AND deleted_at IS NULL"
        return try await db.raw("SELECT * FROM api_keys WHERE tenant_id = \(bind: tenantID)\(filter) ORDER BY id").all().map(Self.decode)
    }

    public func find(tenantID: String, id: String, on db: any SQLDatabase) async throws -> APIKeyRecord? {
        try await db.raw("SELECT * FROM api_keys WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decode)
    }

    /// The key with this hash whose tenant still exists, in one round trip (this runs on every
    /// request); the caller still compares the hash in constant time.
    public func findWithLiveTenant(hash: String, on db: any SQLDatabase) async throws -> APIKeyRecord? {
        try await db.raw("""
            SELECT k.* FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = \(bind: hash) AND t.deleted_at IS NULL
            """).first().map(Self.decode)
    }

    /// The key with its tenant's slug and whether the tenant is suspended (migration 0018).
    public func findWithTenantState(hash: String, on db: any SQLDatabase) async throws -> (key: APIKeyRecord, tenantSlug: String, suspended: Bool)? {
        guard let row = try await db.raw("""
            SELECT k.*, t.slug AS tenant_slug, t.suspended_at AS tenant_suspended_at FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = \(bind: hash) AND t.deleted_at IS NULL
            """).first() else { return nil }
        return (try Self.decode(row), try row.decode(column: "tenant_slug", as: String.self),
                try row.decode(column: "tenant_suspended_at", as: Date?.self) != nil)
    }

    public func revoke(tenantID: String, id: String, at: Date, on db: any SQLDatabase) async throws -> Bool {
        let rows = try await db.raw("""
            UPDATE api_keys SET revoked_at = \(bind: at), updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) AND revoked_at IS NULL
            RETURNING id
            """).all()
        return !rows.isEmpty
    }

    /// Soft delete (which revokes the key) or, with `at` nil, restore (which un-revokes it).
    public func setDeleted(tenantID: String, id: String, at: Date?, now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE api_keys SET deleted_at = \(bind: at), revoked_at = \(bind: at), updated_at = \(bind: now)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    public func touch(id: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE api_keys SET last_used_at = \(bind: at) WHERE id = \(bind: id)").run()
    }

    static func decode(_ row: any SQLRow) throws -> APIKeyRecord {
        let roleText = try row.decode(column: "role", as: String.self)
        guard let role = Role(rawValue: roleText) else { throw StoreError.query("unknown role '\(roleText)' in api_keys") }
        return APIKeyRecord(
            id: try row.decode(column: "id", as: String.self),
            tenantID: try row.decode(column: "tenant_id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            role: role,
            prefix: try row.decode(column: "prefix", as: String.self),
            hash: try row.decode(column: "key_hash", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self),
            expiresAt: try row.decode(column: "expires_at", as: Date?.self),
            revokedAt: try row.decode(column: "revoked_at", as: Date?.self),
            lastUsedAt: try row.decode(column: "last_used_at", as: Date?.self),
            deletedAt: try row.decode(column: "deleted_at", as: Date?.self))
    }
}

public struct AuditRepository: Sendable {
    public init() {}

    public func append(_ e: AuditEntry, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO audit_log (id, tenant_id, actor, action, target_type, target_id, request_id, details, created_at)
            VALUES (\(bind: e.id), \(bind: e.tenantID), \(bind: e.actor), \(bind: e.action), \(bind: e.targetType),
                    \(bind: e.targetID), \(bind: e.requestID), \(bind: e.details), \(bind: e.createdAt))
            """).run()
    }

    /// Newest first; `before` is the id of the last entry of the previous page.
    public func list(tenantID: String, limit: Int, before: String?, action: String?, on db: any SQLDatabase) async throws -> [AuditEntry] {
        var sql: SQLQueryString = "SELECT * FROM audit_log WHERE tenant_id = \(bind: tenantID)"
        if let before { sql += " AND id < \(bind: before)" }
        if let action { sql += " AND action = \(bind: action)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map { row in
            AuditEntry(
                id: try row.decode(column: "id", as: String.self),
                tenantID: try row.decode(column: "tenant_id", as: String.self),
                actor: try row.decode(column: "actor", as: String.self),
                action: try row.decode(column: "action", as: String.self),
                targetType: try row.decode(column: "target_type", as: String.self),
                targetID: try row.decode(column: "target_id", as: String?.self),
                requestID: try row.decode(column: "request_id", as: String?.self),
                details: try row.decode(column: "details", as: String?.self),
                createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }
}
