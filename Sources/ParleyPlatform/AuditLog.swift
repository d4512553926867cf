import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// Writes the audit row inside the caller's transaction, so the change and its record commit together.
public struct AuditLog: Sendable {
    let clock: any Clock
    let repo = AuditRepository()

    public init(clock: any Clock) { self.clock = clock }

    public func record(_ ctx: ActionContext, action: String, targetType: String, targetID: String?,
                       details: String? = nil, tenantID: String? = nil, on db: any SQLDatabase) async throws {
        let now = clock.now()
        try await repo.append(AuditEntry(
            id: UUIDv7.make(at: now), tenantID: tenantID ?? ctx.principal.tenantID, actor: ctx.principal.actor,
            action: action, targetType: targetType, targetID: targetID, requestID: ctx.requestID,
            details: details, createdAt: now), on: db)
    }
}

public struct AuditService: Sendable {
    let store: any Store
    let repo = AuditRepository()

    public init(store: any Store) { self.store = store }

    public func list(_ principal: Principal, limit: Int, before: String?, action: String?) async throws -> [AuditEntry] {
        try principal.require(.readAudit)
        let tenantID = principal.tenantID
        return try await store.read { db in
            try await repo.list(tenantID: tenantID, limit: limit, before: before, action: action, on: db)
        }
    }
}
