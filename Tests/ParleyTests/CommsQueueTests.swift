import Foundation
import ParleyComms
import ParleyCore
import ParleyPlatform
import ParleyStorage
import Testing

@Suite struct CommsQueueTests {
    static let noJitter = RetryBackoff(base: .seconds(300), jitter: 0.2, random: { 0 })

    func withQueue(_ kind: DatabaseKind, _ body: @escaping @Sendable (JobQueue, Seeded, Seeded, TestClock) async throws -> Void) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let a = try await Seeded.make(store, clock: clock, slug: "acme")
            let b = try await Seeded.make(store, clock: clock, slug: "globex")
            try await body(JobQueue(store: store, clock: clock), a, b, clock)
        }
    }

    /// A worker in another process hears about a job the moment its transaction commits, not at
    /// its next poll; a rolled-back enqueue says nothing.
    @Test(.enabled(if: TestEnv.postgresURL != nil))
    func postgresNotifiesListenersOfCommittedJobs() async throws {
        try await withQueue(.postgres) { queue, a, b, clock in
            let (heard, hear) = AsyncStream<String>.makeStream()
            let listener = Task {
                try await queue.store.listen(channel: JobQueue.notifyChannel) { hear.yield($0) }
            }
            // LISTEN has no "registered" callback: probe until a probe comes back.
            let probe = Task {
                while !Task.isCancelled {
                    try await queue.store.transaction { db in try await db.raw("SELECT pg_notify('parley_jobs', 'probe')").run() }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            var it = heard.makeAsyncIterator()
            #expect(await it.next() == "probe")
            probe.cancel()
            _ = try? await probe.value

            struct Rollback: Error {}
            await #expect(throws: Rollback.self) {
                try await queue.store.transaction { db in
                    try await queue.enqueue(NewJob(tenantID: b.tenant.id, type: "send_email", payload: "{}", runAt: clock.now()), on: db)
                    throw Rollback()
                }
            }
            _ = try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_email", payload: "{}", runAt: clock.now()))
            var next = await it.next()
            while next == "probe" { next = await it.next() }
            #expect(next == a.tenant.id, "the committed job is heard; the rolled-back one (tenant b) never is")
            listener.cancel()
            _ = try? await listener.value
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anEnqueueJoinsTheCallersTransaction(_ kind: DatabaseKind) async throws {
        try await withQueue(kind) { queue, a, _, clock in
            struct Rollback: Error {}
            await #expect(throws: Rollback.self) {
                try await queue.store.transaction { db in
                    try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_email", payload: "{}", runAt: clock.now()), on: db)
                    throw Rollback()
                }
            }
            #expect(try await queue.claim(worker: "w1", limit: 10, lease: .seconds(30)).isEmpty)
            let kept = try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_email", payload: "{}", runAt: clock.now()))
            #expect(try await queue.claim(worker: "w1", limit: 10, lease: .seconds(30)).map(\.id) == [kept.id])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func claimsAreDueInPriorityOrderAndFairBetweenTenants(_ kind: DatabaseKind) async throws {
        try await withQueue(kind) { queue, a, b, clock in
            let now = clock.now()
            var burst: [String] = []
            for i in 0..<10 {
                burst.append(try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_sms", payload: "\(i)", runAt: now.addingTimeInterval(Double(-i)))).id)
            }
            let other = try await queue.enqueue(NewJob(tenantID: b.tenant.id, type: "send_sms", payload: "b", runAt: now))
            let urgent = try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_sms", payload: "urgent", runAt: now, priority: 1))
            let later = try await queue.enqueue(NewJob(tenantID: b.tenant.id, type: "send_sms", payload: "later", runAt: now.addingTimeInterval(60)))

            let first = try await queue.claim(worker: "w1", limit: 2, lease: .seconds(30))
            // One slot per tenant per round: the burst does not starve the other tenant.
            #expect(Set(first.map(\.id)) == [urgent.id, other.id])
            #expect(first.allSatisfy { $0.state == .running && $0.attempts == 1 && $0.leaseOwner == "w1" })
            let rest = try await queue.claim(worker: "w1", limit: 100, lease: .seconds(30))
            // Oldest first within the tenant; the future job is not due.
            #expect(rest.map(\.id) == burst.reversed())
            #expect(!rest.contains { $0.id == later.id })
            clock.advance(by: 61)
            #expect(try await queue.claim(worker: "w1", limit: 100, lease: .seconds(30)).map(\.id) == [later.id])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func concurrentWorkersNeverClaimTheSameJob(_ kind: DatabaseKind) async throws {
        try await withQueue(kind) { queue, a, b, clock in
            for i in 0..<40 {
                _ = try await queue.enqueue(NewJob(tenantID: (i % 2 == 0 ? a : b).tenant.id, type: "send_email", payload: "\(i)", runAt: clock.now()))
            }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for w in 0..<4 {
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let jobs = try await queue.claim(worker: "w\(w)", limit: 3, lease: .seconds(30))
                            if jobs.isEmpty { return mine }
                            mine += jobs.map(\.id)
                        }
                    }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(claimed.count == 40 && Set(claimed).count == 40)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func outcomesRetryWithBackoffThenDieAndAreRecordedPerAttempt(_ kind: DatabaseKind) async throws {
        try await withQueue(kind) { queue, a, _, clock in
            let job = try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_sms", payload: "{}", runAt: clock.now(), maxAttempts: 2))
            var running = try #require(try await queue.claim(worker: "w1", limit: 1, lease: .seconds(30)).first)
            let retrying = try #require(try await queue.finish(running, worker: "w1", outcome: .transientFailure("HTTP 503"), backoff: Self.noJitter))
            #expect(retrying.state == .retrying && retrying.lastError == "HTTP 503")
            #expect(retrying.runAt == clock.now().addingTimeInterval(300))
            #expect(try await queue.claim(worker: "w1", limit: 1, lease: .seconds(30)).isEmpty, "not due before the backoff")
            clock.advance(by: 300)
            running = try #require(try await queue.claim(worker: "w1", limit: 1, lease: .seconds(30)).first)
            #expect(running.attempts == 2)
            let dead = try #require(try await queue.finish(running, worker: "w1", outcome: .transientFailure("HTTP 503"), backoff: Self.noJitter))
            #expect(dead.state == .dead && dead.finishedAt != nil, "attempts exhausted")

            let permanent = try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_sms", payload: "{}", runAt: clock.now()))
            let claimed = try #require(try await queue.claim(worker: "w1", limit: 1, lease: .seconds(30)).first)
            #expect(claimed.id == permanent.id)
            #expect(try await queue.finish(claimed, worker: "w1", outcome: .permanentFailure("21610 opted out"), backoff: Self.noJitter)?.state == .dead)
            _ = job
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aStalledWorkersJobIsRescuedAndItsLateResultIgnored(_ kind: DatabaseKind) async throws {
        try await withQueue(kind) { queue, a, _, clock in
            _ = try await queue.enqueue(NewJob(tenantID: a.tenant.id, type: "send_email", payload: "{}", runAt: clock.now()))
            let stalled = try #require(try await queue.claim(worker: "w1", limit: 1, lease: .seconds(30)).first)
            clock.advance(by: 20)
            try await queue.heartbeat(worker: "w1", jobIDs: [stalled.id], lease: .seconds(30))
            clock.advance(by: 20)
            #expect(try await queue.rescueExpired() == 0, "the heartbeat extended the lease")
            clock.advance(by: 11)
            #expect(try await queue.rescueExpired() == 1)
            let again = try #require(try await queue.claim(worker: "w2", limit: 1, lease: .seconds(30)).first)
            #expect(again.id == stalled.id && again.attempts == 2 && again.leaseOwner == "w2")
            // The first worker wakes up and reports: its lease is gone, nothing changes.
            #expect(try await queue.finish(stalled, worker: "w1", outcome: .succeeded, backoff: Self.noJitter) == nil)
            #expect(try await queue.finish(again, worker: "w2", outcome: .succeeded, backoff: Self.noJitter)?.state == .succeeded)
        }
    }

    @Test func backoffGrowsExponentiallyWithBoundedJitter() {
        let b = RetryBackoff(base: .seconds(300), factor: 2, maxDelay: .seconds(3600), jitter: 0.5, random: { 1 })
        #expect(b.delay(afterAttempt: 1) == .seconds(150))
        #expect(b.delay(afterAttempt: 2) == .seconds(300))
        #expect(b.delay(afterAttempt: 10) == .seconds(1800), "capped, then jittered")
        #expect(Self.noJitter.delay(afterAttempt: 3) == .seconds(1200))
    }
}
