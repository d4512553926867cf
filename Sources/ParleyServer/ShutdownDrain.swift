import Foundation
import Logging
import NIOCore
import Synchronization

/// Ends a server's connections promptly at shutdown.
///
/// The HTTP server drains by waiting for every connection to finish its response, which a live
/// event stream never does. When the server starts draining (the first connection is told to
/// quiesce), `begin()` ends the live streams, each with a final event telling its client to
/// reconnect (`reconnect` on SSE, a JSON message and close code 1012 on WebSocket), and gives
/// the other requests `grace` before their connections are closed.
final class ShutdownDrain: Sendable {
    /// The reconnect delay suggested to clients (SSE `retry:`).
    static let retryMilliseconds = 1000

    private struct State {
        var begun = false
        var actions: [@Sendable () -> Void] = []
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())
    let grace: Duration
    let connections: ConnectionRegistry
    let logger: Logger

    init(grace: Duration, connections: ConnectionRegistry, logger: Logger) {
        self.grace = grace
        self.connections = connections
        self.logger = logger
        Self.live.withLock { list in
            list.removeAll { $0.drain == nil }
            list.append(Weak(drain: self))
        }
    }

    // MARK: before the server drains

    private struct Weak: Sendable { weak var drain: ShutdownDrain? }
    /// The drains of the applications in this process.
    private static let live = Mutex<[Weak]>([])
    /// WebSockets that have not yet sent their final message and close frame.
    private let unnotifiedSockets = Mutex(0)

    /// Begins every drain in this process and waits (at most `settle`) until each WebSocket has
    /// sent its final message. Called when the shutdown signal arrives, before the HTTP server
    /// drains: Hummingbird closes WebSockets itself (code 1000, no message) once it does.
    static func drainAll(settle: Duration = .seconds(2)) async {
        let drains = live.withLock { $0.compactMap(\.drain) }
        for drain in drains { drain.begin() }
        let deadline = ContinuousClock.now + settle
        for drain in drains {
            while drain.unnotifiedSockets.withLock({ $0 }) > 0 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// A WebSocket that will get the final message: `done()` once it has (or has ended).
    final class SocketTicket: Sendable {
        private let drain: ShutdownDrain
        private let pending = Mutex(true)
        fileprivate init(_ drain: ShutdownDrain) { self.drain = drain }
        func done() {
            guard pending.withLock({ p in defer { p = false }; return p }) else { return }
            drain.unnotifiedSockets.withLock { $0 -= 1 }
        }
    }

    func socketOpened() -> SocketTicket {
        unnotifiedSockets.withLock { $0 += 1 }
        return SocketTicket(self)
    }

    /// Runs `action` when draining begins (at once if it has).
    func onBegin(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.begun { return true }
            s.actions.append(action)
            return false
        }
        if now { action() }
    }

    var isDraining: Bool { state.withLock { $0.begun } }

    /// Starts draining; later calls do nothing.
    func begin() {
        let (actions, waiters) = state.withLock { s -> ([@Sendable () -> Void], [CheckedContinuation<Void, Never>]) in
            if s.begun { return ([], []) }
            s.begun = true
            defer { s.actions = []; s.waiters = [:] }
            return (s.actions, Array(s.waiters.values))
        }
        guard !actions.isEmpty || !waiters.isEmpty || connections.count > 0 else { return }
        logger.notice("draining: live streams told to reconnect; other requests have \(grace) to finish")
        for action in actions { action() }
        for waiter in waiters { waiter.resume() }
        let grace = self.grace
        let connections = self.connections
        let logger = self.logger
        Task {
            try? await Task.sleep(for: grace)
            let n = connections.closeAll()
            if n > 0 { logger.notice("shutdown grace period over: closed \(n) connection(s)") }
        }
    }

    /// Returns when draining begins, or when the calling task is cancelled.
    func waitUntilDraining() async {
        let id = state.withLock { s -> UInt64 in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.begun || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
