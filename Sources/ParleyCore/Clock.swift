import Foundation

/// Every piece of Parley reads the time from a `Clock` so tests can pin it.
public protocol Clock: Sendable {
    func now() -> Date
}

public struct SystemClock: Clock {
    public init() {}
    public func now() -> Date { Date() }
}

/// Waits (retry backoff, `Retry-After`). Injected so that tests never sleep.
public protocol Sleeper: Sendable {
    func sleep(for duration: Duration) async throws
}

/// Sleeps for real (`Task.sleep`), honouring cancellation.
public struct TaskSleeper: Sleeper {
    public init() {}
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
