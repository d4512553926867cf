import Foundation
import ParleyCore
import ParleyStorage

public struct BootstrapResult: Sendable {
    public var tenant: Tenant
    /// The new admin key's secret, to print once; nil when it was preset by PARLEY_ADMIN_KEY.
    public var adminSecret: String?
    /// The admin key's id (the console's first sign-in link signs in as this key).
    public var adminKeyID: String
}

/// First start against an empty database: a default tenant and an admin key. Runs under the
/// migration lock so two processes starting together create exactly one.
public struct Bootstrap: Sendable {
    let store: any Store
    let clock: any Clock

    public init(store: any Store, clock: any Clock) {
        self.store = store
        self.clock = clock
    }

    public func run(presetAdminKey: String?, timeZone: String = "UTC") async throws -> BootstrapResult? {
        let tenants = TenantService(store: store, clock: clock)
        let tenant = try tenants.make(name: "Default", slug: "default", timeZone: timeZone)
        let now = clock.now()
        let secret = presetAdminKey ?? APIKeySecret.generate()
        let key = APIKeyRecord.new(secret: secret, tenantID: tenant.id, name: "bootstrap admin", role: .admin, expiresAt: nil, at: now)
        let audit = AuditLog(clock: clock)
        let created = try await store.transaction(lockKey: Migrator.lockKey) { db -> Bool in
            guard try await TenantRepository().count(on: db) == 0 else { return false }
            try await TenantRepository().insert(tenant, on: db)
            try await APIKeyRepository().insert(key, on: db)
            let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "system"), requestID: nil)
            try await audit.record(ctx, action: "tenant.create", targetType: "tenant", targetID: tenant.id, on: db)
            try await audit.record(ctx, action: "api_key.create", targetType: "api_key", targetID: key.id, details: "role=admin", on: db)
            return true
        }
        guard created else { return nil }
        return BootstrapResult(tenant: tenant, adminSecret: presetAdminKey == nil ? secret : nil, adminKeyID: key.id)
    }
}
