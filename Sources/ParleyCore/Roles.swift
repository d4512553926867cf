/// Roles are fixed; what each may do is a closed list so a new route has to say which permission it
/// needs, and the matrix is reviewed in one place.
public enum Role: String, Sendable, Codable, CaseIterable {
    case admin, `operator`, viewer, service
    /// A visitor of the tenant's public chat page (no API key): may only talk with the agent in its
    /// own conversation, and its runs are offered only the tools marked `.converse`.
    case customer

    public func allows(_ permission: Permission) -> Bool {
        switch self {
        case .admin: return true
        case .operator: return permission != .manageKeys && permission != .readAudit
        case .viewer: return permission == .readTenant
        case .service: return permission == .readTenant || permission == .act || permission == .converse
        case .customer: return permission == .converse
        }
    }

    /// The roles an API key may have (a customer is a chat-page visitor, never a key).
    public static var keyRoles: [Role] { allCases.filter { $0 != .customer } }
}

public enum Permission: String, Sendable {
    /// Read the tenant's own settings and data.
    case readTenant
    /// Use the product: chat, enqueue messages, run tools (later issues).
    case act
    /// Talk with the agent in one's own conversation: every role that may `act`, and a customer on
    /// the public chat page. A tool that declares it is safe to offer customers (it reads only what
    /// the business publishes and changes nothing of the business's data).
    case converse
    /// Approve, cancel and redrive work done by others.
    case operate
    /// Create, list and revoke API keys.
    case manageKeys
    /// Read the audit log.
    case readAudit

    /// What the permission lets a caller do, in words (for refusals).
    public var words: String {
        switch self {
        case .readTenant: "read this workspace's data"
        case .act: "make changes (chat, send messages, create or change cases)"
        case .converse: "chat with the assistant"
        case .operate: "operate the workspace (approvals, jobs, templates, consent, schedules)"
        case .manageKeys: "manage API keys, provider channels and tool policies"
        case .readAudit: "read the audit log"
        }
    }
}

/// Who is calling: resolved from an API key by the auth middleware or fixed for the CLI.
public struct Principal: Sendable, Equatable {
    public var tenantID: String
    public var keyID: String?
    public var role: Role
    /// What the audit log records as the actor: `api_key:<id>`, `cli` or `system` (first start).
    public var actor: String
    /// The signed-in person (a JWT caller); nil for API keys, the CLI and the system.
    public var userID: String? = nil
    /// May administer the installation (`/v1/admin/tenants`): a user flag (docs/accounts.md).
    public var installationAdmin: Bool = false

    public init(tenantID: String, keyID: String?, role: Role, actor: String) {
        self.tenantID = tenantID
        self.keyID = keyID
        self.role = role
        self.actor = actor
    }

    public func require(_ permission: Permission) throws(ParleyError) {
        try require(permission, toDo: permission.words)
    }

    /// Refuses with a sentence a person understands: "this key's role (viewer) may not change templates".
    public func require(_ permission: Permission, toDo action: String) throws(ParleyError) {
        guard role.allows(permission) else {
            let who = keyID == nil ? "this caller's role" : "this key's role"
            throw .forbidden("\(who) (\(role.rawValue)) may not \(action); ask an administrator for a key with a role that may")
        }
    }
}
