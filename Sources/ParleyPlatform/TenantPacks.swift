import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// Which of the installation's packs each tenant has switched off (a row per switched-off pack;
/// no row means enabled).
public enum TenantPackSchema {
    public static let migrations: [Migration] = [
        Migration("0015_tenant_packs", [
            """
            CREATE TABLE tenant_packs (
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                pack TEXT NOT NULL,
                enabled %BOOL% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (tenant_id, pack)
            )
            """,
        ]),
    ]
}

/// The packs enabled for a tenant: the installation's (`PARLEY_PACKS`) minus those the tenant
/// switched off (`PUT /v1/tenant/packs`, audited).
public struct TenantPackService: Sendable {
    let store: any Store
    let clock: any Clock
    /// The installation's enabled packs, in order.
    public let installed: [String]

    public init(store: any Store, clock: any Clock, installed: [String]) {
        self.store = store
        self.clock = clock
        self.installed = installed
    }

    public func enabled(tenantID: String) async throws -> Set<String> {
        let off = try await store.read { db in try await Self.disabled(tenantID: tenantID, on: db) }
        return Set(installed).subtracting(off)
    }

    public func isEnabled(_ pack: String, tenantID: String) async throws -> Bool {
        try await enabled(tenantID: tenantID).contains(pack)
    }

    public func list(_ principal: Principal) async throws -> [(name: String, enabled: Bool)] {
        try principal.require(.readTenant)
        let on = try await enabled(tenantID: principal.tenantID)
        return installed.map { ($0, on.contains($0)) }
    }

    /// Switches packs on or off for the caller's tenant; an unknown name changes nothing (400).
    public func set(_ ctx: ActionContext, _ changes: [String: Bool]) async throws -> [(name: String, enabled: Bool)] {
        try ctx.principal.require(.manageKeys)
        if let unknown = changes.keys.sorted().first(where: { !installed.contains($0) }) {
            throw ParleyError.badRequest("there is no installed pack named '\(unknown.prefix(64))'; installed: \(installed.joined(separator: ", "))",
                                         code: "unknown_pack")
        }
        guard !changes.isEmpty else { throw ParleyError.badRequest("send at least one pack, e.g. {\"packs\": {\"\(installed.last ?? "name")\": false}}", code: "empty_update") }
        let tenantID = ctx.principal.tenantID, now = clock.now()
        try await store.transaction { db in
            for (pack, on) in changes.sorted(by: { $0.key < $1.key }) {
                try await db.raw("""
                    INSERT INTO tenant_packs (tenant_id, pack, enabled, updated_at) VALUES (\(bind: tenantID), \(bind: pack), \(bind: on), \(bind: now))
                    ON CONFLICT (tenant_id, pack) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at
                    """).run()
            }
            let details = "{" + changes.keys.sorted().map { "\"\($0)\":\(changes[$0] == true)" }.joined(separator: ",") + "}"
            try await AuditLog(clock: clock).record(ctx, action: "tenant_packs.set", targetType: "tenant", targetID: tenantID, details: details, on: db)
        }
        return try await list(ctx.principal)
    }

    /// Inside a transaction (a trigger's occurrence): whether the tenant has the pack switched on.
    public func isEnabled(_ pack: String, tenantID: String, on db: any SQLDatabase) async throws -> Bool {
        guard installed.contains(pack) else { return false }
        return try await !Self.disabled(tenantID: tenantID, on: db).contains(pack)
    }

    static func disabled(tenantID: String, on db: any SQLDatabase) async throws -> Set<String> {
        Set(try await db.raw("SELECT pack FROM tenant_packs WHERE tenant_id = \(bind: tenantID) AND enabled = \(bind: false)").all()
            .map { try $0.decode(column: "pack", as: String.self) })
    }
}
