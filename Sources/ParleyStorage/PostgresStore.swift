import Foundation
import Logging
import NIOSSL
import ParleyCore
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgreSQL through `PostgresClient`'s pool. The client's `run()` lives in a task owned by the
/// store, so the CLI and the server use the store the same way.
public final class PostgresStore: Store {
    public let kind = DatabaseKind.postgres
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let timeout: Duration
    private let maxConnections: Int
    private let inUse = AtomicCounter()
    private let logger: Logger
    /// Until when leases race the timeout; set by any sign that the database is unreachable.
    private let degradedUntil = Mutex<ContinuousClock.Instant?>(nil)
    private static let degradedFor: Duration = .seconds(30)

    public init(target: DatabaseURL.PostgresTarget, options: StoreOptions, logger: Logger = Logger(label: "parley.postgres")) {
        let tls: PostgresClient.Configuration.TLS
        switch target.tls {
        case .disable: tls = .disable
        case .prefer, .require:
            var unverified = TLSConfiguration.makeClientConfiguration()
            unverified.certificateVerification = .none
            tls = target.tls == .prefer ? .prefer(unverified) : .require(unverified)
        case .verifyFull: tls = .require(.makeClientConfiguration())
        }
        var config = PostgresClient.Configuration(
            host: target.host, port: target.port, username: target.user,
            password: target.password, database: target.database, tls: tls)
        config.options.maximumConnections = options.maxConnections
        config.options.connectTimeout = options.timeout
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.client = client
        self.runner = Task { await client.run() }
        self.timeout = options.timeout
        self.maxConnections = options.maxConnections
        self.logger = logger
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await leased { conn in try await body(conn.sql(queryLogLevel: nil)) }
    }

    public func transaction<T: Sendable>(lockKey: Int64?, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await leased { [logger] conn in
            try await conn.withTransaction(logger: logger) { conn in
                let db = conn.sql(queryLogLevel: nil)
                if let lockKey {
                    try await db.raw("SELECT pg_advisory_xact_lock(\(bind: lockKey))").run()
                }
                return try await body(db)
            }
        }
    }

    /// Leases a connection. While the database looks healthy this is a plain lease; racing a
    /// timer on every query cost a third of the throughput (docs/benchmarks.md). Pings (start-up,
    /// `/ready`) always race the timeout, and once anything has seen the database unreachable every
    /// lease does, for a while, so callers get a quick 503 instead of waiting on reconnects.
    private func leased<T: Sendable>(bounded: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let now = ContinuousClock.now
        let degraded = degradedUntil.withLock { until in until.map { now < $0 } ?? false }
        do {
            if bounded || degraded { return try await boundedLease(body) }
            let inUse = self.inUse
            return try await client.withConnection { conn in
                inUse.add(1)
                defer { inUse.add(-1) }
                return try await body(conn)
            }
        } catch {
            let mapped = StoreError.from(error)
            if case StoreError.unavailable = mapped {
                degradedUntil.withLock { $0 = ContinuousClock.now + Self.degradedFor }
            }
            throw mapped
        }
    }

    /// Fails with `unavailable` if no connection is handed out within the timeout (PostgreSQL down
    /// or the pool exhausted). The timeout covers the wait, not the work.
    private func boundedLease<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let started = AtomicFlag()
        let client = self.client
        let inUse = self.inUse
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { conn in
                    started.set()
                    inUse.add(1)
                    defer { inUse.add(-1) }
                    return try await body(conn)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                if started.isSet() { return nil }
                throw StoreError.unavailable("no PostgreSQL connection within \(timeout)")
            }
            while let next = try await group.next() {
                if let value = next {
                    group.cancelAll()
                    return value
                }
            }
            throw CancellationError()
        }
    }

    public func listen(channel: String, _ onNotify: @escaping @Sendable (String) -> Void) async throws {
        try await client.withConnection { conn in
            try await conn.listen(on: channel) { notifications in
                for try await n in notifications { onNotify(n.payload) }
            }
        }
    }

    public func ping() async throws {
        _ = try await leased(bounded: true) { conn in try await conn.sql(queryLogLevel: nil).raw("SELECT 1 AS one").first() }
    }

    public func poolStats() -> PoolStats {
        PoolStats(inUse: inUse.load(), max: maxConnections)
    }

    public func shutdown() async {
        runner.cancel()
        _ = await runner.value
    }
}
