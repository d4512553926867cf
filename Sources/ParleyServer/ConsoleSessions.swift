import Foundation
import ParleyCore
import ParleyHTTP
import ParleyPlatform
import ParleyStorage
import SQLKit

/// What the console learns about its caller: `GET /v1/auth/session` and the sign-in response.
public struct ConsoleSessionView: Sendable, Encodable {
    public struct TenantInfo: Sendable, Encodable { public var id, name, slug, timeZone: String }
    public var csrfToken: String
    public var tenant: TenantInfo
    public var role: String
    public var keyName: String
    public var expiresAt: Date
}

/// A signed-in browser: the cookie's secret (only ever sent in `Set-Cookie`) and what to show.
public struct ConsoleSignIn: Sendable {
    public var secret: String
    public var view: ConsoleSessionView
    /// Seconds until the session's absolute end: the cookie's `Max-Age`.
    public var maxAge: Int
}

/// A session found from its cookie.
public struct ConsoleSessionMatch: Sendable {
    public var principal: Principal
    public var sessionID: String
    /// The key's name, or the person's email for a session signed in with a password.
    public var keyName: String
    public var expiresAt: Date
    /// Signed in with email and password (a `console_user_sessions` row).
    public var isUserSession = false
}

/// Cookie sessions for the web console. The cookie holds a 256-bit random secret; the database
/// keeps only its SHA-256 (found by hash, then compared in constant time, like API keys). The CSRF
/// token is derived from the secret, so it is never stored and cannot be computed from the hash.
/// A session acts as the API key it was opened with, and ends when that key is revoked or expires.
public struct ConsoleSessionService: Sendable {
    public struct Settings: Sendable {
        public var idle: TimeInterval
        public var maxAge: TimeInterval
        public var signInTokenLifetime: TimeInterval = 24 * 3600
        public init(idle: TimeInterval, maxAge: TimeInterval) {
            self.idle = idle
            self.maxAge = maxAge
        }
        public init(_ config: ParleyConfig) {
            self.init(idle: TimeInterval(config.sessionIdleMinutes) * 60, maxAge: TimeInterval(config.sessionMaxDays) * 86_400)
        }
    }

    public static let cookieName = "parley_session"
    /// `last_seen_at` is written at most this often, so authenticating stays a read.
    static let touchInterval: TimeInterval = 60

    let store: any Store
    let clock: any Clock
    let keys: APIKeyService
    let settings: Settings
    /// Email and password sign-in; nil when only keys and links may sign in.
    let accounts: AccountService?

    public init(store: any Store, clock: any Clock, settings: Settings, accounts: AccountService? = nil) {
        self.store = store
        self.clock = clock
        self.keys = APIKeyService(store: store, clock: clock)
        self.settings = settings
        self.accounts = accounts
    }

    // MARK: secrets

    /// 32 random bytes as 64 hex digits: the session cookie and the sign-in link token.
    static func newSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func isWellFormed(_ secret: String) -> Bool {
        secret.utf8.count == 64 && secret.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public static func csrfToken(for secret: String) -> String { APIKeySecret.hash("parley-csrf:" + secret) }

    public static func csrfMatches(secret: String, header: String?) -> Bool {
        guard let header else { return false }
        return constantTimeEquals(Array(csrfToken(for: secret).utf8), Array(header.utf8))
    }

    // MARK: sign-in

    /// Signs in with an API key: the session acts as that key.
    public func signIn(apiKey: String, requestID: String?) async throws -> ConsoleSignIn {
        let principal = try await keys.authenticate(apiKey.trimmingCharacters(in: .whitespacesAndNewlines))
        guard let keyID = principal.keyID else { throw ParleyError(.unauthorized, code: "invalid_api_key", "the API key is not valid") }
        return try await open(tenantID: principal.tenantID, keyID: keyID, via: "api_key", requestID: requestID)
    }

    /// Signs in with a one-time link token; the token is spent even if the key turns out unusable.
    public func signIn(token: String, requestID: String?) async throws -> ConsoleSignIn {
        let invalid = ParleyError(.unauthorized, code: "invalid_signin_token", "the sign-in link is not valid, was already used or has expired")
        guard Self.isWellFormed(token) else { throw invalid }
        let now = clock.now()
        let hash = APIKeySecret.hash(token)
        // The conditional update claims the token exactly once, however many requests race for it.
        let row = try await store.transaction { db in
            try await db.raw("""
                UPDATE console_signin_tokens SET used_at = \(bind: now)
                WHERE token_hash = \(bind: hash) AND used_at IS NULL AND expires_at > \(bind: now)
                RETURNING tenant_id, api_key_id, token_hash
                """).first()
        }
        guard let row, APIKeySecret.matches(token, hash: try row.decode(column: "token_hash", as: String.self)) else { throw invalid }
        return try await open(tenantID: try row.decode(column: "tenant_id", as: String.self),
                              keyID: try row.decode(column: "api_key_id", as: String.self), via: "link", requestID: requestID)
    }

    /// Signs in with email and password (throttled and audited like `POST /v1/auth/login`): the
    /// session acts as the person in the chosen tenant, with their role there at each request.
    public func signIn(email: String, password: String, tenant: String?, address: String, requestID: String?) async throws -> ConsoleSignIn {
        guard let accounts else { throw ParleyError.badRequest("send either \"api_key\" or \"token\"", code: "invalid_sign_in") }
        let person = try await accounts.checkCredentials(email: email, password: password, tenant: tenant, address: address, requestID: requestID)
        let now = clock.now()
        let secret = Self.newSecret()
        let expires = now.addingTimeInterval(settings.maxAge)
        let audit = AuditLog(clock: clock)
        let tenantRow = try await store.transaction { db -> Tenant in
            guard let tenant = try await TenantRepository().find(id: person.tenantID, on: db) else {
                throw ParleyError(.unauthorized, code: "invalid_credentials", "the email or password is not correct")
            }
            try await db.raw("""
                INSERT INTO console_user_sessions (id, tenant_id, user_id, session_hash, created_at, last_seen_at, expires_at)
                VALUES (\(bind: UUIDv7.make(at: now)), \(bind: person.tenantID), \(bind: person.userID), \(bind: APIKeySecret.hash(secret)),
                        \(bind: now), \(bind: now), \(bind: expires))
                """).run()
            try await audit.record(accounts.context(person, requestID: requestID), action: "console.sign_in", targetType: "user",
                                   targetID: person.userID, details: "via=password", on: db)
            return tenant
        }
        let view = ConsoleSessionView(
            csrfToken: Self.csrfToken(for: secret),
            tenant: .init(id: tenantRow.id, name: tenantRow.name, slug: tenantRow.slug, timeZone: tenantRow.timeZone),
            role: person.role.rawValue, keyName: person.email, expiresAt: min(now.addingTimeInterval(settings.idle), expires))
        return ConsoleSignIn(secret: secret, view: view, maxAge: Int(settings.maxAge))
    }

    /// A single-use link token that signs in as `keyID`, valid for 24 hours.
    public func issueSignInToken(tenantID: String, keyID: String) async throws -> String {
        let token = Self.newSecret()
        let now = clock.now()
        let hash = APIKeySecret.hash(token)
        let expires = now.addingTimeInterval(settings.signInTokenLifetime)
        try await store.transaction { db in
            try await db.raw("""
                INSERT INTO console_signin_tokens (id, tenant_id, api_key_id, token_hash, created_at, expires_at)
                VALUES (\(bind: UUIDv7.make(at: now)), \(bind: tenantID), \(bind: keyID), \(bind: hash), \(bind: now), \(bind: expires))
                """).run()
        }
        return token
    }

    private func open(tenantID: String, keyID: String, via: String, requestID: String?) async throws -> ConsoleSignIn {
        let now = clock.now()
        let secret = Self.newSecret()
        let sessionID = UUIDv7.make(at: now)
        let expires = now.addingTimeInterval(settings.maxAge)
        let audit = AuditLog(clock: clock)
        let (key, tenant) = try await store.transaction { db -> (APIKeyRecord, Tenant) in
            guard let key = try await APIKeyRepository().find(tenantID: tenantID, id: keyID, on: db),
                  let tenant = try await TenantRepository().find(id: tenantID, on: db), tenant.deletedAt == nil else {
                throw ParleyError(.unauthorized, code: "invalid_api_key", "the API key is not valid")
            }
            if key.revokedAt != nil { throw ParleyError(.unauthorized, code: "api_key_revoked", "the API key has been revoked") }
            if let exp = key.expiresAt, exp <= now { throw ParleyError(.unauthorized, code: "api_key_expired", "the API key has expired") }
            try await db.raw("""
                INSERT INTO console_sessions (id, tenant_id, api_key_id, session_hash, created_at, last_seen_at, expires_at)
                VALUES (\(bind: sessionID), \(bind: tenantID), \(bind: keyID), \(bind: APIKeySecret.hash(secret)), \(bind: now), \(bind: now), \(bind: expires))
                """).run()
            let ctx = ActionContext(principal: Self.principal(tenantID: tenantID, keyID: keyID, role: key.role), requestID: requestID)
            try await audit.record(ctx, action: "console.sign_in", targetType: "api_key", targetID: keyID, details: "via=\(via)", on: db)
            return (key, tenant)
        }
        let view = ConsoleSessionView(
            csrfToken: Self.csrfToken(for: secret),
            tenant: .init(id: tenant.id, name: tenant.name, slug: tenant.slug, timeZone: tenant.timeZone),
            role: key.role.rawValue, keyName: key.name, expiresAt: min(now.addingTimeInterval(settings.idle), expires))
        return ConsoleSignIn(secret: secret, view: view, maxAge: Int(settings.maxAge))
    }

    static func principal(tenantID: String, keyID: String, role: Role) -> Principal {
        Principal(tenantID: tenantID, keyID: keyID, role: role, actor: "api_key:\(keyID)")
    }

    // MARK: requests

    /// The session a cookie names, as the principal of its key; 401 when it is unknown, expired,
    /// or its key was revoked or expired (the session row is then removed).
    public func authenticate(secret: String) async throws -> ConsoleSessionMatch {
        let invalid = ParleyError(.unauthorized, code: "invalid_session", "the console session is not valid; sign in again")
        guard Self.isWellFormed(secret) else { throw invalid }
        let now = clock.now()
        let hash = APIKeySecret.hash(secret)
        // The one lookup not scoped by tenant: the cookie is what tells the tenant.
        let row = try await store.read { db in
            try await db.raw("""
                SELECT s.id, s.tenant_id, s.api_key_id, s.session_hash, s.last_seen_at, s.expires_at,
                       k.role, k.name AS key_name, k.revoked_at, k.expires_at AS key_expires_at, t.suspended_at
                FROM console_sessions s
                JOIN api_keys k ON k.id = s.api_key_id AND k.tenant_id = s.tenant_id
                JOIN tenants t ON t.id = s.tenant_id
                WHERE s.session_hash = \(bind: hash) AND t.deleted_at IS NULL
                """).first()
        }
        guard let row else { return try await authenticateUser(hash: hash, secret: secret, now: now) }
        guard APIKeySecret.matches(secret, hash: try row.decode(column: "session_hash", as: String.self)) else { throw invalid }
        let id = try row.decode(column: "id", as: String.self)
        let tenantID = try row.decode(column: "tenant_id", as: String.self)
        let keyID = try row.decode(column: "api_key_id", as: String.self)
        let lastSeen = try row.decode(column: "last_seen_at", as: Date.self)
        let hardEnd = try row.decode(column: "expires_at", as: Date.self)
        let keyRevoked = try row.decode(column: "revoked_at", as: Date?.self) != nil
        let keyExpiry = try row.decode(column: "key_expires_at", as: Date?.self)
        let keyEnded = keyRevoked || keyExpiry.map { $0 <= now } == true
        if keyEnded || now >= hardEnd || now >= lastSeen.addingTimeInterval(settings.idle) {
            try? await store.transaction { db in
                try await db.raw("DELETE FROM console_sessions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
            }
            throw keyEnded ? ParleyError(.unauthorized, code: "session_revoked", "the API key of this session was revoked or has expired; sign in again")
                : ParleyError(.unauthorized, code: "session_expired", "the console session has expired; sign in again")
        }
        if try row.decode(column: "suspended_at", as: Date?.self) != nil {
            throw ParleyError(.forbidden, code: "tenant_suspended", "this tenant is suspended; ask the installation's administrator")
        }
        let roleText = try row.decode(column: "role", as: String.self)
        guard let role = Role(rawValue: roleText) else { throw invalid }
        var seen = lastSeen
        if now.timeIntervalSince(lastSeen) > Self.touchInterval {
            seen = now
            try? await store.transaction { db in
                try await db.raw("UPDATE console_sessions SET last_seen_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
            }
        }
        return ConsoleSessionMatch(principal: Self.principal(tenantID: tenantID, keyID: keyID, role: role), sessionID: id,
                                   keyName: try row.decode(column: "key_name", as: String.self),
                                   expiresAt: min(seen.addingTimeInterval(settings.idle), hardEnd))
    }

    /// A session signed in with a password: the person must still be a member (their role read
    /// now), the tenant live and not suspended.
    private func authenticateUser(hash: String, secret: String, now: Date) async throws -> ConsoleSessionMatch {
        let invalid = ParleyError(.unauthorized, code: "invalid_session", "the console session is not valid; sign in again")
        let row = try await store.read { db in
            try await db.raw("""
                SELECT s.id, s.tenant_id, s.user_id, s.session_hash, s.last_seen_at, s.expires_at, m.role, u.email, u.installation_admin,
                       t.suspended_at
                FROM console_user_sessions s
                JOIN users u ON u.id = s.user_id AND u.deleted_at IS NULL
                JOIN memberships m ON m.user_id = s.user_id AND m.tenant_id = s.tenant_id AND m.deleted_at IS NULL
                JOIN tenants t ON t.id = s.tenant_id
                WHERE s.session_hash = \(bind: hash) AND t.deleted_at IS NULL
                """).first()
        }
        guard let row, APIKeySecret.matches(secret, hash: try row.decode(column: "session_hash", as: String.self)) else { throw invalid }
        let id = try row.decode(column: "id", as: String.self)
        let tenantID = try row.decode(column: "tenant_id", as: String.self)
        let lastSeen = try row.decode(column: "last_seen_at", as: Date.self)
        let hardEnd = try row.decode(column: "expires_at", as: Date.self)
        if now >= hardEnd || now >= lastSeen.addingTimeInterval(settings.idle) {
            try? await store.transaction { db in
                try await db.raw("DELETE FROM console_user_sessions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
            }
            throw ParleyError(.unauthorized, code: "session_expired", "the console session has expired; sign in again")
        }
        if try row.decode(column: "suspended_at", as: Date?.self) != nil {
            throw ParleyError(.forbidden, code: "tenant_suspended", "this tenant is suspended; ask the installation's administrator")
        }
        guard let role = Role(rawValue: try row.decode(column: "role", as: String.self)) else { throw invalid }
        var seen = lastSeen
        if now.timeIntervalSince(lastSeen) > Self.touchInterval {
            seen = now
            try? await store.transaction { db in
                try await db.raw("UPDATE console_user_sessions SET last_seen_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
            }
        }
        let userID = try row.decode(column: "user_id", as: String.self)
        var principal = Principal(tenantID: tenantID, keyID: nil, role: role, actor: "user:\(userID)")
        principal.userID = userID
        principal.installationAdmin = try row.decode(column: "installation_admin", as: Bool.self)
        return ConsoleSessionMatch(principal: principal, sessionID: id, keyName: try row.decode(column: "email", as: String.self),
                                   expiresAt: min(seen.addingTimeInterval(settings.idle), hardEnd), isUserSession: true)
    }

    /// What `GET /v1/auth/session` shows for an authenticated cookie.
    public func describe(_ match: ConsoleSessionMatch, secret: String) async throws -> ConsoleSessionView {
        let tenantID = match.principal.tenantID
        guard let tenant = try await store.read({ db in try await TenantRepository().find(id: tenantID, on: db) }) else {
            throw ParleyError(.unauthorized, code: "invalid_session", "the console session is not valid; sign in again")
        }
        return ConsoleSessionView(csrfToken: Self.csrfToken(for: secret),
                                  tenant: .init(id: tenant.id, name: tenant.name, slug: tenant.slug, timeZone: tenant.timeZone),
                                  role: match.principal.role.rawValue, keyName: match.keyName, expiresAt: match.expiresAt)
    }

    /// Deletes the session and records the sign-out.
    public func signOut(_ match: ConsoleSessionMatch, requestID: String?) async throws {
        let audit = AuditLog(clock: clock)
        let ctx = ActionContext(principal: match.principal, requestID: requestID)
        try await store.transaction { db in
            let table: SQLQueryString = match.isUserSession ? "console_user_sessions" : "console_sessions"
            try await db.raw("DELETE FROM \(table) WHERE tenant_id = \(bind: match.principal.tenantID) AND id = \(bind: match.sessionID)").run()
            try await audit.record(ctx, action: "console.sign_out", targetType: match.isUserSession ? "user" : "api_key",
                                   targetID: match.isUserSession ? match.principal.userID : match.principal.keyID, on: db)
        }
    }
}
