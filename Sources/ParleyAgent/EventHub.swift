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
        var shutDown = false
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
        let id = state.withLock { s -> UInt64? in
            // After `shutDown()` a new viewer gets no live events: its stream ends at once.
            if s.shutDown { return nil }
            s.nextID += 1
            s.subscribers[workflowID, default: [:]][s.nextID] = continuation
            s.count += 1
            return s.nextID
        }
        guard let id else {
            continuation.finish()
            return Subscription(stream: stream, cancel: {}, poke: {})
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
        state.withLock { $0.shutDown = true }
        let all = state.withLock { s in s.subscribers.values.flatMap { Array($0.values) } }
        for continuation in all { continuation.finish() }
    }

    /// Whether `finishAll()` ended the live streams: a viewer whose stream ends without the
    /// run's end should reconnect (to another process) instead of treating the run as over.
    public var isShutDown: Bool { state.withLock { $0.shutDown } }
}

/// Writes run events for every run of this process, in as few transactions as possible.
///
/// Events get their `seq` when emitted; one flusher at a time takes everything queued (from all
/// runs) and writes it in one transaction, then publishes it. Under load, a commit carries the
/// events of many runs instead of each run queueing for the single SQLite writer. A batch that
/// fails is retried item by item, so one run's bad write cannot fail another's.
public final class EventWriter: Sendable {
    typealias Alongside = @Sendable (any SQLDatabase) async throws -> Void
    struct Item: Sendable {
        var tenantID: String
        var events: [WorkflowEvent]
        var alongside: Alongside?
        var waiter: CheckedContinuation<Void, any Error>?
    }
    private struct State {
        var queue: [Item] = []
        var flushing = false
    }
    private let state = Mutex(State())
    private let store: any Store
    private let hub: EventHub
    private let repo = AgentRepository()

    public init(store: any Store, hub: EventHub) {
        self.store = store
        self.hub = hub
    }

    /// Queues what `make` returns; `make` runs under the queue's lock, so sequence numbers
    /// assigned in it reach the queue in order.
    func submit(_ make: () -> Item) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue { var item = make(); item.waiter = continuation; return item }
        }
    }

    /// Queues without waiting for the write.
    func post(_ make: () -> Item) {
        enqueue(make)
    }

    private func enqueue(_ make: () -> Item) {
        let startFlusher = state.withLock { s -> Bool in
            s.queue.append(make())
            if s.flushing { return false }
            s.flushing = true
            return true
        }
        if startFlusher { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { s -> [Item] in
                if s.queue.isEmpty { s.flushing = false }
                defer { s.queue = [] }
                return s.queue
            }
            guard !batch.isEmpty else { return }
            do {
                try await write(batch)
                finish(batch, nil)
            } catch {
                for item in batch {
                    do {
                        try await write([item])
                        finish([item], nil)
                    } catch {
                        finish([item], error)
                    }
                }
            }
        }
    }

    private func write(_ batch: [Item]) async throws {
        try await store.transaction { [repo] db in
            for item in batch { try await item.alongside?(db) }
            var byTenant: [String: [WorkflowEvent]] = [:]
            for item in batch { byTenant[item.tenantID, default: []] += item.events }
            for (tenantID, events) in byTenant { try await repo.appendEvents(events, tenantID: tenantID, on: db) }
        }
    }

    private func finish(_ batch: [Item], _ error: (any Error)?) {
        if error == nil {
            var byWorkflow: [String: [WorkflowEvent]] = [:]
            var order: [String] = []
            for item in batch {
                for e in item.events {
                    if byWorkflow[e.workflowID] == nil { order.append(e.workflowID) }
                    byWorkflow[e.workflowID, default: []].append(e)
                }
            }
            for id in order { hub.publish(byWorkflow[id] ?? []) }
        }
        for item in batch {
            if let error { item.waiter?.resume(throwing: error) } else { item.waiter?.resume() }
        }
    }
}

/// One run's event stream: assigns its sequence numbers and hands the events to the writer.
final class RunRecorder: Sendable {
    typealias Alongside = EventWriter.Alongside

    let workflowID: String
    let tenantID: String
    private let writer: EventWriter
    private let clock: any Clock
    /// The last seq handed out, and the first failure (after which the run can record nothing).
    private let state: Mutex<(lastSeq: Int, failure: (any Error)?)>

    init(workflowID: String, tenantID: String, lastSeq: Int, writer: EventWriter, clock: any Clock) {
        self.workflowID = workflowID
        self.tenantID = tenantID
        self.writer = writer
        self.clock = clock
        self.state = Mutex((lastSeq, nil))
    }

    private func item(_ items: [(type: String, fields: [String: JSONValue])], alongside: Alongside?) -> EventWriter.Item {
        let now = clock.now()
        let workflowID = self.workflowID
        let events = state.withLock { s in
            let events = items.enumerated().map { i, item in
                WorkflowEvent(workflowID: workflowID, seq: s.lastSeq + 1 + i, type: item.type, timestamp: now, fields: item.fields)
            }
            s.lastSeq += events.count
            return events
        }
        return EventWriter.Item(tenantID: tenantID, events: events, alongside: alongside, waiter: nil)
    }

    /// Writes the events (and `alongside`, in the same transaction) and then tells live viewers.
    func emit(_ items: [(type: String, fields: [String: JSONValue])], alongside: Alongside? = nil) async throws {
        if let failure = state.withLock({ $0.failure }) { throw failure }
        do {
            try await writer.submit { self.item(items, alongside: alongside) }
        } catch {
            state.withLock { $0.failure = error }
            throw error
        }
    }

    func emit(_ type: String, _ fields: [String: JSONValue], alongside: Alongside? = nil) async throws {
        try await emit([(type, fields)], alongside: alongside)
    }

    /// For streamed model output: queued without waiting, so the model stream is never held up
    /// by the database; the next `emit` of the run is written after it (the queue is FIFO).
    func emitStreaming(_ type: String, _ fields: [String: JSONValue]) {
        writer.post { self.item([(type, fields)], alongside: nil) }
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
