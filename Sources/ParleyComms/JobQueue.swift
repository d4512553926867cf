import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// The communications engine's tables.
public enum CommsSchema {
    public static let migrations: [Migration] = [
        Migration("0003_communication_jobs", [
            """
            CREATE TABLE communication_jobs (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                type TEXT NOT NULL,
                state TEXT NOT NULL,
                priority INTEGER NOT NULL,
                run_at %TIMESTAMP% NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                payload TEXT NOT NULL,
                last_error TEXT,
                lease_owner TEXT,
                lease_until %TIMESTAMP%,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                finished_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX communication_jobs_ready ON communication_jobs (state, run_at)",
            "CREATE INDEX communication_jobs_tenant ON communication_jobs (tenant_id, id)",
            """
            CREATE TABLE job_attempts (
                id TEXT PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES communication_jobs(id),
                tenant_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                worker TEXT NOT NULL,
                started_at %TIMESTAMP% NOT NULL,
                finished_at %TIMESTAMP%,
                outcome TEXT,
                error TEXT
            )
            """,
            "CREATE INDEX job_attempts_job ON job_attempts (job_id, attempt)",
        ]),
        messagesMigration,
        templatesMigration,
        consentMigration,
        schedulerMigration,
        Migration("0008_sms_fallback", [
            "ALTER TABLE messages ADD COLUMN fallback_email TEXT",
            "ALTER TABLE messages ADD COLUMN fallback_subject TEXT",
            "ALTER TABLE messages ADD COLUMN fallback_of TEXT",
        ]),
        Migration("0010_message_html_delivery_status", [
            "ALTER TABLE messages ADD COLUMN body_html TEXT",
            // The provider's id for the message, so its delivery-status webhooks find the row.
            "ALTER TABLE messages ADD COLUMN provider_message_id TEXT",
            "ALTER TABLE messages ADD COLUMN delivery_status TEXT",
            "ALTER TABLE messages ADD COLUMN delivery_status_at %TIMESTAMP%",
            "CREATE INDEX messages_provider_id ON messages (provider, provider_message_id)",
        ]),
        personalizationMigration,
        tenantChannelsMigration,
        webhookReceiptsMigration,
    ]
}

public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, retrying, dead, cancelled

    public var isFinal: Bool { self == .succeeded || self == .dead || self == .cancelled }
}

public struct Job: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var type: String
    public var state: JobState
    public var priority: Int
    public var runAt: Date
    public var attempts: Int
    public var maxAttempts: Int
    public var payload: String
    public var lastError: String?
    public var leaseOwner: String?
    public var leaseUntil: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
}

/// A job to enqueue. Lower `priority` runs first.
public struct NewJob: Sendable {
    public var tenantID: String
    public var type: String
    public var payload: String
    public var runAt: Date
    public var priority: Int
    public var maxAttempts: Int

    public init(tenantID: String, type: String, payload: String, runAt: Date, priority: Int = 100, maxAttempts: Int = 4) {
        self.tenantID = tenantID
        self.type = type
        self.payload = payload
        self.runAt = runAt
        self.priority = priority
        self.maxAttempts = maxAttempts
    }
}

/// The durable queue: enqueue inside the caller's transaction, claim with a lease, record the
/// outcome of each attempt. Workers in any number of processes may claim concurrently.
public struct JobQueue: Sendable {
    public let store: any Store
    public let clock: any Clock

    public init(store: any Store, clock: any Clock) {
        self.store = store
        self.clock = clock
    }

    /// Adds a job on `db`, so it commits (or not) with whatever else the caller's transaction does.
    @discardableResult
    public func enqueue(_ new: NewJob, on db: any SQLDatabase) async throws -> Job {
        let now = clock.now()
        let job = Job(id: UUIDv7.make(at: now), tenantID: new.tenantID, type: new.type, state: .queued, priority: new.priority,
                      runAt: new.runAt, attempts: 0, maxAttempts: max(1, new.maxAttempts), payload: new.payload, lastError: nil,
                      leaseOwner: nil, leaseUntil: nil, createdAt: now, updatedAt: now, finishedAt: nil)
        try await db.raw("""
            INSERT INTO communication_jobs (id, tenant_id, type, state, priority, run_at, attempts, max_attempts, payload, created_at, updated_at)
            VALUES (\(bind: job.id), \(bind: job.tenantID), \(bind: job.type), \(bind: job.state.rawValue), \(bind: job.priority),
                    \(bind: job.runAt), 0, \(bind: job.maxAttempts), \(bind: job.payload), \(bind: now), \(bind: now))
            """).run()
        // Wakes workers in other processes when this transaction commits (never if it rolls back).
        if store.kind == .postgres && job.runAt <= now {
            try await db.raw("SELECT pg_notify(\(bind: Self.notifyChannel), \(bind: job.tenantID))").run()
        }
        return job
    }

    /// The PostgreSQL channel `enqueue` notifies on and workers listen to.
    public static let notifyChannel = "parley_jobs"

    public func enqueue(_ new: NewJob) async throws -> Job {
        try await store.transaction { db in try await self.enqueue(new, on: db) }
    }

    /// Claims up to `limit` due jobs for `worker`, leased for `lease`.
    ///
    /// Fair between tenants: due jobs are ranked within their tenant first, so one tenant's
    /// burst takes one slot per round rather than all of them. On PostgreSQL the chosen rows are
    /// locked with `FOR UPDATE SKIP LOCKED`, so concurrent claimers pass over each other's rows;
    /// SQLite has one writer, which serialises claims.
    public func claim(worker: String, limit: Int, lease: Duration) async throws -> [Job] {
        guard limit > 0 else { return [] }
        let now = clock.now()
        let leaseUntil = now.addingTimeInterval(lease.seconds)
        let kind = store.kind
        return try await store.transaction { db in
            // Candidates in fair order; a larger pool than needed, since some may be taken by
            // another worker by the time they are locked.
            let ranked = try await db.raw("""
                SELECT id FROM (
                    SELECT id, priority, run_at,
                           ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY priority, run_at, id) AS turn
                    FROM communication_jobs
                    WHERE state IN ('queued', 'retrying') AND run_at <= \(bind: now)
                ) AS due
                ORDER BY turn, priority, run_at, id
                LIMIT \(literal: limit * 4)
                """).all().map { try $0.decode(column: "id", as: String.self) }
            guard !ranked.isEmpty else { return [] }
            let lock: SQLQueryString = kind == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
            let locked = Set(try await db.raw("""
                SELECT id FROM communication_jobs
                WHERE id IN (\(SQLList(ranked.map { SQLBind($0) }))) AND state IN ('queued', 'retrying')\(lock)
                """).all().map { try $0.decode(column: "id", as: String.self) })
            let chosen = ranked.filter(locked.contains).prefix(limit)
            guard !chosen.isEmpty else { return [] }
            let jobs = try await db.raw("""
                UPDATE communication_jobs
                SET state = 'running', attempts = attempts + 1, lease_owner = \(bind: worker), lease_until = \(bind: leaseUntil),
                    updated_at = \(bind: now)
                WHERE id IN (\(SQLList(chosen.map { SQLBind($0) }))) AND state IN ('queued', 'retrying')
                RETURNING *
                """).all().map(Self.decode)
            for job in jobs {
                try await db.raw("""
                    INSERT INTO job_attempts (id, job_id, tenant_id, attempt, worker, started_at)
                    VALUES (\(bind: UUIDv7.make(at: now)), \(bind: job.id), \(bind: job.tenantID), \(bind: job.attempts), \(bind: worker), \(bind: now))
                    """).run()
            }
            // Keep the fair order for the caller.
            let order = Dictionary(uniqueKeysWithValues: chosen.enumerated().map { ($1, $0) })
            return jobs.sorted { (order[$0.id] ?? 0) < (order[$1.id] ?? 0) }
        }
    }

    /// Extends the lease of jobs a live worker is still running.
    public func heartbeat(worker: String, jobIDs: [String], lease: Duration) async throws {
        guard !jobIDs.isEmpty else { return }
        let until = clock.now().addingTimeInterval(lease.seconds)
        try await store.transaction { db in
            try await db.raw("""
                UPDATE communication_jobs SET lease_until = \(bind: until)
                WHERE id IN (\(SQLList(jobIDs.map { SQLBind($0) }))) AND state = 'running' AND lease_owner = \(bind: worker)
                """).run()
        }
    }

    public enum Outcome: Sendable, Equatable {
        case succeeded
        /// Worth trying again (5xx, 429, timeouts, connection errors).
        case transientFailure(String)
        /// Trying again cannot help (invalid recipient, opted out, hard bounce).
        case permanentFailure(String)
    }

    /// Records the attempt's outcome. Only the worker holding the lease may finish a job, so a
    /// worker whose lease expired (and whose job was rescued) cannot overwrite the new attempt.
    /// Returns the job as it now is, or nil when the lease was lost.
    @discardableResult
    public func finish(_ job: Job, worker: String, outcome: Outcome, backoff: RetryBackoff) async throws -> Job? {
        let now = clock.now()
        let (state, error, runAt): (JobState, String?, Date) = switch outcome {
        case .succeeded: (.succeeded, nil, job.runAt)
        case .permanentFailure(let e): (.dead, e, job.runAt)
        case .transientFailure(let e):
            job.attempts >= job.maxAttempts ? (.dead, e, job.runAt) : (.retrying, e, now.addingTimeInterval(backoff.delay(afterAttempt: job.attempts).seconds))
        }
        let outcomeLabel: String = switch outcome {
        case .succeeded: "succeeded"
        case .transientFailure: "transient_failure"
        case .permanentFailure: "permanent_failure"
        }
        return try await store.transaction { db in
            try await Self.finish(job, worker: worker, state: state, error: error, runAt: runAt, outcomeLabel: outcomeLabel, at: now, on: db)
        }
    }

    /// Marks a leased job succeeded inside the caller's transaction (a local delivery records the
    /// message and closes its job in one commit). Returns false when the lease was lost.
    func succeed(_ job: Job, worker: String, on db: any SQLDatabase) async throws -> Bool {
        try await Self.finish(job, worker: worker, state: .succeeded, error: nil, runAt: job.runAt, outcomeLabel: "succeeded",
                              at: clock.now(), on: db) != nil
    }

    private static func finish(_ job: Job, worker: String, state: JobState, error: String?, runAt: Date, outcomeLabel: String,
                               at now: Date, on db: any SQLDatabase) async throws -> Job? {
        let finished: Date? = state.isFinal ? now : nil
        let updated = try await db.raw("""
                UPDATE communication_jobs
                SET state = \(bind: state.rawValue), last_error = \(bind: error), run_at = \(bind: runAt), lease_owner = NULL,
                    lease_until = NULL, updated_at = \(bind: now), finished_at = \(bind: finished)
                WHERE id = \(bind: job.id) AND state = 'running' AND lease_owner = \(bind: worker)
                RETURNING *
                """).first().map(Self.decode)
        guard let updated else { return nil }
        try await db.raw("""
            UPDATE job_attempts SET finished_at = \(bind: now), outcome = \(bind: outcomeLabel), error = \(bind: error)
            WHERE job_id = \(bind: job.id) AND attempt = \(bind: job.attempts)
            """).run()
        return updated
    }

    /// Gives a claimed job back without counting the attempt (it must not run now, e.g. inside
    /// quiet hours), due again at `until`. Returns false when the lease was lost.
    @discardableResult
    public func postpone(_ job: Job, worker: String, until: Date) async throws -> Bool {
        try await store.transaction { db in try await self.postpone(job, worker: worker, until: until, on: db) }
    }

    func postpone(_ job: Job, worker: String, until: Date, on db: any SQLDatabase) async throws -> Bool {
        let rows = try await db.raw("""
            UPDATE communication_jobs
            SET state = 'queued', run_at = \(bind: until), attempts = attempts - 1, lease_owner = NULL, lease_until = NULL,
                updated_at = \(bind: clock.now())
            WHERE id = \(bind: job.id) AND state = 'running' AND lease_owner = \(bind: worker)
            RETURNING id
            """).all()
        guard !rows.isEmpty else { return false }
        try await db.raw("DELETE FROM job_attempts WHERE job_id = \(bind: job.id) AND attempt = \(bind: job.attempts)").run()
        return true
    }

    /// Puts jobs whose worker stopped heartbeating back in the queue (attempt counted); a job
    /// with no attempts left dies, and so does its message.
    public func rescueExpired() async throws -> Int {
        let now = clock.now()
        let reason = "the worker running it stopped responding"
        return try await store.transaction { db in
            let rows = try await db.raw("""
                UPDATE communication_jobs
                SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'retrying' END,
                    last_error = \(bind: reason), lease_owner = NULL, lease_until = NULL,
                    updated_at = \(bind: now), run_at = \(bind: now),
                    finished_at = CASE WHEN attempts >= max_attempts THEN \(bind: now) ELSE NULL END
                WHERE state = 'running' AND lease_until < \(bind: now)
                RETURNING id, state
                """).all()
            let dead = try rows.filter { try $0.decode(column: "state", as: String.self) == JobState.dead.rawValue }
                .map { try $0.decode(column: "id", as: String.self) }
            if !dead.isEmpty {
                try await db.raw("""
                    UPDATE messages SET status = 'failed', error = \(bind: reason), updated_at = \(bind: now)
                    WHERE job_id IN (\(SQLList(dead.map { SQLBind($0) }))) AND status = 'queued'
                    """).run()
            }
            return rows.count
        }
    }

    /// Newest first; `tenantID` nil lists every tenant (the CLI).
    public func list(tenantID: String?, state: JobState?, before: String?, limit: Int) async throws -> [Job] {
        try await store.read { db in
            var sql: SQLQueryString = "SELECT * FROM communication_jobs WHERE 1 = 1"
            if let tenantID { sql += " AND tenant_id = \(bind: tenantID)" }
            if let state { sql += " AND state = \(bind: state.rawValue)" }
            if let before { sql += " AND id < \(bind: before)" }
            sql += " ORDER BY id DESC LIMIT \(literal: limit)"
            return try await db.raw(sql).all().map(Self.decode)
        }
    }

    /// Runs a dead, cancelled or waiting job again now, with a fresh set of attempts.
    public func retry(tenantID: String?, id: String) async throws -> Job {
        let now = clock.now()
        return try await store.transaction { db in
            var sql: SQLQueryString = """
                UPDATE communication_jobs SET state = 'queued', run_at = \(bind: now), attempts = 0, finished_at = NULL, updated_at = \(bind: now)
                WHERE id = \(bind: id) AND state IN ('dead', 'cancelled', 'retrying', 'queued')
                """
            if let tenantID { sql += " AND tenant_id = \(bind: tenantID)" }
            sql += " RETURNING *"
            if let job = try await db.raw(sql).first().map(Self.decode) {
                // Its message is due again too (a failed message is otherwise never re-sent).
                try await db.raw("""
                    UPDATE messages SET status = 'queued', error = NULL, updated_at = \(bind: now)
                    WHERE job_id = \(bind: id) AND status IN ('failed', 'cancelled')
                    """).run()
                return job
            }
            throw try await Self.explainMissing(db, tenantID: tenantID, id: id, action: "retried")
        }
    }

    /// Cancels a job that has not run yet (queued or waiting to retry).
    public func cancel(tenantID: String?, id: String) async throws -> Job {
        let now = clock.now()
        return try await store.transaction { db in
            var sql: SQLQueryString = """
                UPDATE communication_jobs SET state = 'cancelled', finished_at = \(bind: now), updated_at = \(bind: now)
                WHERE id = \(bind: id) AND state IN ('queued', 'retrying')
                """
            if let tenantID { sql += " AND tenant_id = \(bind: tenantID)" }
            sql += " RETURNING *"
            if let job = try await db.raw(sql).first().map(Self.decode) {
                try await db.raw("UPDATE messages SET status = 'cancelled', updated_at = \(bind: now) WHERE job_id = \(bind: id) AND status = 'queued'").run()
                return job
            }
            throw try await Self.explainMissing(db, tenantID: tenantID, id: id, action: "cancelled")
        }
    }

    static func explainMissing(_ db: any SQLDatabase, tenantID: String?, id: String, action: String) async throws -> ParleyError {
        var sql: SQLQueryString = "SELECT state FROM communication_jobs WHERE id = \(bind: id)"
        if let tenantID { sql += " AND tenant_id = \(bind: tenantID)" }
        guard let state = try await db.raw(sql).first()?.decode(column: "state", as: String.self) else {
            return ParleyError.notFound("job \(id) not found", code: "job_not_found")
        }
        return ParleyError.conflict("job \(id) is \(state) and cannot be \(action)", code: "job_state_conflict")
    }

    /// Queue figures for `/metrics`: jobs per state and the age of the oldest due job.
    public func stats() async throws -> (byState: [JobState: Int], oldestDueSeconds: Double) {
        let now = clock.now()
        return try await store.read { db in
            var byState: [JobState: Int] = [:]
            for row in try await db.raw("SELECT state, COUNT(*) AS n FROM communication_jobs GROUP BY state").all() {
                if let state = JobState(rawValue: try row.decode(column: "state", as: String.self)) {
                    byState[state] = try row.decode(column: "n", as: Int.self)
                }
            }
            let oldest = try await db.raw("""
                SELECT MIN(run_at) AS oldest FROM communication_jobs WHERE state IN ('queued', 'retrying') AND run_at <= \(bind: now)
                """).first()?.decode(column: "oldest", as: Date?.self)
            return (byState, oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        }
    }

    public func job(tenantID: String, id: String) async throws -> Job? {
        try await store.read { db in
            try await db.raw("SELECT * FROM communication_jobs WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decode)
        }
    }

    static func decode(_ row: any SQLRow) throws -> Job {
        Job(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            type: try row.decode(column: "type", as: String.self),
            state: JobState(rawValue: try row.decode(column: "state", as: String.self)) ?? .dead,
            priority: try row.decode(column: "priority", as: Int.self), runAt: try row.decode(column: "run_at", as: Date.self),
            attempts: try row.decode(column: "attempts", as: Int.self), maxAttempts: try row.decode(column: "max_attempts", as: Int.self),
            payload: try row.decode(column: "payload", as: String.self), lastError: try row.decode(column: "last_error", as: String?.self),
            leaseOwner: try row.decode(column: "lease_owner", as: String?.self), leaseUntil: try row.decode(column: "lease_until", as: Date?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self),
            finishedAt: try row.decode(column: "finished_at", as: Date?.self))
    }
}

/// Exponential backoff from `RETRY_DELAY_MINUTES` with jitter, so retries of a burst spread out.
public struct RetryBackoff: Sendable {
    public var base: Duration
    public var factor: Double
    public var maxDelay: Duration
    /// 0...1: the delay is scaled by a random factor in [1 - jitter, 1].
    public var jitter: Double
    public var random: @Sendable () -> Double

    public init(base: Duration = .seconds(300), factor: Double = 2, maxDelay: Duration = .seconds(6 * 3600), jitter: Double = 0.2,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }) {
        self.base = base
        self.factor = factor
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.random = random
    }

    /// The wait after attempt `n` (1-based) failed.
    public func delay(afterAttempt n: Int) -> Duration {
        let raw = base.seconds * pow(factor, Double(max(0, n - 1)))
        let capped = min(raw, maxDelay.seconds)
        return .milliseconds(Int64((capped * (1 - jitter * random())) * 1000))
    }
}

extension Duration {
    /// In seconds, as a `Double` (for backoff arithmetic and benchmark reports).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
