import Foundation
import ParleyCore
import ParleyStorage
import Synchronization

/// `/ready`: the database answers and every migration this binary knows is applied.
public final class Readiness: Sendable {
    let store: any Store
    let migrator: Migrator
    /// Once complete, migrations cannot become pending again while this process runs.
    private let migrated = Atomic<Bool>(false)

    public init(store: any Store, migrations: [Migration]) {
        self.store = store
        self.migrator = Migrator(store: store, migrations: migrations)
    }

    /// nil when ready, otherwise the reason.
    public func check() async -> String? {
        do {
            try await store.ping()
            if !migrated.load(ordering: .relaxed) {
                let pending = try await migrator.pending()
                guard pending.isEmpty else { return "migrations pending: \(pending.joined(separator: ", "))" }
                migrated.store(true, ordering: .relaxed)
            }
            return nil
        } catch let e as StoreError {
            return e.description
        } catch {
            return "database check failed: \(error)"
        }
    }
}
