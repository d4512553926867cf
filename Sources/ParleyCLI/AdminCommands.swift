import ArgumentParser
import Foundation
import Logging
import ParleyComms
import ParleyCore
import ParleyPlatform
import ParleyAgent
import ParleyApp
import ParleyStorage

/// Runs `body` against the configured database, turning domain errors into one line and exit 1.
func withStore(_ common: CommonOptions, _ body: (any Store) async throws -> Void) async throws {
    let config = try common.load()
    let store = await openStore(config, logger: Logger(label: "parley"))
    do {
        try await body(store)
    } catch let e as ParleyError {
        await store.shutdown()
        fail(e.message)
    } catch {
        await store.shutdown()
        fail("\(error)")
    }
    await store.shutdown()
}

func cliContext(_ tenant: Tenant) -> ActionContext {
    ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "cli"), requestID: nil)
}

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tenant", abstract: "Create, change and list tenants.",
                                                    subcommands: [Create.self, Update.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Display name, e.g. \"Smith & Jones LLP\".") var name: String
        @Option(help: "URL-safe identifier (default: derived from the name).") var slug: String?
        @Option(name: .customLong("time-zone"), help: "IANA time zone for schedules and quiet hours.") var timeZone = "UTC"

        func run() async throws {
            try await withStore(common) { store in
                let t = try await TenantService(store: store, clock: SystemClock()).create(name: name, slug: slug, timeZone: timeZone, actor: "cli")
                print("created tenant \(t.slug) (\(t.id))")
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename a tenant or move it to another time zone; its schedules follow the new zone.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Tenant id or slug, e.g. default.") var tenant: String
        @Option(help: "New display name.") var name: String?
        @Option(name: .customLong("time-zone"), help: "New IANA time zone, e.g. America/Chicago.") var timeZone: String?

        func run() async throws {
            guard name != nil || timeZone != nil else { fail("give --name and/or --time-zone", code: 2) }
            try await withStore(common) { store in
                let service = TenantService(store: store, clock: SystemClock())
                let t = try await service.changeSettings(cliContext(try await service.resolve(tenant)), .init(name: name, timeZone: timeZone))
                print("updated tenant \(t.slug): name '\(t.name)', time zone \(t.timeZone)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await withStore(common) { store in
                let all = try await TenantService(store: store, clock: SystemClock()).list()
                print(table(["ID", "SLUG", "NAME", "TIME ZONE"], all.map { [$0.id, $0.slug, $0.name, $0.timeZone] }))
            }
        }
    }
}

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apikey", abstract: "Create, list and revoke API keys.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; its secret is printed once.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Tenant id or slug.") var tenant = "default"
        @Option(help: "admin, operator, viewer or service.") var role: String
        @Option(help: "A label for people reading the key list.") var name = "cli"
        @Option(name: .customLong("expires-in"), help: "Lifetime such as 90d, 12h or 30m (default: never expires).") var expiresIn: String?

        func run() async throws {
            guard let role = Role(rawValue: role), Role.keyRoles.contains(role) else {
                fail("invalid --role '\(role)': accepts \(Role.keyRoles.map(\.rawValue).joined(separator: ", "))", code: 2)
            }
            var expiresAt: Date?
            if let expiresIn {
                guard let seconds = parseLifetime(expiresIn) else { fail("invalid --expires-in '\(expiresIn)': accepts a number followed by d, h or m, e.g. 90d", code: 2) }
                expiresAt = Date().addingTimeInterval(seconds)
            }
            try await withStore(common) { store in
                let t = try await TenantService(store: store, clock: SystemClock()).resolve(tenant)
                let key = try await APIKeyService(store: store, clock: SystemClock())
                    .create(cliContext(t), name: name, role: role, expiresAt: expiresAt)
                print("created \(key.role.rawValue) key \(key.id) for tenant \(t.slug)")
                print("secret (shown once): \(key.secret ?? "")")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's API keys (never their secrets).")
        @OptionGroup var common: CommonOptions
        @Option(help: "Tenant id or slug.") var tenant = "default"

        func run() async throws {
            try await withStore(common) { store in
                let t = try await TenantService(store: store, clock: SystemClock()).resolve(tenant)
                let keys = try await APIKeyService(store: store, clock: SystemClock()).list(cliContext(t).principal)
                let now = Date()
                print(table(["ID", "NAME", "ROLE", "PREFIX", "STATE", "EXPIRES"], keys.map { k in
                    let state = k.revokedAt != nil ? "revoked" : (k.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active"
                    return [k.id, k.name, k.role.rawValue, k.prefix, state, k.expiresAt.map(Timestamps.format) ?? "never"]
                }))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key; requests using it get 401 from then on.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Tenant id or slug.") var tenant = "default"
        @Argument(help: "The key's id (from 'parley apikey list').") var id: String

        func run() async throws {
            try await withStore(common) { store in
                let t = try await TenantService(store: store, clock: SystemClock()).resolve(tenant)
                let key = try await APIKeyService(store: store, clock: SystemClock()).revoke(cliContext(t), id: id)
                print("revoked key \(key.id) (\(key.name))")
            }
        }
    }
}

func parseLifetime(_ text: String) -> TimeInterval? {
    guard let unit = text.last, let n = Double(text.dropLast()), n > 0 else { return nil }
    switch unit {
    case "d": return n * 86_400
    case "h": return n * 3_600
    case "m": return n * 60
    default: return nil
    }
}

func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }.joined(separator: "\n")
}
