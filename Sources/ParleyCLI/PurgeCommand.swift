import ArgumentParser
import Foundation
import Logging
import ParleyApp
import ParleyCore
import ParleyPackKit
import ParleyStorage

/// `parley purge [--dry-run]`: the retention purge (docs/soft-delete.md) once, now.
struct PurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Purge rows soft-deleted longer ago than PARLEY_RETENTION_DAYS (and expired tokens) now; print counts per table.")

    @OptionGroup var common: CommonOptions
    @Flag(name: .customLong("dry-run"), help: "Count what would be purged, then roll back: nothing is deleted.") var dryRun = false

    func run() async throws {
        let config = try common.load()
        let logger = Logger(label: "parley")
        let store = await openStore(config, logger: logger)
        let purge = RetentionPurge(store: store, clock: SystemClock(), config: config, packs: ParleySchema.packs, logger: logger)
        let rows: [PurgedRows]
        do {
            rows = try await purge.run(dryRun: dryRun)
        } catch {
            await store.shutdown()
            fail("the purge failed: \(error)")
        }
        await store.shutdown()
        let verb = dryRun ? "would purge" : "purged"
        print("Retention: \(config.retention.days) days\(dryRun ? " (dry run: nothing deleted)" : "").")
        if rows.isEmpty {
            print("Nothing to purge.")
        } else {
            print(table(["TABLE", verb.uppercased()], rows.map { [$0.table, "\($0.rows)"] }))
        }
    }
}
