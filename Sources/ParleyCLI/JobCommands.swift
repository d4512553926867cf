import ArgumentParser
import Foundation
import Logging
import ParleyComms
import ParleyCore
import ParleyApp
import ParleyStorage

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the communications worker (queue) without the HTTP API, until SIGTERM or SIGINT.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.load()
        let logger = Logger(label: "parley")
        let store = await openStore(config, logger: logger)
        let keyring = await loadKeyring(config, store: store, logger: logger)
        FileHandle.standardOutput.write(Data("Parley \(ParleyVersion.current) worker running (database: \(config.databaseURL))\n".utf8))
        do {
            try await runWorkerUntilSignalled(config: config, store: store, clock: SystemClock(), logger: logger, keyring: keyring,
                                              packs: try AppAssembly.enabledPacks(config))
        } catch {
            logger.error("worker stopped with an error", metadata: ["error": "\(error)"])
            await store.shutdown()
            throw ExitCode(1)
        }
        await store.shutdown()
    }
}

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List, retry and cancel communication jobs.",
                                                    subcommands: [List.self, Retry.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Only jobs in this state: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")).") var state: String?
        @Option(help: "At most this many jobs.") var limit: Int = 50

        func run() async throws {
            let wanted: JobState?
            if let state {
                guard let s = JobState(rawValue: state) else { fail("unknown state '\(state)'; use one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))", code: 2) }
                wanted = s
            } else {
                wanted = nil
            }
            try await withStore(common) { store in
                let jobs = try await JobQueue(store: store, clock: SystemClock()).list(tenantID: nil, state: wanted, before: nil, limit: max(1, limit))
                print(table(["ID", "TENANT", "TYPE", "STATE", "ATTEMPTS", "RUN AT", "LAST ERROR"], jobs.map {
                    [$0.id, $0.tenantID, $0.type, $0.state.rawValue, "\($0.attempts)/\($0.maxAttempts)", ISO8601DateFormatter().string(from: $0.runAt),
                     String(($0.lastError ?? "").prefix(60))]
                }))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a dead, cancelled or waiting job again now.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The job id.") var id: String

        func run() async throws {
            try await withStore(common) { store in
                let job = try await JobQueue(store: store, clock: SystemClock()).retry(tenantID: nil, id: id)
                print("job \(job.id) is queued again")
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a job that has not run yet.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The job id.") var id: String

        func run() async throws {
            try await withStore(common) { store in
                let job = try await JobQueue(store: store, clock: SystemClock()).cancel(tenantID: nil, id: id)
                print("job \(job.id) is cancelled")
            }
        }
    }
}

struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedules", abstract: "Show the recurring tasks the scheduler runs.",
                                                    subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every tenant's scheduled tasks with their last and next run.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await withStore(common) { store in
                let tasks = try await Scheduler(store: store, clock: SystemClock(), definitions: [], logger: Logger(label: "parley"))
                    .tasks(tenantID: nil)
                let iso = ISO8601DateFormatter()
                print(table(["NAME", "TENANT", "ENABLED", "NEXT RUN", "LAST RUN", "RUNS"], tasks.map {
                    [$0.name, $0.tenantID, $0.enabled ? "yes" : "no", iso.string(from: $0.nextRunAt), $0.lastRunAt.map(iso.string) ?? "-", "\($0.runs)"]
                }))
            }
        }
    }
}
