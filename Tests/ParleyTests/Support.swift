import Foundation
import ParleyApp
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import Synchronization
import Testing

/// A clock tests move by hand.
final class TestClock: Clock {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

enum TestEnv {
    static let postgresURL = ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_URL"]
    /// The databases every storage-level test runs against: SQLite always, PostgreSQL when the test
    /// command started a cluster.
    static var kinds: [DatabaseKind] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }
    /// A zone where it is early afternoon at `now`, so quiet hours never defer a test's messages
    /// (Etc/GMT zones count the other way round: Etc/GMT-3 is UTC+3).
    static func afternoonZone(at now: Date) -> String {
        let offset = 14 - (Calendar(identifier: .gregorian).dateComponents(in: .gmt, from: now).hour ?? 14)
        return offset == 0 ? "UTC" : offset > 0 ? "Etc/GMT-\(offset)" : "Etc/GMT+\(-offset)"
    }
    static var packageRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
}

enum TestDatabases {
    /// A fresh empty database of `kind`, dropped afterwards.
    static func withFreshURL<T>(_ kind: DatabaseKind, _ body: (DatabaseURL) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            return try await body(.sqlite(path: dir.appendingPathComponent("test.db").path))
        case .postgres:
            guard let raw = TestEnv.postgresURL, case .success(.postgres(let admin)) = DatabaseURL.parse(raw) else {
                throw TestFailure("PARLEY_TEST_POSTGRES_URL is not set")
            }
            let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let adminStore = PostgresStore(target: admin, options: StoreOptions.test(maxConnections: 2))
            do {
                try await adminStore.read { db in try await db.raw("CREATE DATABASE \(ident: name)").run() }
            } catch {
                await adminStore.shutdown()
                throw error
            }
            var target = admin
            target.database = name
            do {
                let result = try await body(.postgres(target))
                try? await adminStore.read { db in try await db.raw("DROP DATABASE \(ident: name) WITH (FORCE)").run() }
                await adminStore.shutdown()
                return result
            } catch {
                try? await adminStore.read { db in try await db.raw("DROP DATABASE \(ident: name) WITH (FORCE)").run() }
                await adminStore.shutdown()
                throw error
            }
        }
    }

    /// An open store on a fresh database, migrated unless asked otherwise.
    static func withStore<T>(_ kind: DatabaseKind, migrated: Bool = true, clock: TestClock = TestClock(),
                             _ body: (any Store) async throws -> T) async throws -> T {
        try await withFreshURL(kind) { url in
            let store = try await Stores.open(url, config: StoreOptions.test(maxConnections: 4))
            do {
                if migrated { try await Migrator(store: store, migrations: ParleySchema.migrations).migrate(at: clock.now()) }
                let result = try await body(store)
                await store.shutdown()
                return result
            } catch {
                await store.shutdown()
                throw error
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A tenant with an admin key, the usual starting point of API tests.
struct Seeded {
    var tenant: Tenant
    var adminKey: String

    static func make(_ store: any Store, clock: any Clock, slug: String = "acme") async throws -> Seeded {
        let tenant = try await TenantService(store: store, clock: clock).create(name: "Acme \(slug)", slug: slug, timeZone: "Europe/Paris", actor: "test")
        let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
        let key = try await APIKeyService(store: store, clock: clock).create(ctx, name: "admin", role: .admin, expiresAt: nil)
        return Seeded(tenant: tenant, adminKey: try #require(key.secret))
    }

    func key(_ store: any Store, clock: any Clock, role: Role, expiresAt: Date? = nil) async throws -> APIKeyView {
        let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
        return try await APIKeyService(store: store, clock: clock).create(ctx, name: "\(role.rawValue) key", role: role, expiresAt: expiresAt)
    }
}

extension StoreOptions {
    /// Stores in tests wait longer for a connection and for SQLite's lock than the product's
    /// defaults: hundreds of tests run in parallel on two cores (with PostgreSQL creating a database
    /// for each), so a connection can take seconds to come up. Nothing waits on a timer: these are
    /// ceilings, reached only when something is wrong.
    static func test(maxConnections: Int) -> StoreOptions {
        StoreOptions(maxConnections: maxConnections, timeout: .seconds(60), sqliteBusyTimeoutMilliseconds: 60_000)
    }
}
