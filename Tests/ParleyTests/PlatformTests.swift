import Foundation
import ParleyApp
import ParleyCore
import ParleyPlatform
import ParleyStorage
import Testing

@Suite struct AuthenticationTests {
    @Test(arguments: TestEnv.kinds)
    func keysResolveToTheirTenantAndRoleUntilRevokedOrExpired(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let keys = APIKeyService(store: store, clock: clock)
            let acme = try await Seeded.make(store, clock: clock, slug: "acme")
            let principal = try await keys.authenticate(acme.adminKey)
            #expect(principal.tenantID == acme.tenant.id && principal.role == .admin)

            let viewer = try await acme.key(store, clock: clock, role: .viewer, expiresAt: clock.now().addingTimeInterval(3600))
            let viewerSecret = try #require(viewer.secret)
            #expect(try await keys.authenticate(viewerSecret).role == .viewer)
            clock.advance(by: 3601)
            await #expect(throws: ParleyError(.unauthorized, code: "api_key_expired", "the API key has expired")) {
                _ = try await keys.authenticate(viewerSecret)
            }

            let ctx = ActionContext(principal: principal, requestID: "req-1")
            _ = try await keys.revoke(ctx, id: principal.keyID ?? "")
            await #expect(throws: ParleyError(.unauthorized, code: "api_key_revoked", "the API key has been revoked")) {
                _ = try await keys.authenticate(acme.adminKey)
            }
            for bad in ["", "short", APIKeySecret.generate(), acme.adminKey + "x", String(acme.adminKey.dropLast()) + (acme.adminKey.hasSuffix("Z") ? "Y" : "Z")] {
                await #expect(throws: ParleyError(.unauthorized, code: "invalid_api_key", "the API key is not valid")) {
                    _ = try await keys.authenticate(bad)
                }
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aTenantCannotSeeOrTouchAnotherTenantsKeys(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let keys = APIKeyService(store: store, clock: clock)
            let a = try await Seeded.make(store, clock: clock, slug: "a")
            let b = try await Seeded.make(store, clock: clock, slug: "b")
            let pa = try await keys.authenticate(a.adminKey)
            let pb = try await keys.authenticate(b.adminKey)
            #expect(try await keys.list(pa).allSatisfy { $0.tenantID == a.tenant.id })
            await #expect(throws: ParleyError.notFound("API key \(pa.keyID ?? "") not found", code: "api_key_not_found")) {
                _ = try await keys.revoke(ActionContext(principal: pb, requestID: nil), id: pa.keyID ?? "")
            }
            #expect(try await keys.authenticate(a.adminKey).tenantID == a.tenant.id)
            let auditB = try await AuditService(store: store).list(pb, limit: 100, before: nil, action: nil)
            #expect(auditB.allSatisfy { $0.tenantID == b.tenant.id } && !auditB.isEmpty)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func rolesAreEnforcedByTheServices(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let keys = APIKeyService(store: store, clock: clock)
            let acme = try await Seeded.make(store, clock: clock)
            for role in [Role.operator, .viewer, .service] {
                let secret = try #require(try await acme.key(store, clock: clock, role: role).secret)
                let p = try await keys.authenticate(secret)
                await #expect(throws: ParleyError.self) { _ = try await keys.list(p) }
                await #expect(throws: ParleyError.self) { _ = try await keys.create(ActionContext(principal: p, requestID: nil), name: "x", role: .admin, expiresAt: nil) }
                await #expect(throws: ParleyError.self) { _ = try await AuditService(store: store).list(p, limit: 10, before: nil, action: nil) }
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func everyMutationIsAuditedWithActorAndRequestID(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let keys = APIKeyService(store: store, clock: clock)
            let acme = try await Seeded.make(store, clock: clock)
            let admin = try await keys.authenticate(acme.adminKey)
            let created = try await keys.create(ActionContext(principal: admin, requestID: "req-create"), name: "ops", role: .operator, expiresAt: nil)
            _ = try await keys.revoke(ActionContext(principal: admin, requestID: "req-revoke"), id: created.id)
            let entries = try await AuditService(store: store).list(admin, limit: 2, before: nil, action: nil)
            #expect(entries.map(\.action) == ["api_key.revoke", "api_key.create"])
            #expect(entries.map(\.requestID) == ["req-revoke", "req-create"])
            #expect(entries.allSatisfy { $0.actor == "api_key:\(admin.keyID ?? "")" && $0.targetID == created.id })
            // Cursor pagination and filtering.
            let older = try await AuditService(store: store).list(admin, limit: 10, before: entries[1].id, action: nil)
            #expect(older.map(\.action) == ["api_key.create", "tenant.create"])
            #expect(try await AuditService(store: store).list(admin, limit: 10, before: nil, action: "api_key.revoke").count == 1)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func badInputToServicesIsATypedError(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let tenants = TenantService(store: store, clock: clock)
            await #expect(throws: ParleyError.self) { _ = try await tenants.create(name: "  ", slug: nil, timeZone: "UTC", actor: "t") }
            await #expect(throws: ParleyError.self) { _ = try await tenants.create(name: "X", slug: "Bad Slug", timeZone: "UTC", actor: "t") }
            await #expect(throws: ParleyError.self) { _ = try await tenants.create(name: "X", slug: nil, timeZone: "Mars/Olympus", actor: "t") }
            let acme = try await Seeded.make(store, clock: clock)
            let admin = try await APIKeyService(store: store, clock: clock).authenticate(acme.adminKey)
            await #expect(throws: ParleyError.self) {
                _ = try await APIKeyService(store: store, clock: clock).create(ActionContext(principal: admin, requestID: nil), name: "old", role: .viewer, expiresAt: clock.now().addingTimeInterval(-1))
            }
        }
    }
}

@Suite struct BootstrapTests {
    @Test(arguments: TestEnv.kinds)
    func firstStartCreatesOneTenantAndAdminKeyEvenWhenRacing(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withFreshURL(kind) { url in
            // Opened one after the other so a failure cannot drop an unclosed store; the work races.
            var stores: [any Store] = []
            for _ in 0..<3 { stores.append(try await Stores.open(url, config: StoreOptions.test(maxConnections: 2))) }
            defer { let all = stores; Task { for s in all { await s.shutdown() } } }
            let results = try await withThrowingTaskGroup(of: BootstrapResult?.self) { group in
                for s in stores {
                    group.addTask {
                        try await Migrator(store: s, migrations: CoreSchema.migrations).migrate(at: clock.now())
                        return try await Bootstrap(store: s, clock: clock).run(presetAdminKey: nil)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = results.compactMap { $0 }
            #expect(created.count == 1)
            let secret = try #require(created.first?.adminSecret)
            // Authenticating a key also reads the tenant's suspension (migration 0018_users_auth).
            _ = try await Migrator(store: stores[0], migrations: ParleySchema.migrations).migrate(at: clock.now())
            let p = try await APIKeyService(store: stores[0], clock: clock).authenticate(secret)
            #expect(p.role == .admin && p.tenantID == created.first?.tenant.id)
            #expect(try await TenantService(store: stores[0], clock: clock).list().map(\.slug) == ["default"])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aPresetAdminKeyIsUsedAndNotEchoed(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let preset = "preset-admin-key-0123456789-abcdefghij"
            let result = try #require(try await Bootstrap(store: store, clock: clock).run(presetAdminKey: preset))
            #expect(result.adminSecret == nil)
            #expect(try await APIKeyService(store: store, clock: clock).authenticate(preset).role == .admin)
            #expect(try await Bootstrap(store: store, clock: clock).run(presetAdminKey: preset) == nil)
        }
    }
}
