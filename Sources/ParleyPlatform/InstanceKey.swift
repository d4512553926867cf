import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// Binds a database to one secret key: the first process records the key's check value, every
/// later one must match it. A replica started with a different key stops at once with a clear
/// message instead of writing secrets the others cannot read.
public struct InstanceKeyCheck: Sendable {
    let store: any Store
    let clock: any Clock

    public init(store: any Store, clock: any Clock) {
        self.store = store
        self.clock = clock
    }

    public enum Outcome: Sendable, Equatable { case recorded, matches }

    public func verify(_ keyring: Keyring) async throws -> Outcome {
        let check = keyring.checkValue
        let now = clock.now()
        return try await store.transaction { db in
            // Two processes starting at once: the first insert wins, the other compares with it.
            let inserted = try await db.raw("""
                INSERT INTO instance_settings (name, value, updated_at) VALUES ('secret_key_check', \(bind: check), \(bind: now))
                ON CONFLICT (name) DO NOTHING RETURNING name
                """).all()
            if !inserted.isEmpty { return .recorded }
            let stored = try await db.raw("SELECT value FROM instance_settings WHERE name = 'secret_key_check'").first()?
                .decode(column: "value", as: String.self)
            guard stored == check else {
                throw ParleyError(.conflict, code: "secret_key_mismatch",
                                  "this database's secrets were sealed with another key; start with the same PARLEY_SECRET_KEY (or key file) as the other replicas")
            }
            return .matches
        }
    }
}
