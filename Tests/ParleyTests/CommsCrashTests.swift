import Foundation
import ParleyApp
import ParleyComms
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import SQLKit
import Testing

/// The exactly-once promise under crashes: real `parley worker` processes, killed with SIGKILL at
/// random moments and restarted until the queue drains. Serialized: each test runs several real
/// processes; one test at a time keeps the machine's load, and so the kill timing, bounded.
@Suite(.serialized) struct CommsCrashTests {
    @Test(arguments: TestEnv.kinds)
    func messagesAreSentExactlyOnceThroughRandomWorkerKills(_ kind: DatabaseKind) async throws {
        try await Self.withCrashTenant(kind) { store, messages, ctx, url in
            let total = 1000
            for i in 0..<total {
                _ = try await messages.send(ctx, MessageRequest(channel: .sms, to: "+1415555\(String(format: "%04d", i))", text: "Message \(i)",
                                                                idempotencyKey: "crash-\(i)"))
            }
            let kills = try await Self.drainThroughKills(store: store, url: url, kills: 8)
            let (outbox, distinct, sent) = try await store.read { db in
                (try await Self.count("SELECT COUNT(*) AS n FROM outbox", db),
                 try await Self.count("SELECT COUNT(DISTINCT message_id) AS n FROM outbox", db),
                 try await Self.count("SELECT COUNT(*) AS n FROM messages WHERE status = 'sent'", db))
            }
            #expect(kills == 8)
            #expect(outbox == total && distinct == total && sent == total)
        }
    }

    /// The same through an external provider (a local server speaking Resend's API): a worker
    /// killed between calling the provider and recording it sends again with the same
    /// Idempotency-Key, which Resend deduplicates, so each email reaches the customer once.
    @Test(arguments: TestEnv.kinds)
    func emailThroughAProviderIsDeliveredOncePerMessageThroughRandomWorkerKills(_ kind: DatabaseKind) async throws {
        try await CommsFakeProviderServer.with(.json(200, #"{"id":"re_accepted"}"#)) { baseURL, resend in
            try await Self.withCrashTenant(kind) { store, messages, ctx, url in
                let total = 300
                var ids: Set<String> = []
                for i in 0..<total {
                    ids.insert(try await messages.send(ctx, MessageRequest(channel: .email, to: "customer\(i)@example.com", subject: "Notice \(i)",
                                                                           text: "Message \(i)", idempotencyKey: "crash-mail-\(i)")).message.id)
                }
                let kills = try await Self.drainThroughKills(store: store, url: url, kills: 6, env: [
                    "PARLEY_EMAIL_PROVIDER": "resend", "RESEND_API_KEY": "re_test", "PARLEY_RESEND_BASE_URL": baseURL,
                    "PARLEY_EMAIL_FROM": "Crash <crash@example.com>",
                ])
                #expect(kills == 6)
                let keys = resend.requests.compactMap { $0.headers["idempotency-key"] }
                #expect(keys.count == resend.requests.count, "every call carries the key")
                #expect(Set(keys) == ids, "each message reached the provider under its own key, and only those")
                let (sent, noted) = try await store.read { db in
                    (try await Self.count("SELECT COUNT(*) AS n FROM messages WHERE status = 'sent' AND provider = 'resend'", db),
                     try await Self.count("SELECT COUNT(*) AS n FROM messages WHERE error IS NOT NULL", db))
                }
                #expect(sent == total && noted == 0)
            }
        }
    }

    /// A fresh database with a tenant whose quiet hours never defer these messages.
    static func withCrashTenant(_ kind: DatabaseKind,
                                _ body: (any Store, MessageService, ActionContext, DatabaseURL) async throws -> Void) async throws {
        try await TestDatabases.withFreshURL(kind) { url in
            let clock = SystemClock()
            let store = try await Stores.open(url, config: StoreOptions.test(maxConnections: 4))
            do {
                try await Migrator(store: store, migrations: ParleySchema.migrations).migrate(at: clock.now())
                let tenant = try await TenantService(store: store, clock: clock).create(name: "Crash test", slug: "crash",
                                                                                       timeZone: TestEnv.afternoonZone(at: clock.now()), actor: "test")
                let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
                try await body(store, MessageService(queue: JobQueue(store: store, clock: clock)), ctx, url)
                await store.shutdown()
            } catch {
                await store.shutdown()
                throw error
            }
        }
    }

    /// Starts `parley worker` processes until the queue is drained: the first `kills` are killed
    /// with SIGKILL after a random stretch of work, the last one drains and stops on SIGTERM.
    /// Returns how many were killed.
    /// `work` counts what is left to do (default: the jobs not yet succeeded).
    static func drainThroughKills(store: any Store, url: DatabaseURL, kills target: Int, env extra: [String: String] = [:],
                                  work: (@Sendable () async throws -> Int)? = nil) async throws -> Int {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["DATABASE_URL": ProcessTests.urlString(url), "POLL_INTERVAL_MS": "50", "PARLEY_JOB_LEASE_SECONDS": "1",
                   "MAX_CONCURRENT_JOBS": "8", "LOG_LEVEL": "error", "PARLEY_SECRET_KEY_FILE": dir.appendingPathComponent("parley.key").path]
            .merging(extra) { $1 }
        func remaining() async throws -> Int {
            if let work { return try await work() }
            return try await store.read { db in try await count("SELECT COUNT(*) AS n FROM communication_jobs WHERE state <> 'succeeded'", db) }
        }
        var kills = 0
        let total = try await remaining()
        while try await remaining() > 0 {
            let worker = try ParleyProcess(["worker"], env: env, directory: dir)
            _ = try await worker.waitFor("worker running")
            if kills < target {
                // Chaos at a random moment inside this worker's share of the queue: the kills are
                // spread over the work (the k-th once at most total*(target-k)/(target+1) jobs are
                // left, plus a random few), so a fast worker cannot drain the queue before them.
                let share = total / (target + 1)
                let killAt = max(1, total * (target - kills) / (target + 1) - Int.random(in: 0...max(0, share / 2)))
                var polls = 0
                while try await remaining() > killAt, polls < 6000 {
                    try await Task.sleep(for: .milliseconds(5))
                    polls += 1
                }
                worker.signal(SIGKILL)
                _ = try await worker.waitForExit()
                kills += 1
            } else {
                // Let the last one drain the queue (expired leases come back within a second).
                var rounds = 0
                while try await remaining() > 0, rounds < 600 {
                    try await Task.sleep(for: .milliseconds(100))
                    rounds += 1
                }
                worker.signal(SIGTERM)
                #expect(try await worker.waitForExit() == 0)
            }
        }
        return kills
    }

    static func count(_ sql: String, _ db: any SQLDatabase) async throws -> Int {
        try await db.raw("\(unsafeRaw: sql)").first()?.decode(column: "n", as: Int.self) ?? -1
    }
}
