/// Roles are fixed; what each may do is a closed list so a new route has to say which permission it
/// needs, and the matrix is reviewed in one place.
public enum Role: String, Sendable, Codable, CaseIterable {
    case admin, `operator`, viewer, service

    public func allows(_ permission: Permission) -> Bool {
        switch self {
        case .admin: return true
        case .operator: return permission != .manageKeys && permission != .readAudit
        case .viewer: return permission == .readTenant
        case .service: return permission == .readTenant || permission == .act
        }
    }
}

public enum Permission: String, Sendable {
    /// Read the tenant's own settings and data.
    case readTenant
    /// Use the product: chat, enqueue messages, run tools (later issues).
    case act
    /// Approve, cancel and redrive work done by others.
    case operate
    /// Create, list and revoke API keys.
    case manageKeys
    /// Read the audit log.
    case readAudit
}

/// Who is calling: resolved from an API key by the auth middleware or fixed for the CLI.
public struct Principal: Sendable, Equatable {
    public var tenantID: String
    public var keyID: String?
    public var role: Role
    /// What the audit log records as the actor: `api_key:<id>`, `cli` or `system` (first start).
    public var actor: String

    public init(tenantID: String, keyID: String?, role: Role, actor: String) {
        self.tenantID = tenantID
        self.keyID = keyID
        self.role = role
        self.actor = actor
    }

    public func require(_ permission: Permission) throws(ParleyError) {
        guard role.allows(permission) else {
            throw .forbidden("role '\(role.rawValue)' may not \(permission.rawValue)")
        }
    }
}
