import Foundation
import Logging
import MCP
import ParleyCore
import Synchronization

/// What went wrong talking to an MCP server, in words a person or the model can act on.
public enum MCPCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer within the server's timeout.
    case timeout(String)
    /// The server could not be started or reached, or broke the protocol.
    case unavailable(String)
    /// The server answered a JSON-RPC error.
    case protocolError(String)

    public var description: String {
        switch self {
        case .timeout(let m), .unavailable(let m), .protocolError(let m): m
        }
    }
}

/// How to open one server's transport (a fresh one per connection).
typealias TransportFactory = @Sendable (_ onDeath: @escaping @Sendable () -> Void) async throws -> any MCP.Transport

/// One live connection to one server of one tenant: an `MCP.Client` over its transport, shared by
/// concurrent calls. It connects on first use, reconnects after the server process died or the
/// session was lost (a stdio server that keeps dying waits longer each time, up to 30 s), and
/// gives every call a time limit, so no caller waits forever.
actor MCPConnection {
    let label: String
    let fingerprint: String
    private let factory: TransportFactory
    private let logger: Logger
    private var client: MCP.Client?
    private var transport: (any MCP.Transport)?
    private var connecting: Task<(MCP.Client, any MCP.Transport, String), any Error>?
    private var generation = 0
    private var startedAt: ContinuousClock.Instant?
    private var quickDeaths = 0
    private var notBefore: ContinuousClock.Instant?
    private(set) var negotiatedVersion: String?

    init(label: String, fingerprint: String, factory: @escaping TransportFactory, logger: Logger) {
        self.label = label
        self.fingerprint = fingerprint
        self.factory = factory
        self.logger = logger
    }

    /// The wait before restarting after `deaths` quick deaths in a row: none after the first.
    static func backoff(afterQuickDeaths deaths: Int) -> Duration {
        guard deaths > 1 else { return .zero }
        return min(.milliseconds(500) * (1 << min(deaths - 2, 10)), .seconds(30))
    }

    private func connected(timeout: Duration) async throws -> MCP.Client {
        if let client {
            // A process that just ended (its exit not handled yet) gets no call: it is restarted.
            guard let stdio = transport as? StdioProcessTransport, await !stdio.isAlive else { return client }
            await died(generation: generation)
        }
        if let connecting { return try await connecting.value.0 }
        if let notBefore, ContinuousClock.now < notBefore {
            let wait = notBefore - ContinuousClock.now
            throw MCPCallError.unavailable("the MCP server \(label) stopped repeatedly and is restarted in \(wait.components.seconds + 1) s; try again then")
        }
        generation += 1
        let mine = generation
        let factory = self.factory
        let label = self.label
        let task = Task { () throws -> (MCP.Client, any MCP.Transport, String) in
            let transport = try await factory { [weak self] in
                Task { await self?.died(generation: mine) }
            }
            let client = MCP.Client(name: MCPClientInfo.name, version: MCPClientInfo.version)
            let result = try await Self.withTimeout(timeout, label: label, what: "start") {
                try await client.connect(transport: transport)
            } onTimeout: {
                await client.disconnect()
            }
            guard MCPClientInfo.protocolVersions.contains(result.protocolVersion) else {
                await client.disconnect()
                throw MCPCallError.unavailable("the MCP server \(label) speaks protocol \(result.protocolVersion); Parley speaks \(MCPClientInfo.protocolVersions.joined(separator: " and "))")
            }
            return (client, transport, result.protocolVersion)
        }
        connecting = task
        do {
            let (client, transport, version) = try await task.value
            connecting = nil
            guard generation == mine else {
                await client.disconnect()
                throw MCPCallError.unavailable("the connection to the MCP server \(label) was closed while it started")
            }
            negotiatedVersion = version
            self.client = client
            self.transport = transport
            startedAt = ContinuousClock.now
            return client
        } catch {
            if generation == mine { connecting = nil }
            if error is CancellationError && !Task.isCancelled {
                throw MCPCallError.unavailable("the MCP server \(label) stopped while it started (check its command, arguments and environment)")
            }
            throw Self.describe(error, label: label)
        }
    }

    /// The process ended (or the stream broke): pending calls fail now, the next call restarts it.
    func died(generation dead: Int) async {
        guard dead == generation else { return }
        if let connecting {
            // It ended before answering `initialize`: the start fails now rather than at its timeout.
            connecting.cancel()
            quickDeaths += 1
            let wait = Self.backoff(afterQuickDeaths: quickDeaths)
            notBefore = wait > .zero ? ContinuousClock.now + wait : nil
            return
        }
        guard let client else { return }
        self.client = nil
        let lived = startedAt.map { ContinuousClock.now - $0 } ?? .zero
        quickDeaths = lived < .seconds(10) ? quickDeaths + 1 : 1
        let wait = Self.backoff(afterQuickDeaths: quickDeaths)
        notBefore = wait > .zero ? ContinuousClock.now + wait : nil
        logger.notice("MCP server connection ended", metadata: ["server": "\(label)", "restart_in_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)"])
        await client.disconnect()
    }

    /// Closes the connection (the process is stopped: SIGTERM, then SIGKILL).
    func close() async {
        generation += 1
        connecting?.cancel()
        connecting = nil
        if let client {
            self.client = nil
            await client.disconnect()
        }
    }

    /// Runs `body` on the connected client; a lost HTTP session is re-initialized once.
    private func using<T: Sendable>(timeout: Duration, _ body: @Sendable (MCP.Client) async throws -> T) async throws -> T {
        var retried = false
        while true {
            let client = try await connected(timeout: timeout)
            do {
                return try await body(client)
            } catch let error where (error is MCPSessionLost || error is MCPNotDelivered) && !retried {
                // The session is gone, or the process ended before the message reached it: a new
                // connection gets the call (it was not handled by the old one).
                logger.info("MCP connection lost; connecting again", metadata: ["server": "\(label)", "error": "\(error)"])
                retried = true
                if self.client === client {
                    self.client = nil
                    generation += 1
                    await client.disconnect()
                }
            } catch {
                throw Self.describe(error, label: label)
            }
        }
    }

    func listTools(timeout: Duration) async throws -> [MCP.Tool] {
        let label = self.label
        return try await using(timeout: timeout) { client in
            var all: [MCP.Tool] = []
            var cursor: String?
            repeat {
                let after = cursor
                let page = try await Self.withTimeout(timeout, label: label, what: "list its tools") {
                    try await client.listTools(cursor: after)
                }
                all += page.tools
                cursor = page.nextCursor
            } while cursor != nil && all.count < 10_000
            return all
        }
    }

    func ping(timeout: Duration) async throws {
        let label = self.label
        try await using(timeout: timeout) { client in
            try await Self.withTimeout(timeout, label: label, what: "answer a ping") { try await client.ping() }
        }
    }

    func callTool(_ name: String, arguments: [String: Value], timeout: Duration) async throws -> CallTool.Result {
        let label = self.label
        return try await using(timeout: timeout) { client in
            let context: RequestContext<CallTool.Result> = try await client.callTool(name: name, arguments: arguments)
            let timedOut = Flag()
            let timer = Task {
                try await Task.sleep(for: timeout)
                timedOut.set()
                try? await client.cancelRequest(context.requestID, reason: "Parley's time limit of \(timeout) passed")
            }
            defer { timer.cancel() }
            do {
                return try await withTaskCancellationHandler {
                    try await context.value
                } onCancel: {
                    Task { try? await client.cancelRequest(context.requestID, reason: "the caller went away") }
                }
            } catch {
                if timedOut.isSet {
                    throw MCPCallError.timeout("the MCP server \(label) did not answer within \(Self.seconds(timeout))")
                }
                throw error
            }
        }
    }

    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }

    /// Races `body` against a timer without waiting for a body that ignores cancellation.
    static func withTimeout<T: Sendable>(_ limit: Duration, label: String, what: String, _ body: @escaping @Sendable () async throws -> T,
                                         onTimeout: @escaping @Sendable () async -> Void = {}) async throws -> T {
        let (stream, continuation) = AsyncStream.makeStream(of: Result<T, any Error>.self, bufferingPolicy: .bufferingNewest(2))
        let work = Task {
            do { continuation.yield(.success(try await body())) } catch { continuation.yield(.failure(error)) }
        }
        let timer = Task {
            try await Task.sleep(for: limit)
            continuation.yield(.failure(MCPCallError.timeout("the MCP server \(label) did not \(what) within \(MCPConnection.seconds(limit))")))
        }
        defer { timer.cancel() }
        let first = await withTaskCancellationHandler {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next() ?? .failure(CancellationError())
        } onCancel: {
            continuation.yield(.failure(CancellationError()))
        }
        continuation.finish()
        if case .failure(let error) = first, error is MCPCallError {
            work.cancel()
            await onTimeout()
        }
        return try first.get()
    }

    /// Any failure as an `MCPCallError` (cancellation stays as it is).
    static func describe(_ error: any Error, label: String) -> any Error {
        switch error {
        case is MCPCallError, is CancellationError, is MCPSessionLost: return error
        case let e as MCPNotDelivered: return MCPCallError.unavailable("the MCP server \(label) is not running: \(e.description)")
        case let e as MCPError:
            switch e {
            case .internalError(let m) where (m ?? "").contains("disconnected"):
                return MCPCallError.unavailable("the MCP server \(label) stopped during the call")
            default:
                return MCPCallError.protocolError("the MCP server \(label) answered an error: \(e.localizedDescription.prefix(300))")
            }
        case let e as MCPProcessError: return MCPCallError.unavailable(e.message)
        case let e as MCPHTTPError: return MCPCallError.unavailable(e.description)
        default: return MCPCallError.unavailable("the MCP server \(label) could not be reached: \(String(describing: error).prefix(300))")
        }
    }
}

/// A flag set once, read from any task.
final class Flag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// The live connections of this process, one per (tenant, server), replaced when the server's
/// settings change and closed at shutdown.
final class MCPConnections: Sendable {
    private let connections = Mutex<[String: MCPConnection]>([:])
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func connection(tenantID: String, serverID: String, label: String, fingerprint: String,
                    factory: @escaping TransportFactory) async -> MCPConnection {
        let key = tenantID + "/" + serverID
        let (connection, stale) = connections.withLock { all -> (MCPConnection, MCPConnection?) in
            if let existing = all[key], existing.fingerprint == fingerprint { return (existing, nil) }
            let fresh = MCPConnection(label: label, fingerprint: fingerprint, factory: factory, logger: logger)
            let old = all[key]
            all[key] = fresh
            return (fresh, old)
        }
        if let stale { await stale.close() }
        return connection
    }

    /// Closes one server's connection (deleted, disabled, or found down).
    func close(tenantID: String, serverID: String) async {
        let c = connections.withLock { $0.removeValue(forKey: tenantID + "/" + serverID) }
        await c?.close()
    }

    func closeAll() async {
        let all = connections.withLock { all -> [MCPConnection] in
            defer { all = [:] }
            return Array(all.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for c in all { group.addTask { await c.close() } }
        }
    }
}
