import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyAgent
import ParleyApp
import ParleyStorage

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Parley: a self-hosted AI communications agent server.",
        subcommands: [Serve.self, Worker.self, Migrate.self, TenantCommand.self, APIKeyCommand.self, UserCommand.self, JobsCommand.self, SchedulesCommand.self, BenchQueue.self, BenchLimits.self,
                      SeedCommand.self, BenchCommand.self, ImportCommand.self, PurgeCommand.self, Version.self,
                      ConvertCommand.self],
        defaultSubcommand: nil
    )
}

/// Options every database-touching command shares. Flags override the environment and `.env`.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "Database URL (DATABASE_URL): sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB.")
    var databaseURL: String?

    @Option(name: .customLong("env-file"), help: "Read settings from this file instead of ./.env.")
    var envFile: String?

    @Option(name: .customLong("log-level"), help: "LOG_LEVEL: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "LOG_FORMAT: text or json.")
    var logFormat: String?

    func load(extra: [String: String] = [:]) throws -> ParleyConfig {
        var flags = extra
        flags["DATABASE_URL"] = databaseURL
        flags["LOG_LEVEL"] = logLevel
        flags["LOG_FORMAT"] = logFormat
        do {
            let file = try ConfigSources.loadEnvFile(path: envFile ?? ".env", required: envFile != nil)
            let config = try AppAssembly.loadConfig(ConfigSources(flags: flags, environment: ProcessInfo.processInfo.environment, file: file))
            LogSetup.bootstrapOnce(level: config.logLevel, format: config.logFormat)
            return config
        } catch {
            fail(error.description, code: 2)
        }
    }
}

enum LogSetup {
    nonisolated(unsafe) private static var done = false
    static func bootstrapOnce(level: Logger.Level, format: LogFormat) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { ParleyLogHandler(label: $0, level: level, format: format) }
    }
}

/// Prints one line to standard error and exits: start-up errors are for people, not stack traces.
func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("parley: \(message)\n".utf8))
    Foundation.exit(code)
}

/// The installation key, checked against the one this database was set up with.
func loadKeyring(_ config: ParleyConfig, store: any Store, logger: Logger) async -> Keyring {
    do {
        let (keyring, created) = try Keyring.load(configured: config.secretKey, file: config.secretKeyFile)
        if created { logger.notice("created the secret key file", metadata: ["file": .string(config.secretKeyFile)]) }
        _ = try await InstanceKeyCheck(store: store, clock: SystemClock()).verify(keyring)
        return keyring
    } catch {
        await store.shutdown()
        fail("\(error)")
    }
}

/// Opens the configured store and applies pending migrations.
func openStore(_ config: ParleyConfig, logger: Logger, migrate: Bool = true) async -> any Store {
    let store: any Store
    do {
        store = try await Stores.open(config.databaseURL, config: StoreOptions(config))
    } catch {
        fail("cannot use \(config.databaseURL): \(error)")
    }
    guard migrate else { return store }
    do {
        let applied = try await Migrator(store: store, migrations: ParleySchema.migrations).migrate(at: Date())
        if !applied.isEmpty { logger.info("applied migrations", metadata: ["migrations": .string(applied.joined(separator: ","))]) }
    } catch {
        await store.shutdown()
        fail("migrations failed on \(config.databaseURL): \(error)")
    }
    return store
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")

    @OptionGroup var common: CommonOptions
    @Flag(help: "List applied and pending migrations without applying any.") var status = false

    func run() async throws {
        let config = try common.load()
        let store = await openStore(config, logger: Logger(label: "parley"), migrate: false)
        let migrator = Migrator(store: store, migrations: ParleySchema.migrations)
        do {
            if status {
                for s in try await migrator.status() {
                    print(s.appliedAt.map { "applied  \(Timestamps.format($0))  \(s.id)" } ?? "pending  \(String(repeating: " ", count: 24))  \(s.id)")
                }
            } else {
                let applied = try await migrator.migrate(at: Date())
                print(applied.isEmpty ? "Nothing to apply: the database is up to date." : applied.map { "applied \($0)" }.joined(separator: "\n"))
            }
        } catch {
            await store.shutdown()
            fail("\(error)")
        }
        await store.shutdown()
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("parley \(ParleyVersion.current)") }
}
