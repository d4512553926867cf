import Foundation
import HummingbirdTesting
import ParleyCore
import ParleyStorage
@testable import ParleySupport
import Testing

/// An agent's `knowledge_collections` (issue 13): its runs' `search_knowledge` searches only
/// those collections, on every search path; unknown collection ids are refused.
@Suite struct SupportAgentCollectionTests {
    static let staffDesk = """
        # Staff password desk

        ## Resetting a customer's password

        Staff reset a customer's password from the admin panel. The password reset link is valid for 30 minutes, \
        and the staff desk logs every reset in the password ledger.
        """

    /// The help corpus in `help`, a staff document about the same words in `internal`.
    static func load(_ kb: KnowledgeService, _ store: any Store, clock: TestClock) async throws -> Principal {
        let seeded = try await Seeded.make(store, clock: clock)
        try await SupportCorpus.load(kb, tenantID: seeded.tenant.id)
        let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
        let ctx = ActionContext(principal: principal, requestID: nil)
        _ = try await kb.createCollection(ctx, name: "internal", description: nil)
        _ = try await kb.ingest(ctx, IngestRequest(collection: "internal", title: "Staff password desk", filename: nil, markdown: staffDesk,
                                                   format: "markdown", tags: []))
        try await kb.reembed(tenantID: seeded.tenant.id)
        return principal
    }

    /// The same over HTTP: the help documents' ids and the staff document's.
    static func load(_ client: some TestClientProtocol, _ key: String) async throws -> (help: Set<String>, staff: String) {
        func id(_ created: JSONValue) throws -> String { try #require(created["document"]?["id"]?.stringValue ?? created["id"]?.stringValue) }
        try await client.createCollection(key, "help")
        var help: Set<String> = []
        for d in SupportCorpus.documents { help.insert(try id(try await client.addDocument(key, collection: "help", title: d.title, text: d.text))) }
        try await client.createCollection(key, "internal")
        return (help, try id(try await client.addDocument(key, collection: "internal", title: "Staff password desk", text: staffDesk)))
    }

    @Test(arguments: TestEnv.kinds)
    func aScopedSearchStaysInItsCollectionsOnEveryPath(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            var lenient = SupportSettings()
            lenient.minBM25 = 0
            var onDatabase = lenient
            onDatabase.bm25CacheMB = 0
            let indexed = SupportTestEnv.service(store, clock: clock, embedder: TestEmbedder(), settings: lenient)
            let database = SupportTestEnv.service(store, clock: clock, embedder: TestEmbedder(), settings: onDatabase)
            let principal = try await Self.load(indexed, store, clock: clock)
            let ids = Dictionary(uniqueKeysWithValues: try await indexed.collections(principal).map { ($0.name, $0.id) })
            let help = try #require(ids["help"]), internalID = try #require(ids["internal"])
            let q = "password reset link staff admin panel"
            var seen = 0
            for mode in [SearchMode.bm25, .vector, .hybrid] {
                // Unscoped, the staff document is found; scoped to help, never.
                let all = try await indexed.search(principal, SearchRequest(query: q, k: 10, mode: mode)).results
                #expect(all.contains { $0.collection == "internal" }, "\(mode)")
                let scoped = try await indexed.search(principal, SearchRequest(query: q, collectionScope: [help], k: 10, mode: mode)).results
                let scopedOnDatabase = try await database.search(principal, SearchRequest(query: q, collectionScope: [help], k: 10, mode: mode)).results
                #expect(!scoped.isEmpty && scoped.allSatisfy { $0.collection == "help" }, "\(mode)")
                #expect(scoped.map(\.chunkId) == scopedOnDatabase.map(\.chunkId), "\(mode): the index and the database agree")
                // The same as naming the collection; both collections by name are the whole tenant.
                let named = try await database.search(principal, SearchRequest(query: q, collection: "help", k: 10, mode: mode)).results
                #expect(named.map(\.chunkId) == scoped.map(\.chunkId), "\(mode)")
                let both = try await database.search(principal, SearchRequest(query: q, collections: ["help", "internal"], k: 10, mode: mode)).results
                #expect(both.map(\.chunkId) == all.map(\.chunkId), "\(mode)")
                // A collection the scope does not include gives nothing, not the other collection.
                let outside = try await indexed.search(principal, SearchRequest(query: q, collection: "internal", collectionScope: [help], k: 10, mode: mode))
                #expect(outside.results.isEmpty && outside.noRelevantResults, "\(mode)")
                let internalOnly = try await database.search(principal, SearchRequest(query: q, collectionScope: [internalID], k: 10, mode: mode)).results
                #expect(!internalOnly.isEmpty && internalOnly.allSatisfy { $0.collection == "internal" }, "\(mode)")
                seen += scoped.count
            }
            #expect(seen > 0)
            #expect(indexed.bm25Index.tenants == [principal.tenantID], "the indexed service ranked in memory")
            // An unknown collection name is refused by name, as for `collection`.
            await #expect(throws: ParleyError.self) {
                _ = try await database.search(principal, SearchRequest(query: q, collections: ["help", "nope"], k: 5))
            }
            #expect(try await indexed.unknownCollections([help, "0190c0de-0000-7000-8000-000000000000"], tenantID: principal.tenantID)
                    == ["0190c0de-0000-7000-8000-000000000000"])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anAgentCitesOnlyItsCollectionsAndUnknownIdsAreRefused(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let (helpDocuments, staffID) = try await Self.load(client, key)
            let collections = try await client.getJSON(key, "/v1/rag/collections")["data"]?.arrayValue ?? []
            let ids = Dictionary(uniqueKeysWithValues: collections.compactMap { c in c["name"]?.stringValue.flatMap { n in c["id"]?.stringValue.map { (n, $0) } } })
            let help = try #require(ids["help"]), internalID = try #require(ids["internal"])
            let question = "How long is the staff password reset link from the admin panel valid?"

            func cited(_ events: [StreamedEvent]) throws -> [String] {
                let toolEnd = try #require(events.first { $0.event == "tool_end" && $0.data["tool"] == "search_knowledge" })
                let fromTool = (toolEnd.data["output"]?["citations"]?.arrayValue ?? []).compactMap { $0["document_id"]?.stringValue }
                let fromEvents = events.filter { $0.event == "citation" }.compactMap { $0.data["document_id"]?.stringValue }
                #expect(fromTool == fromEvents)
                return fromTool
            }
            // The default assistant searches everything and finds the staff document.
            #expect(try cited(try await client.chat(key, question)).contains(staffID))

            // An agent restricted to help never cites the staff document.
            let agent = try await client.postJSON(key, "/v1/agents", ["name": "help-bot", "model": ["provider": "offline"], "tools": ["search_knowledge"],
                                                                     "knowledge_collections": [.string(help)]], status: .created)
            #expect(agent["knowledge_collections"] == [.string(help)])
            let restricted = try cited(try await client.runAgent("help-bot", key, question))
            #expect(!restricted.isEmpty && restricted.allSatisfy(helpDocuments.contains), "\(restricted)")
            let answer = try await client.runAgent("help-bot", key, "How long is the password reset link valid?")
            #expect(answer.last { $0.event == "workflow_completed" }?.data["final_response"]?.stringValue?.contains("30 minutes") == true)

            // Moved to the internal collection (a new version), it cites only that.
            let moved = try await client.patchJSON(key, "/v1/agents/help-bot", ["knowledge_collections": [.string(internalID)]])
            #expect(moved["version"] == 2)
            #expect(Set(try cited(try await client.runAgent("help-bot", key, question))) == [staffID])
            // An empty list is every collection again.
            _ = try await client.patchJSON(key, "/v1/agents/help-bot", ["knowledge_collections": []])
            #expect(try cited(try await client.runAgent("help-bot", key, question)).contains(staffID))

            // Unknown ids are refused by id, on create and on PATCH: a made-up id, a name instead of
            // an id, another tenant's collection. Nothing is written.
            let other = try await Seeded.make(store, clock: clock, slug: "other")
            try await client.createCollection(other.adminKey, "theirs")
            let theirs = try #require(try await client.getJSON(other.adminKey, "/v1/rag/collections")["data"]?[0]?["id"]?.stringValue)
            for bad in ["0190c0de-0000-7000-8000-000000000000", "help", theirs] {
                let created = try await client.postJSON(key, "/v1/agents", ["name": "bad-bot", "knowledge_collections": [.string(help), .string(bad)]],
                                                        status: .badRequest)
                #expect(created["error"]?["code"] == "unknown_collection" && created["error"]?["message"]?.stringValue?.contains("'\(bad)'") == true)
                let patched = try await client.patchJSON(key, "/v1/agents/help-bot", ["knowledge_collections": [.string(bad)]], status: .badRequest)
                #expect(patched["error"]?["code"] == "unknown_collection")
            }
            #expect(try await client.getJSON(key, "/v1/agents/help-bot")["version"] == 3)
            _ = try await client.getJSON(key, "/v1/agents/bad-bot", status: .notFound)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func ragQueryTakesASetOfCollections(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            _ = try await Self.load(client, key)
            let q = "password reset link staff admin panel"
            let one = try await client.postJSON(key, "/v1/rag/search", ["query": .string(q), "collections": ["internal"]], status: .ok)
            #expect(one["results"]?.arrayValue?.allSatisfy { $0["collection"] == "internal" } == true && one["results"]?.arrayValue?.isEmpty == false)
            let query = try await client.postJSON(key, "/v1/rag/query", ["query": .string(q), "collections": ["help"]], status: .ok)
            #expect(query["citations"]?.arrayValue?.isEmpty == false)
            #expect(query["citations"]?.arrayValue?.allSatisfy { $0["document_title"] != "Staff password desk" } == true)
            let both = try await client.postJSON(key, "/v1/rag/search", ["query": .string(q), "collection": "help", "collections": ["internal"]], status: .ok)
            #expect(Set(both["results"]?.arrayValue?.compactMap { $0["collection"]?.stringValue } ?? []) == ["help", "internal"])
            let unknown = try await client.postJSON(key, "/v1/rag/query", ["query": .string(q), "collections": ["help", "nope"]], status: .notFound)
            #expect(unknown["error"]?["code"] == "collection_not_found" && unknown["error"]?["message"]?.stringValue?.contains("'nope'") == true)
            let bad = try await client.postJSON(key, "/v1/rag/search", ["query": .string(q), "collections": "help"], status: .badRequest)
            #expect(bad["error"]?["code"] == "invalid_collections")
        }
    }
}
