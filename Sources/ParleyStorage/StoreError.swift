import Foundation
import NIOCore
import ParleyCore
import PostgresNIO
import SQLiteNIO

/// The same typed errors whichever database is underneath.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case uniqueViolation(String)
    /// The database cannot be reached or is busy beyond the configured timeout.
    case unavailable(String)
    case query(String)

    public var description: String {
        switch self {
        case .notFound(let what): return "not found: \(what)"
        case .uniqueViolation(let what): return "unique violation: \(what)"
        case .unavailable(let why): return "database unavailable: \(why)"
        case .query(let why): return "database error: \(why)"
        }
    }

    /// Classifies driver errors; anything already classified passes through.
    public static func from(_ error: any Error) -> any Error {
        switch error {
        case is StoreError, is ParleyError, is CancellationError:
            return error
        case let e as PostgresTransactionError:
            // The caller's own error wins: a rollback after a domain error is not a database failure.
            if let inner = e.closureError ?? e.beginError ?? e.commitError { return from(inner) }
            return StoreError.query("transaction failed")
        case let e as SQLiteError:
            switch e.reason {
            case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                return StoreError.uniqueViolation(e.message)
            case .constraint where e.message.contains("UNIQUE"):
                return StoreError.uniqueViolation(e.message)
            case .busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .lockedBySharedCache:
                return StoreError.unavailable("SQLite database is busy: \(e.message)")
            case .cantOpen, .cantOpenDirectory, .cantOpenInvalidPath, .readOnly, .readonlyDirectory, .ioError, .full, .permission, .notADatabase:
                return StoreError.unavailable("SQLite: \(e.message)")
            default:
                return StoreError.query(e.message)
            }
        case let e as PSQLError:
            if let state = e.serverInfo?[.sqlState] {
                if state == "23505" {
                    return StoreError.uniqueViolation(e.serverInfo?[.constraintName] ?? e.serverInfo?[.message] ?? "duplicate key")
                }
                // 08: connection exception; 57P0x: server shutting down or starting.
                if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" {
                    return StoreError.unavailable(e.serverInfo?[.message] ?? "PostgreSQL connection failed")
                }
                return StoreError.query(e.serverInfo?[.message] ?? "PostgreSQL error \(state)")
            }
            switch e.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                let cause = e.underlying.map { " (\($0))" } ?? ""
                return StoreError.unavailable("PostgreSQL connection failed\(cause)")
            case .authMechanismRequiresPassword, .unsupportedAuthMechanism, .saslError:
                return StoreError.unavailable("PostgreSQL authentication failed")
            case .sslUnsupported:
                return StoreError.unavailable("PostgreSQL server does not support TLS (use ?sslmode=disable)")
            default:
                return StoreError.query(String(describing: e.code))
            }
        case is NIOConnectionError, is ChannelError, is IOError:
            return StoreError.unavailable("connection failed: \(error)")
        default:
            return error  // not a driver error: the caller's own, passed through untouched
        }
    }
}
