import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// Counts failed sign-ins per subject (an account, a client address) in a fixed window; a subject
/// at its limit is refused until the window ends. Behind a protocol so it can later sit on the
/// general rate limiter.
public protocol LoginThrottle: Sendable {
    /// nil when every subject may try again; else the seconds until the last of them may.
    func retryAfter(_ subjects: [LoginSubject], at now: Date) async throws -> Int?
    func recordFailure(_ subjects: [LoginSubject], at now: Date) async throws
    /// A successful sign-in clears the account's count (never the address's).
    func clear(_ subject: LoginSubject) async throws
}

public struct LoginSubject: Sendable, Equatable {
    public var key: String
    public var limit: Int
    public init(key: String, limit: Int) {
        self.key = key
        self.limit = limit
    }
}

/// The counters in the database (`login_failures`), so every replica sees the same counts.
public struct StoreLoginThrottle: LoginThrottle {
    let store: any Store
    let window: TimeInterval

    public init(store: any Store, windowSeconds: Int) {
        self.store = store
        window = TimeInterval(windowSeconds)
    }

    public func retryAfter(_ subjects: [LoginSubject], at now: Date) async throws -> Int? {
        let keys = subjects.map(\.key)
        let rows = try await store.read { db in
            try await db.raw("SELECT subject, failures, window_started_at FROM login_failures WHERE subject IN (\(binds: keys))").all()
        }
        var wait: TimeInterval = 0
        for row in rows {
            let key = try row.decode(column: "subject", as: String.self)
            let failures = try row.decode(column: "failures", as: Int.self)
            let started = try row.decode(column: "window_started_at", as: Date.self)
            guard let limit = subjects.first(where: { $0.key == key })?.limit else { continue }
            let ends = started.addingTimeInterval(window)
            if failures >= limit, ends > now { wait = max(wait, ends.timeIntervalSince(now)) }
        }
        return wait > 0 ? max(1, Int(wait.rounded(.up))) : nil
    }

    public func recordFailure(_ subjects: [LoginSubject], at now: Date) async throws {
        let windowStart = now.addingTimeInterval(-window)
        try await store.transaction { db in
            for s in subjects {
                // A window that has ended starts again at 1.
                try await db.raw("""
                    INSERT INTO login_failures (subject, failures, window_started_at) VALUES (\(bind: s.key), 1, \(bind: now))
                    ON CONFLICT (subject) DO UPDATE SET
                        failures = CASE WHEN login_failures.window_started_at <= \(bind: windowStart) THEN 1 ELSE login_failures.failures + 1 END,
                        window_started_at = CASE WHEN login_failures.window_started_at <= \(bind: windowStart) THEN \(bind: now)
                                                 ELSE login_failures.window_started_at END
                    """).run()
            }
        }
    }

    public func clear(_ subject: LoginSubject) async throws {
        try await store.transaction { db in
            try await db.raw("DELETE FROM login_failures WHERE subject = \(bind: subject.key)").run()
        }
    }
}
