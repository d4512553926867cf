import Foundation

public struct Tenant: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var slug: String
    public var timeZone: String
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?
    /// Where staff are told of new hand-offs (issue 12); nil sends nothing.
    public var handoffEmail: String?

    public init(id: String, name: String, slug: String, timeZone: String, createdAt: Date, updatedAt: Date, deletedAt: Date? = nil,
                handoffEmail: String? = nil) {
        self.handoffEmail = handoffEmail
        self.id = id
        self.name = name
        self.slug = slug
        self.timeZone = timeZone
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }
}

/// An API key as stored: never the secret itself, only its hash and a lookup prefix.
public struct APIKeyRecord: Sendable, Codable, Equatable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var role: Role
    public var prefix: String
    public var hash: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    /// Soft-deleted (docs/soft-delete.md): refused like a revoked key until restored.
    public var deletedAt: Date?

    public init(id: String, tenantID: String, name: String, role: Role, prefix: String, hash: String,
                createdAt: Date, expiresAt: Date?, revokedAt: Date?, lastUsedAt: Date?, deletedAt: Date? = nil) {
        self.deletedAt = deletedAt
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.role = role
        self.prefix = prefix
        self.hash = hash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }

    /// A new key record for `secret`: only its hash and a display prefix are kept.
    public static func new(secret: String, tenantID: String, name: String, role: Role, expiresAt: Date?, at now: Date) -> APIKeyRecord {
        APIKeyRecord(
            id: UUIDv7.make(at: now), tenantID: tenantID, name: name, role: role,
            prefix: APIKeySecret.displayPrefix(of: secret), hash: APIKeySecret.hash(secret),
            createdAt: now, expiresAt: expiresAt, revokedAt: nil, lastUsedAt: nil)
    }

    public func isActive(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true)
    }
}

public struct AuditEntry: Sendable, Codable, Equatable {
    public var id: String
    public var tenantID: String
    public var actor: String
    public var action: String
    public var targetType: String
    public var targetID: String?
    public var requestID: String?
    public var details: String?
    public var createdAt: Date

    public init(id: String, tenantID: String, actor: String, action: String, targetType: String,
                targetID: String?, requestID: String?, details: String?, createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.actor = actor
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.requestID = requestID
        self.details = details
        self.createdAt = createdAt
    }
}

/// Context every mutating service call carries so the audit log can say who did what, from where.
public struct ActionContext: Sendable {
    public var principal: Principal
    public var requestID: String?

    public init(principal: Principal, requestID: String?) {
        self.principal = principal
        self.requestID = requestID
    }
}
