import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

/// The core's purge targets: its soft-deletable tables with their dependent rows, and the rows
/// that simply expire (sign-in tokens, one-time links, stale sign-in failure counters, console
/// sessions, full rate-limit buckets).
public enum CoreRetention {
    public static func targets(failureWindowSeconds: Int = AccountSettings().failureWindowSeconds) -> [PurgeTarget] {
        [
            // A key's console sessions and sign-in links refer to it.
            .softDeleted("api_keys", dependents: [.init("console_sessions", "api_key_id"), .init("console_signin_tokens", "api_key_id")]),
            .softDeleted("message_templates"),
            .softDeleted("agents", dependents: [.init("agent_versions", "agent_id")]),
            conversations,
            .softDeleted("memberships"),
            expired("refresh_tokens", "expires_at < \(bindNow)", tenant: true),
            expired("auth_one_time_tokens", "(used_at IS NOT NULL OR expires_at < \(bindNow))", tenant: false),
            expired("console_user_sessions", "expires_at < \(bindNow)", tenant: true),
            expired("console_sessions", "expires_at < \(bindNow)", tenant: true),
            expired("console_signin_tokens", "(used_at IS NOT NULL OR expires_at < \(bindNow))", tenant: true),
            staleLoginFailures(windowSeconds: failureWindowSeconds),
            fullRateLimitBuckets,
        ]
    }

    static let bindNow = "%NOW%"

    /// A deleted conversation goes with its messages and its runs (their events, approvals and hand-offs).
    static let conversations = PurgeTarget(table: "agent_sessions") { request, db in
        var select: SQLQueryString = """
            SELECT id, tenant_id FROM agent_sessions WHERE deleted_at IS NOT NULL AND deleted_at < \(bind: request.cutoff) ORDER BY id
            """
        if let limit = request.limit { select += " LIMIT \(literal: limit)" }
        var byTenant: [String: [String]] = [:]
        for row in try await db.raw(select).all() {
            byTenant[try row.decode(column: "tenant_id", as: String.self), default: []].append(try row.decode(column: "id", as: String.self))
        }
        var out: [PurgedRows] = []
        for (tenantID, ids) in byTenant.sorted(by: { $0.key < $1.key }) {
            let runs: SQLQueryString = "SELECT id FROM workflows WHERE tenant_id = \(bind: tenantID) AND session_id IN (\(binds: ids))"
            for table in ["workflow_events", "workflow_approvals", "handoffs"] {
                var sql: SQLQueryString = "DELETE FROM \(ident: table) WHERE workflow_id IN ("
                sql += runs
                sql += ")"
                let n = try await PurgeTarget.count(db, sql)
                if n > 0 { out.append(PurgedRows(table: table, tenantID: tenantID, rows: n)) }
            }
            let n = try await PurgeTarget.count(db, "DELETE FROM workflows WHERE tenant_id = \(bind: tenantID) AND session_id IN (\(binds: ids))")
            if n > 0 { out.append(PurgedRows(table: "workflows", tenantID: tenantID, rows: n)) }
            out += try await PurgeTarget.deleteRows("agent_sessions", ids: ids, tenantID: tenantID, dependents: [.init("session_messages", "session_id")], on: db)
        }
        return out
    }

    /// Rows past their life: `condition` is SQL from this file with `%NOW%` for the purge's time.
    static func expired(_ table: String, _ condition: String, tenant: Bool) -> PurgeTarget {
        PurgeTarget(table: table) { request, db in
            let parts = condition.components(separatedBy: bindNow)
            var sql: SQLQueryString = "DELETE FROM \(ident: table) WHERE "
            for (i, part) in parts.enumerated() {
                if i > 0 { sql += "\(bind: request.now)" }
                sql += "\(unsafeRaw: part)"
            }
            sql += tenant ? " RETURNING tenant_id" : " RETURNING id"
            var counts: [String?: Int] = [:]
            for row in try await db.raw(sql).all() {
                let tenantID: String? = tenant ? try row.decode(column: "tenant_id", as: String?.self) : nil
                counts[tenantID, default: 0] += 1
            }
            return counts.map { PurgedRows(table: table, tenantID: $0.key, rows: $0.value) }.sorted { ($0.tenantID ?? "") < ($1.tenantID ?? "") }
        }
    }

    /// Sign-in failure counters whose window ended: they count nothing any more.
    static func staleLoginFailures(windowSeconds: Int) -> PurgeTarget {
        PurgeTarget(table: "login_failures") { request, db in
            let before = request.now.addingTimeInterval(-TimeInterval(windowSeconds))
            let n = try await PurgeTarget.count(db, "DELETE FROM login_failures WHERE window_started_at < \(bind: before)")
            return n > 0 ? [PurgedRows(table: "login_failures", tenantID: nil, rows: n)] : []
        }
    }

    /// PostgreSQL's shared buckets that have refilled (a missing bucket is a full one).
    static let fullRateLimitBuckets = PurgeTarget(table: "rate_limit_buckets") { request, db in
        let now = request.now.timeIntervalSince1970
        let n = try await PurgeTarget.count(db, "DELETE FROM rate_limit_buckets WHERE tokens + (\(bind: now) - updated_at) * refill >= capacity")
        return n > 0 ? [PurgedRows(table: "rate_limit_buckets", tenantID: nil, rows: n)] : []
    }
}

/// The retention purge (docs/soft-delete.md): every `PurgeTarget` of the core and the installed
/// packs, each in transactions of its own under one lock (PostgreSQL: an advisory lock, so
/// replicas purging at the same moment take turns and the second finds nothing), with an audit
/// row per tenant and table in the transaction that deleted the rows.
public struct RetentionPurge: Sendable {
    public static let lockKey: Int64 = 0x5055_5247_4500  // "PURGE"
    public static let batch = 500
    /// How often `serve` and `worker` purge (each replica; the lock makes them take turns).
    public static let interval: Duration = .seconds(3600)

    let store: any Store
    let clock: any Clock
    let retention: Retention
    let targets: [PurgeTarget]
    let logger: Logger

    public init(store: any Store, clock: any Clock, retention: Retention, targets: [PurgeTarget], logger: Logger) {
        self.store = store
        self.clock = clock
        self.retention = retention
        self.targets = targets
        self.logger = logger
    }

    /// The core's targets, then each pack's.
    public init(store: any Store, clock: any Clock, config: ParleyConfig, packs: [DomainPack], logger: Logger) {
        self.init(store: store, clock: clock, retention: config.retention,
                  targets: CoreRetention.targets(failureWindowSeconds: config.accounts.failureWindowSeconds) + packs.flatMap(\.purgeTargets),
                  logger: logger)
    }

    struct DryRun: Error { var rows: [PurgedRows] }

    /// Purges once; returns the rows removed per table and tenant. A dry run does the same work
    /// in one transaction and rolls it back, so its counts are exactly what a purge would remove.
    @discardableResult
    public func run(dryRun: Bool = false) async throws -> [PurgedRows] {
        let now = clock.now()
        let request = PurgeTarget.Request(cutoff: retention.cutoff(now: now), now: now, limit: dryRun ? nil : Self.batch, kind: store.kind)
        if dryRun {
            do {
                try await store.transaction(lockKey: Self.lockKey) { [targets] db in
                    var all: [PurgedRows] = []
                    for target in targets { all += try await target.purge(request, db) }
                    throw DryRun(rows: all)
                }
            } catch let result as DryRun {
                return Self.merge(result.rows)
            }
            return []
        }
        var all: [PurgedRows] = []
        for target in targets {
            while true {
                let rows = try await store.transaction(lockKey: Self.lockKey) { [clock] db in
                    let rows = try await target.purge(request, db)
                    try await Self.audit(rows, cutoff: request.cutoff, clock: clock, on: db)
                    return rows
                }
                all += rows
                // Another batch while the last was full of parent rows.
                guard rows.filter({ $0.table == target.table }).reduce(0, { $0 + $1.rows }) >= Self.batch else { break }
            }
        }
        let merged = Self.merge(all)
        if !merged.isEmpty {
            logger.notice("retention purge", metadata: ["rows": .string(merged.map { "\($0.table)=\($0.rows)" }.joined(separator: ","))])
        }
        return merged
    }

    /// One audit row per tenant and table (installation-wide rows are only logged).
    static func audit(_ rows: [PurgedRows], cutoff: Date, clock: any Clock, on db: any SQLDatabase) async throws {
        let repo = AuditRepository()
        for r in rows where r.rows > 0 {
            guard let tenantID = r.tenantID else { continue }
            let now = clock.now()
            let details: JSONValue = ["rows": .number(Double(r.rows)), "deleted_before": .string(Retention.format(cutoff))]
            try await repo.append(AuditEntry(id: UUIDv7.make(at: now), tenantID: tenantID, actor: "system:retention", action: "retention.purge",
                                             targetType: r.table, targetID: nil, requestID: nil, details: details.serialized(), createdAt: now), on: db)
        }
    }

    /// Totals per table, in table order.
    public static func merge(_ rows: [PurgedRows]) -> [PurgedRows] {
        var totals: [String: Int] = [:]
        for r in rows { totals[r.table, default: 0] += r.rows }
        return totals.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { PurgedRows(table: $0.key, tenantID: nil, rows: $0.value) }
    }

    /// Purges every `interval` (the first time one interval after start, so a process starting
    /// or stopping is never also purging) until cancelled; a failure is logged and retried next time.
    public func loop(every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                try await run()
            } catch {
                logger.warning("retention purge failed; it runs again later", metadata: ["error": .string("\(error)")])
            }
        }
    }
}
