import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyCore
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// SQLite in WAL mode: one writer connection (writes are serialised by SQLite anyway, so queuing them
/// here avoids busy-waiting) and a small pool of reader connections that read concurrently.
public final class SQLiteStore: Store {
    public let kind = DatabaseKind.sqlite
    private let writer: SQLiteConnection
    private let writerGate = AsyncSemaphore(value: 1)
    private let readers: [SQLiteConnection]
    private let readerGate: AsyncSemaphore
    private let freeReaders: Mutex<[Int]>
    private let inUse = AtomicCounter()
    private let threads: NIOThreadPool

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], threads: NIOThreadPool) {
        self.threads = threads
        self.writer = writer
        self.readers = readers
        self.readerGate = AsyncSemaphore(value: readers.count)
        self.freeReaders = Mutex(Array(readers.indices))
    }

    /// `path == nil` opens a private in-memory database (one connection serves reads and writes).
    public static func open(path: String?, options: StoreOptions, logger: Logger = Logger(label: "parley.sqlite")) async throws -> SQLiteStore {
        if let path {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw StoreError.unavailable("cannot open SQLite database \(path): directory \(dir) does not exist")
            }
        }
        let storage: SQLiteConnection.Storage = path.map { .file(path: $0) } ?? .memory
        let readerCount = path == nil ? 0 : min(max(options.maxConnections, 1), 8)
        // SQLite calls block their thread (busy_timeout waits too), so each connection gets a
        // thread of its own: a waiting connection can never starve the one holding the lock.
        let threads = NIOThreadPool(numberOfThreads: readerCount + 1)
        threads.start()
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        var opened: [SQLiteConnection] = []
        do {
            let writer = try await SQLiteConnection.open(storage: storage, threadPool: threads, logger: logger, on: loop)
            opened.append(writer)
            try await configure(writer, busyTimeout: options.sqliteBusyTimeoutMilliseconds, isWriter: true)
            var readers: [SQLiteConnection] = []
            if readerCount > 0 {
                for _ in 0..<readerCount {
                    let r = try await SQLiteConnection.open(storage: storage, threadPool: threads, logger: logger, on: loop)
                    opened.append(r)
                    try await configure(r, busyTimeout: options.sqliteBusyTimeoutMilliseconds, isWriter: false)
                    readers.append(r)
                }
            }
            return SQLiteStore(writer: writer, readers: readers, threads: threads)
        } catch {
            for c in opened { try? await c.close() }
            try? await threads.shutdownGracefully()
            if let e = error as? SQLiteError {
                throw StoreError.unavailable("cannot open SQLite database \(path ?? ":memory:"): \(e.message)")
            }
            throw StoreError.from(error)
        }
    }

    private static func configure(_ c: SQLiteConnection, busyTimeout: Int, isWriter: Bool) async throws {
        let db = c.sql()
        // busy_timeout replaces the driver's default handler, which retries in a tight loop.
        try await db.raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyTimeout))").run()
        if isWriter {
            // Switching a new file to WAL needs an exclusive lock and SQLite does not call the busy
            // handler for it, so two processes opening a new database at once retry here.
            var waited = 0
            while true {
                do {
                    try await db.raw("PRAGMA journal_mode = WAL").run()
                    break
                } catch let e as SQLiteError where (e.reason == .busy || e.reason == .locked) && waited < busyTimeout {
                    try await Task.sleep(for: .milliseconds(10))
                    waited += 10
                }
            }
        }
        try await db.raw("PRAGMA synchronous = NORMAL").run()
        try await db.raw("PRAGMA foreign_keys = ON").run()
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        guard !readers.isEmpty else {
            return try await onWriter { try await body($0.sql()) }
        }
        do {
            return try await readerGate.withPermit {
                let index = freeReaders.withLock { $0.removeLast() }
                defer { freeReaders.withLock { $0.append(index) } }
                inUse.add(1)
                defer { inUse.add(-1) }
                return try await body(readers[index].sql())
            }
        } catch {
            throw StoreError.from(error)
        }
    }

    public func transaction<T: Sendable>(lockKey: Int64?, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        // BEGIN IMMEDIATE takes SQLite's write lock up front, so `lockKey` needs nothing more: other
        // processes on the same file wait (busy_timeout) until we commit.
        try await onWriter { conn in
            let db = conn.sql()
            do {
                try await db.raw("BEGIN IMMEDIATE").run()
            } catch {
                // A transaction left open on the shared writer would refuse every later BEGIN:
                // close it and start again (it can only be one whose end was lost).
                await Self.rollback(db)
                try await db.raw("BEGIN IMMEDIATE").run()
            }
            do {
                let result = try await body(db)
                try await db.raw("COMMIT").run()
                return result
            } catch {
                await Self.rollback(db)
                throw error
            }
        }
    }

    /// Rolls back even when the caller's task was cancelled (the usual reason a body throws):
    /// a cancelled ROLLBACK would leave the shared writer inside the transaction.
    private static func rollback(_ db: any SQLDatabase) async {
        await Task { try? await db.raw("ROLLBACK").run() }.value
    }

    private func onWriter<T: Sendable>(_ body: @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        do {
            return try await writerGate.withPermit {
                inUse.add(1)
                defer { inUse.add(-1) }
                return try await body(writer)
            }
        } catch {
            throw StoreError.from(error)
        }
    }

    public func listen(channel: String, _ onNotify: @escaping @Sendable (String) -> Void) async throws {
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }

    public func ping() async throws {
        _ = try await read { db in try await db.raw("SELECT 1 AS one").first() }
    }

    public func poolStats() -> PoolStats {
        PoolStats(inUse: inUse.load(), max: readers.count + 1)
    }

    public func shutdown() async {
        for c in readers { try? await c.close() }
        try? await writer.close()
        try? await threads.shutdownGracefully()
    }
}
