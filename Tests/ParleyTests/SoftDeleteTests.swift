import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyApp
import ParleyCore
@testable import ParleyLegal
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
@testable import ParleySupport
import SQLKit
import Testing

/// Soft delete (docs/soft-delete.md): every tenant-owned resource is hidden when deleted (a read
/// of it is 404 `<resource>_deleted` naming the restore deadline), listed with
/// `include_deleted=true`, restorable within `PARLEY_RETENTION_DAYS`, then purged with the rows
/// depending on it, every step audited; on both databases.
@Suite struct SoftDeleteTests {
    static let day: TimeInterval = 86_400

    static func purge(_ store: any Store, clock: TestClock, env: [String: String] = [:]) throws -> RetentionPurge {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return RetentionPurge(store: store, clock: clock, config: try ParleyConfig.load(ConfigSources(environment: env)), packs: TestPack.packs, logger: logger)
    }

    static func count(_ store: any Store, _ sql: SQLQueryString) async throws -> Int {
        try await store.read { db in try await db.raw(sql).first()?.decode(column: "n", as: Int.self) ?? -1 }
    }

    static func has(_ data: JSONValue?, _ field: String, _ value: String) -> Bool {
        data?.arrayValue?.contains { $0[field]?.stringValue == value } == true
    }

    @Test(arguments: TestEnv.kinds)
    func aDeletedKeyStopsAuthenticatingAndARestoredOneWorksAgain(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let admin = seeded.adminKey
            let created = try await client.postJSON(admin, "/v1/api-keys", ["name": "ops", "role": "operator"], status: .created)
            let id = try #require(created["id"]?.stringValue)
            let secret = try #require(created["secret"]?.stringValue)
            _ = try await client.getJSON(secret, "/v1/tenant")

            let deleted = try await client.deleteJSON(admin, "/v1/api-keys/\(id)")
            #expect(deleted["deleted_at"]?.stringValue != nil && deleted["revoked_at"]?.stringValue != nil)
            let refused = try await client.getJSON(secret, "/v1/tenant", status: .unauthorized)
            #expect(refused["error"]?["code"] == "api_key_revoked")
            #expect(!Self.has(try await client.getJSON(admin, "/v1/api-keys")["data"], "id", id), "hidden by default")
            let all = try await client.getJSON(admin, "/v1/api-keys?include_deleted=true")
            #expect(all["data"]?.arrayValue?.first { $0["id"]?.stringValue == id }?["deleted_at"]?.stringValue != nil)
            #expect(try await client.getJSON(admin, "/v1/api-keys?include_deleted=maybe", status: .badRequest)["error"]?["code"] == "invalid_query")
            #expect(try await client.getJSON(admin, "/v1/api-keys?include_deletd=true", status: .badRequest)["error"]?["code"] == "unknown_parameter")

            // A viewer may not restore; another tenant cannot see the key at all.
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.postJSON(viewer, "/v1/api-keys/\(id)/restore", [:], status: .forbidden)
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            #expect(try await client.postJSON(other.adminKey, "/v1/api-keys/\(id)/restore", [:], status: .notFound)["error"]?["code"] == "api_key_not_found")

            let restored = try await client.postJSON(admin, "/v1/api-keys/\(id)/restore", [:])
            #expect(restored["deleted_at"] == nil && restored["revoked_at"] == nil)
            _ = try await client.getJSON(secret, "/v1/tenant")
            let actions = Set(try await client.getJSON(admin, "/v1/audit-log?limit=100")["data"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? [])
            #expect(actions.isSuperset(of: ["api_key.revoke", "api_key.restore"]))

            // Past the retention period it can no longer be restored.
            _ = try await client.deleteJSON(admin, "/v1/api-keys/\(id)")
            clock.advance(by: 31 * Self.day)
            let late = try await client.postJSON(admin, "/v1/api-keys/\(id)/restore", [:], status: .notFound)
            #expect(late["error"]?["code"] == "restore_window_passed")
            _ = try await client.getJSON(secret, "/v1/tenant", status: .unauthorized)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func templatesAgentsConversationsAndCasesAreHiddenListedAndRestored(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let admin = seeded.adminKey
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            let other = try await Seeded.make(store, clock: clock, slug: "globex")

            // A template of the workspace's own.
            _ = try await client.putJSON(admin, "/v1/templates/acme.hello", ["channel": "email", "purpose": "transactional", "subject": "Hi", "text": "Hello {{name}}"])
            _ = try await client.deleteJSON(viewer, "/v1/templates/acme.hello", status: .forbidden)
            let gone = try await client.deleteJSON(admin, "/v1/templates/acme.hello")
            #expect(gone["deleted_at"]?.stringValue != nil)
            let read = try await client.getJSON(admin, "/v1/templates/acme.hello", status: .notFound)
            #expect(read["error"]?["code"] == "template_deleted" && read["error"]?["message"]?.stringValue?.contains("/v1/templates/acme.hello/restore until") == true)
            #expect(!Self.has(try await client.getJSON(admin, "/v1/templates")["data"], "name", "acme.hello"))
            #expect(Self.has(try await client.getJSON(admin, "/v1/templates?include_deleted=true")["data"], "name", "acme.hello"))
            _ = try await client.postJSON(other.adminKey, "/v1/templates/acme.hello/restore", [:], status: .notFound)
            _ = try await client.postJSON(viewer, "/v1/templates/acme.hello/restore", [:], status: .forbidden)
            let back = try await client.postJSON(admin, "/v1/templates/acme.hello/restore", [:])
            #expect(back["text"] == "Hello {{name}}" && back["deleted_at"] == .null)
            _ = try await client.getJSON(admin, "/v1/templates/acme.hello")
            // A default alone has nothing of the workspace's to delete.
            #expect(try await client.deleteJSON(admin, "/v1/templates/core.user_invitation", status: .notFound)["error"]?["code"] == "template_not_found")

            // An agent: GET says it is deleted and until when it can be restored.
            let agent = try await client.postJSON(admin, "/v1/agents", ["name": "helper"], status: .created)
            let agentID = try #require(agent["id"]?.stringValue)
            _ = try await client.deleteJSON(admin, "/v1/agents/\(agentID)")
            #expect(try await client.getJSON(admin, "/v1/agents/\(agentID)", status: .notFound)["error"]?["code"] == "agent_deleted")
            #expect(try await client.getJSON(admin, "/v1/agents/\(agentID)?include_deleted=true")["deleted_at"]?.stringValue != nil)
            _ = try await client.postJSON(admin, "/v1/agents/\(agentID)/restore", [:])
            _ = try await client.getJSON(admin, "/v1/agents/\(agentID)")

            // A conversation.
            let run = try await client.ask(admin, "Give me an account overview")
            let sessionID = try #require(run["session_id"]?.stringValue)
            _ = try await client.deleteJSON(admin, "/v1/conversations/\(sessionID)")
            #expect(try await client.getJSON(admin, "/v1/conversations/\(sessionID)", status: .notFound)["error"]?["code"] == "conversation_deleted")
            _ = try await client.getJSON(other.adminKey, "/v1/conversations/\(sessionID)", status: .notFound)
            _ = try await client.postJSON(admin, "/v1/conversations/\(sessionID)/restore", [:])
            _ = try await client.getJSON(admin, "/v1/conversations/\(sessionID)")

            // A case: hidden from the list, search, the number lookup the tools use, and its upload link.
            let created = try await client.createCase(admin, "Robert Tables", email: "robert@example.com")
            let caseID = try #require(created["case_id"]?.stringValue)
            let number = try #require(created["case_number"]?.stringValue)
            _ = try await client.deleteJSON(viewer, "/v1/cases/\(caseID)", status: .forbidden)
            _ = try await client.deleteJSON(other.adminKey, "/v1/cases/\(caseID)", status: .notFound)
            let deletedCase = try await client.deleteJSON(admin, "/v1/cases/\(caseID)")
            #expect(deletedCase["deleted_at"]?.stringValue != nil)
            let caseRead = try await client.getJSON(admin, "/v1/cases/\(caseID)", status: .notFound)
            #expect(caseRead["error"]?["code"] == "case_deleted" && caseRead["error"]?["message"]?.stringValue?.contains("restore") == true)
            #expect(!Self.has(try await client.getJSON(admin, "/v1/cases")["data"], "case_id", caseID))
            #expect(Self.has(try await client.getJSON(admin, "/v1/cases?include_deleted=true")["data"], "case_id", caseID))
            let found = try await client.postJSON(admin, "/v1/cases/search", ["client_name": "Robert Tables"])
            #expect(found["cases"]?.arrayValue?.isEmpty == true)
            let cases = CaseService(store: store, clock: clock, environment: LegalEnvironment(keyring: .random(), publicBaseURL: "http://localhost"))
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            await #expect(throws: ParleyError.self) { _ = try await cases.find(principal, caseNumber: number) }
            #expect(try await cases.overview(principal, status: nil, outstandingOnly: false, limit: 10).total == 0, "the agent's case list")
            #expect(try await cases.pendingReminders(principal).isEmpty, "no reminders for a deleted case")
            _ = try await client.postJSON(admin, "/v1/cases/\(caseID)/close", [:], status: .notFound)
            _ = try await client.postJSON(admin, "/v1/cases/\(caseID)/restore", [:])
            #expect(try await cases.find(principal, caseNumber: number).legalCase.id == caseID)
            #expect(Self.has(try await client.getJSON(admin, "/v1/cases")["data"], "case_id", caseID))

            let actions = Set(try await client.getJSON(admin, "/v1/audit-log?limit=100")["data"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? [])
            #expect(actions.isSuperset(of: ["template.delete", "template.restore", "agent.delete", "agent.restore", "conversation.delete",
                                            "conversation.restore", "case.delete", "case.restore"]))
        }
    }

    @Test(arguments: TestEnv.kinds)
    func deletedDocumentsAndCollectionsAreNotFoundBySearch(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            try await client.createCollection(key, "help")
            let doc = try await client.addDocument(key, collection: "help", title: "Zeppelins", text: "The zeppelin hangar opens at dawn.")
            let id = try #require(doc["document"]?["id"]?.stringValue)
            func hits() async throws -> [String] {
                try await client.postJSON(key, "/v1/rag/search", ["query": "zeppelin hangar", "mode": "bm25"])["results"]?.arrayValue?
                    .compactMap { $0["document_id"]?.stringValue } ?? []
            }
            #expect(try await hits() == [id])

            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.deleteJSON(viewer, "/v1/rag/documents/\(id)", status: .forbidden)
            _ = try await client.deleteJSON(key, "/v1/rag/documents/\(id)")
            #expect(try await hits().isEmpty)
            #expect(try await client.getJSON(key, "/v1/rag/documents/\(id)", status: .notFound)["error"]?["code"] == "document_deleted")
            #expect(!Self.has(try await client.getJSON(key, "/v1/rag/documents")["data"], "id", id))
            #expect(Self.has(try await client.getJSON(key, "/v1/rag/documents?include_deleted=true")["data"], "id", id))
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            _ = try await client.postJSON(other.adminKey, "/v1/rag/documents/\(id)/restore", [:], status: .notFound)
            let restored = try await client.postJSON(key, "/v1/rag/documents/\(id)/restore", [:])
            #expect(restored["deleted_at"] == nil)
            #expect(try await hits() == [id], "indexed again")

            // A deleted collection hides its documents (search, reads, lists) until it is restored.
            _ = try await client.deleteJSON(key, "/v1/rag/collections/help")
            #expect(try await hits().isEmpty)
            #expect(try await client.getJSON(key, "/v1/rag/documents/\(id)", status: .notFound)["error"]?["code"] == "document_deleted")
            #expect(!Self.has(try await client.getJSON(key, "/v1/rag/collections")["data"], "name", "help"))
            #expect(Self.has(try await client.getJSON(key, "/v1/rag/collections?include_deleted=true")["data"], "name", "help"))
            #expect(try await client.postJSON(key, "/v1/rag/collections", ["name": "help"], status: .conflict)["error"]?["code"] == "collection_exists")
            _ = try await client.addDocument(key, collection: "help", title: "More", text: "More text", status: .notFound)
            _ = try await client.postJSON(key, "/v1/rag/collections/help/restore", [:])
            #expect(try await hits() == [id])
        }
    }

    /// The in-memory BM25 index: a delete moves the tenant's generation, so the index rebuilds
    /// without the document; a restore brings it back.
    @Test(arguments: TestEnv.kinds)
    func theInMemoryBM25IndexForgetsADeletedDocument(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            var settings = SupportSettings()
            settings.minBM25 = 0
            settings.bm25CacheMB = 64
            let kb = SupportTestEnv.service(store, clock: clock, settings: settings)
            let seeded = try await Seeded.make(store, clock: clock)
            try await SupportCorpus.load(kb, tenantID: seeded.tenant.id)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let ctx = ActionContext(principal: principal, requestID: nil)
            let added = try await kb.ingest(ctx, IngestRequest(collection: "help", title: "Zeppelins", filename: nil,
                                                             markdown: "The zeppelin hangar opens at dawn.", format: "markdown", tags: ["air"]))
            func found() async throws -> [String] {
                try await kb.search(principal, SearchRequest(query: "zeppelin hangar", k: 5, mode: .bm25)).results.map(\.documentId)
            }
            #expect(try await found() == [added.document.id])
            #expect(kb.bm25Index.tenants == [seeded.tenant.id], "searched in memory")
            try await kb.delete(ctx, id: added.document.id)
            #expect(try await found().isEmpty)
            #expect(kb.bm25Index.description.contains("last search: in-memory index"), "\(kb.bm25Index.description)")
            _ = try await kb.restore(ctx, id: added.document.id)
            #expect(try await found() == [added.document.id])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func thePurgeRemovesRowsPastRetentionWithTheirDependentsAndAuditsIt(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let admin = seeded.adminKey
            let tenantID = seeded.tenant.id
            let key = try await client.postJSON(admin, "/v1/api-keys", ["name": "old", "role": "viewer"], status: .created)
            let keyID = try #require(key["id"]?.stringValue)
            _ = try await client.putJSON(admin, "/v1/templates/acme.bye", ["channel": "email", "purpose": "transactional", "subject": "Bye", "text": "Bye"])
            let agent = try await client.postJSON(admin, "/v1/agents", ["name": "retired"], status: .created)
            let agentID = try #require(agent["id"]?.stringValue)
            let run = try await client.ask(admin, "Give me an account overview")
            let sessionID = try #require(run["session_id"]?.stringValue)
            let legalCase = try await client.createCase(admin, "Ana Lima", email: "ana@example.com")
            let caseID = try #require(legalCase["case_id"]?.stringValue)
            try await client.createCollection(admin, "old")
            let doc = try await client.addDocument(admin, collection: "old", title: "Old", text: "An old page about lanterns.", tags: ["legacy"])
            let docID = try #require(doc["document"]?["id"]?.stringValue)
            try await client.createCollection(admin, "gone")
            _ = try await client.addDocument(admin, collection: "gone", title: "Gone", text: "A page that goes with its collection.", tags: ["x"])

            for uri in ["/v1/api-keys/\(keyID)", "/v1/templates/acme.bye", "/v1/agents/\(agentID)", "/v1/conversations/\(sessionID)",
                        "/v1/cases/\(caseID)", "/v1/rag/documents/\(docID)", "/v1/rag/collections/gone"] {
                _ = try await client.deleteJSON(admin, uri)
            }
            // Expired sign-in state: a spent one-time link and a stale failure counter; and a
            // console session of the deleted key (it refers to the key, so it goes first).
            try await store.transaction { db in
                try await db.raw("""
                    INSERT INTO console_sessions (id, tenant_id, api_key_id, session_hash, created_at, last_seen_at, expires_at)
                    VALUES ('cs1', \(bind: tenantID), \(bind: keyID), 'hash-cs1', \(bind: clock.now()), \(bind: clock.now()),
                            \(bind: clock.now().addingTimeInterval(400 * Self.day)))
                    """).run()
                try await db.raw("""
                    INSERT INTO auth_one_time_tokens (id, purpose, token_hash, email, tenant_id, role, created_by, created_at, expires_at, used_at)
                    VALUES ('ott1', 'invitation', 'hash-ott1', 'x@example.com', \(bind: tenantID), 'viewer', 'test', \(bind: clock.now()),
                            \(bind: clock.now().addingTimeInterval(3600)), \(bind: clock.now()))
                    """).run()
                try await db.raw("""
                    INSERT INTO login_failures (subject, failures, window_started_at) VALUES ('account:x@example.com', 2, \(bind: clock.now().addingTimeInterval(-2 * Self.day)))
                    """).run()
            }

            // Within retention nothing soft-deleted goes.
            let purge = try Self.purge(store, clock: clock)
            clock.advance(by: 29 * Self.day)
            let early = try await purge.run(dryRun: true)
            #expect(!early.contains { ["api_keys", "cases", "support_documents", "agents", "agent_sessions"].contains($0.table) }, "\(early)")

            // Past it: a dry run counts and keeps everything; the purge removes it all.
            clock.advance(by: 2 * Self.day)
            let planned = Dictionary(uniqueKeysWithValues: try await purge.run(dryRun: true).map { ($0.table, $0.rows) })
            for table in ["api_keys", "message_templates", "agents", "agent_versions", "agent_sessions", "session_messages", "workflows",
                          "cases", "requested_documents", "support_documents", "support_collections", "auth_one_time_tokens", "login_failures",
                          "console_sessions"] {
                #expect((planned[table] ?? 0) > 0, "\(table): \(planned)")
            }
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM cases WHERE id = \(bind: caseID)") == 1, "a dry run deletes nothing")
            let purged = Dictionary(uniqueKeysWithValues: try await purge.run().map { ($0.table, $0.rows) })
            #expect(purged == planned)
            for (table, column, id) in [("api_keys", "id", keyID), ("console_sessions", "api_key_id", keyID), ("agents", "id", agentID), ("agent_versions", "agent_id", agentID),
                                        ("agent_sessions", "id", sessionID), ("session_messages", "session_id", sessionID), ("workflows", "session_id", sessionID),
                                        ("cases", "id", caseID), ("requested_documents", "case_id", caseID), ("support_documents", "id", docID),
                                        ("support_document_tags", "document_id", docID)] {
                #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM \(ident: table) WHERE \(ident: column) = \(bind: id)") == 0, "\(table)")
            }
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM support_collections WHERE name = 'gone'") == 0)
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM support_documents WHERE title = 'Gone'") == 0, "with its collection")
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM message_templates WHERE name = 'acme.bye'") == 0)
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM auth_one_time_tokens") == 0)
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM login_failures") == 0)
            #expect(try await Self.count(store, "SELECT COUNT(*) AS n FROM support_collections WHERE name = 'old'") == 1, "a live collection stays")
            #expect(try await purge.run().isEmpty, "nothing left the second time")

            // Audited per table for the tenant; restoring now is a typed 404.
            let audit = try await client.getJSON(admin, "/v1/audit-log?action=retention.purge&limit=100")["data"]?.arrayValue ?? []
            let audited: Set<String> = Set(audit.compactMap { $0["target_type"]?.stringValue })
            #expect(audited.isSuperset(of: ["api_keys", "cases", "support_documents", "agents"]), "\(audited)")
            #expect(audit.allSatisfy { $0["actor"] == "system:retention" })
            #expect(try await client.postJSON(admin, "/v1/api-keys/\(keyID)/restore", [:], status: .notFound)["error"]?["code"] == "api_key_not_found")
            #expect(try await client.postJSON(admin, "/v1/cases/\(caseID)/restore", [:], status: .notFound)["error"]?["code"] == "case_not_found")
            #expect(try await client.postJSON(admin, "/v1/rag/documents/\(docID)/restore", [:], status: .notFound)["error"]?["code"] == "document_not_found")
            #expect(try await client.postJSON(admin, "/v1/templates/acme.bye/restore", [:], status: .notFound)["error"]?["code"] == "template_not_found")
            #expect(try await client.postJSON(admin, "/v1/agents/\(agentID)/restore", [:], status: .notFound)["error"]?["code"] == "agent_not_found")
            #expect(try await client.postJSON(admin, "/v1/conversations/\(sessionID)/restore", [:], status: .notFound)["error"]?["code"] == "conversation_not_found")
        }
    }

    @Test func retentionIsASettingWithItsRange() throws {
        #expect(try ParleyConfig.load(ConfigSources(environment: [:])).retention.days == 30)
        #expect(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_RETENTION_DAYS": "7"])).retention.days == 7)
        #expect(throws: ConfigError.self) { _ = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_RETENTION_DAYS": "0"])) }
        let r = Retention(days: 7)
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(r.restorableUntil(at) == at.addingTimeInterval(7 * Self.day))
        #expect(throws: ParleyError.self) { try r.requireRestorable("x", deletedAt: at, now: at.addingTimeInterval(8 * Self.day)) }
        #expect(throws: Never.self) { try r.requireRestorable("x", deletedAt: at, now: at.addingTimeInterval(6 * Self.day)) }
    }
}
