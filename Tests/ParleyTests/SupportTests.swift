import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyApp
import ParleyComms
import ParleyCore
import ParleyPackKit
import ParleyStorage
import ParleySupport
import SQLKit
import Synchronization
import Testing

@Suite struct SupportChunkingTests {
    @Test func headingPathsParagraphsAndListsStayInTheirSection() {
        let md = """
            Intro line before any heading.

            # Guide

            ## Setup

            - Plug it in.
            - Press the ring.

            A paragraph
            on two lines.

            ## Pairing

            Open the app.
            """
        let chunks = Chunker(words: 500, overlap: 50).chunks(md)
        #expect(chunks.map(\.headingPath) == ["", "# Guide > ## Setup", "# Guide > ## Pairing"])
        #expect(chunks[1].text == "- Plug it in.\n\n- Press the ring.\n\nA paragraph\non two lines.")
        // Offsets point into the Markdown (UTF-16, as a JavaScript string index).
        let ns = md as NSString
        #expect(ns.substring(with: NSRange(location: chunks[2].startOffset, length: chunks[2].endOffset - chunks[2].startOffset)) == "Open the app.")
        #expect(ns.substring(with: NSRange(location: chunks[1].startOffset, length: 14)) == "- Plug it in.\n")
    }

    @Test func longSectionsSplitWithOverlapAndLongTablesRepeatTheirHeader() {
        let paragraphs = (1...12).map { i in (1...20).map { "p\(i)w\($0)" }.joined(separator: " ") }
        let md = "# Long\n\n" + paragraphs.joined(separator: "\n\n")
        let chunks = Chunker(words: 60, overlap: 20).chunks(md)
        #expect(chunks.count > 3)
        #expect(chunks.allSatisfy { $0.wordCount <= 60 && $0.headingPath == "# Long" })
        // Consecutive chunks share a whole paragraph (20 words).
        for (a, b) in zip(chunks, chunks.dropFirst()) {
            let lastOfA = a.text.components(separatedBy: "\n\n").last ?? ""
            #expect(b.text.hasPrefix(lastOfA))
        }
        let rows = (1...40).map { "| item \($0) | price \($0) dollars | note \($0) |" }
        let table = "# Prices\n\n| Item | Price | Note |\n| --- | --- | --- |\n" + rows.joined(separator: "\n")
        let parts = Chunker(words: 60, overlap: 10).chunks(table)
        #expect(parts.count > 2)
        for p in parts {
            #expect(p.text.hasPrefix("| Item | Price | Note |\n| --- | --- | --- |\n| item "))
            #expect(p.wordCount <= 60)
        }
        // Every row is in exactly one group.
        let found = parts.flatMap { $0.text.split(separator: "\n").filter { $0.hasPrefix("| item ") } }
        #expect(found.count == 40)
        // A single paragraph longer than a chunk is cut into overlapping word windows.
        let long = (1...150).map { "w\($0)" }.joined(separator: " ")
        let windows = Chunker(words: 60, overlap: 10).chunks(long)
        #expect(windows.count == 3)
        #expect(windows[1].text.hasPrefix("w51 "))
    }

    @Test func tokenizerFoldsCaseAndAccentsLikeFTS5() {
        #expect(KBTokenizer.tokens("Crème Brûlée, at 8:30 — Wi-Fi!") == ["creme", "brulee", "at", "8", "30", "wi", "fi"])
        #expect(KBTokenizer.queryTerms("How do I reset my password? password") == ["reset", "password"])
        #expect(KBTokenizer.queryTerms("what is it") == ["what", "is", "it"])
    }
}

@Suite struct SupportSearchTests {
    /// FTS5's own bm25() against the formula the PostgreSQL side computes, on SQLite alone: the
    /// same tokens, statistics and arithmetic give the same scores.
    @Test func fts5ScoresEqualTheSharedFormula() async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(.sqlite, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let kb = SupportTestEnv.service(store, clock: clock)
            try await SupportCorpus.load(kb, tenantID: seeded.tenant.id)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let chunks = try await store.read { db in
                try await db.raw("SELECT id, heading_path, text FROM support_chunks WHERE tenant_id = \(bind: seeded.tenant.id)").all().map {
                    (try $0.decode(column: "id", as: String.self), KBTokenizer.tokens(try $0.decode(column: "heading_path", as: String.self) + "\n" + (try $0.decode(column: "text", as: String.self))))
                }
            }
            let average = Double(chunks.map(\.1.count).reduce(0, +)) / Double(chunks.count)
            var kb0 = SupportSettings()
            kb0.minBM25 = 0
            let all = SupportTestEnv.service(store, clock: clock, settings: kb0)
            for q in SupportCorpus.queries {
                let terms = KBTokenizer.queryTerms(q)
                let idfs = terms.map { t in BM25.idf(documents: chunks.count, containing: chunks.filter { $0.1.contains(t) }.count) }
                let expected = chunks.compactMap { id, tokens -> (String, Double)? in
                    let tf = terms.map { t in tokens.filter { $0 == t }.count }
                    guard tf.contains(where: { $0 > 0 }) else { return nil }
                    return (id, BM25.score(frequencies: tf, idfs: idfs, length: tokens.count, averageLength: average))
                }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
                let found = try await all.search(principal, SearchRequest(query: q, k: 50, mode: .bm25)).results
                #expect(found.map(\.chunkId) == expected.map(\.0), "\(q)")
                for (r, e) in zip(found, expected) { #expect(abs((r.bm25 ?? 0) - e.1) < 1e-9, "\(q): \(r.bm25 ?? 0) vs \(e.1)") }
            }
        }
    }

    /// The same corpus on both databases: every query ranks the same passages in the same order
    /// with the same scores.
    @Test func bothDatabasesRankTheSame() async throws {
        guard TestEnv.kinds.contains(.postgres) else { return }
        var rankings: [DatabaseKind: [[String]]] = [:]
        var scores: [DatabaseKind: [[Double]]] = [:]
        for kind in [DatabaseKind.sqlite, .postgres] {
            let clock = TestClock()
            try await TestDatabases.withStore(kind, clock: clock) { store in
                let seeded = try await Seeded.make(store, clock: clock)
                // Another tenant's documents change nothing in this tenant's statistics.
                let other = try await Seeded.make(store, clock: clock, slug: "other")
                var settings = SupportSettings()
                settings.minBM25 = 0
                let kb = SupportTestEnv.service(store, clock: clock, settings: settings)
                try await SupportCorpus.load(kb, tenantID: other.tenant.id)
                _ = try await kb.ingest(ActionContext(principal: Principal(tenantID: other.tenant.id, keyID: nil, role: .admin, actor: "t"), requestID: nil),
                                        IngestRequest(collection: "help", title: "Extra", filename: nil, markdown: "lamp lamp lamp password refund", format: "markdown", tags: []))
                try await SupportCorpus.load(kb, tenantID: seeded.tenant.id)
                let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
                for q in SupportCorpus.queries {
                    let r = try await kb.search(principal, SearchRequest(query: q, k: 50, mode: .bm25)).results
                    rankings[kind, default: []].append(r.map { "\($0.documentTitle)|\($0.headingPath)|\($0.text.prefix(30))" })
                    scores[kind, default: []].append(r.map { $0.bm25 ?? 0 })
                }
            }
        }
        #expect(rankings[.sqlite] == rankings[.postgres])
        #expect(rankings[.sqlite]?.allSatisfy { !$0.isEmpty } == true)
        for (a, b) in zip(scores[.sqlite] ?? [], scores[.postgres] ?? []) {
            #expect(a.count == b.count)
            for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-9) }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func hybridFusesBothRankingsAndThresholdsDropTheIrrelevant(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let kb = SupportTestEnv.service(store, clock: clock, embedder: TestEmbedder())
            try await SupportCorpus.load(kb, tenantID: seeded.tenant.id)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let q = "how long is the password reset link valid"
            let lexical = try await kb.search(principal, SearchRequest(query: q, k: 10, mode: .bm25)).results
            let semantic = try await kb.search(principal, SearchRequest(query: q, k: 10, mode: .vector)).results
            let hybrid = try await kb.search(principal, SearchRequest(query: q, k: 10, mode: .hybrid))
            #expect(hybrid.mode == .hybrid)
            #expect(hybrid.results.first?.headingPath == "# Account help > ## Resetting your password")
            #expect(lexical.first?.chunkId == hybrid.results.first?.chunkId && semantic.first?.chunkId == hybrid.results.first?.chunkId)
            // The fused score is reciprocal rank fusion with k = 60.
            let top = try #require(hybrid.results.first)
            let expected = 1 / (60.0 + 1) + 1 / (60.0 + 1)
            #expect(abs(top.score - expected) < 1e-12)
            #expect(top.bm25 != nil && top.similarity != nil)
            // Nothing relevant: every result is below both thresholds.
            let none = try await kb.search(principal, SearchRequest(query: "quantum chromodynamics lecture", k: 5))
            #expect(none.results.isEmpty && none.noRelevantResults)
            // One term of three: kept for its BM25 score, until the tenant asks for more.
            let partial = SearchRequest(query: "password quantum kiwi", k: 5)
            #expect(try await kb.search(principal, partial).results.first?.documentTitle == "Passwords")
            let ctx = ActionContext(principal: principal, requestID: nil)
            let strict = try await kb.setThresholds(ctx, minBM25: 1000, minSimilarity: 1)
            #expect(strict.source == "tenant" && strict.minBm25 == 1000)
            #expect(try await kb.search(principal, partial).results.isEmpty)
            // A passage with most of the query's terms stays relevant whatever the thresholds.
            #expect(try await kb.search(principal, SearchRequest(query: q, k: 5)).results.first?.documentTitle == "Passwords")
            let back = try await kb.setThresholds(ctx, minBM25: nil, minSimilarity: nil)
            #expect(back.source == "installation")
            // Filters: a document, tags.
            let refunds = try await kb.search(principal, SearchRequest(query: "refund password lamp", k: 10, mode: .bm25))
            let refundDoc = try #require(refunds.results.first { $0.documentTitle == "Refunds" }).documentId
            let only = try await kb.search(principal, SearchRequest(query: "refund password lamp", documentID: refundDoc, k: 10))
            #expect(!only.results.isEmpty && only.results.allSatisfy { $0.documentId == refundDoc })
            #expect(try await kb.search(principal, SearchRequest(query: "refund", tags: ["nothing-tagged"], k: 10)).results.isEmpty)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func changingTheEmbedderReembedsInTheBackground(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            try await SupportCorpus.load(SupportTestEnv.service(store, clock: clock), tenantID: seeded.tenant.id)  // no embedder: BM25 only
            var lenient = SupportSettings()
            lenient.minSimilarity = 0.2
            let kb = SupportTestEnv.service(store, clock: clock, embedder: TestEmbedder(name: "test:v2"), settings: lenient)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            // No vectors yet: the vector ranking is empty and a re-embedding job is queued, once.
            #expect(try await kb.search(principal, SearchRequest(query: "refund", k: 5, mode: .vector)).results.isEmpty)
            _ = try await kb.search(principal, SearchRequest(query: "refund", k: 5, mode: .vector))
            let jobs = try await JobQueue(store: store, clock: clock).list(tenantID: seeded.tenant.id, state: nil, before: nil, limit: 10)
            #expect(jobs.filter { $0.type == "support.reembed" }.count == 1)
            // The worker runs it through the pack's job handler.
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: WorkerSettings(), logger: SupportTestEnv.logger)
            let runtime = try SupportPack.make(embedder: TestEmbedder(name: "test:v2")).bind(PackContext(
                store: store, clock: clock, keyring: .random(), config: try SupportTestEnv.config(), logger: SupportTestEnv.logger,
                publicBaseURL: "http://127.0.0.1", maxAttempts: 3, wake: {}))
            worker.install(runtime.jobHandlers)
            #expect(try await worker.runDueJobs() == 1)
            let after = try await JobQueue(store: store, clock: clock).list(tenantID: seeded.tenant.id, state: nil, before: nil, limit: 10)
            #expect(after.first { $0.type == "support.reembed" }?.state == .succeeded)
            let found = try await kb.search(principal, SearchRequest(query: "refund subscriptions payment", k: 5, mode: .vector)).results
            #expect(found.first?.documentTitle == "Refunds")
        }
    }
}

@Suite struct SupportAPITests {
    @Test(arguments: TestEnv.kinds)
    func documentsAreAddedReplacedAtomicallyAndDeleted(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, store, _ in
            let key = seeded.adminKey
            // Bad input.
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents", ["collection": "help", "title": "A", "text": "x"], status: .notFound) == "collection_not_found")
            try await client.createCollection(key, "help")
            #expect(try await client.errorCode(.post, key, "/v1/rag/collections", ["name": "help"], status: .conflict) == "collection_exists")
            #expect(try await client.errorCode(.post, key, "/v1/rag/collections", ["name": "a/b"], status: .badRequest) == "invalid_name")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents", ["collection": "help", "title": "A", "text": "  \n "], status: .badRequest) == "empty_document")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents", ["collection": "help", "title": "A", "txt": "hello"], status: .badRequest) == "unknown_field")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents", ["collection": "help", "title": "A", "text": "hi", "tags": "x"], status: .badRequest) == "invalid_tags")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents", ["collection": "help", "text": "hi"], status: .badRequest) == "invalid_title")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents", ["collection": "help", "title": "A", "text": "hi", "format": "pdf"], status: .badRequest) == "invalid_format")
            #expect(try await client.errorCode(.post, key, "/v1/rag/search", ["query": "x", "k": 0], status: .badRequest) == "invalid_k")
            #expect(try await client.errorCode(.post, key, "/v1/rag/search", ["query": "x", "mode": "vector"], status: .badRequest) == "vector_search_unavailable")
            #expect(try await client.errorCode(.post, key, "/v1/rag/search", ["query": "x", "collection": "nope"], status: .notFound) == "collection_not_found")
            #expect(try await client.errorCode(.post, key, "/v1/rag/search", ["qurey": "x"], status: .badRequest) == "unknown_field")
            _ = try await client.getJSON(key, "/v1/rag/documents?cursor=abc", status: .badRequest)

            let text = SupportCorpus.documents[1].text
            let first = try await client.addDocument(key, collection: "help", title: "Refunds", text: text, tags: ["billing"])
            #expect(first["outcome"] == "created" && first["document"]?["status"] == "ready")
            let id = try #require(first["document"]?["id"]?.stringValue)
            let chunkCount = try #require(first["document"]?["chunk_count"]?.intValue)
            #expect(chunkCount == 2)
            let detail = try await client.getJSON(key, "/v1/rag/documents/\(id)")
            #expect(detail["chunks"]?.arrayValue?.compactMap { $0["heading_path"]?.stringValue } == ["# Billing > ## Refund policy", "# Billing > ## Plans"])
            let oldChunks = Set(detail["chunks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
            // The same content again: nothing changes.
            let again = try await client.addDocument(key, collection: "help", title: "Refunds", text: text, tags: ["billing"], status: .ok)
            #expect(again["outcome"] == "unchanged" && again["document"]?["id"]?.stringValue == id)
            // Changed content: the same document, new chunks; the old ones are gone from search.
            let changed = text.replacingOccurrences(of: "30 days", with: "45 days")
            let replaced = try await client.addDocument(key, collection: "help", title: "Refunds", text: changed, tags: ["billing"], status: .ok)
            #expect(replaced["outcome"] == "replaced" && replaced["document"]?["id"]?.stringValue == id)
            let newDetail = try await client.getJSON(key, "/v1/rag/documents/\(id)")
            let newChunks = Set(newDetail["chunks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
            #expect(newChunks.count == 2 && newChunks.isDisjoint(with: oldChunks))
            let hits = try await client.postJSON(key, "/v1/rag/search", ["query": "refund days"])
            #expect(hits["mode"] == "bm25" && hits["note"]?.stringValue?.contains("no embedder") == true)
            #expect(hits["results"]?.arrayValue?.allSatisfy { newChunks.contains($0["chunk_id"]?.stringValue ?? "") } == true)
            #expect(hits["results"]?[0]?["text"]?.stringValue?.contains("45 days") == true)
            let rows = try await store.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM support_chunks WHERE document_id = \(bind: id)").first()?.decode(column: "n", as: Int.self)
            }
            #expect(rows == 2)

            // A file as the body: converted, titled from its first heading.
            let uploaded = try await client.upload(key, "/v1/rag/documents?collection=help&filename=lamp.md", bytes: SupportCorpus.documents[2].text,
                                                   contentType: "text/markdown", status: .created)
            #expect(uploaded["document"]?["title"] == "Troubleshooting" && uploaded["document"]?["source_filename"] == "lamp.md")
            _ = try await client.upload(key, "/v1/rag/documents?collection=help&filename=x.bin", bytes: "\u{1}\u{2}", contentType: "application/octet-stream",
                                        status: .unsupportedMediaType)
            _ = try await client.upload(key, "/v1/rag/documents?filename=a.md", bytes: "# A", contentType: "text/markdown", status: .badRequest)

            // Paging.
            let page1 = try await client.getJSON(key, "/v1/rag/documents?limit=1")
            #expect(page1["data"]?.arrayValue?.count == 1)
            let cursor = try #require(page1["next_cursor"]?.stringValue)
            let page2 = try await client.getJSON(key, "/v1/rag/documents?limit=1&before=\(cursor)")
            #expect(page2["data"]?.arrayValue?.count == 1 && page2["next_cursor"]?.stringValue == nil)
            #expect(try await client.getJSON(key, "/v1/rag/collections")["data"]?[0]?["document_count"] == 2)

            // Delete.
            _ = try await client.send(.delete, key, "/v1/rag/documents/\(id)", .null, status: .ok)
            _ = try await client.getJSON(key, "/v1/rag/documents/\(id)", status: .notFound)
            let gone = try await client.postJSON(key, "/v1/rag/search", ["query": "refund days"])
            #expect(gone["results"]?.arrayValue?.contains { $0["document_id"]?.stringValue == id } == false)
            // Soft: a second delete changes nothing (docs/soft-delete.md); an unknown id is 404.
            _ = try await client.send(.delete, key, "/v1/rag/documents/\(id)", .null, status: .ok)
            #expect(try await client.errorCode(.delete, key, "/v1/rag/documents/019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01", .null, status: .notFound) == "document_not_found")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func tenantsNeverSeeEachOthersKnowledge(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind, embedder: TestEmbedder()) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "other")
            try await client.createCollection(seeded.adminKey, "help")
            let doc = try await client.addDocument(seeded.adminKey, collection: "help", title: "Secret", text: "The vault code is zebra-42 for tenant A.")
            let id = try #require(doc["document"]?["id"]?.stringValue)
            // Its vectors are made by the support.reembed job: do that job's work now.
            try await SupportTestEnv.service(store, clock: clock, embedder: TestEmbedder()).reembed(tenantID: seeded.tenant.id)
            for mode in ["bm25", "vector", "hybrid"] {
                let own = try await client.postJSON(seeded.adminKey, "/v1/rag/search", ["query": "vault code zebra", "mode": .string(mode)])
                #expect(own["results"]?.arrayValue?.isEmpty == false, "\(mode)")
                let theirs = try await client.postJSON(other.adminKey, "/v1/rag/search", ["query": "vault code zebra", "mode": .string(mode)])
                #expect(theirs["results"] == [], "\(mode)")
            }
            _ = try await client.getJSON(other.adminKey, "/v1/rag/documents/\(id)", status: .notFound)
            #expect(try await client.getJSON(other.adminKey, "/v1/rag/documents")["data"] == [])
            // The same collection name is separate per tenant, and B's documents do not leak to A.
            try await client.createCollection(other.adminKey, "help")
            _ = try await client.addDocument(other.adminKey, collection: "help", title: "B", text: "Tenant B talks about zebra crossings.")
            let own = try await client.postJSON(seeded.adminKey, "/v1/rag/search", ["query": "zebra crossings", "mode": "bm25"])
            #expect(own["results"]?.arrayValue?.allSatisfy { $0["document_id"]?.stringValue == id } == true)
            // A viewer may search but not add.
            let viewer = try await seeded.key(store, clock: clock, role: .viewer)
            let viewerKey = try #require(viewer.secret)
            _ = try await client.postJSON(viewerKey, "/v1/rag/search", ["query": "vault"])
            _ = try await client.postJSON(viewerKey, "/v1/rag/documents", ["collection": "help", "title": "x", "text": "y"], status: .forbidden)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func queryAnswersExtractivelyWithCitations(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            try await client.createCollection(key, "help")
            for d in SupportCorpus.documents { _ = try await client.addDocument(key, collection: "help", title: d.title, text: d.text) }
            let answer = try await client.postJSON(key, "/v1/rag/query", ["query": "How long is the password reset link valid?"])
            let text = try #require(answer["answer"]?.stringValue)
            #expect(text.contains("30 minutes") && text.contains("[1]"))
            let citations = try #require(answer["citations"]?.arrayValue)
            #expect(citations.first?["n"] == 1 && citations.first?["document_title"] == "Passwords")
            #expect(citations.first?["heading_path"] == "# Account help > ## Resetting your password")
            // Every [n] in the answer is in the list.
            for n in 1...9 where text.contains("[\(n)]") { #expect(citations.contains { $0["n"]?.intValue == n }) }
            let none = try await client.postJSON(key, "/v1/rag/query", ["query": "quantum chromodynamics lecture"])
            #expect(none["no_relevant_results"] == true && none["citations"] == [])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func batchesRunOnTheJobQueueWithProgress(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            try await client.createCollection(key, "help")
            let docs: [JSONValue] = SupportCorpus.documents.map { ["collection": "help", "title": .string($0.title), "text": .string($0.text)] }
                + [["collection": "help", "title": "Empty", "text": "# Only a heading"]]
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents/batch", ["documents": [["collection": "nope", "title": "x", "text": "y"]]],
                                               status: .notFound) == "collection_not_found")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents/batch", ["documents": [["collection": "help", "title": "x", "text": ""]]],
                                               status: .badRequest) == "empty_document")
            #expect(try await client.errorCode(.post, key, "/v1/rag/documents/batch", ["documents": []], status: .badRequest) == "invalid_documents")
            let batch = try await client.postJSON(key, "/v1/rag/documents/batch", ["documents": .array(docs)], status: .accepted)
            let id = try #require(batch["id"]?.stringValue)
            #expect(batch["total"] == 5)
            // Run the queue (the application's own worker may take it first: a job runs once).
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: WorkerSettings(), logger: SupportTestEnv.logger)
            let runtime = try SupportPack.make().bind(PackContext(store: store, clock: clock, keyring: .random(), config: try SupportTestEnv.config(),
                                                                  logger: SupportTestEnv.logger, publicBaseURL: "http://127.0.0.1", maxAttempts: 3, wake: {}))
            worker.install(runtime.jobHandlers)
            var view = batch
            var jobs: [Job] = []
            for _ in 0..<300 {
                _ = try await worker.runDueJobs()
                view = try await client.getJSON(key, "/v1/rag/batches/\(id)")
                jobs = try await JobQueue(store: store, clock: clock).list(tenantID: seeded.tenant.id, state: nil, before: nil, limit: 10)
                if view["status"] == "finished" && jobs.allSatisfy({ $0.state.isFinal }) { break }
                try await Task.sleep(for: .milliseconds(10))  // the app's worker holds the job: let it finish
            }
            #expect(view["status"] == "finished" && view["done"] == 5 && view["failed"] == 0 && view["pending"] == 0)
            #expect(view["items"]?.arrayValue?.allSatisfy { $0["document_id"]?.stringValue != nil } == true)
            #expect(jobs.filter { $0.type == "support.ingest" }.map(\.state) == [.succeeded], "one job, run once")
            #expect(try await client.getJSON(key, "/v1/rag/documents")["data"]?.arrayValue?.count == 5)
            _ = try await client.getJSON(key, "/v1/rag/batches/nope", status: .notFound)
        }
    }

    @Test func statusSaysWhenSearchIsBM25Alone() async throws {
        try await withSupportServer(.sqlite) { client, _, _, _ in
            let status = try await client.execute(uri: "/status", method: .get) { try JSONValue.parse(String(buffer: $0.body)) }
            #expect(status["packs"]?["support"]?["search"]?.stringValue?.hasPrefix("bm25 only") == true)
            #expect(status["packs"]?["support"]?["bm25"]?.stringValue?.hasPrefix("in-memory index for 0 tenant(s)") == true, "which BM25 path searches use")
        }
        try await withSupportServer(.sqlite, embedder: TestEmbedder()) { client, _, _, _ in
            let status = try await client.execute(uri: "/status", method: .get) { try JSONValue.parse(String(buffer: $0.body)) }
            #expect(status["packs"]?["support"]?["search"]?.stringValue?.hasPrefix("hybrid") == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theAgentAnswersFromTheKnowledgeBaseWithCitationEvents(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind, embedder: TestEmbedder()) { client, seeded, _, _ in
            let key = seeded.adminKey
            try await client.createCollection(key, "help")
            for d in SupportCorpus.documents { _ = try await client.addDocument(key, collection: "help", title: d.title, text: d.text) }
            let events = try await client.chat(key, "How long is the password reset link valid?")
            let toolEnd = try #require(events.first { $0.event == "tool_end" && $0.data["tool"] == "search_knowledge" })
            let citations = try #require(toolEnd.data["output"]?["citations"]?.arrayValue)
            var cited: [StreamedEvent] = []
            for e in events where e.event == "citation" { cited.append(e) }
            #expect(cited.count == citations.count && !cited.isEmpty)
            #expect(cited.first?.data["n"] == 1 && cited.first?.data["document_title"] == "Passwords")
            #expect(cited.first?.data["chunk_id"] == citations.first?["chunk_id"] && cited.first?.data["snippet"] != nil)
            // citation events come right after their tool_end, before the answer.
            let toolEndIndex = try #require(events.firstIndex { $0.event == "tool_end" })
            #expect(events.firstIndex { $0.event == "citation" } == toolEndIndex + 1)
            let answer = try #require(events.last { $0.event == "workflow_completed" }?.data["final_response"]?.stringValue)
            #expect(answer.contains("30 minutes") && answer.contains("[1]"))

            let nothing = try await client.chat(key, "search the knowledge base for quantum chromodynamics lectures")
            let out = nothing.first { $0.event == "tool_end" }?.data["output"]
            #expect(out?["no_relevant_results"] == true && out?["results"] == [])
            #expect(nothing.filter { $0.event == "citation" }.isEmpty)
        }
    }
}

/// The worker's seam for packs' jobs: a job whose type has a handler runs through it, once, with
/// the queue's leases, retries and dead-lettering; message jobs are untouched.
@Suite struct PackJobHandlerTests {
    @Test(arguments: TestEnv.kinds)
    func aPacksJobRunsOnceAndFailuresFollowTheQueuesRules(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let queue = JobQueue(store: store, clock: clock)
            let runs = Mutex<[String]>([])
            let worker = CommsWorker(queue: queue, channel: OutboxChannel(), settings: WorkerSettings(), logger: SupportTestEnv.logger)
            worker.install([
                JobHandler(type: "test.ok") { job in runs.withLock { $0.append(job.payload) } },
                JobHandler(type: "test.permanent") { _ in throw JobHandler.Permanent("cannot work") },
                JobHandler(type: "test.transient") { _ in throw TestFailure("try later") },
            ])
            let ok = try await queue.enqueue(NewJob(tenantID: seeded.tenant.id, type: "test.ok", payload: "one", runAt: clock.now()))
            let permanent = try await queue.enqueue(NewJob(tenantID: seeded.tenant.id, type: "test.permanent", payload: "{}", runAt: clock.now()))
            let transient = try await queue.enqueue(NewJob(tenantID: seeded.tenant.id, type: "test.transient", payload: "{}", runAt: clock.now(), maxAttempts: 2))
            #expect(try await worker.runDueJobs() == 3)
            #expect(try await worker.runDueJobs() == 0, "nothing is due again at once")
            #expect(runs.withLock { $0 } == ["one"])
            let jobs = Dictionary(uniqueKeysWithValues: try await queue.list(tenantID: seeded.tenant.id, state: nil, before: nil, limit: 10).map { ($0.id, $0) })
            #expect(jobs[ok.id]?.state == .succeeded)
            #expect(jobs[permanent.id]?.state == .dead && jobs[permanent.id]?.lastError == "cannot work" && jobs[permanent.id]?.attempts == 1)
            #expect(jobs[transient.id]?.state == .retrying && jobs[transient.id]?.lastError?.contains("try later") == true)
            clock.advance(by: 3600)
            #expect(try await worker.runDueJobs() == 1)
            let last = try await queue.list(tenantID: seeded.tenant.id, state: nil, before: nil, limit: 10).first { $0.id == transient.id }
            #expect(last?.state == .dead && last?.attempts == 2, "out of attempts")
            #expect(runs.withLock { $0 } == ["one"], "a succeeded job never runs again")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func seedingTheDemoKnowledgeBaseTwiceChangesNothing(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock, slug: "default")
            let command = try #require(SupportPack.pack.commands.first { $0.kind == .seed && $0.name == "support" })
            let context = PackCommandContext(store: store, clock: clock, config: try SupportTestEnv.config(), logger: SupportTestEnv.logger, arguments: [])
            try await command.run(context)
            let kb = SupportTestEnv.service(store, clock: clock)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let first = try await kb.documents(principal, collection: "help", before: nil, limit: 50).documents
            // Every format of the embedded help set converted and was ingested: none skipped.
            let formats = ["quick-start.md": "markdown", "troubleshooting.html": "html", "warranty.pdf": "pdf",
                           "setup-guide.docx": "docx", "price-list.xlsx": "xlsx"]
            #expect(Dictionary(uniqueKeysWithValues: first.map { ($0.sourceFilename ?? "", $0.format) }) == formats)
            #expect(first.allSatisfy { $0.status == .ready && $0.chunkCount > 0 })
            try await command.run(context)
            let second = try await kb.documents(principal, collection: "help", before: nil, limit: 50).documents
            #expect(second.map(\.updatedAt) == first.map(\.updatedAt) && second.count == first.count)
            // A price row is found with its table's header (the XLSX sheet's chunk).
            let xlsx = try #require(first.first { $0.sourceFilename == "price-list.xlsx" })
            let prices = try await kb.search(principal, SearchRequest(query: "travel pouch price", k: 3))
            let top = try #require(prices.results.first)
            #expect(top.documentId == xlsx.id && top.headingPath.contains("Prices"))
            #expect(top.text.contains("| Product | SKU | Price (EUR) | In stock |\n| --- | --- | --- | --- |") && top.text.contains("| Travel pouch | POUCH-1 | 14 | TRUE |"),
                    "\(top.text)")
            // A passage of the PDF is cited in an answer.
            let pdf = try #require(first.first { $0.sourceFilename == "warranty.pdf" })
            let claim = try await kb.answer(principal, SearchRequest(query: "Which photo should I email with a warranty claim?"))
            #expect(claim.citations.contains { $0.documentId == pdf.id && $0.headingPath.contains("How to make a claim") }, "\(claim.citations)")
            #expect(claim.answer.contains("a photo of the rating label"), "\(claim.answer)")
            let context2 = PackCommandContext(store: store, clock: clock, config: try SupportTestEnv.config(), logger: SupportTestEnv.logger, arguments: ["--tenant", "nope"])
            await #expect(throws: ParleyError.self) { try await command.run(context2) }
        }
    }
}
