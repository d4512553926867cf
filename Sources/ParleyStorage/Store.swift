import Foundation
import ParleyCore
import SQLKit

public enum DatabaseKind: String, Sendable { case sqlite, postgres }

/// Connection figures for `/metrics`.
public struct PoolStats: Sendable {
    public var inUse: Int
    public var max: Int
}

/// The one data-access port. Repositories receive the `SQLDatabase` handed to `read` or
/// `transaction`, so several repositories (and a job enqueue, later) can share one transaction.
public protocol Store: Sendable {
    var kind: DatabaseKind { get }

    /// Runs read-only work on a pooled connection (SQLite: a reader; PostgreSQL: any connection).
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws. With a
    /// `lockKey`, concurrent callers holding the same key (in any process) run one after the other.
    func transaction<T: Sendable>(lockKey: Int64?, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Calls `onNotify` with each notification's payload on `channel` until the task is cancelled.
    /// PostgreSQL: LISTEN on a connection of its own (a `NOTIFY` is delivered when its
    /// transaction commits). SQLite has no such thing: this just waits to be cancelled, and
    /// in-process wake-ups do the job.
    func listen(channel: String, _ onNotify: @escaping @Sendable (String) -> Void) async throws

    func ping() async throws
    func poolStats() -> PoolStats
    func shutdown() async
}

extension Store {
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await transaction(lockKey: nil, body)
    }
}

/// Opens the store named by `DATABASE_URL` and checks that it answers, so a bad URL or a database
/// that is down stops start-up with one clear line rather than failing on the first request.
public enum Stores {
    public static func open(_ url: DatabaseURL, config: StoreOptions) async throws -> any Store {
        let store: any Store
        switch url {
        case .sqlite(let path):
            store = try await SQLiteStore.open(path: path, options: config)
        case .sqliteMemory:
            store = try await SQLiteStore.open(path: nil, options: config)
        case .postgres(let target):
            store = PostgresStore(target: target, options: config)
        }
        do {
            try await store.ping()
        } catch {
            await store.shutdown()
            throw error
        }
        return store
    }
}

public struct StoreOptions: Sendable {
    public var maxConnections: Int
    public var timeout: Duration
    public var sqliteBusyTimeoutMilliseconds: Int

    public init(maxConnections: Int = 10, timeout: Duration = .seconds(5), sqliteBusyTimeoutMilliseconds: Int = 5000) {
        self.maxConnections = maxConnections
        self.timeout = timeout
        self.sqliteBusyTimeoutMilliseconds = sqliteBusyTimeoutMilliseconds
    }

    public init(_ config: ParleyConfig) {
        self.init(maxConnections: config.dbMaxConnections,
                  timeout: .milliseconds(config.dbTimeoutMilliseconds),
                  sqliteBusyTimeoutMilliseconds: config.sqliteBusyTimeoutMilliseconds)
    }
}
