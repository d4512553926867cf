import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyApp
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import SQLKit
import Testing

/// The example from docs/packs.md: a pack written only against ParleyPackKit, installed by one
/// line (`ExamplePack.installed`).
enum ExamplePack {
    static let installed = ParleySchema.packs + [pack]

    static let pack = DomainPack(
        name: "notes",
        migrations: [Migration("notes_0001_notes", ["""
            CREATE TABLE notes_notes (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                text TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL
            )
            """])],
        tools: [addNote],
        settings: [PackSetting("PARLEY_NOTES_PREFIX", default: "", "Put before every note")],
        validateSettings: { config throws(ConfigError) in _ = try prefix(config) },
        bind: { context in
            let prefix = try prefix(context.config)
            return PackRuntime(
                services: [NotesPrefix(text: prefix)],
                triggers: [TriggerDefinition(name: "notes.tick", summary: "Writes a note every minute", defaultSchedule: .every(seconds: 60)) { o in
                    try await insert(tenantID: o.tenantID, text: prefix + "tick", at: context.clock.now(), on: o.db)
                }],
                routes: { r in
                    r.on(.get, "/notes") { _, ctx in
                        let tenantID = try ctx.caller().tenantID
                        let texts = try await context.store.read { db in
                            try await db.raw("SELECT text FROM notes_notes WHERE tenant_id = \(bind: tenantID) ORDER BY id").all()
                                .map { try $0.decode(column: "text", as: String.self) }
                        }
                        return RawJSON(value: ["data": .array(texts.map { .string($0) })])
                    }
                })
        })

    struct NotesPrefix: Sendable { var text: String }

    static func prefix(_ config: ParleyConfig) throws(ConfigError) -> String {
        try ConfigReader(sources: config.sources).string("PARLEY_NOTES_PREFIX", default: "", accepts: "at most 20 characters") { $0.count <= 20 }
    }

    static func insert(tenantID: String, text: String, at now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("INSERT INTO notes_notes (id, tenant_id, text, created_at) VALUES (\(bind: UUIDv7.make(at: now)), \(bind: tenantID), \(bind: text), \(bind: now))").run()
    }

    static let addNote = Tool(
        name: "add_note", description: "Write a note.",
        inputSchema: ["type": "object", "properties": ["text": ["type": "string", "minLength": 1, "maxLength": 200]], "required": ["text"],
                      "additionalProperties": false],
        permission: .act
    ) { input, ctx in
        let text = (ctx.services[NotesPrefix.self]?.text ?? "") + (input["text"]?.stringValue ?? "")
        let tenantID = ctx.tenantID, now = ctx.clock.now()
        try await ctx.store.transaction { db in try await insert(tenantID: tenantID, text: text, at: now, on: db) }
        return ["written": .string(text)]
    }
}

@Suite struct PackTests {
    @Test(arguments: TestEnv.kinds)
    func anExamplePackIsOfferedAnswersMigratesAndFires(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        let packs = try PackSet(ExamplePack.installed)
        try await TestDatabases.withStore(kind, migrated: false, clock: clock) { store in
            let applied = try await Migrator(store: store, migrations: try packs.migrations()).migrate(at: clock.now())
            #expect(applied.last == "notes_0001_notes", "the pack's migration runs after the core's and the other packs'")
            let seeded = try await Seeded.make(store, clock: clock)
            let config = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_NOTES_PREFIX": "n: ", "PARLEY_SERVE_WORKER": "false"]))
            let logger = { var l = Logger(label: "test"); l.logLevel = .critical; return l }()
            let app = try buildApplication(ServerDependencies(config: config, store: store, clock: clock, logger: logger,
                                                              migrations: try packs.migrations(), keyring: .random(), packs: packs.packs))
            try await app.test(.router) { client in
                let tools = try await client.getJSON(seeded.adminKey, "/v1/tools")
                #expect(tools["data"]?.arrayValue?.contains { $0["name"] == "add_note" } == true, "the pack's tool is offered to the agent")
                #expect(try await client.getJSON(seeded.adminKey, "/v1/notes")["data"] == .array([]), "the pack's route answers")

                // Its trigger, bound by the composition root as `worker` binds it, fires for the tenant.
                let context = PackContext(store: store, clock: clock, keyring: .random(), config: config, logger: logger,
                                          publicBaseURL: "http://localhost", maxAttempts: 1, wake: {})
                let triggers = try AppAssembly.triggers([ExamplePack.pack], context: context)
                let scheduler = Scheduler(store: store, clock: clock, definitions: triggers, logger: logger)
                try await scheduler.ensureDefaultTasks(triggers)
                #expect(try await scheduler.tasks(tenantID: seeded.tenant.id).map(\.name) == ["notes.tick"], "every tenant gets the pack's task")
                clock.advance(by: 61)
                let fired = try await scheduler.tick()
                #expect(fired == 1)
                #expect(try await client.getJSON(seeded.adminKey, "/v1/notes")["data"] == ["n: tick"])
                _ = try await client.getJSON("not-a-key", "/v1/notes", status: .unauthorized)

                // Switched off for this tenant: no tool, no route, no trigger; its data stays.
                let packs = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["notes": false]])
                #expect(packs["data"]?.arrayValue?.contains(["name": "notes", "enabled": false]) == true)
                let after = try await client.getJSON(seeded.adminKey, "/v1/tools")
                #expect(after["data"]?.arrayValue?.contains { $0["name"] == "add_note" } == false, "its tool is not offered")
                #expect(after["data"]?.arrayValue?.contains { $0["name"] == "get_workspace" } == true)
                let off = try await client.getJSON(seeded.adminKey, "/v1/notes", status: .notFound)
                #expect(off["error"]?["code"] == "pack_disabled")
                clock.advance(by: 61)
                #expect(try await scheduler.tick() == 1, "the occurrence passes")
                let other = try await Seeded.make(store, clock: clock, slug: "globex")
                #expect(try await client.getJSON(other.adminKey, "/v1/notes")["data"] == [], "another tenant still has it")
                let bad = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["nots": false]], status: .badRequest)
                #expect(bad["error"]?["code"] == "unknown_pack")
                #expect(bad["error"]?["message"]?.stringValue?.contains("'nots'") == true)
                let viewer = try await seeded.key(store, clock: clock, role: .viewer)
                _ = try await client.putJSON(try #require(viewer.secret), "/v1/tenant/packs", ["packs": ["notes": true]], status: .forbidden)
                let audit = try await client.getJSON(seeded.adminKey, "/v1/audit-log")
                #expect(audit["data"]?.arrayValue?.contains { $0["action"] == "tenant_packs.set" } == true, "audited")
                _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["notes": true]])
                #expect(try await client.getJSON(seeded.adminKey, "/v1/notes")["data"] == ["n: tick"], "on again, with its data; the skipped tick wrote nothing")
            }
        }
    }

    @Test func parleyPacksChoosesTheInstallationsPacksAndRefusesUnknownOnes() throws {
        let packs = try PackSet(ExamplePack.installed)
        #expect(try packs.enabled(try ParleyConfig.load(ConfigSources())).map(\.name) == ["workspace", "legal", "support", "dealership", "notes"])
        #expect(try packs.enabled(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_PACKS": "workspace,notes"]))).map(\.name) == ["workspace", "notes"])
        #expect(throws: ConfigError.invalid(setting: "PARLEY_PACKS", value: "workspace,lgal", accepts: "a comma-separated list of workspace, legal, support, dealership, notes")) {
            _ = try AppAssembly.loadConfig(ConfigSources(environment: ["PARLEY_PACKS": "workspace,lgal"]), packs: packs)
        }
    }

    @Test func aSwitchedOffPacksIntentsDoNotMatch() {
        let planner = OfflinePlanner(intents: ExamplePack.installed.flatMap(\.plannerIntents))
        let offered = Set(WorkspacePack.tools.map(\.name))
        let legal = planner.intents.filter { $0.isAvailable(offered: offered) == false }.map(\.name)
        let packIntents = ParleySchema.packs.filter { $0.name != "workspace" }.flatMap { $0.intents.map(\.name) }
        #expect(!legal.isEmpty && Set(legal).isSubset(of: Set(packIntents)), "only the domain packs' intents drop out")
        #expect(planner.intents.filter { $0.isAvailable(offered: offered) }.count == planner.intents.count - legal.count)
    }

    @Test func aPackSettingIsValidatedWithTheCoresMessages() throws {
        let packs = try PackSet(ExamplePack.installed)
        #expect(throws: ConfigError.invalid(setting: "PARLEY_NOTES_PREFIX", value: String(repeating: "x", count: 21), accepts: "at most 20 characters")) {
            _ = try AppAssembly.loadConfig(ConfigSources(environment: ["PARLEY_NOTES_PREFIX": String(repeating: "x", count: 21)]), packs: packs)
        }
        #expect(throws: ConfigError.invalid(setting: "PARLEY_LEGAL_URGENT_DAYS", value: "2", accepts: "more days than PARLEY_LEGAL_FOLLOW_UP_DAYS (3)")) {
            _ = try AppAssembly.loadConfig(ConfigSources(environment: ["PARLEY_LEGAL_URGENT_DAYS": "2"]))
        }
    }
}

enum LegalIntentNames {
    static var all: [String] { ParleySchema.packs.first { $0.name == "legal" }?.intents.map(\.name) ?? [] }
}

/// Migrations run by owner: the core's in id order, then each pack's (dependencies first) in id order.
@Suite struct MigrationOrderTests {
    /// The ids, in the order applied, of every migration the code on `main` before packs became
    /// the one seam (commit 61d1a96) applied: a database it created has exactly these rows.
    static let appliedByMain = [
        "0001_tenants_keys_audit", "0009_instance_settings", "0002_agent_runtime", "0003_communication_jobs", "0004_messages_outbox",
        "0005_message_templates", "0006_consent", "0007_scheduler", "0008_sms_fallback", "0010_message_html_delivery_status",
        "0011_template_personalization", "0012_tenant_channels", "0014_webhook_receipts", "0100_console_sessions", "legal_0001_cases",
    ]

    /// Migrations added since (core, then packs).
    static let addedSinceMain = ["0015_tenant_packs", "0016_handoffs", "0017_customer_chat", "0018_users_auth", "0019_agent_definitions", "0020_rate_limits",
                                 "0021_soft_delete", "0022_mcp_servers", "0023_flows", "0024_mcp_sessions", "legal_0002_soft_delete", "support_0001_knowledge_base", "support_0002_kb_generation", "support_0003_soft_delete"]

    @Test func theInstalledMigrationsAreOrderedByOwnerThenId() throws {
        let ids = ParleySchema.migrations.map(\.id)
        #expect(Set(ids).count == ids.count, "no duplicate ids")
        let core = PackSet.coreMigrations.map(\.id)
        #expect(Array(ids.prefix(core.count)) == core && core == core.sorted(), "the core's first, in id order")
        #expect(ids.firstIndex(of: "0009_instance_settings")! > ids.firstIndex(of: "0002_agent_runtime")!)
        #expect(Set(ids) == Set(Self.appliedByMain + Self.addedSinceMain), "nothing added or lost against main but the new migrations")
    }

    @Test func duplicateOrOutOfOrderIdsAndMissingDependenciesAreRefused() {
        let a = DomainPack(name: "a", migrations: [Migration("a_0002_two", []), Migration("a_0001_one", [])])
        #expect(throws: PackSetError("pack a's migrations are not in ascending id order: a_0002_two comes before a_0001_one")) { _ = try PackSet([a]) }
        let b = DomainPack(name: "b", migrations: [Migration("0001_tenants_keys_audit", [])])
        #expect(throws: PackSetError("duplicate migration id(s): 0001_tenants_keys_audit")) { _ = try PackSet([b]).migrations() }
        let c = DomainPack(name: "c", migrations: [Migration("c_0001", [])])
        let c2 = DomainPack(name: "c2", migrations: [Migration("c_0001", [])])
        #expect(throws: PackSetError("duplicate migration id(s): c_0001")) { _ = try PackSet([c, c2]) }
        #expect(throws: PackSetError("pack d depends on e, which is not installed")) { _ = try PackSet([DomainPack(name: "d", dependencies: ["e"])]) }
        #expect(throws: PackSetError("two installed packs share a name: a")) { _ = try PackSet([DomainPack(name: "a"), DomainPack(name: "a")]) }
    }

    @Test func aPackRunsAfterThePacksItDependsOn() throws {
        let later = DomainPack(name: "later", dependencies: ["first"], migrations: [Migration("later_0001", [])])
        let first = DomainPack(name: "first", migrations: [Migration("first_0001", [])])
        let set = try PackSet([later, first])
        #expect(set.packs.map(\.name) == ["first", "later"])
        #expect(try set.migrations(core: []).map(\.id) == ["first_0001", "later_0001"])
    }

    /// A database made by main's migrations, in main's order, upgrades with nothing re-run and nothing missed.
    @Test(arguments: TestEnv.kinds)
    func aDatabaseMadeByMainUpgradesCleanly(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        let byID = Dictionary(uniqueKeysWithValues: ParleySchema.migrations.map { ($0.id, $0) })
        let mainOrder = try Self.appliedByMain.map { try #require(byID[$0]) }
        try await TestDatabases.withStore(kind, migrated: false, clock: clock) { store in
            #expect(try await Migrator(store: store, migrations: mainOrder).migrate(at: clock.now()) == Self.appliedByMain)
            let seeded = try await Seeded.make(store, clock: clock)
            clock.advance(by: 60)
            let now = Migrator(store: store, migrations: ParleySchema.migrations)
            #expect(try await now.pending() == Self.addedSinceMain, "only what is new")
            #expect(try await now.migrate(at: clock.now()) == Self.addedSinceMain)
            #expect(try await now.migrate(at: clock.now()) == [], "nothing re-run")
            let rows = try await store.read { db in try await db.raw("SELECT COUNT(*) AS n FROM schema_migrations").first()?.decode(column: "n", as: Int.self) }
            #expect(rows == Self.appliedByMain.count + Self.addedSinceMain.count)
            #expect(try await TenantService(store: store, clock: clock).list().contains { $0.id == seeded.tenant.id }, "the data is still there")
        }
        // An older database (before the legal pack) gets exactly the pack's migration.
        try await TestDatabases.withStore(kind, migrated: false, clock: clock) { store in
            _ = try await Migrator(store: store, migrations: mainOrder.filter { $0.id != "legal_0001_cases" }).migrate(at: clock.now())
            #expect(try await Migrator(store: store, migrations: ParleySchema.migrations).migrate(at: clock.now())
                    == ["0015_tenant_packs", "0016_handoffs", "0017_customer_chat", "0018_users_auth", "0019_agent_definitions", "0020_rate_limits", "0021_soft_delete", "0022_mcp_servers", "0023_flows", "0024_mcp_sessions",
                        "legal_0001_cases", "legal_0002_soft_delete", "support_0001_knowledge_base", "support_0002_kb_generation", "support_0003_soft_delete"],
                    "the core's first, then the packs'")
        }
    }
}

@Suite struct PackConsoleViewTests {
    @Test func theLegalPacksCasesViewIsListedAndServedFromThePack() async throws {
        let file = try Data(contentsOf: TestEnv.packageRoot.appendingPathComponent("Sources/ParleyLegal/Console/cases.js"))
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            let views = try await client.getJSON(seeded.adminKey, "/v1/console/views")
            let knowledge: JSONValue = ["pack": "support", "route": "knowledge", "label": "Knowledge", "module": "/console/packs/support/knowledge.js", "export": "knowledgeView"]
            #expect(views["data"] == [["pack": "legal", "route": "cases", "label": "Cases", "module": "/console/packs/legal/cases.js", "export": "casesView"], knowledge])
            let etag = try await client.execute(uri: "/console/packs/legal/cases.js", method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(Data(buffer: r.body) == file, "Sources/ParleyLegal/Console/cases.js changed: run scripts/sync-console")
                return r.headers[.eTag]
            }
            try await client.execute(uri: "/console/packs/legal/cases.js", method: .get, headers: [.ifNoneMatch: etag ?? "-"]) { r in
                #expect(r.status == .notModified)
            }
            try await client.execute(uri: "/console/packs/legal/nope.js", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/console/packs/nope/cases.js", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/console/views", method: .get) { #expect($0.status == .unauthorized) }
            _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["legal": false]])
            #expect(try await client.getJSON(seeded.adminKey, "/v1/console/views")["data"] == [knowledge], "a switched-off pack's views are hidden")
            let cases = try await client.getJSON(seeded.adminKey, "/v1/cases", status: .notFound)
            #expect(cases["error"]?["code"] == "pack_disabled")
        }
    }
}
