import Foundation
import ParleyCore
import ParleyStorage

/// A key as shown to users: never the hash. `secret` is set only in the creation response.
public struct APIKeyView: Sendable, Codable, Equatable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var role: Role
    public var prefix: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    /// Set while the key is soft-deleted (revoked; restorable within the retention period).
    public var deletedAt: Date?
    public var secret: String?

    init(_ r: APIKeyRecord, secret: String? = nil) {
        id = r.id; tenantID = r.tenantID; name = r.name; role = r.role; prefix = r.prefix
        createdAt = r.createdAt; expiresAt = r.expiresAt; revokedAt = r.revokedAt; lastUsedAt = r.lastUsedAt; deletedAt = r.deletedAt
        self.secret = secret
    }
}

public struct APIKeyService: Sendable {
    let store: any Store
    let clock: any Clock
    let retention: Retention
    let repo = APIKeyRepository()
    let tenants = TenantRepository()
    /// `last_used_at` is refreshed at most this often, so authentication stays a read.
    let touchInterval: TimeInterval = 60

    public init(store: any Store, clock: any Clock, retention: Retention = .standard) {
        self.store = store
        self.clock = clock
        self.retention = retention
    }

    public func create(_ ctx: ActionContext, tenantID: String? = nil, name: String, role: Role, expiresAt: Date?) async throws -> APIKeyView {
        try ctx.principal.require(.manageKeys)
        let tenantID = tenantID ?? ctx.principal.tenantID
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw ParleyError.badRequest("name must be 1 to 200 characters", code: "invalid_name")
        }
        guard Role.keyRoles.contains(role) else {
            throw ParleyError.badRequest("role must be one of \(Role.keyRoles.map(\.rawValue).joined(separator: ", "))", code: "invalid_role")
        }
        let now = clock.now()
        if let expiresAt, expiresAt <= now {
            throw ParleyError.badRequest("expires_at must be in the future", code: "invalid_expires_at")
        }
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord.new(secret: secret, tenantID: tenantID, name: name, role: role, expiresAt: expiresAt, at: now)
        let audit = AuditLog(clock: clock)
        try await store.transaction { [repo, tenants] db in
            guard try await tenants.find(id: tenantID, on: db) != nil else {
                throw ParleyError.notFound("tenant \(tenantID) not found", code: "tenant_not_found")
            }
            try await repo.insert(record, on: db)
            try await audit.record(ctx, action: "api_key.create", targetType: "api_key", targetID: record.id,
                                   details: "role=\(role.rawValue)", tenantID: tenantID, on: db)
        }
        return APIKeyView(record, secret: secret)
    }

    public func list(_ principal: Principal, tenantID: String? = nil, includeDeleted: Bool = false) async throws -> [APIKeyView] {
        try principal.require(.manageKeys)
        let tenantID = tenantID ?? principal.tenantID
        return try await store.read { [repo] db in try await repo.list(tenantID: tenantID, includeDeleted: includeDeleted, on: db) }.map { APIKeyView($0) }
    }

    /// Revokes the key: a soft delete (it stops authenticating at once; `restore` within the
    /// retention period makes it work again).
    public func revoke(_ ctx: ActionContext, id: String, tenantID: String? = nil) async throws -> APIKeyView {
        try ctx.principal.require(.manageKeys)
        let tenantID = tenantID ?? ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        let record = try await store.transaction { [repo] db -> APIKeyRecord in
            guard let existing = try await repo.find(tenantID: tenantID, id: id, on: db) else { throw Self.notFound(id) }
            guard existing.revokedAt == nil, existing.deletedAt == nil else { return existing }
            try await repo.setDeleted(tenantID: tenantID, id: id, at: now, now: now, on: db)
            try await audit.record(ctx, action: "api_key.revoke", targetType: "api_key", targetID: id, tenantID: tenantID, on: db)
            var revoked = existing
            revoked.revokedAt = now
            revoked.deletedAt = now
            return revoked
        }
        return APIKeyView(record)
    }

    /// Brings a deleted (revoked) key back within the retention period: it authenticates again.
    public func restore(_ ctx: ActionContext, id: String, tenantID: String? = nil) async throws -> APIKeyView {
        try ctx.principal.require(.manageKeys)
        let tenantID = tenantID ?? ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        let retention = self.retention
        let record = try await store.transaction { [repo] db -> APIKeyRecord in
            guard let existing = try await repo.find(tenantID: tenantID, id: id, on: db) else { throw Self.notFound(id) }
            guard let deletedAt = existing.deletedAt ?? existing.revokedAt else { return existing }
            try retention.requireRestorable("API key \(id)", deletedAt: deletedAt, now: now)
            try await repo.setDeleted(tenantID: tenantID, id: id, at: nil, now: now, on: db)
            try await audit.record(ctx, action: "api_key.restore", targetType: "api_key", targetID: id, tenantID: tenantID, on: db)
            var restored = existing
            restored.revokedAt = nil
            restored.deletedAt = nil
            return restored
        }
        return APIKeyView(record)
    }

    static func notFound(_ id: String) -> ParleyError {
        .notFound("API key \(id) not found", code: "api_key_not_found")
    }

    /// Resolves a bearer secret to its tenant and role. Every failure is 401 with a reason a key
    /// holder can act on; an unknown key says nothing about which keys exist.
    public func authenticate(_ secret: String) async throws -> Principal {
        try await authenticate(secret, selecting: nil)
    }

    /// As `authenticate(_:)`; a suspended tenant's keys get 403 `tenant_suspended`, and `X-Tenant`
    /// (`selecting`), when sent, must name the key's own tenant (id or slug).
    public func authenticate(_ secret: String, selecting tenant: String?) async throws -> Principal {
        guard secret.count >= APIKeySecret.minimumLength, secret.count <= 512 else {
            throw ParleyError(.unauthorized, code: "invalid_api_key", "the API key is not valid")
        }
        let now = clock.now()
        let hash = APIKeySecret.hash(secret)
        let found = try await store.read { [repo] db in try await repo.findWithTenantState(hash: hash, on: db) }
        guard let found, APIKeySecret.matches(secret, hash: found.key.hash) else {
            throw ParleyError(.unauthorized, code: "invalid_api_key", "the API key is not valid")
        }
        let key = found.key
        if key.revokedAt != nil || key.deletedAt != nil { throw ParleyError(.unauthorized, code: "api_key_revoked", "the API key has been revoked") }
        if let exp = key.expiresAt, exp <= now { throw ParleyError(.unauthorized, code: "api_key_expired", "the API key has expired") }
        if found.suspended {
            throw ParleyError(.forbidden, code: "tenant_suspended", "this tenant is suspended; ask the installation's administrator")
        }
        if let tenant = tenant?.trimmingCharacters(in: .whitespaces), tenant != key.tenantID, tenant != found.tenantSlug {
            throw ParleyError(.forbidden, code: "not_a_member", "an API key belongs to one tenant; X-Tenant names another (remove the header)")
        }
        if key.lastUsedAt.map({ now.timeIntervalSince($0) > touchInterval }) ?? true {
            let id = key.id
            try? await store.transaction { [repo] db in try await repo.touch(id: id, at: now, on: db) }
        }
        return Principal(tenantID: key.tenantID, keyID: key.id, role: key.role, actor: "api_key:\(key.id)")
    }
}
