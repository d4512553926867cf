import Foundation
import ParleyApp
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import SQLKit
import Testing

@Suite struct StorageTests {
    @Test(arguments: TestEnv.kinds)
    func migrationsApplyOnceAndReportStatus(_ kind: DatabaseKind) async throws {
        try await TestDatabases.withStore(kind, migrated: false) { store in
            let migrator = Migrator(store: store, migrations: ParleySchema.migrations)
            #expect(try await migrator.pending() == ParleySchema.migrations.map(\.id))
            let first = try await migrator.migrate(at: Date())
            #expect(first == ParleySchema.migrations.map(\.id))
            #expect(try await migrator.migrate(at: Date()).isEmpty)
            let status = try await migrator.status()
            #expect(status.allSatisfy { $0.appliedAt != nil })
            #expect(try await migrator.pending().isEmpty)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func concurrentMigratorsOnOneDatabaseApplyEachMigrationOnce(_ kind: DatabaseKind) async throws {
        try await TestDatabases.withFreshURL(kind) { url in
            // Separate stores stand for separate processes: separate connections, no shared memory.
            // Opened one after the other so a failure cannot drop an unclosed store; the work races.
            var stores: [any Store] = []
            for _ in 0..<4 { stores.append(try await Stores.open(url, config: StoreOptions.test(maxConnections: 2))) }
            defer { let all = stores; Task { for s in all { await s.shutdown() } } }
            let applied = try await withThrowingTaskGroup(of: [String].self) { group in
                for s in stores { group.addTask { try await Migrator(store: s, migrations: ParleySchema.migrations).migrate(at: Date()) } }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(applied.sorted() == ParleySchema.migrations.map(\.id).sorted())
            let rows = try await stores[0].read { db in try await db.raw("SELECT COUNT(*) AS n FROM schema_migrations").first()?.decode(column: "n", as: Int.self) }
            #expect(rows == ParleySchema.migrations.count)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func uniqueViolationIsTheSameTypedErrorOnBoth(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let service = TenantService(store: store, clock: clock)
            let t = try service.make(name: "One", slug: "same", timeZone: "UTC")
            try await store.transaction { db in try await TenantRepository().insert(t, on: db) }
            var copy = t
            copy.id = UUIDv7.make(at: clock.now())
            let dup = copy
            await #expect(throws: StoreError.self) {
                try await store.transaction { db in try await TenantRepository().insert(dup, on: db) }
            }
            do {
                try await store.transaction { db in try await TenantRepository().insert(dup, on: db) }
            } catch let e as StoreError {
                guard case .uniqueViolation = e else { Issue.record("expected uniqueViolation, got \(e)"); return }
            }
            // The service turns it into a 409-class domain error.
            await #expect(throws: ParleyError.conflict("a tenant with slug 'same' already exists", code: "slug_taken")) {
                _ = try await service.create(name: "Two", slug: "same", timeZone: "UTC", actor: "test")
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aThrowingTransactionRollsBackEverything(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let t = try TenantService(store: store, clock: clock).make(name: "Rolled", slug: "rolled", timeZone: "UTC")
            await #expect(throws: TestFailure.self) {
                try await store.transaction { db in
                    try await TenantRepository().insert(t, on: db)
                    throw TestFailure("boom")
                }
            }
            #expect(try await store.read { db in try await TenantRepository().find(slug: "rolled", on: db) } == nil)
            // The connection is usable afterwards.
            try await store.transaction { db in try await TenantRepository().insert(t, on: db) }
            #expect(try await store.read { db in try await TenantRepository().find(slug: "rolled", on: db) }?.id == t.id)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func timestampsRoundTripWithMilliseconds(_ kind: DatabaseKind) async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000.123))
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let created = try await TenantService(store: store, clock: clock).create(name: "Time", slug: nil, timeZone: "America/New_York", actor: "t")
            let read = try #require(try await store.read { db in try await TenantRepository().find(id: created.id, on: db) })
            #expect(abs(read.createdAt.timeIntervalSince1970 - 1_800_000_000.123) < 0.0005)
            #expect(read.slug == "time" && read.timeZone == "America/New_York" && read.deletedAt == nil)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func writersAndReadersRunConcurrentlyWithoutErrors(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "t"), requestID: nil)
            let keys = APIKeyService(store: store, clock: clock)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        if i % 2 == 0 { _ = try await keys.create(ctx, name: "k\(i)", role: .viewer, expiresAt: nil) }
                        else { _ = try await keys.list(ctx.principal) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await keys.list(ctx.principal).count == 21)
        }
    }

    @Test func sqliteUsesWALAndABusyTimeout() async throws {
        try await TestDatabases.withStore(.sqlite) { store in
            let mode = try await store.read { db in try await db.raw("PRAGMA journal_mode").first()?.decode(column: "journal_mode", as: String.self) }
            let timeout = try await store.read { db in try await db.raw("PRAGMA busy_timeout").first()?.decode(column: "timeout", as: Int.self) }
            #expect(mode == "wal")
            #expect(timeout == StoreOptions.test(maxConnections: 4).sqliteBusyTimeoutMilliseconds, "the store's busy timeout is applied to its connections")
        }
    }

    @Test func aMissingSQLiteDirectoryIsAClearUnavailableError() async {
        await #expect(throws: StoreError.unavailable("cannot open SQLite database /nonexistent-dir/x.db: directory /nonexistent-dir does not exist")) {
            _ = try await Stores.open(.sqlite(path: "/nonexistent-dir/x.db"), config: StoreOptions())
        }
    }

    @Test func aPostgresServerThatIsDownIsAClearUnavailableError() async throws {
        // A port nothing listens on: connection refused, reported within the timeout.
        let target = DatabaseURL.PostgresTarget(host: "127.0.0.1", port: 9, user: "u", password: "p", database: "d", tls: .disable)
        do {
            _ = try await Stores.open(.postgres(target), config: StoreOptions(timeout: .seconds(1)))
            Issue.record("opened a store on a closed port")
        } catch let e as StoreError {
            guard case .unavailable = e else { Issue.record("expected unavailable, got \(e)"); return }
        }
    }
}

@Suite struct TransactionCancellationTests {
    /// A request cancelled mid-transaction (a client that hangs up) must not leave the shared
    /// SQLite writer inside its transaction, or every later write fails.
    @Test(arguments: TestEnv.kinds)
    func aCancelledTransactionRollsBackAndLeavesTheStoreUsable(_ kind: DatabaseKind) async throws {
        try await TestDatabases.withStore(kind) { (store: any Store) async throws in
            let (started, go) = AsyncStream<Void>.makeStream()
            let task = Task {
                try await store.transaction { db in
                    do {
                        try await db.raw("INSERT INTO instance_settings (name, value, updated_at) VALUES ('doomed', 'x', \(bind: Date()))").run()
                    } catch {
                        go.yield()
                        throw error
                    }
                    go.yield()
                    try await Task.sleep(for: .seconds(60))
                }
            }
            var it = started.makeAsyncIterator()
            _ = await it.next()
            task.cancel()
            _ = try? await task.value
            try await store.transaction { db in
                try await db.raw("INSERT INTO instance_settings (name, value, updated_at) VALUES ('kept', 'y', \(bind: Date()))").run()
            }
            let names = try await store.read { db in
                try await db.raw("SELECT name FROM instance_settings ORDER BY name").all().map { try $0.decode(column: "name", as: String.self) }
            }
            #expect(names == ["kept"])
        }
    }
}
