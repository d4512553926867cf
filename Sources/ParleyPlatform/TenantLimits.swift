import Foundation
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization

/// A tenant's request limits: its own rule for each API key (and user) and for the tenant as a
/// whole, or the installation's default where it set none.
public struct TenantLimits: Sendable, Equatable {
    public var key: TokenBucketRule
    public var tenant: TokenBucketRule
    /// Which of the two the tenant set itself (`key`, `tenant`).
    public var overridden: Set<RateLimitKind>
    public var updatedAt: Date?
}

/// Reads and changes a tenant's overrides (`GET/PUT /v1/tenant/limits`, audited), and answers the
/// middleware's per-request question from a short-lived cache: a change reaches this process at
/// once and other replicas within `cacheSeconds`.
public final class TenantLimitsService: Sendable {
    let store: any Store
    let clock: any Clock
    public let defaults: RateLimitSettings
    private let cache = Mutex<[String: (limits: TenantLimits, at: Date)]>([:])
    public static let cacheSeconds = 10.0
    static let cacheMax = 10_000

    public init(store: any Store, clock: any Clock, defaults: RateLimitSettings) {
        self.store = store
        self.clock = clock
        self.defaults = defaults
    }

    /// A change: `.some(nil)` goes back to the installation's default, nil leaves it.
    public struct Update: Sendable, Equatable {
        public var key: TokenBucketRule??
        public var tenant: TokenBucketRule??
        public init(key: TokenBucketRule?? = nil, tenant: TokenBucketRule?? = nil) {
            self.key = key
            self.tenant = tenant
        }
    }

    public func get(_ principal: Principal) async throws -> TenantLimits {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        return try await store.read { [defaults] db in try await Self.find(tenantID: tenantID, defaults: defaults, on: db) }
    }

    public func update(_ ctx: ActionContext, _ u: Update) async throws -> TenantLimits {
        try ctx.principal.require(.manageKeys, toDo: "change the workspace's rate limits")
        if case let rule?? = u.key { try Self.validate(rule, name: "key") }
        if case let rule?? = u.tenant { try Self.validate(rule, name: "tenant") }
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        let limits = try await store.transaction { [defaults] db in
            let row = try await db.raw("SELECT * FROM tenant_rate_limits WHERE tenant_id = \(bind: tenantID)").first()
            func current(_ prefix: String) throws -> TokenBucketRule? {
                guard let row, let c = try row.decode(column: "\(prefix)_capacity", as: Int?.self),
                      let m = try row.decode(column: "\(prefix)_per_minute", as: Int?.self) else { return nil }
                return TokenBucketRule(capacity: c, per: m, seconds: 60)
            }
            let key = try u.key ?? current("key")
            let tenant = try u.tenant ?? current("tenant")
            try await db.raw("""
                INSERT INTO tenant_rate_limits (tenant_id, key_capacity, key_per_minute, tenant_capacity, tenant_per_minute, updated_at)
                VALUES (\(bind: tenantID), \(bind: key?.capacity), \(bind: key?.perMinute), \(bind: tenant?.capacity), \(bind: tenant?.perMinute), \(bind: now))
                ON CONFLICT (tenant_id) DO UPDATE SET key_capacity = EXCLUDED.key_capacity, key_per_minute = EXCLUDED.key_per_minute,
                    tenant_capacity = EXCLUDED.tenant_capacity, tenant_per_minute = EXCLUDED.tenant_per_minute, updated_at = EXCLUDED.updated_at
                """).run()
            let limits = try await Self.find(tenantID: tenantID, defaults: defaults, on: db)
            try await audit.record(ctx, action: "tenant.limits.update", targetType: "tenant", targetID: tenantID,
                                   details: JSONValue.object(Self.rules(limits)).serialized(), on: db)
            return limits
        }
        cache.withLock { $0[tenantID] = (limits, now) }
        return limits
    }

    /// The tenant's rules for the request path: cached for `cacheSeconds`.
    public func effective(tenantID: String) async throws -> TenantLimits {
        let now = clock.now()
        if let hit = cache.withLock({ $0[tenantID] }), abs(now.timeIntervalSince(hit.at)) < Self.cacheSeconds { return hit.limits }
        let limits = try await store.read { [defaults] db in try await Self.find(tenantID: tenantID, defaults: defaults, on: db) }
        cache.withLock { all in
            if all.count >= Self.cacheMax { all.removeAll(keepingCapacity: true) }
            all[tenantID] = (limits, now)
        }
        return limits
    }

    static func validate(_ rule: TokenBucketRule, name: String) throws(ParleyError) {
        guard RateLimitSettings.capacityRange.contains(rule.capacity) else {
            throw .badRequest("\(name).capacity must be an integer from \(RateLimitSettings.capacityRange.lowerBound) to \(RateLimitSettings.capacityRange.upperBound)",
                              code: "invalid_limits")
        }
        guard RateLimitSettings.perMinuteRange.contains(rule.perMinute) else {
            throw .badRequest("\(name).refill_per_minute must be an integer from \(RateLimitSettings.perMinuteRange.lowerBound) to \(RateLimitSettings.perMinuteRange.upperBound)",
                              code: "invalid_limits")
        }
    }

    static func find(tenantID: String, defaults: RateLimitSettings, on db: any SQLDatabase) async throws -> TenantLimits {
        var limits = TenantLimits(key: defaults.key, tenant: defaults.tenant, overridden: [], updatedAt: nil)
        guard let row = try await db.raw("SELECT * FROM tenant_rate_limits WHERE tenant_id = \(bind: tenantID)").first() else { return limits }
        limits.updatedAt = try row.decode(column: "updated_at", as: Date.self)
        if let c = try row.decode(column: "key_capacity", as: Int?.self), let m = try row.decode(column: "key_per_minute", as: Int?.self) {
            limits.key = TokenBucketRule(capacity: c, per: m, seconds: 60)
            limits.overridden.insert(.key)
        }
        if let c = try row.decode(column: "tenant_capacity", as: Int?.self), let m = try row.decode(column: "tenant_per_minute", as: Int?.self) {
            limits.tenant = TokenBucketRule(capacity: c, per: m, seconds: 60)
            limits.overridden.insert(.tenant)
        }
        return limits
    }

    /// Each bucket's figures and whether they are the tenant's own or the default (the API's
    /// shape, and the audit record's details).
    public static func rules(_ l: TenantLimits) -> [String: JSONValue] {
        func rule(_ r: TokenBucketRule, _ kind: RateLimitKind) -> JSONValue {
            ["capacity": .number(Double(r.capacity)), "refill_per_minute": .number(Double(r.perMinute)),
             "source": .string(l.overridden.contains(kind) ? "tenant" : "default")]
        }
        return ["key": rule(l.key, .key), "tenant": rule(l.tenant, .tenant)]
    }
}
