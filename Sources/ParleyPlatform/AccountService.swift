import Foundation
import Logging
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization

/// A person's account as shown in one tenant: never the password hash.
public struct UserView: Sendable, Codable, Equatable {
    public var id: String
    public var email: String
    public var name: String?
    /// The role in the tenant the list was made for.
    public var role: Role
    public var installationAdmin: Bool
    public var createdAt: Date
    /// When the user's membership of this tenant was removed (listed with `include_deleted=true`).
    public var deletedAt: Date?
}

/// What a sign-in, a refresh or an accepted invitation returns.
public struct TokenGrant: Sendable, Codable, Equatable {
    public var accessToken: String
    public var refreshToken: String
    public var tokenType: String
    public var expiresIn: Int
    /// The tenant the access token is for.
    public var tenantID: String
    /// Every tenant the user may select with `X-Tenant`.
    public var tenants: [TenantMembership]
    /// The account's email (lower-cased): who signed in, e.g. after accepting an invitation.
    public var email: String
}

public struct TenantMembership: Sendable, Codable, Equatable {
    public var id: String
    public var slug: String
    public var name: String
    public var role: Role
}

public struct InvitationView: Sendable, Codable, Equatable {
    public var id: String
    public var email: String
    public var role: Role
    public var expiresAt: Date
}

/// Sends the account emails (through the communications engine, in the caller's transaction).
public protocol AccountMailer: Sendable {
    func sendInvitation(to email: String, tenantID: String, role: Role, token: String, expiresAt: Date, on db: any SQLDatabase) async throws
    func sendPasswordReset(to email: String, tenantID: String, token: String, expiresAt: Date, on db: any SQLDatabase) async throws
}

/// A password hash of nobody's password, made once per service on first use.
final class Decoy: Sendable {
    private let value = Mutex<String?>(nil)
    private let hasher: PasswordHasher
    init(hasher: PasswordHasher) { self.hasher = hasher }
    var hash: String {
        if let made = value.withLock({ $0 }) { return made }
        let made = (try? hasher.hash("decoy password, never anyone's")) ?? ""
        value.withLock { $0 = made }
        return made
    }
}

/// Sends nothing: for the CLI, which creates accounts with a password and never invites.
public struct NoAccountMail: AccountMailer {
    public init() {}
    public func sendInvitation(to email: String, tenantID: String, role: Role, token: String, expiresAt: Date, on db: any SQLDatabase) async throws {}
    public func sendPasswordReset(to email: String, tenantID: String, token: String, expiresAt: Date, on db: any SQLDatabase) async throws {}
}

/// A sign-in refused because of too many failures: 429 with Retry-After.
public struct LoginThrottled: Error, Sendable {
    public var retryAfterSeconds: Int
    public var error: ParleyError { ParleyError(.tooManyRequests, code: "login_throttled",
                                                "too many failed sign-ins; try again in \(retryAfterSeconds) s") }
}

/// People's accounts: sign-in, access and refresh tokens, invitations, password resets and the
/// users of a tenant (docs/accounts.md).
public struct AccountService: Sendable {
    let store: any Store
    let clock: any Clock
    let settings: AccountSettings
    public let tokens: AccessTokens
    let hasher: PasswordHasher
    let mailer: any AccountMailer
    let throttle: any LoginThrottle
    let logger: Logger
    let audit: AuditLog
    /// Compared against when the email is unknown, so a missing account costs the same time as a
    /// wrong password. Made on first use (a hash costs tens of milliseconds).
    let decoy: Decoy
    /// How long a removed membership stays restorable.
    let retention: Retention

    public init(store: any Store, clock: any Clock, keyring: Keyring, settings: AccountSettings, mailer: any AccountMailer,
                throttle: (any LoginThrottle)? = nil, logger: Logger, retention: Retention = .standard) {
        self.retention = retention
        self.store = store
        self.clock = clock
        self.settings = settings
        tokens = AccessTokens(keyring: keyring, keyID: settings.tokenKeyID, previousKeyIDs: settings.previousTokenKeyIDs,
                              lifetimeSeconds: settings.accessTokenSeconds)
        hasher = PasswordHasher(logN: settings.scryptLogN)
        self.mailer = mailer
        self.throttle = throttle ?? StoreLoginThrottle(store: store, windowSeconds: settings.failureWindowSeconds)
        self.logger = logger
        audit = AuditLog(clock: clock)
        decoy = Decoy(hasher: PasswordHasher(logN: settings.scryptLogN))
    }

    static let refreshScheme = "prr_"
    static let oneTimeScheme = "pot_"

    // MARK: sign-in

    /// A person who proved their password: the account and the tenant chosen for the sign-in.
    public struct SignedIn: Sendable {
        public var userID: String
        public var email: String
        public var tenantID: String
        public var role: Role
        let user: AccountUser
        let member: Member
        let memberships: [Member]
    }

    /// Checks email and password with the throttle (per account and per address) and audits
    /// failures; a wrong email and a wrong password fail alike. Used by the API's sign-in and the
    /// console's.
    public func checkCredentials(email rawEmail: String, password: String, tenant: String?, address: String, requestID: String?) async throws -> SignedIn {
        let email = Self.normalize(rawEmail)
        guard Self.plausibleEmail(email), !password.isEmpty, password.count <= 1024 else {
            throw ParleyError(.unauthorized, code: "invalid_credentials", "the email or password is not correct")
        }
        let now = clock.now()
        let subjects = [LoginSubject(key: "account:\(email)", limit: settings.maxFailuresPerAccount),
                        LoginSubject(key: "address:\(address)", limit: settings.maxFailuresPerAddress)]
        if let wait = try await throttle.retryAfter(subjects, at: now) {
            let user = try await store.read { db in try await Self.user(email: email, on: db) }
            if let user { try await auditEverywhere(user, action: "auth.login_throttled", details: "address=\(address)", requestID: requestID) }
            throw LoginThrottled(retryAfterSeconds: wait)
        }
        let user = try await store.read { db in try await Self.user(email: email, on: db) }
        let stored = user?.passwordHash ?? decoy.hash
        let ok = await PasswordHasher.verifyOffPool(password, stored: stored) && user?.passwordHash != nil
        guard let user, ok else {
            try await throttle.recordFailure(subjects, at: now)
            if let user {
                try await auditEverywhere(user, action: "auth.login_failed", details: "reason=wrong_password address=\(address)", requestID: requestID)
            } else {
                logger.notice("sign-in failed for an unknown email", metadata: ["address": .string(address)])
            }
            throw ParleyError(.unauthorized, code: "invalid_credentials", "the email or password is not correct")
        }
        try await throttle.clear(subjects[0])
        let memberships = try await store.read { db in try await Self.memberships(userID: user.id, on: db) }
        let chosen = try Self.choose(tenant, among: memberships)
        if hasher.needsRehash(user.passwordHash ?? ""), let rehashed = try? await hasher.hashOffPool(password) {
            try await store.transaction { db in
                try await db.raw("UPDATE users SET password_hash = \(bind: rehashed), updated_at = \(bind: now) WHERE id = \(bind: user.id)").run()
            }
        }
        return SignedIn(userID: user.id, email: user.email, tenantID: chosen.id, role: chosen.role, user: user, member: chosen, memberships: memberships)
    }

    /// The principal of a signed-in person in a tenant (for the audit rows of a sign-in).
    public func context(_ signedIn: SignedIn, requestID: String?) -> ActionContext {
        Self.context(signedIn.user, signedIn.member, requestID)
    }

    public func login(email: String, password: String, tenant: String?, address: String, requestID: String?) async throws -> TokenGrant {
        let signedIn = try await checkCredentials(email: email, password: password, tenant: tenant, address: address, requestID: requestID)
        let now = clock.now()
        return try await store.transaction { db in
            let grant = try await issue(user: signedIn.user, tenantID: signedIn.tenantID, family: UUIDv7.make(at: now),
                                        memberships: signedIn.memberships, at: now, on: db)
            try await audit.record(Self.context(signedIn.user, signedIn.member, requestID), action: "auth.login", targetType: "user",
                                   targetID: signedIn.userID, details: "address=\(address)", on: db)
            return grant
        }
    }

    /// Exchanges a refresh token for a new pair; the old one is spent. Presenting a spent one
    /// again revokes its whole family (someone else may hold a copy).
    public func refresh(_ token: String, requestID: String?) async throws -> TokenGrant {
        let now = clock.now()
        guard token.hasPrefix(Self.refreshScheme), token.count <= 200 else {
            throw ParleyError(.unauthorized, code: "invalid_refresh_token", "the refresh token is not valid; sign in again")
        }
        enum Outcome: Sendable { case granted(TokenGrant), reused, invalid(String, String) }
        let outcome: Outcome = try await store.transaction { db in
            guard let row = try await db.raw("SELECT * FROM refresh_tokens WHERE token_hash = \(bind: APIKeySecret.hash(token))").first() else {
                return .invalid("invalid_refresh_token", "the refresh token is not valid; sign in again")
            }
            let id = try row.decode(column: "id", as: String.self)
            let family = try row.decode(column: "family_id", as: String.self)
            let userID = try row.decode(column: "user_id", as: String.self)
            let tenantID = try row.decode(column: "tenant_id", as: String.self)
            if try row.decode(column: "revoked_at", as: Date?.self) != nil {
                return .invalid("refresh_token_revoked", "the refresh token was revoked (signed out); sign in again")
            }
            let spent = try await db.raw("""
                UPDATE refresh_tokens SET used_at = \(bind: now) WHERE id = \(bind: id) AND used_at IS NULL RETURNING id
                """).all().isEmpty
            if spent {
                try await Self.revokeFamily(family, at: now, on: db)
                let ctx = ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: .viewer, actor: "user:\(userID)"), requestID: requestID)
                try await audit.record(ctx, action: "auth.refresh_reuse", targetType: "user", targetID: userID,
                                       details: "family=\(family)", on: db)
                return .reused
            }
            guard try row.decode(column: "expires_at", as: Date.self) > now else {
                return .invalid("refresh_token_expired", "the refresh token has expired; sign in again")
            }
            guard let user = try await Self.user(id: userID, on: db) else {
                return .invalid("user_not_found", "the account no longer exists")
            }
            let memberships = try await Self.memberships(userID: userID, on: db)
            guard let m = memberships.first(where: { $0.id == tenantID }) else {
                try await Self.revokeFamily(family, at: now, on: db)
                return .invalid("not_a_member", "the account is no longer a member of this tenant; sign in again")
            }
            if m.suspended { return .invalid("tenant_suspended", "the tenant is suspended") }
            return .granted(try await issue(user: user, tenantID: tenantID, family: family, memberships: memberships, at: now, on: db))
        }
        switch outcome {
        case .granted(let grant): return grant
        case .reused:
            throw ParleyError(.unauthorized, code: "refresh_token_reused",
                              "this refresh token was already used; every token of this sign-in is revoked, sign in again")
        case .invalid(let code, let message): throw ParleyError(.unauthorized, code: code, message)
        }
    }

    /// Signs out: the refresh token's family is revoked (access tokens end with their short life).
    public func logout(_ token: String) async throws {
        let now = clock.now()
        try await store.transaction { db in
            guard let row = try await db.raw("SELECT family_id FROM refresh_tokens WHERE token_hash = \(bind: APIKeySecret.hash(token))").first() else {
                throw ParleyError(.unauthorized, code: "invalid_refresh_token", "the refresh token is not valid")
            }
            try await Self.revokeFamily(try row.decode(column: "family_id", as: String.self), at: now, on: db)
        }
    }

    /// Resolves an access token to the caller in the selected tenant (`X-Tenant`, id or slug,
    /// else the token's). The user must still exist and be a member there, the tenant live and
    /// not suspended; the role is read now, so a role change takes effect at once.
    public func authenticate(_ jwt: String, selecting tenant: String?) async throws -> Principal {
        let claims = try tokens.verify(jwt, at: clock.now())
        let wanted = tenant?.trimmingCharacters(in: .whitespaces) ?? claims.tid
        guard !wanted.isEmpty, wanted.count <= 100 else {
            throw ParleyError.badRequest("X-Tenant must be a tenant id or slug", code: "invalid_tenant_header")
        }
        let row = try await store.read { db in
            try await db.raw("""
                SELECT u.installation_admin, m.role, t.id AS tenant_id, t.suspended_at
                FROM users u JOIN memberships m ON m.user_id = u.id AND m.deleted_at IS NULL
                JOIN tenants t ON t.id = m.tenant_id AND t.deleted_at IS NULL
                WHERE u.id = \(bind: claims.sub) AND u.deleted_at IS NULL AND (t.id = \(bind: wanted) OR t.slug = \(bind: wanted))
                """).first()
        }
        guard let row else {
            if tenant != nil {
                throw ParleyError(.forbidden, code: "not_a_member",
                                  "this account is not a member of tenant '\(wanted.prefix(100))'; choose one of the tenants sign-in returned")
            }
            throw ParleyError(.unauthorized, code: "account_removed", "this account was removed from the tenant or deleted; sign in again")
        }
        if try row.decode(column: "suspended_at", as: Date?.self) != nil {
            throw ParleyError(.forbidden, code: "tenant_suspended", "this tenant is suspended; ask the installation's administrator")
        }
        guard let role = Role(rawValue: try row.decode(column: "role", as: String.self)) else {
            throw ParleyError(.forbidden, code: "invalid_role", "this account's role is not known to this server")
        }
        var p = Principal(tenantID: try row.decode(column: "tenant_id", as: String.self), keyID: nil, role: role, actor: "user:\(claims.sub)")
        p.userID = claims.sub
        p.installationAdmin = try row.decode(column: "installation_admin", as: Bool.self)
        return p
    }

    // MARK: invitations and password resets

    public func invite(_ ctx: ActionContext, email rawEmail: String, role: Role) async throws -> InvitationView {
        try Self.requireUserAdmin(ctx.principal)
        let email = Self.normalize(rawEmail)
        guard Self.plausibleEmail(email) else {
            throw ParleyError.badRequest("email must be one address such as ana@example.com", code: "invalid_email")
        }
        guard Self.memberRoles.contains(role) else {
            throw ParleyError.badRequest("role must be one of admin, operator, viewer", code: "invalid_role")
        }
        let now = clock.now()
        let expires = now.addingTimeInterval(TimeInterval(settings.invitationHours) * 3600)
        let token = Self.oneTimeScheme + Self.randomBody()
        let id = UUIDv7.make(at: now)
        let tenantID = ctx.principal.tenantID
        try await store.transaction { db in
            if let existing = try await Self.user(email: email, on: db),
               try await Self.memberships(userID: existing.id, on: db).contains(where: { $0.id == tenantID }) {
                throw ParleyError.conflict("\(email) is already a member of this tenant", code: "already_a_member")
            }
            try await db.raw("""
                INSERT INTO auth_one_time_tokens (id, purpose, token_hash, email, tenant_id, role, created_by, created_at, expires_at)
                VALUES (\(bind: id), 'invitation', \(bind: APIKeySecret.hash(token)), \(bind: email), \(bind: tenantID), \(bind: role.rawValue),
                        \(bind: ctx.principal.actor), \(bind: now), \(bind: expires))
                """).run()
            try await mailer.sendInvitation(to: email, tenantID: tenantID, role: role, token: token, expiresAt: expires, on: db)
            try await audit.record(ctx, action: "user.invite", targetType: "invitation", targetID: id, details: "role=\(role.rawValue)", on: db)
        }
        return InvitationView(id: id, email: email, role: role, expiresAt: expires)
    }

    /// Creates the account (or adds the membership to an existing one) and signs the person in.
    public func acceptInvitation(token: String, password: String, name: String?, requestID: String?) async throws -> TokenGrant {
        let now = clock.now()
        let name = try name.map { (raw: String) throws(ParleyError) -> String in
            let n = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(n.count), !n.contains(where: { $0.isNewline || $0 == "\u{0}" }) else {
                throw .badRequest("name must be 1 to 200 characters on one line", code: "invalid_name")
            }
            return n
        }
        let invitation = try await store.read { db in try await Self.peek(token, purpose: "invitation", at: now, on: db) }
        guard let tenantID = invitation.tenantID, let role = invitation.role.flatMap(Role.init(rawValue:)) else {
            throw ParleyError(.badRequest, code: "invalid_token", "the invitation is not valid")
        }
        let existing = try await store.read { db in try await Self.user(email: invitation.email, on: db) }
        // A new account must choose a password; an existing one keeps its own (its password is checked).
        if let user = existing, let stored = user.passwordHash {
            guard await PasswordHasher.verifyOffPool(password, stored: stored) else {
                throw ParleyError(.unauthorized, code: "invalid_credentials",
                                  "this email already has an account: send its current password to join the tenant")
            }
        } else {
            try PasswordHasher.validate(password)
        }
        let hash = existing?.passwordHash == nil ? try await hasher.hashOffPool(password) : nil
        return try await store.transaction { db in
            _ = try await Self.spend(token, purpose: "invitation", at: now, on: db)
            let user: AccountUser
            if let existing {
                user = existing
                if let hash {
                    try await db.raw("UPDATE users SET password_hash = \(bind: hash), updated_at = \(bind: now) WHERE id = \(bind: existing.id)").run()
                }
            } else {
                user = AccountUser(id: UUIDv7.make(at: now), email: invitation.email, name: name, passwordHash: hash, installationAdmin: false)
                try await Self.insert(user, at: now, on: db)
            }
            try await Self.addMembership(userID: user.id, tenantID: tenantID, role: role, at: now, on: db)
            let memberships = try await Self.memberships(userID: user.id, on: db)
            guard let chosen = memberships.first(where: { $0.id == tenantID }) else {
                throw ParleyError(.forbidden, code: "tenant_unavailable", "the tenant of this invitation is deleted or suspended")
            }
            let ctx = Self.context(user, chosen, requestID)
            try await audit.record(ctx, action: "user.invitation_accepted", targetType: "user", targetID: user.id, details: "role=\(role.rawValue)", on: db)
            return try await issue(user: user, tenantID: tenantID, family: UUIDv7.make(at: now), memberships: memberships, at: now, on: db)
        }
    }

    /// Always succeeds (202): whether the email has an account is not revealed.
    public func requestPasswordReset(email rawEmail: String, requestID: String?) async throws {
        let email = Self.normalize(rawEmail)
        guard Self.plausibleEmail(email) else { return }
        let now = clock.now()
        let expires = now.addingTimeInterval(TimeInterval(settings.passwordResetMinutes) * 60)
        try await store.transaction { db in
            guard let user = try await Self.user(email: email, on: db),
                  let tenant = try await Self.memberships(userID: user.id, on: db).first(where: { !$0.suspended }) else { return }
            let token = Self.oneTimeScheme + Self.randomBody()
            let id = UUIDv7.make(at: now)
            try await db.raw("""
                INSERT INTO auth_one_time_tokens (id, purpose, token_hash, email, tenant_id, role, created_by, created_at, expires_at)
                VALUES (\(bind: id), 'password_reset', \(bind: APIKeySecret.hash(token)), \(bind: email), \(bind: tenant.id), NULL,
                        \(bind: "user:\(user.id)"), \(bind: now), \(bind: expires))
                """).run()
            try await mailer.sendPasswordReset(to: email, tenantID: tenant.id, token: token, expiresAt: expires, on: db)
            try await audit.record(Self.context(user, tenant, requestID), action: "auth.password_reset_requested", targetType: "user",
                                   targetID: user.id, on: db)
        }
    }

    /// Sets the new password and signs the account out everywhere (every refresh family revoked).
    public func confirmPasswordReset(token: String, password: String, requestID: String?) async throws {
        try PasswordHasher.validate(password)
        let now = clock.now()
        let hash = try await hasher.hashOffPool(password)
        let reset = try await store.transaction { db -> OneTime in
            let reset = try await Self.spend(token, purpose: "password_reset", at: now, on: db)
            guard let user = try await Self.user(email: reset.email, on: db) else {
                throw ParleyError(.badRequest, code: "invalid_token", "the password-reset link is not valid")
            }
            try await db.raw("UPDATE users SET password_hash = \(bind: hash), updated_at = \(bind: now) WHERE id = \(bind: user.id)").run()
            try await db.raw("""
                UPDATE refresh_tokens SET revoked_at = \(bind: now) WHERE user_id = \(bind: user.id) AND revoked_at IS NULL
                """).run()
            for m in try await Self.memberships(userID: user.id, on: db) {
                try await audit.record(Self.context(user, m, requestID), action: "auth.password_reset", targetType: "user", targetID: user.id, on: db)
            }
            return reset
        }
        try await throttle.clear(LoginSubject(key: "account:\(reset.email)", limit: 0))
    }

    struct OneTime: Sendable { var email: String; var tenantID: String?; var role: String? }

    /// What a one-time token is for, when it is valid (unused, unexpired); spends nothing.
    static func peek(_ token: String, purpose: String, at now: Date, on db: any SQLDatabase) async throws -> OneTime {
        let what = purpose == "invitation" ? "invitation" : "password-reset link"
        guard token.hasPrefix(Self.oneTimeScheme), token.count <= 200 else {
            throw ParleyError(.badRequest, code: "invalid_token", "the \(what) is not valid")
        }
        guard let row = try await db.raw("""
            SELECT * FROM auth_one_time_tokens WHERE token_hash = \(bind: APIKeySecret.hash(token)) AND purpose = \(bind: purpose)
            """).first() else {
            throw ParleyError(.badRequest, code: "invalid_token", "the \(what) is not valid")
        }
        if try row.decode(column: "used_at", as: Date?.self) != nil {
            throw ParleyError(.badRequest, code: "token_used", "the \(what) was already used; ask for a new one")
        }
        guard try row.decode(column: "expires_at", as: Date.self) > now else {
            throw ParleyError(.badRequest, code: "token_expired", "the \(what) has expired; ask for a new one")
        }
        return OneTime(email: try row.decode(column: "email", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String?.self),
                       role: try row.decode(column: "role", as: String?.self))
    }

    /// Checks and marks a one-time token used, once: of two requests racing with it, one wins.
    static func spend(_ token: String, purpose: String, at now: Date, on db: any SQLDatabase) async throws -> OneTime {
        let found = try await peek(token, purpose: purpose, at: now, on: db)
        let spent = try await db.raw("""
            UPDATE auth_one_time_tokens SET used_at = \(bind: now) WHERE token_hash = \(bind: APIKeySecret.hash(token)) AND used_at IS NULL RETURNING id
            """).all()
        guard !spent.isEmpty else { throw ParleyError(.badRequest, code: "token_used", "the link was already used; ask for a new one") }
        return found
    }

    // MARK: a tenant's users

    public func listUsers(_ principal: Principal, includeDeleted: Bool) async throws -> [UserView] {
        try principal.require(.readTenant)
        let filter: SQLQueryString = includeDeleted ? "" : "AND m.deleted_at IS NULL AND u.deleted_at IS NULL"
        let tenantID = principal.tenantID
        return try await store.read { db in
            try await db.raw("""
                SELECT u.id, u.email, u.name, u.installation_admin, u.created_at, m.role,
                       COALESCE(m.deleted_at, u.deleted_at) AS deleted_at
                FROM memberships m JOIN users u ON u.id = m.user_id
                WHERE m.tenant_id = \(bind: tenantID) \(filter) ORDER BY u.email
                """).all().map(Self.decodeView)
        }
    }

    public func changeRole(_ ctx: ActionContext, userID: String, role: Role) async throws -> UserView {
        try Self.requireUserAdmin(ctx.principal)
        guard Self.memberRoles.contains(role) else {
            throw ParleyError.badRequest("role must be one of admin, operator, viewer", code: "invalid_role")
        }
        if userID == ctx.principal.userID, role != .admin {
            throw ParleyError.conflict("you may not lower your own role; ask another admin", code: "own_role")
        }
        let now = clock.now()
        let tenantID = ctx.principal.tenantID
        return try await store.transaction { db in
            let previous = try await Self.membershipRole(userID: userID, tenantID: tenantID, on: db)
            guard let previous else { throw ParleyError.notFound("user \(userID) not found in this tenant", code: "user_not_found") }
            if previous != role {
                try await db.raw("""
                    UPDATE memberships SET role = \(bind: role.rawValue), updated_at = \(bind: now)
                    WHERE user_id = \(bind: userID) AND tenant_id = \(bind: tenantID) AND deleted_at IS NULL
                    """).run()
                try await audit.record(ctx, action: "user.role_change", targetType: "user", targetID: userID,
                                       details: "role=\(role.rawValue) previous_role=\(previous.rawValue)", on: db)
            }
            return try await Self.view(userID: userID, tenantID: tenantID, on: db)
        }
    }

    /// Removes the user from this tenant (soft: restorable); their sign-ins there are revoked.
    public func remove(_ ctx: ActionContext, userID: String) async throws -> UserView {
        try Self.requireUserAdmin(ctx.principal)
        if userID == ctx.principal.userID {
            throw ParleyError.conflict("you may not remove yourself; ask another admin", code: "own_account")
        }
        let now = clock.now()
        let tenantID = ctx.principal.tenantID
        return try await store.transaction { db in
            guard try await Self.membershipRole(userID: userID, tenantID: tenantID, on: db) != nil else {
                throw ParleyError.notFound("user \(userID) not found in this tenant", code: "user_not_found")
            }
            try await db.raw("""
                UPDATE memberships SET deleted_at = \(bind: now), updated_at = \(bind: now)
                WHERE user_id = \(bind: userID) AND tenant_id = \(bind: tenantID) AND deleted_at IS NULL
                """).run()
            try await db.raw("""
                UPDATE refresh_tokens SET revoked_at = \(bind: now) WHERE user_id = \(bind: userID) AND tenant_id = \(bind: tenantID) AND revoked_at IS NULL
                """).run()
            try await audit.record(ctx, action: "user.remove", targetType: "user", targetID: userID, on: db)
            return try await Self.view(userID: userID, tenantID: tenantID, on: db)
        }
    }

    public func restore(_ ctx: ActionContext, userID: String) async throws -> UserView {
        try Self.requireUserAdmin(ctx.principal)
        let now = clock.now()
        let tenantID = ctx.principal.tenantID
        let retention = self.retention
        return try await store.transaction { db in
            if let removed = try await db.raw("""
                SELECT deleted_at FROM memberships WHERE user_id = \(bind: userID) AND tenant_id = \(bind: tenantID) AND deleted_at IS NOT NULL
                """).first()?.decode(column: "deleted_at", as: Date.self) {
                try retention.requireRestorable("user \(userID.prefix(64))'s membership", deletedAt: removed, now: now)
            }
            let restored = try await db.raw("""
                UPDATE memberships SET deleted_at = NULL, updated_at = \(bind: now)
                WHERE user_id = \(bind: userID) AND tenant_id = \(bind: tenantID) AND deleted_at IS NOT NULL RETURNING id
                """).all()
            guard !restored.isEmpty else {
                if try await Self.membershipRole(userID: userID, tenantID: tenantID, on: db) != nil {
                    return try await Self.view(userID: userID, tenantID: tenantID, on: db)
                }
                throw ParleyError.notFound("no removed user \(userID) in this tenant", code: "user_not_found")
            }
            try await audit.record(ctx, action: "user.restore", targetType: "user", targetID: userID, on: db)
            return try await Self.view(userID: userID, tenantID: tenantID, on: db)
        }
    }

    /// Creates an account with a password in a tenant (the CLI's `parley user create`, tests).
    public func createUser(email rawEmail: String, password: String, name: String?, tenantID: String, role: Role,
                           installationAdmin: Bool, actor: String) async throws -> UserView {
        let email = Self.normalize(rawEmail)
        guard Self.plausibleEmail(email) else {
            throw ParleyError.badRequest("email must be one address such as ana@example.com", code: "invalid_email")
        }
        guard Self.memberRoles.contains(role) else {
            throw ParleyError.badRequest("role must be one of admin, operator, viewer", code: "invalid_role")
        }
        try PasswordHasher.validate(password)
        let hash = try await hasher.hashOffPool(password)
        let now = clock.now()
        let user = AccountUser(id: UUIDv7.make(at: now), email: email, name: name, passwordHash: hash, installationAdmin: installationAdmin)
        do {
            return try await store.transaction { db in
                guard try await db.raw("SELECT id FROM tenants WHERE id = \(bind: tenantID) AND deleted_at IS NULL").first() != nil else {
                    throw ParleyError.notFound("tenant \(tenantID) not found", code: "tenant_not_found")
                }
                try await Self.insert(user, at: now, on: db)
                try await Self.addMembership(userID: user.id, tenantID: tenantID, role: role, at: now, on: db)
                let ctx = ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: actor), requestID: nil)
                try await audit.record(ctx, action: "user.create", targetType: "user", targetID: user.id,
                                       details: "role=\(role.rawValue)" + (installationAdmin ? " installation_admin" : ""), on: db)
                return try await Self.view(userID: user.id, tenantID: tenantID, on: db)
            }
        } catch StoreError.uniqueViolation {
            throw ParleyError.conflict("an account with email \(email) already exists", code: "email_taken")
        }
    }

    // MARK: helpers

    public static let memberRoles: Set<Role> = [.admin, .operator, .viewer]

    static func requireUserAdmin(_ p: Principal) throws(ParleyError) {
        try p.require(.manageKeys, toDo: "manage this tenant's users")
    }

    struct AccountUser: Sendable {
        var id: String; var email: String; var name: String?; var passwordHash: String?; var installationAdmin: Bool
    }

    struct Member: Sendable { var id: String; var slug: String; var name: String; var role: Role; var suspended: Bool }

    static func normalize(_ email: String) -> String { email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }

    static func plausibleEmail(_ e: String) -> Bool {
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        return e.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !parts[1].hasPrefix(".")
            && !parts[1].hasSuffix(".") && !e.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "\u{0}" || ",;<>\"".contains($0) })
    }

    static func randomBody() -> String { String(APIKeySecret.generate().dropFirst(APIKeySecret.scheme.count)) }

    static func context(_ user: AccountUser, _ m: Member, _ requestID: String?) -> ActionContext {
        var p = Principal(tenantID: m.id, keyID: nil, role: m.role, actor: "user:\(user.id)")
        p.userID = user.id
        return ActionContext(principal: p, requestID: requestID)
    }

    /// The tenant a sign-in is for: the one asked for (id or slug), else the user's first.
    static func choose(_ wanted: String?, among memberships: [Member]) throws(ParleyError) -> Member {
        let live = memberships.filter { !$0.suspended }
        if let wanted {
            guard let m = memberships.first(where: { $0.id == wanted || $0.slug == wanted }) else {
                throw ParleyError(.forbidden, code: "not_a_member", "this account is not a member of tenant '\(wanted.prefix(100))'")
            }
            guard !m.suspended else { throw ParleyError(.forbidden, code: "tenant_suspended", "this tenant is suspended") }
            return m
        }
        guard let first = live.first else {
            throw ParleyError(.forbidden, code: memberships.isEmpty ? "no_tenants" : "tenant_suspended",
                              memberships.isEmpty ? "this account is not a member of any tenant" : "every tenant of this account is suspended")
        }
        return first
    }

    func issue(user: AccountUser, tenantID: String, family: String, memberships: [Member], at now: Date, on db: any SQLDatabase) async throws -> TokenGrant {
        let refresh = Self.refreshScheme + Self.randomBody()
        let expires = now.addingTimeInterval(TimeInterval(settings.refreshTokenDays) * 86_400)
        try await db.raw("""
            INSERT INTO refresh_tokens (id, family_id, user_id, tenant_id, token_hash, created_at, expires_at)
            VALUES (\(bind: UUIDv7.make(at: now)), \(bind: family), \(bind: user.id), \(bind: tenantID), \(bind: APIKeySecret.hash(refresh)),
                    \(bind: now), \(bind: expires))
            """).run()
        return TokenGrant(accessToken: tokens.issue(userID: user.id, tenantID: tenantID, at: now), refreshToken: refresh, tokenType: "Bearer",
                          expiresIn: tokens.expiresIn, tenantID: tenantID,
                          tenants: memberships.filter { !$0.suspended }.map { TenantMembership(id: $0.id, slug: $0.slug, name: $0.name, role: $0.role) },
                          email: user.email)
    }

    static func revokeFamily(_ family: String, at now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE refresh_tokens SET revoked_at = \(bind: now) WHERE family_id = \(bind: family) AND revoked_at IS NULL").run()
    }

    func auditEverywhere(_ user: AccountUser, action: String, details: String, requestID: String?) async throws {
        try await store.transaction { db in
            for m in try await Self.memberships(userID: user.id, on: db) {
                try await audit.record(Self.context(user, m, requestID), action: action, targetType: "user", targetID: user.id, details: details, on: db)
            }
        }
    }

    static func user(email: String, on db: any SQLDatabase) async throws -> AccountUser? {
        try await db.raw("SELECT * FROM users WHERE email = \(bind: email) AND deleted_at IS NULL").first().map(decodeUser)
    }

    static func user(id: String, on db: any SQLDatabase) async throws -> AccountUser? {
        try await db.raw("SELECT * FROM users WHERE id = \(bind: id) AND deleted_at IS NULL").first().map(decodeUser)
    }

    static func decodeUser(_ row: any SQLRow) throws -> AccountUser {
        AccountUser(id: try row.decode(column: "id", as: String.self), email: try row.decode(column: "email", as: String.self),
                    name: try row.decode(column: "name", as: String?.self), passwordHash: try row.decode(column: "password_hash", as: String?.self),
                    installationAdmin: try row.decode(column: "installation_admin", as: Bool.self))
    }

    /// The user's live memberships in live tenants (suspended ones flagged), oldest first.
    static func memberships(userID: String, on db: any SQLDatabase) async throws -> [Member] {
        try await db.raw("""
            SELECT t.id, t.slug, t.name, t.suspended_at, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
            WHERE m.user_id = \(bind: userID) AND m.deleted_at IS NULL AND t.deleted_at IS NULL ORDER BY m.id
            """).all().compactMap { row in
            guard let role = Role(rawValue: try row.decode(column: "role", as: String.self)) else { return nil }
            return Member(id: try row.decode(column: "id", as: String.self), slug: try row.decode(column: "slug", as: String.self),
                          name: try row.decode(column: "name", as: String.self), role: role,
                          suspended: try row.decode(column: "suspended_at", as: Date?.self) != nil)
        }
    }

    static func membershipRole(userID: String, tenantID: String, on db: any SQLDatabase) async throws -> Role? {
        try await db.raw("""
            SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.user_id = \(bind: userID) AND m.tenant_id = \(bind: tenantID) AND m.deleted_at IS NULL AND u.deleted_at IS NULL
            """).first().flatMap { Role(rawValue: try $0.decode(column: "role", as: String.self)) }
    }

    static func insert(_ u: AccountUser, at now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO users (id, email, name, password_hash, installation_admin, created_at, updated_at)
            VALUES (\(bind: u.id), \(bind: u.email), \(bind: u.name), \(bind: u.passwordHash), \(bind: u.installationAdmin), \(bind: now), \(bind: now))
            """).run()
    }

    /// Adds (or brings back, with the new role) a membership.
    static func addMembership(userID: String, tenantID: String, role: Role, at now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO memberships (id, user_id, tenant_id, role, created_at, updated_at) VALUES
            (\(bind: UUIDv7.make(at: now)), \(bind: userID), \(bind: tenantID), \(bind: role.rawValue), \(bind: now), \(bind: now))
            ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = \(bind: role.rawValue), deleted_at = NULL, updated_at = \(bind: now)
            """).run()
    }

    static func view(userID: String, tenantID: String, on db: any SQLDatabase) async throws -> UserView {
        guard let row = try await db.raw("""
            SELECT u.id, u.email, u.name, u.installation_admin, u.created_at, m.role, COALESCE(m.deleted_at, u.deleted_at) AS deleted_at
            FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.user_id = \(bind: userID) AND m.tenant_id = \(bind: tenantID)
            """).first() else { throw ParleyError.notFound("user \(userID) not found in this tenant", code: "user_not_found") }
        return try decodeView(row)
    }

    static func decodeView(_ row: any SQLRow) throws -> UserView {
        UserView(id: try row.decode(column: "id", as: String.self), email: try row.decode(column: "email", as: String.self),
                 name: try row.decode(column: "name", as: String?.self),
                 role: Role(rawValue: try row.decode(column: "role", as: String.self)) ?? .viewer,
                 installationAdmin: try row.decode(column: "installation_admin", as: Bool.self),
                 createdAt: try row.decode(column: "created_at", as: Date.self), deletedAt: try row.decode(column: "deleted_at", as: Date?.self))
    }
}
