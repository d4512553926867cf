import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// A tenant as the installation's administrator sees it.
public struct AdminTenantView: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var slug: String
    public var timeZone: String
    public var createdAt: Date
    public var suspendedAt: Date?
    public var deletedAt: Date?
}

/// Installation administration (`/v1/admin/tenants`): creating, renaming, moving, suspending and
/// deleting tenants. Only a signed-in user with the `installation_admin` flag may (docs/accounts.md).
public struct AdminTenantService: Sendable {
    let store: any Store
    let clock: any Clock
    let tenants: TenantService
    let zoneChanged: TenantService.ZoneChange?

    public init(store: any Store, clock: any Clock, zoneChanged: TenantService.ZoneChange?) {
        self.store = store
        self.clock = clock
        tenants = TenantService(store: store, clock: clock)
        self.zoneChanged = zoneChanged
    }

    public static func require(_ p: Principal) throws(ParleyError) {
        guard p.installationAdmin else {
            throw ParleyError(.forbidden, code: "installation_admin_required",
                              "only an installation administrator (a user with installation_admin) may manage tenants")
        }
    }

    public func create(_ ctx: ActionContext, name: String, slug: String?, timeZone: String) async throws -> AdminTenantView {
        try Self.require(ctx.principal)
        let t = try await tenants.create(name: name, slug: slug, timeZone: timeZone, actor: ctx.principal.actor)
        return try await get(ctx.principal, id: t.id)
    }

    public func list(_ p: Principal, includeDeleted: Bool) async throws -> [AdminTenantView] {
        try Self.require(p)
        let filter: SQLQueryString = includeDeleted ? "" : "WHERE deleted_at IS NULL"
        return try await store.read { db in try await db.raw("SELECT * FROM tenants \(filter) ORDER BY id").all().map(Self.decode) }
    }

    public func get(_ p: Principal, id: String) async throws -> AdminTenantView {
        try Self.require(p)
        guard let t = try await store.read({ db in try await Self.find(id, on: db) }) else {
            throw ParleyError.notFound("no tenant with id or slug '\(id.prefix(100))'", code: "tenant_not_found")
        }
        return t
    }

    public struct Change: Sendable {
        public var name: String?
        public var timeZone: String?
        public var suspended: Bool?
        public init(name: String?, timeZone: String?, suspended: Bool?) {
            self.name = name
            self.timeZone = timeZone
            self.suspended = suspended
        }
    }

    public func update(_ ctx: ActionContext, id: String, _ change: Change) async throws -> AdminTenantView {
        try Self.require(ctx.principal)
        guard change.name != nil || change.timeZone != nil || change.suspended != nil else {
            throw ParleyError.badRequest("send name, time_zone and/or suspended to change", code: "empty_update")
        }
        let target = try await get(ctx.principal, id: id)
        // The tenant's own settings change goes through TenantService (validation, audit, schedules following the zone).
        let asTenant = ActionContext(principal: Principal(tenantID: target.id, keyID: nil, role: .admin, actor: ctx.principal.actor),
                                     requestID: ctx.requestID)
        if change.name != nil || change.timeZone != nil {
            _ = try await tenants.update(asTenant, TenantService.Update(name: change.name, timeZone: change.timeZone), zoneChanged: zoneChanged)
        }
        if let suspended = change.suspended, suspended != (target.suspendedAt != nil) {
            let now = clock.now()
            let audit = AuditLog(clock: clock)
            try await store.transaction { db in
                try await db.raw("""
                    UPDATE tenants SET suspended_at = \(bind: suspended ? now : nil), updated_at = \(bind: now) WHERE id = \(bind: target.id)
                    """).run()
                try await audit.record(asTenant, action: suspended ? "tenant.suspend" : "tenant.unsuspend", targetType: "tenant",
                                       targetID: target.id, on: db)
            }
        }
        return try await get(ctx.principal, id: target.id)
    }

    /// Soft-deletes the tenant: its keys and users stop working at once.
    public func delete(_ ctx: ActionContext, id: String) async throws -> AdminTenantView {
        let target = try await get(ctx.principal, id: id)
        guard target.id != ctx.principal.tenantID else {
            throw ParleyError.conflict("you may not delete the tenant you are signed in to", code: "own_tenant")
        }
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        let asTenant = ActionContext(principal: Principal(tenantID: target.id, keyID: nil, role: .admin, actor: ctx.principal.actor),
                                     requestID: ctx.requestID)
        try await store.transaction { db in
            try await db.raw("UPDATE tenants SET deleted_at = \(bind: now), updated_at = \(bind: now) WHERE id = \(bind: target.id)").run()
            try await audit.record(asTenant, action: "tenant.delete", targetType: "tenant", targetID: target.id, on: db)
        }
        var deleted = target
        deleted.deletedAt = now
        return deleted
    }

    static func find(_ idOrSlug: String, on db: any SQLDatabase) async throws -> AdminTenantView? {
        try await db.raw("""
            SELECT * FROM tenants WHERE (id = \(bind: idOrSlug) OR slug = \(bind: idOrSlug)) AND deleted_at IS NULL
            """).first().map(decode)
    }

    static func decode(_ row: any SQLRow) throws -> AdminTenantView {
        AdminTenantView(id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
                        slug: try row.decode(column: "slug", as: String.self), timeZone: try row.decode(column: "time_zone", as: String.self),
                        createdAt: try row.decode(column: "created_at", as: Date.self),
                        suspendedAt: try row.decode(column: "suspended_at", as: Date?.self),
                        deletedAt: try row.decode(column: "deleted_at", as: Date?.self))
    }
}
