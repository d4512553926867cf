import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

extension CommsSchema {
    static let schedulerMigration = Migration("0007_scheduler", [
        """
        CREATE TABLE scheduled_tasks (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            name TEXT NOT NULL,
            trigger TEXT NOT NULL,
            schedule TEXT NOT NULL,
            enabled %BOOL% NOT NULL,
            last_run_at %TIMESTAMP%,
            next_run_at %TIMESTAMP% NOT NULL,
            runs INTEGER NOT NULL DEFAULT 0,
            created_at %TIMESTAMP% NOT NULL,
            updated_at %TIMESTAMP% NOT NULL,
            UNIQUE (tenant_id, name)
        )
        """,
        "CREATE INDEX scheduled_tasks_due ON scheduled_tasks (enabled, next_run_at)",
        """
        CREATE TABLE scheduler_leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            lease_until %TIMESTAMP% NOT NULL
        )
        """,
    ])
}

/// When a recurring task runs. Wall-clock schedules are in the tenant's IANA zone.
public enum Schedule: Sendable, Equatable, Codable {
    case every(seconds: Int)
    case daily(at: LocalTime)
    /// `weekday`: 1 = Sunday … 7 = Saturday (Foundation's numbering).
    case weekly(weekday: Int, at: LocalTime)
    /// Days past the end of a short month run on its last day.
    case monthly(day: Int, at: LocalTime)

    public func validate() throws(ParleyError) {
        switch self {
        case .every(let s) where s < 1: throw .badRequest("an interval must be at least 1 second", code: "invalid_schedule")
        case .weekly(let d, _) where !(1...7).contains(d): throw .badRequest("weekday must be 1 (Sunday) to 7 (Saturday)", code: "invalid_schedule")
        case .monthly(let d, _) where !(1...31).contains(d): throw .badRequest("day must be 1 to 31", code: "invalid_schedule")
        default: return
        }
    }

    /// The first occurrence strictly after `instant`.
    public func next(after instant: Date, in zone: TimeZone) -> Date {
        switch self {
        case .every(let seconds):
            return instant.addingTimeInterval(Double(max(1, seconds)))
        case .daily(let at):
            return Self.firstLocal(after: instant, in: zone, at: at, where: { _ in true })
        case .weekly(let weekday, let at):
            return Self.firstLocal(after: instant, in: zone, at: at, where: { $0.weekday == weekday })
        case .monthly(let day, let at):
            return Self.firstLocal(after: instant, in: zone, at: at, where: { c in
                guard let d = c.day, let range = c.range else { return false }
                return d == min(day, range)
            })
        }
    }

    struct DayInfo { var weekday: Int?; var day: Int?; var range: Int? }

    /// Walks local days from `instant`'s day and returns the first matching day's `at` that is
    /// after `instant`. A local time skipped by a DST change runs at the first instant after it.
    static func firstLocal(after instant: Date, in zone: TimeZone, at: LocalTime, where matches: (DayInfo) -> Bool) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var day = calendar.startOfDay(for: instant)
        for _ in 0..<400 {
            let c = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            let range = calendar.range(of: .day, in: .month, for: day)?.count
            if matches(DayInfo(weekday: c.weekday, day: c.day, range: range)) {
                var wanted = c
                wanted.hour = at.hour
                wanted.minute = at.minute
                wanted.second = 0
                if let candidate = calendar.date(from: wanted) {
                    // In a DST gap Foundation may move the time forward by the gap; that is the
                    // first instant after the skipped local time, which is what we want.
                    if candidate > instant { return candidate }
                }
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            day = next
        }
        return instant.addingTimeInterval(86_400)
    }

    private enum Kind: String, Codable { case every, daily, weekly, monthly }
    private enum Keys: String, CodingKey { case kind, seconds, at, weekday, day }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        func time() throws -> LocalTime {
            let text = try c.decode(String.self, forKey: .at)
            guard let t = LocalTime(parsing: text) else {
                throw DecodingError.dataCorruptedError(forKey: .at, in: c, debugDescription: "expected HH:MM, got '\(text)'")
            }
            return t
        }
        switch try c.decode(Kind.self, forKey: .kind) {
        case .every: self = .every(seconds: try c.decode(Int.self, forKey: .seconds))
        case .daily: self = .daily(at: try time())
        case .weekly: self = .weekly(weekday: try c.decode(Int.self, forKey: .weekday), at: try time())
        case .monthly: self = .monthly(day: try c.decode(Int.self, forKey: .day), at: try time())
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .every(let s): try c.encode(Kind.every, forKey: .kind); try c.encode(s, forKey: .seconds)
        case .daily(let at): try c.encode(Kind.daily, forKey: .kind); try c.encode(at.description, forKey: .at)
        case .weekly(let d, let at): try c.encode(Kind.weekly, forKey: .kind); try c.encode(d, forKey: .weekday); try c.encode(at.description, forKey: .at)
        case .monthly(let d, let at): try c.encode(Kind.monthly, forKey: .kind); try c.encode(d, forKey: .day); try c.encode(at.description, forKey: .at)
        }
    }
}

/// A task occurrence handed to its trigger: runs in the transaction that records the occurrence,
/// so whatever it enqueues commits exactly once with it.
public struct Occurrence: Sendable {
    public var tenantID: String
    public var taskName: String
    public var scheduledFor: Date
    public var db: any SQLDatabase
}

public typealias TriggerHandler = @Sendable (Occurrence) async throws -> Void

/// A pack's recurring job. Every tenant gets a task of the same name running it on
/// `defaultSchedule`; a tenant's own changes to that task are kept across restarts.
public struct TriggerDefinition: Sendable {
    public var name: String
    public var summary: String
    public var defaultSchedule: Schedule
    public var enabledByDefault: Bool
    public var handler: TriggerHandler

    public init(name: String, summary: String, defaultSchedule: Schedule, enabledByDefault: Bool = true, handler: @escaping TriggerHandler) {
        self.name = name
        self.summary = summary
        self.defaultSchedule = defaultSchedule
        self.enabledByDefault = enabledByDefault
        self.handler = handler
    }
}

/// Recurring tasks, persisted with their last and next run. One runner at a time across replicas
/// (a lease row); each occurrence fires once: claiming it moves `next_run_at` forward with a
/// conditional update in the transaction that runs the trigger.
///
/// Catch-up policy: after downtime, a task that missed occurrences runs once (for the latest
/// missed one), then continues on schedule; it never replays every missed occurrence.
public final class Scheduler: Sendable {
    let store: any Store
    let clock: any Clock
    let triggers: [String: TriggerHandler]
    let owner: String
    let logger: Logger
    let lease: Duration

    public init(store: any Store, clock: any Clock, triggers: [String: TriggerHandler], logger: Logger, lease: Duration = .seconds(30)) {
        self.store = store
        self.clock = clock
        self.triggers = triggers
        self.logger = logger
        self.lease = lease
        self.owner = "scheduler-" + UUIDv7.make(at: clock.now())
    }

    public convenience init(store: any Store, clock: any Clock, definitions: [TriggerDefinition], logger: Logger, lease: Duration = .seconds(30)) {
        self.init(store: store, clock: clock, triggers: Dictionary(definitions.map { ($0.name, $0.handler) }) { first, _ in first },
                  logger: logger, lease: lease)
    }

    /// Gives every tenant the definitions' tasks it does not have yet; never overwrites one.
    @discardableResult
    public func ensureDefaultTasks(_ definitions: [TriggerDefinition]) async throws -> Int {
        guard !definitions.isEmpty else { return 0 }
        let now = clock.now()
        return try await store.transaction { db in
            var created = 0
            let tenants = try await db.raw("SELECT id FROM tenants").all().map { try $0.decode(column: "id", as: String.self) }
            for tenantID in tenants {
                let zone = try await QuietHours.zone(ofTenant: tenantID, on: db)
                for d in definitions {
                    let spec = String(decoding: try JSONEncoder().encode(d.defaultSchedule), as: UTF8.self)
                    let rows = try await db.raw("""
                        INSERT INTO scheduled_tasks (id, tenant_id, name, trigger, schedule, enabled, next_run_at, created_at, updated_at)
                        VALUES (\(bind: UUIDv7.make(at: now)), \(bind: tenantID), \(bind: d.name), \(bind: d.name), \(bind: spec),
                                \(bind: d.enabledByDefault), \(bind: d.defaultSchedule.next(after: now, in: zone)), \(bind: now), \(bind: now))
                        ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id
                        """).all()
                    created += rows.count
                }
            }
            return created
        }
    }

    public struct Task: Sendable, Equatable {
        public var id: String
        public var tenantID: String
        public var name: String
        public var trigger: String
        public var schedule: Schedule
        public var enabled: Bool
        public var lastRunAt: Date?
        public var nextRunAt: Date
        /// Occurrences fired so far; also the optimistic lock that makes each fire once.
        public var runs: Int
    }

    /// Creates or replaces the tenant's task `name`; the next run is computed from now.
    @discardableResult
    public func upsert(tenantID: String, name: String, trigger: String, schedule: Schedule, enabled: Bool = true) async throws -> Task {
        try schedule.validate()
        guard triggers[trigger] != nil else { throw ParleyError.badRequest("there is no trigger named '\(trigger)'", code: "unknown_trigger") }
        let now = clock.now()
        let spec = String(decoding: try JSONEncoder().encode(schedule), as: UTF8.self)
        return try await store.transaction { db in
            let zone = try await QuietHours.zone(ofTenant: tenantID, on: db)
            let next = schedule.next(after: now, in: zone)
            try await db.raw("""
                INSERT INTO scheduled_tasks (id, tenant_id, name, trigger, schedule, enabled, next_run_at, created_at, updated_at)
                VALUES (\(bind: UUIDv7.make(at: now)), \(bind: tenantID), \(bind: name), \(bind: trigger), \(bind: spec), \(bind: enabled),
                        \(bind: next), \(bind: now), \(bind: now))
                ON CONFLICT (tenant_id, name) DO UPDATE SET trigger = excluded.trigger, schedule = excluded.schedule,
                    enabled = excluded.enabled, next_run_at = excluded.next_run_at, updated_at = excluded.updated_at
                """).run()
            guard let task = try await db.raw("SELECT * FROM scheduled_tasks WHERE tenant_id = \(bind: tenantID) AND name = \(bind: name)")
                .first().map(Self.decode) else { throw ParleyError.notFound("task vanished", code: "task_not_found") }
            return task
        }
    }

    /// Changes a tenant's task; a new schedule takes effect from now (no catch-up for it).
    public func update(tenantID: String, name: String, schedule: Schedule?, enabled: Bool?) async throws -> Task {
        try schedule?.validate()
        let now = clock.now()
        return try await store.transaction { db in
            guard var task = try await db.raw("SELECT * FROM scheduled_tasks WHERE tenant_id = \(bind: tenantID) AND name = \(bind: name)")
                .first().map(Self.decode) else {
                throw ParleyError.notFound("there is no scheduled task named '\(name)'", code: "task_not_found")
            }
            if let schedule { task.schedule = schedule }
            if let enabled { task.enabled = enabled }
            let zone = try await QuietHours.zone(ofTenant: tenantID, on: db)
            // Re-enabling or rescheduling starts from now, so a paused task does not fire for the time it was off.
            if schedule != nil || enabled == true { task.nextRunAt = task.schedule.next(after: now, in: zone) }
            let spec = String(decoding: try JSONEncoder().encode(task.schedule), as: UTF8.self)
            try await db.raw("""
                UPDATE scheduled_tasks SET schedule = \(bind: spec), enabled = \(bind: task.enabled), next_run_at = \(bind: task.nextRunAt),
                    updated_at = \(bind: now) WHERE id = \(bind: task.id)
                """).run()
            return task
        }
    }

    /// Runs until cancelled: gives tenants their pack tasks (again every few minutes, for new
    /// tenants), then fires due occurrences every `interval`. Errors are logged and retried.
    public func run(every interval: Duration, definitions: [TriggerDefinition]) async {
        var ticks = 0
        while !Swift.Task.isCancelled {
            do {
                if ticks % 60 == 0 { try await ensureDefaultTasks(definitions) }
                let fired = try await tick()
                if fired > 0 { logger.debug("scheduled tasks fired", metadata: ["count": "\(fired)"]) }
            } catch {
                logger.warning("scheduler tick failed; retrying", metadata: ["error": "\(error)"])
            }
            ticks += 1
            try? await Swift.Task.sleep(for: interval)
        }
    }

    /// One tenant's tasks, or every tenant's (for the CLI) when `tenantID` is nil.
    public func tasks(tenantID: String?) async throws -> [Task] {
        try await store.read { db in
            if let tenantID {
                return try await db.raw("SELECT * FROM scheduled_tasks WHERE tenant_id = \(bind: tenantID) ORDER BY name").all().map(Self.decode)
            }
            return try await db.raw("SELECT * FROM scheduled_tasks ORDER BY tenant_id, name").all().map(Self.decode)
        }
    }

    /// Takes or renews the single-runner lease; false when another live runner holds it.
    public func acquireLease() async throws -> Bool {
        let now = clock.now()
        let until = now.addingTimeInterval(Double(lease.components.seconds))
        let owner = self.owner
        return try await store.transaction { db in
            try await db.raw("""
                INSERT INTO scheduler_leases (name, owner, lease_until) VALUES ('scheduler', \(bind: owner), \(bind: until))
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
                WHERE scheduler_leases.owner = excluded.owner OR scheduler_leases.lease_until < \(bind: now)
                """).run()
            let holder = try await db.raw("SELECT owner FROM scheduler_leases WHERE name = 'scheduler'").first()?.decode(column: "owner", as: String.self)
            return holder == owner
        }
    }

    /// Fires every due occurrence once (if this runner holds the lease); returns how many fired.
    @discardableResult
    public func tick() async throws -> Int {
        guard try await acquireLease() else { return 0 }
        let now = clock.now()
        let due = try await store.read { db in
            try await db.raw("SELECT * FROM scheduled_tasks WHERE enabled = \(bind: true) AND next_run_at <= \(bind: now) ORDER BY next_run_at LIMIT 500")
                .all().map(Self.decode)
        }
        var fired = 0
        for task in due {
            guard let handler = triggers[task.trigger] else {
                logger.warning("scheduled task has no trigger installed", metadata: ["task": "\(task.name)", "trigger": "\(task.trigger)"])
                continue
            }
            do {
                let ran: Bool = try await store.transaction { db in
                    let zone = try await QuietHours.zone(ofTenant: task.tenantID, on: db)
                    // Catch-up: one run for the latest missed occurrence, then back on schedule.
                    let next = task.schedule.next(after: now, in: zone)
                    let claimed = try await db.raw("""
                        UPDATE scheduled_tasks SET last_run_at = \(bind: now), next_run_at = \(bind: next), runs = runs + 1, updated_at = \(bind: now)
                        WHERE id = \(bind: task.id) AND runs = \(bind: task.runs) RETURNING id
                        """).all()
                    guard !claimed.isEmpty else { return false }
                    try await handler(Occurrence(tenantID: task.tenantID, taskName: task.name, scheduledFor: task.nextRunAt, db: db))
                    return true
                }
                if ran { fired += 1 }
            } catch {
                logger.warning("scheduled task failed; it runs again at its next occurrence", metadata: ["task": "\(task.name)", "error": "\(error)"])
            }
        }
        return fired
    }

    static func decode(_ row: any SQLRow) throws -> Task {
        let spec = try row.decode(column: "schedule", as: String.self)
        return Task(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                    name: try row.decode(column: "name", as: String.self), trigger: try row.decode(column: "trigger", as: String.self),
                    schedule: try JSONDecoder().decode(Schedule.self, from: Data(spec.utf8)),
                    enabled: try row.decode(column: "enabled", as: Bool.self), lastRunAt: try row.decode(column: "last_run_at", as: Date?.self),
                    nextRunAt: try row.decode(column: "next_run_at", as: Date.self), runs: try row.decode(column: "runs", as: Int.self))
    }
}

extension Scheduler {
    /// After a tenant moves to another zone: each of its wall-clock tasks (daily, weekly, monthly)
    /// next runs at its local time in the new zone. Intervals are left alone. Returns how many moved.
    @discardableResult
    public static func followZone(tenantID: String, zone: TimeZone, now: Date, on db: any SQLDatabase) async throws -> Int {
        let tasks = try await db.raw("SELECT * FROM scheduled_tasks WHERE tenant_id = \(bind: tenantID)").all().map(decode)
        var moved = 0
        for task in tasks {
            if case .every = task.schedule { continue }
            let next = task.schedule.next(after: now, in: zone)
            guard next != task.nextRunAt else { continue }
            try await db.raw("""
                UPDATE scheduled_tasks SET next_run_at = \(bind: next), updated_at = \(bind: now)
                WHERE id = \(bind: task.id) AND tenant_id = \(bind: tenantID)
                """).run()
            moved += 1
        }
        return moved
    }
}

extension TenantService {
    /// Changes the tenant's name and/or zone; its schedules follow the new zone in the same transaction.
    public func changeSettings(_ ctx: ActionContext, _ u: Update) async throws -> Tenant {
        try await update(ctx, u, zoneChanged: { tenantID, zone, now, db in
            try await Scheduler.followZone(tenantID: tenantID, zone: zone, now: now, on: db)
        })
    }
}
