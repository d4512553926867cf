import Foundation
import Logging
import ParleyComms
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization
import Testing

@Suite struct ScheduleTests {
    let paris = TimeZone(identifier: "Europe/Paris") ?? .gmt
    let iso = Date.ISO8601FormatStyle()
    func at(_ text: String) throws -> Date { try iso.parse(text) }
    func time(_ t: String) throws -> LocalTime { try #require(LocalTime(parsing: t)) }

    @Test func dailyWeeklyAndMonthlyFollowTheTenantsWallClockAcrossDST() throws {
        let daily = Schedule.daily(at: try time("09:00"))
        // The night Paris moves to summer time (2027-03-28): still 09:00 local, now UTC+2.
        #expect(daily.next(after: try at("2027-03-27T09:00:00+01:00"), in: paris) == (try at("2027-03-28T09:00:00+02:00")))
        #expect(daily.next(after: try at("2027-03-28T08:59:00+02:00"), in: paris) == (try at("2027-03-28T09:00:00+02:00")))
        // A time skipped by the change (02:30 does not exist that night) runs just after the gap.
        let skipped = Schedule.daily(at: try time("02:30")).next(after: try at("2027-03-27T12:00:00+01:00"), in: paris)
        let gapEnd = try at("2027-03-28T03:00:00+02:00"), gapEndPlusHalf = try at("2027-03-28T03:30:00+02:00")
        #expect(skipped >= gapEnd && skipped <= gapEndPlusHalf)
        // Weekly on Monday (2), from a Wednesday.
        #expect(Schedule.weekly(weekday: 2, at: try time("08:00")).next(after: try at("2027-01-13T10:00:00+01:00"), in: paris)
                == (try at("2027-01-18T08:00:00+01:00")))
        // Monthly on the 31st runs on the last day of February.
        #expect(Schedule.monthly(day: 31, at: try time("18:00")).next(after: try at("2027-02-01T00:00:00+01:00"), in: paris)
                == (try at("2027-02-28T18:00:00+01:00")))
        #expect(Schedule.every(seconds: 90).next(after: try at("2027-01-01T00:00:00Z"), in: paris) == (try at("2027-01-01T00:01:30Z")))
        #expect(throws: ParleyError.self) { try Schedule.weekly(weekday: 8, at: try time("08:00")).validate() }
        #expect(throws: ParleyError.self) { try Schedule.every(seconds: 0).validate() }
    }
}

final class FiredOccurrences: Sendable {
    private let list = Mutex<[(String, Date)]>([])
    func add(_ name: String, _ at: Date) { list.withLock { $0.append((name, at)) } }
    var count: Int { list.withLock { $0.count } }
}

@Suite struct SchedulerTests {
    func withScheduler(_ kind: DatabaseKind,
                       _ body: @escaping @Sendable (any Store, TestClock, Seeded, @escaping @Sendable () -> Scheduler, FiredOccurrences) async throws -> Void) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let fired = FiredOccurrences()
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let logger = quiet
            let queue = JobQueue(store: store, clock: clock)
            let triggers: [String: TriggerHandler] = [
                "daily_digest": { occurrence in
                    fired.add(occurrence.taskName, occurrence.scheduledFor)
                    // What a trigger does: enqueue work in the occurrence's transaction.
                    try await queue.enqueue(NewJob(tenantID: occurrence.tenantID, type: "digest", payload: "{}", runAt: clock.now()), on: occurrence.db)
                },
            ]
            let make: @Sendable () -> Scheduler = { Scheduler(store: store, clock: clock, triggers: triggers, logger: logger) }
            try await body(store, clock, seeded, make, fired)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func eachOccurrenceFiresOnceOnOneReplicaAndDowntimeCatchesUpOnce(_ kind: DatabaseKind) async throws {
        try await withScheduler(kind) { store, clock, seeded, make, fired in
            let a = make(), b = make()
            // Tenant zone Europe/Paris; the clock starts at 09:00 there.
            let task = try await a.upsert(tenantID: seeded.tenant.id, name: "morning digest", trigger: "daily_digest",
                                          schedule: .daily(at: try #require(LocalTime(parsing: "10:00"))))
            #expect(task.nextRunAt == clock.now().addingTimeInterval(3600))
            #expect(try await a.tick() == 0)
            clock.advance(by: 3600)
            #expect(try await a.tick() == 1)
            #expect(try await b.tick() == 0, "the other replica does not hold the lease")
            #expect(try await a.tick() == 0, "the occurrence fired once")
            let jobs = try await JobQueue(store: store, clock: clock).list(tenantID: seeded.tenant.id, state: nil, before: nil, limit: 10)
            #expect(jobs.count == 1 && jobs.first?.type == "digest")

            // Replica a stops; b takes over once a's lease has expired. Three days pass.
            clock.advance(by: 3 * 86_400)
            #expect(try await b.tick() == 1, "one catch-up run, not three")
            #expect(fired.count == 2)
            let after = try #require(try await b.tasks(tenantID: seeded.tenant.id).first)
            #expect(after.runs == 2 && after.nextRunAt > clock.now())
            #expect(try await b.tick() == 0)
            #expect(try await a.acquireLease() == false, "b holds the lease now")
        }
    }

    @Test func unknownTriggersAndBadSchedulesAreRefused() async throws {
        try await withScheduler(.sqlite) { _, _, seeded, make, _ in
            let s = make()
            await #expect(throws: ParleyError.self) {
                try await s.upsert(tenantID: seeded.tenant.id, name: "x", trigger: "nope", schedule: .every(seconds: 60))
            }
            await #expect(throws: ParleyError.self) {
                try await s.upsert(tenantID: seeded.tenant.id, name: "x", trigger: "daily_digest", schedule: .monthly(day: 0, at: try #require(LocalTime(parsing: "10:00"))))
            }
        }
    }
}

@Suite struct PackTriggerTests {
    static let reminders = TriggerDefinition(name: "test.reminders", summary: "Chase outstanding work.",
                                             defaultSchedule: .every(seconds: 3600)) { _ in }

    @Test(arguments: TestEnv.kinds)
    func everyTenantGetsPackTasksOnceAndKeepsItsOwnChanges(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { (store: any Store) async throws in
            let seeded = try await Seeded.make(store, clock: clock)
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            let s = Scheduler(store: store, clock: clock, definitions: [Self.reminders], logger: Logger(label: "test"))
            #expect(try await s.ensureDefaultTasks([Self.reminders]) == 2)
            let paused = try await s.update(tenantID: seeded.tenant.id, name: "test.reminders", schedule: nil, enabled: false)
            #expect(!paused.enabled)
            #expect(try await s.ensureDefaultTasks([Self.reminders]) == 0)
            #expect(try await s.tasks(tenantID: seeded.tenant.id).first?.enabled == false, "a restart keeps the tenant's choice")
            #expect(try await s.tasks(tenantID: other.tenant.id).first?.enabled == true)

            clock.advance(by: 7200)
            let resumed = try await s.update(tenantID: seeded.tenant.id, name: "test.reminders", schedule: .every(seconds: 600), enabled: true)
            #expect(resumed.nextRunAt == clock.now().addingTimeInterval(600), "no catch-up for the time it was paused")
            await #expect(throws: ParleyError.self) {
                try await s.update(tenantID: other.tenant.id, name: "nope", schedule: nil, enabled: true)
            }
            await #expect(throws: ParleyError.self) {
                try await s.update(tenantID: other.tenant.id, name: "test.reminders", schedule: .every(seconds: 0), enabled: nil)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func tenantsSeeAndChangeOnlyTheirOwnSchedulesOverHTTP(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, triggers: [Self.reminders]) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            _ = try await Scheduler(store: store, clock: clock, definitions: [Self.reminders], logger: Logger(label: "test"))
                .ensureDefaultTasks([Self.reminders])
            let list = try await client.getJSON(seeded.adminKey, "/v1/schedules")
            #expect(list["data"]?.arrayValue?.count == 1)
            #expect(list["data"]?[0]?["summary"]?.stringValue == "Chase outstanding work.")
            #expect(list["data"]?[0]?["schedule"]?["kind"]?.stringValue == "every")

            let changed = try await client.putJSON(seeded.adminKey, "/v1/schedules/test.reminders",
                                                   ["schedule": ["kind": "daily", "at": "09:30"], "enabled": true])
            #expect(changed["schedule"]?["at"]?.stringValue == "09:30")
            _ = try await client.putJSON(seeded.adminKey, "/v1/schedules/test.reminders", ["schedule": ["kind": "daily", "at": "25:00"]],
                                         status: .badRequest)
            _ = try await client.putJSON(seeded.adminKey, "/v1/schedules/test.reminders", [:], status: .badRequest)
            _ = try await client.putJSON(seeded.adminKey, "/v1/schedules/other", ["enabled": false], status: .notFound)
            let viewer = try await seeded.key(store, clock: clock, role: .viewer)
            _ = try await client.putJSON(try #require(viewer.secret), "/v1/schedules/test.reminders", ["enabled": false], status: .forbidden)
            let theirs = try await client.getJSON(other.adminKey, "/v1/schedules")
            #expect(theirs["data"]?[0]?["schedule"]?["kind"]?.stringValue == "every", "the other tenant's task is untouched")
        }
    }
}
