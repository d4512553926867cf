import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyServer
import ParleyStorage

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Parley: a self-hosted AI communications agent server.",
        subcommands: [Serve.self, Worker.self, Migrate.self, TenantCommand.self, APIKeyCommand.self, JobsCommand.self, SchedulesCommand.self, BenchQueue.self,
                      SeedCommand.self, BenchLegalSearch.self, Version.self],
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
            let config = try ParleyConfig.load(ConfigSources(flags: flags, environment: ProcessInfo.processInfo.environment, file: file))
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

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server and background services until SIGTERM or SIGINT.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Address to listen on (HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (PORT, default 8080; 0 picks a free port).") var port: String?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["HOST"] = host
        flags["PORT"] = port
        let config = try common.load(extra: flags)
        let logger = Logger(label: "parley")
        let store = await openStore(config, logger: logger)
        let clock = SystemClock()
        let boot: BootstrapResult?
        do {
            boot = try await Bootstrap(store: store, clock: clock).run(presetAdminKey: config.adminKey, timeZone: config.defaultTimeZone)
        } catch {
            await store.shutdown()
            fail("first-start setup failed: \(error)")
        }
        // First start: a one-time console sign-in link for the admin key (a fragment, so the token
        // never reaches an access log). Without it the admin can still sign in with the key.
        var token: String?
        if let boot {
            do {
                token = try await ConsoleSessionService(store: store, clock: clock, settings: .init(config))
                    .issueSignInToken(tenantID: boot.tenant.id, keyID: boot.adminKeyID)
            } catch {
                logger.warning("could not create the console sign-in link: \(error)")
            }
        }
        let signInToken = token
        let keyring = await loadKeyring(config, store: store, logger: logger)
        let deps = ServerDependencies(config: config, store: store, clock: clock, logger: logger, migrations: ParleySchema.migrations,
                                      keyring: keyring)
        let databaseDescription = config.databaseURL.description
        let app = buildApplication(deps) { host, port in
            let url = config.publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            var lines = ["Parley \(ParleyVersion.current) listening on \(url) (database: \(databaseDescription))"]
            if let boot {
                lines.append("First start: created tenant '\(boot.tenant.slug)' with an admin API key.")
                if let secret = boot.adminSecret {
                    lines.append("Admin API key (shown once, store it now): \(secret)")
                    lines.append("Try: curl -H 'Authorization: Bearer \(secret)' \(url)/v1/tenant")
                } else {
                    lines.append("Admin API key: the value of PARLEY_ADMIN_KEY.")
                }
                if let signInToken {
                    lines.append("Sign in to the console: \(url.hasSuffix("/") ? url : url + "/")#signin=\(signInToken)")
                }
            }
            // Written unbuffered: scripts and tests wait for this line.
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
        do {
            try await runUntilSignalled(app, logger: logger)
        } catch {
            logger.error("server stopped with an error", metadata: ["error": "\(error)"])
            await store.shutdown()
            throw ExitCode(1)
        }
        await store.shutdown()
        logger.info("stopped")
    }
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
                    print(s.appliedAt.map { "applied  \(JSONCoding.format($0))  \(s.id)" } ?? "pending  \(String(repeating: " ", count: 24))  \(s.id)")
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
