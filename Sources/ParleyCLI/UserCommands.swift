import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyPlatform

/// `parley user create`: the first accounts (an installation administrator in particular) before
/// anyone can sign in to invite others (docs/accounts.md).
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Create people's accounts.",
                                                    subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account with a password (read from the first line of standard input) in a tenant.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Email address (the sign-in name).") var email: String
        @Option(help: "Tenant id or slug the account is a member of.") var tenant: String
        @Option(help: "Role in the tenant: admin, operator or viewer.") var role = "admin"
        @Option(help: "Display name.") var name: String?
        @Flag(name: .customLong("installation-admin"), help: "May create, change, suspend and delete tenants (/v1/admin/tenants).")
        var installationAdmin = false

        func run() async throws {
            guard let role = Role(rawValue: role), [.admin, .operator, .viewer].contains(role) else {
                fail("--role must be admin, operator or viewer", code: 2)
            }
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                fail("write the password on standard input, e.g. printf '%s\\n' \"$PASSWORD\" | parley user create ...", code: 2)
            }
            let config = try common.load()
            try await withStore(common) { store in
                let clock = SystemClock()
                let t = try await TenantService(store: store, clock: clock).resolve(tenant)
                // Creating an account signs no token, so no installation key is needed here.
                let accounts = AccountService(store: store, clock: clock, keyring: .random(), settings: config.accounts,
                                              mailer: NoAccountMail(), logger: Logger(label: "parley"))
                let u = try await accounts.createUser(email: email, password: password, name: name, tenantID: t.id, role: role,
                                                      installationAdmin: installationAdmin, actor: "cli")
                print("created user \(u.email) (\(u.id)) as \(u.role.rawValue) in \(t.slug)" + (u.installationAdmin ? ", installation administrator" : ""))
            }
        }
    }
}
