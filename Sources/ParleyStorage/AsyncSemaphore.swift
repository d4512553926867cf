import Synchronization

/// A FIFO counting semaphore for async code: bounds the SQLite reader pool and serialises the
/// single SQLite writer (value 1) without blocking threads.
public final class AsyncSemaphore: Sendable {
    private struct State {
        var value: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }
    private let state: Mutex<State>

    public init(value: Int) { state = Mutex(State(value: value)) }

    public func wait() async throws {
        let id = state.withLock { s -> UInt64? in
            if s.value > 0 { s.value -= 1; return nil }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    s.waiters.append((id, c))
                    return false
                }
                if resumeNow { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    public func signal() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiters.isEmpty { s.value += 1; return nil }
            return s.waiters.removeFirst().continuation
        }
        next?.resume()
    }

    public func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await wait()
        defer { signal() }
        return try await body()
    }
}

/// A shareable atomic integer (an `Atomic` itself cannot be captured by escaping closures).
final class AtomicCounter: Sendable {
    private let value = Atomic<Int>(0)
    func add(_ n: Int) { value.add(n, ordering: .relaxed) }
    func load() -> Int { value.load(ordering: .relaxed) }
}

final class AtomicFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    func isSet() -> Bool { value.load(ordering: .sequentiallyConsistent) }
}
