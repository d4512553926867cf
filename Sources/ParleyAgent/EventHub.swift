import Foundation
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization

/// Live fan-out of run events to viewers in this process.
///
/// Each viewer gets its own bounded buffer that keeps the newest events: a slow viewer loses
/// buffered events rather than slowing the run or other viewers, notices the gap in `seq`, and
/// reads what it missed from the store (where nothing is ever dropped).
public final class EventHub: Sendable {
    private struct State {
        var subscribers: [String: [UInt64: AsyncStream<WorkflowEvent>.Continuation]] = [:]
        var nextID: UInt64 = 0
        var count = 0
    }
    private let state = Mutex(State())
    public let bufferLimit: Int

    public init(bufferLimit: Int = 1000) {
        self.bufferLimit = bufferLimit
    }

    public struct Subscription: Sendable {
        public let stream: AsyncStream<WorkflowEvent>
        let cancel: @Sendable () -> Void
        /// Wakes the viewer with a `tick` (not a run event), so it can poll the store and beat.
        let poke: @Sendable () -> Void
    }

    static let tick = "__tick"

    public func subscribe(_ workflowID: String) -> Subscription {
        let (stream, continuation) = AsyncStream.makeStream(of: WorkflowEvent.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.subscribers[workflowID, default: [:]][s.nextID] = continuation
            s.count += 1
            return s.nextID
        }
        // Removing on termination is what cleans up idle stream state: nothing outlives its viewer.
        continuation.onTermination = { [weak self] _ in self?.remove(workflowID, id) }
        return Subscription(stream: stream, cancel: { continuation.finish() }, poke: {
            continuation.yield(WorkflowEvent(workflowID: workflowID, seq: 0, type: Self.tick, timestamp: .distantPast, fields: [:]))
        })
    }

    private func remove(_ workflowID: String, _ id: UInt64) {
        state.withLock { s in
            guard s.subscribers[workflowID]?.removeValue(forKey: id) != nil else { return }
            s.count -= 1
            if s.subscribers[workflowID]?.isEmpty == true { s.subscribers[workflowID] = nil }
        }
    }

    /// Events must be published in `seq` order per workflow (the `RunRecorder` guarantees it).
    public func publish(_ events: [WorkflowEvent]) {
        guard let workflowID = events.first?.workflowID else { return }
        let targets = state.withLock { s in s.subscribers[workflowID].map { Array($0.values) } ?? [] }
        for continuation in targets {
            for event in events { continuation.yield(event) }
        }
    }

    public var subscriberCount: Int { state.withLock { $0.count } }

    /// Ends every live subscription (at shutdown), so open streams finish instead of hanging.
    public func finishAll() {
        let all = state.withLock { s in s.subscribers.values.flatMap { Array($0.values) } }
        for continuation in all { continuation.finish() }
    }
}

/// Assigns sequence numbers to one run's events, persists them, then publishes them, strictly in
/// order even when concurrent tool calls report at once.
///
/// Group commit: events get their `seq` when emitted; whoever flushes writes everything queued so
/// far in one transaction, so concurrent emitters (and the text deltas of a fast model) share a
/// commit instead of queueing one transaction each.
final class RunRecorder: Sendable {
    typealias Alongside = @Sendable (any SQLDatabase) async throws -> Void
    private struct Queued {
        var events: [WorkflowEvent]
        var alongside: Alongside?
    }
    private struct State {
        var lastSeq: Int
        var persistedSeq: Int
        var queue: [Queued] = []
        var failure: (any Error)?
    }

    let workflowID: String
    let tenantID: String
    private let store: any Store
    private let hub: EventHub
    private let clock: any Clock
    private let repo = AgentRepository()
    private let gate = AsyncSemaphore(value: 1)
    private let state: Mutex<State>

    init(workflowID: String, tenantID: String, lastSeq: Int, store: any Store, hub: EventHub, clock: any Clock) {
        self.workflowID = workflowID
        self.tenantID = tenantID
        self.store = store
        self.hub = hub
        self.clock = clock
        self.state = Mutex(State(lastSeq: lastSeq, persistedSeq: lastSeq))
    }

    /// Queues the events (and `alongside`, for the same transaction) and returns their last seq.
    private func enqueue(_ items: [(type: String, fields: [String: JSONValue])], alongside: Alongside?) -> Int {
        let now = clock.now()
        let workflowID = self.workflowID
        return state.withLock { s in
            let events = items.enumerated().map { i, item in
                WorkflowEvent(workflowID: workflowID, seq: s.lastSeq + 1 + i, type: item.type, timestamp: now, fields: item.fields)
            }
            s.lastSeq += events.count
            s.queue.append(Queued(events: events, alongside: alongside))
            return s.lastSeq
        }
    }

    /// Returns once every event up to `seq` is stored and published.
    private func flush(through seq: Int) async throws {
        try await gate.withPermit {
            let batch = try state.withLock { s -> [Queued] in
                if let failure = s.failure { throw failure }
                guard s.persistedSeq < seq else { return [] }
                defer { s.queue = [] }
                return s.queue
            }
            guard !batch.isEmpty else { return }
            let events = batch.flatMap(\.events)
            let tenantID = self.tenantID
            do {
                try await store.transaction { [repo] db in
                    for item in batch { try await item.alongside?(db) }
                    try await repo.appendEvents(events, tenantID: tenantID, on: db)
                }
            } catch {
                // The run cannot record its story any more: every later emit fails too.
                state.withLock { $0.failure = error }
                throw error
            }
            state.withLock { $0.persistedSeq = events.last?.seq ?? $0.persistedSeq }
            hub.publish(events)
        }
    }

    /// Writes the events (and `alongside`, in the same transaction) and then tells live viewers.
    func emit(_ items: [(type: String, fields: [String: JSONValue])], alongside: Alongside? = nil) async throws {
        try await flush(through: enqueue(items, alongside: alongside))
    }

    func emit(_ type: String, _ fields: [String: JSONValue], alongside: Alongside? = nil) async throws {
        try await emit([(type, fields)], alongside: alongside)
    }

    /// For streamed model output: queues the event and flushes in the background, so the model
    /// stream is never held up by the database and deltas arriving meanwhile share one commit.
    /// A failure surfaces at the run's next `emit`.
    func emitStreaming(_ type: String, _ fields: [String: JSONValue]) {
        let seq = enqueue([(type, fields)], alongside: nil)
        Task { try? await self.flush(through: seq) }
    }
}

extension RunRecorder {
    /// Appends events to a run that has no live runner (paused or being cancelled): `body` runs
    /// first and decides the events; the next `seq` is read inside a transaction locked per
    /// workflow, so concurrent requests cannot collide.
    static func appendToIdleRun<T: Sendable>(workflowID: String, tenantID: String, store: any Store, hub: EventHub, clock: any Clock,
                                             _ body: @escaping @Sendable (any SQLDatabase) async throws -> (T, [(type: String, fields: [String: JSONValue])])) async throws -> T {
        let repo = AgentRepository()
        let now = clock.now()
        let (value, events) = try await store.transaction(lockKey: lockKey(for: workflowID)) { db -> (T, [WorkflowEvent]) in
            let (value, items) = try await body(db)
            let first = try await repo.lastSeq(workflowID: workflowID, on: db) + 1
            let events = items.enumerated().map { i, item in
                WorkflowEvent(workflowID: workflowID, seq: first + i, type: item.type, timestamp: now, fields: item.fields)
            }
            try await repo.appendEvents(events, tenantID: tenantID, on: db)
            return (value, events)
        }
        hub.publish(events)
        return value
    }

    /// A stable 63-bit advisory-lock key per workflow (FNV-1a of its id).
    static func lockKey(for workflowID: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in workflowID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash & 0x7fff_ffff_ffff_ffff)
    }
}
