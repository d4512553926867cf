import Foundation

/// Every piece of Parley reads the time from a `Clock` so tests can pin it.
public protocol Clock: Sendable {
    func now() -> Date
}

public struct SystemClock: Clock {
    public init() {}
    public func now() -> Date { Date() }
}
