import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyApp
import ParleyCore
import ParleyPlatform
import ParleyServer
import ParleyStorage
import Testing

/// A server with one seeded tenant ("acme", an admin API key) and a way to create accounts.
struct AccountsFixture: Sendable {
    var store: any Store
    var clock: TestClock
    var seeded: Seeded
    var keyring: Keyring
    var accounts: AccountService

    static let password = "correct horse battery"

    @discardableResult
    func user(_ email: String, tenantID: String? = nil, role: Role = .admin, installationAdmin: Bool = false) async throws -> UserView {
        try await accounts.createUser(email: email, password: Self.password, name: nil, tenantID: tenantID ?? seeded.tenant.id, role: role,
                                      installationAdmin: installationAdmin, actor: "test")
    }

    func tenant(_ slug: String) async throws -> Tenant {
        try await TenantService(store: store, clock: clock).create(name: "Tenant \(slug)", slug: slug, timeZone: "UTC", actor: "test")
    }

    /// The one-time token in the last email sent to `email`.
    func mailedToken(to email: String, marker: String) async throws -> String {
        let body = try await store.read { db in
            try await db.raw("SELECT body_text FROM messages WHERE recipient = \(bind: email) ORDER BY id DESC").first()?
                .decode(column: "body_text", as: String.self)
        }
        let text = try #require(body, "no email to \(email)")
        let range = try #require(text.range(of: "?\(marker)="), "no link in: \(text)")
        return String(text[range.upperBound...].prefix { !$0.isWhitespace })
    }
}

func withAccounts(_ kind: DatabaseKind, env: [String: String] = [:],
                  _ body: @escaping @Sendable (any TestClientProtocol, AccountsFixture) async throws -> Void) async throws {
    let clock = TestClock()
    let keyring = Keyring.random()
    try await TestDatabases.withStore(kind, clock: clock) { store in
        let seeded = try await Seeded.make(store, clock: clock)
        // scrypt at 2^10 keeps the tests quick; the product's default is 2^15.
        let environment = ["PARLEY_MAX_BODY_BYTES": "64kb", "PARLEY_PASSWORD_SCRYPT_LOG_N": "10"].merging(env) { $1 }
        let config = try ParleyConfig.load(ConfigSources(environment: environment))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let accounts = AccountService(store: store, clock: clock, keyring: keyring, settings: config.accounts, mailer: NoAccountMail(), logger: logger)
        let deps = ServerDependencies(config: config, store: store, clock: clock, logger: logger, migrations: ParleySchema.migrations,
                                      keyring: keyring, packs: ParleySchema.packs)
        try await buildApplication(deps).test(.router) { client in
            try await body(client, AccountsFixture(store: store, clock: clock, seeded: seeded, keyring: keyring, accounts: accounts))
        }
    }
}

struct Reply: Sendable {
    var status: HTTPResponse.Status
    var json: JSONValue
    var headers: HTTPFields
    var code: String? { json["error"]?["code"]?.stringValue }
}

extension TestClientProtocol {
    func call(_ method: HTTPRequest.Method, _ uri: String, bearer: String? = nil, tenant: String? = nil, _ body: JSONValue? = nil) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        if let tenant { headers[HTTPField.Name("X-Tenant")!] = tenant }
        if body != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0.serialized()) }) { r in
            let text = String(buffer: r.body)
            return Reply(status: r.status, json: text.isEmpty ? .null : try JSONValue.parse(text), headers: r.headers)
        }
    }

    func login(_ email: String, _ password: String = AccountsFixture.password, tenant: String? = nil) async throws -> Reply {
        var body: [String: JSONValue] = ["email": .string(email), "password": .string(password)]
        if let tenant { body["tenant"] = .string(tenant) }
        return try await call(.post, "/v1/auth/login", .object(body))
    }
}

@Suite struct AccountsTests {
    @Test(arguments: TestEnv.kinds)
    func signInUsesTheAccessTokenAndRotatesRefreshTokensAndAReplayRevokesTheFamily(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            try await f.user("Ana@Example.com")
            let login = try await client.login("  ana@example.COM ")
            #expect(login.status == .ok, "\(login.json)")
            #expect(login.json["token_type"] == "Bearer" && login.json["expires_in"]?.intValue == 900)
            #expect(login.json["tenants"]?[0]?["slug"] == "acme" && login.json["tenants"]?[0]?["role"] == "admin")
            #expect(login.headers[.cacheControl] == "no-store")
            let access = try #require(login.json["access_token"]?.stringValue)
            let refresh1 = try #require(login.json["refresh_token"]?.stringValue)
            #expect(try await client.call(.get, "/v1/tenant", bearer: access).json["slug"] == "acme")

            let second = try await client.call(.post, "/v1/auth/refresh", ["refresh_token": .string(refresh1)])
            #expect(second.status == .ok)
            let refresh2 = try #require(second.json["refresh_token"]?.stringValue)
            #expect(refresh2 != refresh1)
            #expect(try await client.call(.get, "/v1/tenant", bearer: try #require(second.json["access_token"]?.stringValue)).status == .ok)

            // The spent token again: refused, and the family (with the token just issued) is revoked.
            let replay = try await client.call(.post, "/v1/auth/refresh", ["refresh_token": .string(refresh1)])
            #expect(replay.status == .unauthorized && replay.code == "refresh_token_reused")
            let after = try await client.call(.post, "/v1/auth/refresh", ["refresh_token": .string(refresh2)])
            #expect(after.status == .unauthorized && after.code == "refresh_token_revoked")

            // Logout revokes another sign-in's family.
            let other = try #require(try await client.login("ana@example.com").json["refresh_token"]?.stringValue)
            #expect(try await client.call(.post, "/v1/auth/logout", ["refresh_token": .string(other)]).status == .noContent)
            #expect(try await client.call(.post, "/v1/auth/refresh", ["refresh_token": .string(other)]).code == "refresh_token_revoked")
            #expect(try await client.call(.post, "/v1/auth/refresh", ["refresh_token": "prr_nonsense"]).code == "invalid_refresh_token")
            #expect(try await client.call(.post, "/v1/auth/refresh", ["refresh": "x"]).code == "unknown_field")

            let audit = try await client.getJSON(f.seeded.adminKey, "/v1/audit-log")
            let actions = Set((audit["data"]?.arrayValue ?? []).compactMap { $0["action"]?.stringValue })
            #expect(actions.isSuperset(of: ["auth.login", "auth.refresh_reuse", "user.create"]))
        }
    }

    /// Every request naming an account takes a token from its sign-in bucket, right password or
    /// not; another account is not affected.
    @Test(arguments: TestEnv.kinds)
    func signInAndResetRequestsPerAccountHaveTheirOwnBucket(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind, env: ["PARLEY_RATE_LIMIT_LOGIN_BURST": "2", "PARLEY_RATE_LIMIT_LOGIN_PER_MINUTE": "1"]) { client, f in
            try await f.user("bo@example.com")
            try await f.user("ana@example.com")
            #expect(try await client.login("bo@example.com").status == .ok)
            #expect(try await client.login("BO@example.com").status == .ok)
            let limited = try await client.login("bo@example.com")
            #expect(limited.status == .tooManyRequests && limited.code == "rate_limited", "\(limited.json)")
            #expect((1...60).contains(limited.headers[.retryAfter].flatMap(Int.init) ?? 0))
            let reset = try await client.call(.post, "/v1/auth/password-reset", ["email": "bo@example.com"])
            #expect(reset.status == .tooManyRequests)
            #expect(try await client.login("ana@example.com").status == .ok)
            f.clock.advance(by: 60)
            #expect(try await client.login("bo@example.com").status == .ok)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func wrongPasswordsAreRefusedAlikeAndThrottledPerAccountAndPerAddress(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind, env: ["PARLEY_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3", "PARLEY_LOGIN_MAX_FAILURES_PER_ADDRESS": "5"]) { client, f in
            try await f.user("bo@example.com")
            let wrong = try await client.login("bo@example.com", "not the password")
            let unknown = try await client.login("nobody@example.com", "not the password")
            #expect(wrong.status == .unauthorized && wrong.code == "invalid_credentials")
            #expect(unknown.status == .unauthorized && unknown.code == "invalid_credentials")
            #expect(wrong.json["error"]?["message"] == unknown.json["error"]?["message"])
            #expect(try await client.call(.post, "/v1/auth/login", ["email": "bo@example.com"]).status == .badRequest)
            #expect(try await client.login("not an email", "x").code == "invalid_credentials")

            _ = try await client.login("bo@example.com", "still wrong")
            _ = try await client.login("bo@example.com", "wrong again")
            // Three failures for the account: even the right password waits.
            let locked = try await client.login("bo@example.com")
            #expect(locked.status == .tooManyRequests && locked.code == "login_throttled")
            let retry = try #require(locked.headers[.retryAfter].flatMap(Int.init))
            #expect(retry > 0 && retry <= 900)

            f.clock.advance(by: 901)
            #expect(try await client.login("bo@example.com").status == .ok)

            // Per address: five failures from one address over any accounts lock the address.
            for i in 0..<5 { _ = try await client.login("x\(i)@example.com", "wrong password") }
            #expect(try await client.login("bo@example.com").code == "login_throttled")

            let audit = try await client.getJSON(f.seeded.adminKey, "/v1/audit-log?action=auth.login_failed")
            #expect((audit["data"]?.arrayValue ?? []).count == 3)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func expiredTamperedAndForeignTokensAreRefusedAndRotatedKeysStillVerify(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind, env: ["PARLEY_TOKEN_KEY_ID": "k2", "PARLEY_TOKEN_PREVIOUS_KEY_IDS": "k1"]) { client, f in
            let user = try await f.user("cy@example.com")
            let login = try await client.login("cy@example.com")
            let access = try #require(login.json["access_token"]?.stringValue)
            let now = f.clock.now()
            let tenant = f.seeded.tenant.id

            // Signed with the previous key id: still accepted. With an unknown kid, or another installation's key: refused.
            let previous = AccessTokens(keyring: f.keyring, keyID: "k1", previousKeyIDs: [], lifetimeSeconds: 900)
            #expect(try await client.call(.get, "/v1/tenant", bearer: previous.issue(userID: user.id, tenantID: tenant, at: now)).status == .ok)
            let retired = AccessTokens(keyring: f.keyring, keyID: "k0", previousKeyIDs: [], lifetimeSeconds: 900)
            #expect(try await client.call(.get, "/v1/tenant", bearer: retired.issue(userID: user.id, tenantID: tenant, at: now)).code == "invalid_token")
            let foreign = AccessTokens(keyring: .random(), keyID: "k2", previousKeyIDs: [], lifetimeSeconds: 900)
            #expect(try await client.call(.get, "/v1/tenant", bearer: foreign.issue(userID: user.id, tenantID: tenant, at: now)).code == "invalid_token")

            // Tampered: another user's id in the payload, the signature kept.
            let parts = access.split(separator: ".").map(String.init)
            var payload = try JSONValue.parse(try #require(Self.base64URLDecode(parts[1]))).objectValue ?? [:]
            payload["sub"] = "someone-else"
            let forged = parts[0] + "." + Self.base64URL(Data(JSONValue.object(payload).serialized().utf8)) + "." + parts[2]
            #expect(try await client.call(.get, "/v1/tenant", bearer: forged).code == "invalid_token")
            // alg none, and garbage shaped like a JWT.
            let none = Self.base64URL(Data(#"{"alg":"none","kid":"k2"}"#.utf8)) + "." + parts[1] + "."
            #expect(try await client.call(.get, "/v1/tenant", bearer: none).code == "invalid_token")
            #expect(try await client.call(.get, "/v1/tenant", bearer: "eyJ.eyJ.sig").code == "invalid_token")

            f.clock.advance(by: 901)
            let expired = try await client.call(.get, "/v1/tenant", bearer: access)
            #expect(expired.status == .unauthorized && expired.code == "token_expired")
            // The API key works as before.
            #expect(try await client.call(.get, "/v1/tenant", bearer: f.seeded.adminKey).status == .ok)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func xTenantSelectsAmongTheUsersTenantsAndOthersAreForbidden(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            let beta = try await f.tenant("beta")
            let gamma = try await f.tenant("gamma")
            let user = try await f.user("di@example.com")
            try await AccountsTestSupport.join(f, user.id, beta.id, .viewer)
            let login = try await client.login("di@example.com", tenant: "beta")
            #expect(login.json["tenant_id"]?.stringValue == beta.id)
            #expect((login.json["tenants"]?.arrayValue ?? []).count == 2)
            let access = try #require(try await client.login("di@example.com").json["access_token"]?.stringValue)

            #expect(try await client.call(.get, "/v1/tenant", bearer: access).json["slug"] == "acme")
            #expect(try await client.call(.get, "/v1/tenant", bearer: access, tenant: "beta").json["slug"] == "beta")
            #expect(try await client.call(.get, "/v1/tenant", bearer: access, tenant: beta.id).json["slug"] == "beta")
            // A viewer in beta may not write there; an admin in acme may.
            let write = try await client.call(.patch, "/v1/tenant", bearer: access, tenant: "beta", ["name": "Beta 2"])
            #expect(write.status == .forbidden)
            #expect(try await client.call(.patch, "/v1/tenant", bearer: access, ["name": "Acme 2"]).status == .ok)
            // Not a member of gamma: 403 with the code, for an access token and for an API key.
            let other = try await client.call(.get, "/v1/tenant", bearer: access, tenant: gamma.slug)
            #expect(other.status == .forbidden && other.code == "not_a_member")
            #expect(try await client.call(.get, "/v1/tenant", bearer: f.seeded.adminKey, tenant: "gamma").code == "not_a_member")
            #expect(try await client.call(.get, "/v1/tenant", bearer: f.seeded.adminKey, tenant: "acme").status == .ok)
            #expect(try await client.login("di@example.com", tenant: "gamma").code == "not_a_member")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func invitationsUsersAndRolesWithRemovalAndRestore(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            try await f.user("admin@example.com")
            let admin = try #require(try await client.login("admin@example.com").json["access_token"]?.stringValue)
            let invited = try await client.call(.post, "/v1/users/invitations", bearer: admin, ["email": "Eve@Example.com", "role": "viewer"])
            #expect(invited.status == .created && invited.json["email"] == "eve@example.com")
            #expect(try await client.call(.post, "/v1/users/invitations", bearer: admin, ["email": "x", "role": "viewer"]).code == "invalid_email")
            #expect(try await client.call(.post, "/v1/users/invitations", bearer: admin, ["email": "z@example.com", "role": "service"]).code == "invalid_role")
            let token = try await f.mailedToken(to: "eve@example.com", marker: "invitation")

            #expect(try await client.call(.post, "/v1/auth/accept-invitation", ["token": .string(token), "password": "short"]).code == "invalid_password")
            let accepted = try await client.call(.post, "/v1/auth/accept-invitation", ["token": .string(token), "password": "eve's long password", "name": "Eve"])
            #expect(accepted.status == .created, "\(accepted.json)")
            let eve = try #require(accepted.json["access_token"]?.stringValue)
            #expect(try await client.call(.post, "/v1/auth/accept-invitation", ["token": .string(token), "password": "eve's long password"]).code == "token_used")
            #expect(try await client.call(.post, "/v1/auth/accept-invitation", ["token": "pot_unknown", "password": "eve's long password"]).code == "invalid_token")

            // A viewer reads but does not write; it may not invite either.
            #expect(try await client.call(.get, "/v1/users", bearer: eve).status == .ok)
            #expect(try await client.call(.patch, "/v1/tenant", bearer: eve, ["name": "Mine"]).status == .forbidden)
            #expect(try await client.call(.post, "/v1/users/invitations", bearer: eve, ["email": "f@example.com", "role": "admin"]).status == .forbidden)

            let users = try await client.call(.get, "/v1/users", bearer: admin).json["data"]?.arrayValue ?? []
            let eveID = try #require(users.first { $0["email"] == "eve@example.com" }?["id"]?.stringValue)
            #expect(users.count == 2)
            let promoted = try await client.call(.patch, "/v1/users/\(eveID)", bearer: admin, ["role": "operator"])
            #expect(promoted.json["role"] == "operator")
            #expect(try await client.call(.patch, "/v1/users/nobody", bearer: admin, ["role": "operator"]).status == .notFound)

            // Removed: the token stops working at once, the list hides it unless asked.
            #expect(try await client.call(.delete, "/v1/users/\(eveID)", bearer: admin).status == .ok)
            #expect(try await client.call(.get, "/v1/tenant", bearer: eve).code == "account_removed")
            #expect((try await client.call(.get, "/v1/users", bearer: admin).json["data"]?.arrayValue ?? []).count == 1)
            let all = try await client.call(.get, "/v1/users?include_deleted=true", bearer: admin).json["data"]?.arrayValue ?? []
            #expect(all.count == 2 && all.contains { $0["id"]?.stringValue == eveID && $0["deleted_at"]?.stringValue != nil })
            #expect(try await client.call(.get, "/v1/users?include_deleted=maybe", bearer: admin).code == "invalid_query")
            #expect(try await client.call(.post, "/v1/users/\(eveID)/restore", bearer: admin).json["deleted_at"] == nil)
            #expect(try await client.call(.get, "/v1/tenant", bearer: eve).status == .ok)

            let audit = try await client.getJSON(f.seeded.adminKey, "/v1/audit-log")
            let actions = Set((audit["data"]?.arrayValue ?? []).compactMap { $0["action"]?.stringValue })
            #expect(actions.isSuperset(of: ["user.invite", "user.invitation_accepted", "user.role_change", "user.remove", "user.restore"]))
        }
    }

    @Test(arguments: TestEnv.kinds)
    func passwordResetSaysNothingAboutAccountsAndSignsOutEverywhere(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            try await f.user("fay@example.com")
            let refresh = try #require(try await client.login("fay@example.com").json["refresh_token"]?.stringValue)
            let unknown = try await client.call(.post, "/v1/auth/password-reset", ["email": "nobody@example.com"])
            let known = try await client.call(.post, "/v1/auth/password-reset", ["email": "fay@example.com"])
            #expect(unknown.status == .accepted && known.status == .accepted && unknown.json == known.json)
            let token = try await f.mailedToken(to: "fay@example.com", marker: "password_reset")

            #expect(try await client.call(.post, "/v1/auth/password-reset/confirm", ["token": .string(token), "password": "tiny"]).code == "invalid_password")
            #expect(try await client.call(.post, "/v1/auth/password-reset/confirm",
                                          ["token": .string(token), "password": "a brand new password"]).status == .noContent)
            #expect(try await client.call(.post, "/v1/auth/password-reset/confirm",
                                          ["token": .string(token), "password": "another new password"]).code == "token_used")
            #expect(try await client.login("fay@example.com").code == "invalid_credentials")
            #expect(try await client.login("fay@example.com", "a brand new password").status == .ok)
            #expect(try await client.call(.post, "/v1/auth/refresh", ["refresh_token": .string(refresh)]).code == "refresh_token_revoked")

            // A link past its time.
            _ = try await client.call(.post, "/v1/auth/password-reset", ["email": "fay@example.com"])
            let late = try await f.mailedToken(to: "fay@example.com", marker: "password_reset")
            f.clock.advance(by: 31 * 60)
            #expect(try await client.call(.post, "/v1/auth/password-reset/confirm",
                                          ["token": .string(late), "password": "a third new password"]).code == "token_expired")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func installationAdminsManageTenantsAndASuspendedTenantIsLockedOut(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            try await f.user("root@example.com", installationAdmin: true)
            try await f.user("plain@example.com")
            let root = try #require(try await client.login("root@example.com").json["access_token"]?.stringValue)
            let plain = try #require(try await client.login("plain@example.com").json["access_token"]?.stringValue)

            #expect(try await client.call(.get, "/v1/admin/tenants", bearer: plain).code == "installation_admin_required")
            #expect(try await client.call(.get, "/v1/admin/tenants", bearer: f.seeded.adminKey).code == "installation_admin_required")
            let created = try await client.call(.post, "/v1/admin/tenants", bearer: root, ["name": "Zeta Ltd", "slug": "zeta", "time_zone": "Europe/Berlin"])
            #expect(created.status == .created && created.json["slug"] == "zeta" && created.json["time_zone"] == "Europe/Berlin")
            #expect(try await client.call(.post, "/v1/admin/tenants", bearer: root, ["name": "Zeta", "slug": "zeta"]).code == "slug_taken")
            #expect(try await client.call(.post, "/v1/admin/tenants", bearer: root, ["name": "Bad", "time_zone": "Mars/Base"]).code == "invalid_time_zone")
            #expect(try await client.call(.post, "/v1/admin/tenants", bearer: plain, ["name": "Nope"]).status == .forbidden)
            let renamed = try await client.call(.patch, "/v1/admin/tenants/zeta", bearer: root, ["name": "Zeta GmbH", "time_zone": "Europe/Vienna"])
            #expect(renamed.json["name"] == "Zeta GmbH" && renamed.json["time_zone"] == "Europe/Vienna")
            #expect(try await client.call(.patch, "/v1/admin/tenants/zeta", bearer: root, [:]).code == "empty_update")
            #expect(try await client.call(.get, "/v1/admin/tenants/none", bearer: root).status == .notFound)

            // Suspending acme locks out its keys and its users (the admin signs in elsewhere first).
            let zetaID = try #require(created.json["id"]?.stringValue)
            try await AccountsTestSupport.join(f, try #require(try await f.store.read { db in
                try await db.raw("SELECT id FROM users WHERE email = 'root@example.com'").first()?.decode(column: "id", as: String.self)
            }), zetaID, .admin)
            let rootZeta = try #require(try await client.login("root@example.com", tenant: "zeta").json["access_token"]?.stringValue)
            let suspended = try await client.call(.patch, "/v1/admin/tenants/acme", bearer: rootZeta, ["suspended": true])
            #expect(suspended.json["suspended_at"]?.stringValue != nil)
            #expect(try await client.call(.get, "/v1/tenant", bearer: f.seeded.adminKey).code == "tenant_suspended")
            #expect(try await client.call(.get, "/v1/tenant", bearer: plain).code == "tenant_suspended")
            #expect(try await client.login("plain@example.com").code == "tenant_suspended")
            #expect(try await client.call(.patch, "/v1/admin/tenants/acme", bearer: rootZeta, ["suspended": false]).json["suspended_at"] == nil)
            #expect(try await client.call(.get, "/v1/tenant", bearer: f.seeded.adminKey).status == .ok)

            // Deleted: gone from the list (unless asked), its key refused.
            #expect(try await client.call(.delete, "/v1/admin/tenants/acme", bearer: rootZeta).status == .ok)
            #expect(try await client.call(.get, "/v1/tenant", bearer: f.seeded.adminKey).status == .unauthorized)
            let live = try await client.call(.get, "/v1/admin/tenants", bearer: rootZeta).json["data"]?.arrayValue ?? []
            #expect(live.map { $0["slug"]?.stringValue } == ["zeta"])
            #expect((try await client.call(.get, "/v1/admin/tenants?include_deleted=true", bearer: rootZeta).json["data"]?.arrayValue ?? []).count == 2)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theConsoleSignsInWithEmailAndPasswordAndFollowsTheMembership(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            let user = try await f.user("gus@example.com", role: .operator)
            let wrong = try await client.call(.post, "/v1/auth/session", ["email": "gus@example.com", "password": "wrong password"])
            #expect(wrong.status == .unauthorized && wrong.code == "invalid_credentials")
            #expect(try await client.call(.post, "/v1/auth/session", ["email": "gus@example.com"]).code == "invalid_sign_in")
            #expect(try await client.call(.post, "/v1/auth/session", ["api_key": .string(f.seeded.adminKey), "tenant": "acme"]).code == "invalid_sign_in")

            let body = JSONValue.object(["email": "gus@example.com", "password": .string(AccountsFixture.password)]).serialized()
            let (cookie, csrf, signedIn) = try await client.execute(uri: "/v1/auth/session", method: .post, headers: [.contentType: "application/json"],
                                                                    body: ByteBuffer(string: body)) { r in
                let cookie = try #require(r.headers[.setCookie]?.split(separator: ";").first.map(String.init))
                let json = try JSONValue.parse(String(buffer: r.body))
                return (cookie, try #require(json["csrf_token"]?.stringValue), json)
            }
            #expect(signedIn["role"] == "operator" && signedIn["key_name"] == "gus@example.com" && signedIn["tenant"]?["slug"] == "acme")
            func get(_ uri: String) async throws -> Reply {
                try await client.execute(uri: uri, method: .get, headers: [.cookie: cookie]) { r in
                    Reply(status: r.status, json: try JSONValue.parse(String(buffer: r.body)), headers: r.headers)
                }
            }
            #expect(try await get("/v1/tenant").json["slug"] == "acme")
            #expect(try await get("/v1/auth/session").json["key_name"] == "gus@example.com")

            // The role is read at each request; a removed member's session ends.
            let admin = ActionContext(principal: Principal(tenantID: f.seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            _ = try await f.accounts.changeRole(admin, userID: user.id, role: .viewer)
            #expect(try await get("/v1/auth/session").json["role"] == "viewer")
            _ = try await f.accounts.remove(admin, userID: user.id)
            #expect(try await get("/v1/tenant").code == "invalid_session")

            // Sign-out of a live password session.
            _ = try await f.accounts.restore(admin, userID: user.id)
            try await client.execute(uri: "/v1/auth/session", method: .delete, headers: [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf]) { r in
                #expect(r.status == .noContent)
            }
            #expect(try await get("/v1/tenant").code == "invalid_session")
            let audit = try await client.getJSON(f.seeded.adminKey, "/v1/audit-log?action=console.sign_in")
            #expect(audit["data"]?[0]?["actor"]?.stringValue == "user:\(user.id)")
        }
    }

    @Test func passwordHashesCarryTheirParametersAndMalformedOnesNeverMatch() throws {
        let hasher = PasswordHasher(logN: 10)
        let stored = try hasher.hash("a long enough password")
        #expect(stored.hasPrefix("scrypt$10$8$1$"))
        #expect(PasswordHasher.verify("a long enough password", stored: stored))
        #expect(!PasswordHasher.verify("a long enough passworD", stored: stored))
        #expect(try hasher.hash("a long enough password") != stored)  // salted
        #expect(PasswordHasher(logN: 12).needsRehash(stored) && !hasher.needsRehash(stored))
        for bad in ["", "scrypt$10$8$1$$", "scrypt$40$8$1$c2FsdA==$aGFzaA==", "bcrypt$10$8$1$c2FsdA==$aGFzaA==", stored + "x"] {
            #expect(!PasswordHasher.verify("a long enough password", stored: bad))
        }
        #expect(throws: ParleyError.self) { try PasswordHasher.validate("short") }
        #expect(throws: ParleyError.self) { try PasswordHasher.validate("with a\u{7}bell inside") }
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ s: String) -> String? {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return Data(base64Encoded: b).map { String(decoding: $0, as: UTF8.self) }
    }
}

enum AccountsTestSupport {
    /// Adds a membership directly (as an accepted invitation would).
    static func join(_ f: AccountsFixture, _ userID: String, _ tenantID: String, _ role: Role) async throws {
        let now = f.clock.now()
        try await f.store.transaction { db in
            try await db.raw("""
                INSERT INTO memberships (id, user_id, tenant_id, role, created_at, updated_at)
                VALUES (\(bind: UUIDv7.make(at: now)), \(bind: userID), \(bind: tenantID), \(bind: role.rawValue), \(bind: now), \(bind: now))
                """).run()
        }
    }
}
