import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// Why a message (or its job) has not gone out yet, for people watching the queue.
public struct Waiting: Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// Held until the tenant's quiet hours end (`notBefore`, in the tenant's zone).
        case quietHours = "quiet_hours"
        /// Asked to go out later (`send_at`).
        case scheduled
        /// An attempt failed; the next one is at `notBefore` (the job has the attempt count and error).
        case retrying
        /// Due now; waiting for a free worker.
        case due
        /// A worker is delivering it.
        case sending
        /// The recipient has not consented or is suppressed: it will fail when due unless that changes.
        case noConsent = "no_consent"
    }

    public var reason: Reason
    public var notBefore: Date?
    /// A sentence for the reasons that need one (the consent refusal).
    public var detail: String?

    public init(reason: Reason, notBefore: Date? = nil, detail: String? = nil) {
        self.reason = reason
        self.notBefore = notBefore
        self.detail = detail
    }

    /// Why `job` waits at `now`; nil once it is finished. A job due exactly when the tenant's quiet
    /// hours end was put there by them (a message's `exempt` template ignores quiet hours).
    public static func of(_ job: Job, now: Date, zone: TimeZone, quietHours: QuietHours, exempt: Bool = false) -> Waiting? {
        switch job.state {
        case .succeeded, .dead, .cancelled: return nil
        case .running: return Waiting(reason: .sending)
        case .queued, .retrying:
            if job.runAt <= now { return Waiting(reason: .due) }
            if !exempt, let end = quietHours.deferral(for: job.runAt.addingTimeInterval(-1), in: zone), abs(end.timeIntervalSince(job.runAt)) < 1 {
                return Waiting(reason: .quietHours, notBefore: job.runAt)
            }
            if job.state == .retrying || job.attempts > 0 { return Waiting(reason: .retrying, notBefore: job.runAt) }
            return Waiting(reason: .scheduled, notBefore: job.runAt)
        }
    }
}

extension MessageService {
    /// Why the message has not gone out yet (nil once it has, or for good).
    public func waiting(_ message: Message, job: Job?) async throws -> Waiting? {
        guard message.status == .queued || message.status == .sending, let job else { return nil }
        let now = queue.clock.now()
        let (zone, refusal) = try await queue.store.read { db in
            (try await QuietHours.zone(ofTenant: message.tenantID, on: db),
             try await ConsentService(store: queue.store, clock: queue.clock)
                .refusal(tenantID: message.tenantID, channel: message.channel, recipient: message.recipient, purpose: message.purpose, on: db))
        }
        if message.status == .queued, let refusal { return Waiting(reason: .noConsent, notBefore: job.runAt, detail: refusal.message) }
        return Waiting.of(job, now: now, zone: zone, quietHours: quietHours, exempt: message.quietHoursExempt)
    }
}

extension JobQueue {
    /// Why each of a tenant's jobs waits, keyed by job id (finished jobs are left out).
    public func waiting(tenantID: String, jobs: [Job], quietHours: QuietHours = .default) async throws -> [String: Waiting] {
        let zone = try await store.read { db in try await QuietHours.zone(ofTenant: tenantID, on: db) }
        let now = clock.now()
        var out: [String: Waiting] = [:]
        for job in jobs { out[job.id] = Waiting.of(job, now: now, zone: zone, quietHours: quietHours) }
        return out
    }
}
