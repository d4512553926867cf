import ArgumentParser
import Foundation
import Logging
import ParleyApp
import ParleyCore
import ParleyPlatform
import ParleyServer
import ParleyStorage

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
        var deps = ServerDependencies(config: config, store: store, clock: clock, logger: logger, migrations: ParleySchema.migrations,
                                      keyring: keyring, packs: try AppAssembly.enabledPacks(config))
        deps.mcpBuiltins = AppAssembly.mcpBuiltins
        let databaseDescription = config.databaseURL.description
        let app = try buildApplication(deps) { host, port in
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
