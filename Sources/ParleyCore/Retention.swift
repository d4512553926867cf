import Foundation

/// Soft delete's one rule (docs/soft-delete.md): a deleted resource is hidden, reads of it answer
/// 404 with a code `<resource>_deleted` and the date until which it can be restored
/// (`POST .../{id}/restore`), and `PARLEY_RETENTION_DAYS` after its deletion the maintenance task
/// purges it; restoring it after that answers 404 `restore_window_passed` (or, once purged,
/// `<resource>_not_found`).
public struct Retention: Sendable, Equatable {
    public var days: Int

    public init(days: Int = 30) { self.days = days }

    public static let standard = Retention()

    public static func format(_ date: Date) -> String { Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date) }

    public var interval: TimeInterval { TimeInterval(days) * 86_400 }

    /// The last moment a resource deleted at `deletedAt` can be restored.
    public func restorableUntil(_ deletedAt: Date) -> Date { deletedAt.addingTimeInterval(interval) }

    /// Rows deleted before this are purged.
    public func cutoff(now: Date) -> Date { now.addingTimeInterval(-interval) }

    /// 404 `<code>`: the resource was deleted and can be restored with `restore` until a date.
    public func deleted(_ what: String, code: String, restore: String, deletedAt: Date) -> ParleyError {
        .notFound("\(what) was deleted; restore it with POST \(restore) until \(Self.format(restorableUntil(deletedAt)))", code: code)
    }

    /// Throws 404 `restore_window_passed` when a resource deleted at `deletedAt` is past retention.
    public func requireRestorable(_ what: String, deletedAt: Date, now: Date) throws(ParleyError) {
        guard now <= restorableUntil(deletedAt) else {
            throw .notFound("\(what) was deleted on \(Self.format(deletedAt)), more than \(days) days ago (PARLEY_RETENTION_DAYS), and can no longer be restored",
                            code: "restore_window_passed")
        }
    }
}
