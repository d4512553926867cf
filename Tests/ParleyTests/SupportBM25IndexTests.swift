import Foundation
import ParleyCore
import ParleyStorage
@testable import ParleySupport
import SQLKit
import Testing

/// The in-memory BM25 index against the database paths (FTS5 on SQLite, postings on
/// PostgreSQL): the same chunks, order, scores and tie-breaks, with and without filters; stale
/// indexes noticed through the generation counter across replicas; the byte cap.
@Suite struct SupportBM25IndexTests {
    static func lenient(cacheMB: Int = 512) -> SupportSettings {
        var s = SupportSettings()
        s.minBM25 = 0
        s.bm25CacheMB = cacheMB
        return s
    }

    /// The retrieval fixtures plus two documents of identical text (equal scores: the tie is
    /// broken by chunk id), a tagged document in a second collection, and another tenant.
    static func load(_ kb: KnowledgeService, _ store: any Store, clock: TestClock) async throws -> (tenantID: String, billing: String) {
        let seeded = try await Seeded.make(store, clock: clock)
        let other = try await Seeded.make(store, clock: clock, slug: "other")
        try await SupportCorpus.load(kb, tenantID: other.tenant.id)
        try await SupportCorpus.load(kb, tenantID: seeded.tenant.id)
        let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
        _ = try await kb.createCollection(ctx, name: "faq", description: nil)
        for title in ["Copy one", "Copy two", "Copy three"] {
            _ = try await kb.ingest(ctx, IngestRequest(collection: "faq", title: title, filename: nil,
                                                      markdown: "The lamp adapter warranty lasts two years.", format: "markdown", tags: []))
        }
        let billing = try await kb.ingest(ctx, IngestRequest(collection: "faq", title: "Invoices", filename: nil,
                                                             markdown: "# Billing\n\nInvoices for a refund of the yearly plan arrive by email; the lamp is not billed.",
                                                             format: "markdown", tags: ["billing"]))
        return (seeded.tenant.id, billing.document.id)
    }

    static let queries = SupportCorpus.queries + ["lamp adapter warranty", "refund invoices yearly", "the", "zzz unknown words", "café crème"]

    @Test(arguments: TestEnv.kinds)
    func theIndexRanksExactlyAsTheDatabase(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let indexed = SupportTestEnv.service(store, clock: clock, settings: Self.lenient())
            let onDatabase = SupportTestEnv.service(store, clock: clock, settings: Self.lenient(cacheMB: 0))
            let (tenantID, billing) = try await Self.load(indexed, store, clock: clock)
            let principal = Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: "test")
            let faq = try #require(try await indexed.collections(principal).first { $0.name == "faq" }).id
            let requests: [(String) -> SearchRequest] = [
                { SearchRequest(query: $0, k: 50, mode: .bm25) },
                { SearchRequest(query: $0, collection: "faq", k: 50, mode: .bm25) },
                // A set of collections, an agent's scope, and a scope the named collection is outside of.
                { SearchRequest(query: $0, collection: "help", collections: ["faq"], k: 50, mode: .bm25) },
                { SearchRequest(query: $0, collectionScope: [faq], k: 50, mode: .bm25) },
                { SearchRequest(query: $0, collection: "help", collectionScope: [faq], k: 50, mode: .bm25) },
                { SearchRequest(query: $0, documentID: billing, k: 50, mode: .bm25) },
                { SearchRequest(query: $0, tags: ["billing"], k: 50, mode: .bm25) },
                { SearchRequest(query: $0, tags: ["nothing-tagged"], k: 50, mode: .bm25) },
                { SearchRequest(query: $0, k: 2, mode: .bm25) },
            ]
            var compared = 0
            for q in Self.queries {
                for make in requests {
                    let a = try await indexed.search(principal, make(q)).results
                    let b = try await onDatabase.search(principal, make(q)).results
                    #expect(a.map(\.chunkId) == b.map(\.chunkId), "\(q)")
                    #expect(a.map(\.rank) == b.map(\.rank))
                    for (x, y) in zip(a, b) { #expect(abs((x.bm25 ?? -1) - (y.bm25 ?? -2)) < 1e-9, "\(q): \(x.bm25 ?? 0) vs \(y.bm25 ?? 0)") }
                    compared += a.count
                }
            }
            #expect(compared > 100)
            #expect(indexed.bm25Index.tenants == [tenantID], "the indexed service ranked in memory")
            #expect(onDatabase.bm25Index.tenants.isEmpty && !onDatabase.bm25Index.enabled)
            // Ties: the three identical passages score the same and come in chunk id order.
            let ties = try await indexed.search(principal, SearchRequest(query: "warranty", k: 10, mode: .bm25)).results
            #expect(ties.count == 3 && Set(ties.compactMap(\.bm25)).count == 1)
            #expect(ties.map(\.chunkId) == ties.map(\.chunkId).sorted())

            // The ranking alone, the whole candidate pool: index against the database statement.
            let stats = try await store.read { db in try await indexed.repo.stats(tenantID: tenantID, on: db) }
            let index = try #require(indexed.bm25Index.index(tenantID: tenantID, generation: stats.generation))
            #expect(index.count == stats.chunks && abs(index.averageLength - Double(stats.tokens) / Double(stats.chunks)) < 1e-12)
            let bm25 = BM25Search(kind: kind, repo: indexed.repo)
            for q in Self.queries {
                let terms = KBTokenizer.queryTerms(q)
                for limit in [1, 3, 50] {
                    let db = try await store.read { db in try await bm25.search(tenantID: tenantID, terms: terms, filter: SearchFilter(tags: []), limit: limit, on: db) }
                    let memory = index.search(terms: terms, allowed: nil, limit: limit)
                    #expect(memory.map(\.chunkID) == db.map(\.chunkID), "\(q) top \(limit)")
                    for (x, y) in zip(memory, db) { #expect(abs(x.score - y.score) < 1e-9) }
                }
            }
        }
    }

    /// Two replicas on one database: each keeps its own index, and a write on one is seen by the
    /// other's next search (the generation moved), never an answer from a stale index.
    @Test(arguments: TestEnv.kinds)
    func anotherReplicasWritesAreSeenAtOnce(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let a = SupportTestEnv.service(store, clock: clock, settings: Self.lenient())
            let b = SupportTestEnv.service(store, clock: clock, settings: Self.lenient())
            let seeded = try await Seeded.make(store, clock: clock)
            try await SupportCorpus.load(b, tenantID: seeded.tenant.id)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let ctx = ActionContext(principal: principal, requestID: nil)
            func generation() async throws -> Int { try await store.read { db in try await a.repo.stats(tenantID: seeded.tenant.id, on: db).generation } }
            #expect(try await a.search(principal, SearchRequest(query: "zeppelin hangar", k: 5, mode: .bm25)).results.isEmpty)
            #expect(a.bm25Index.tenants == [seeded.tenant.id])
            let before = try await generation()
            let added = try await b.ingest(ctx, IngestRequest(collection: "help", title: "Zeppelins", filename: nil,
                                                            markdown: "The zeppelin hangar opens at dawn.", format: "markdown", tags: []))
            #expect(try await generation() == before + 1)
            let found = try await a.search(principal, SearchRequest(query: "zeppelin hangar", k: 5, mode: .bm25)).results
            #expect(found.map(\.documentId) == [added.document.id])
            // Thresholds and vectors do not touch the generation (no needless rebuilds).
            _ = try await b.setThresholds(ctx, minBM25: 0.5, minSimilarity: nil)
            #expect(try await generation() == before + 1)
            try await b.delete(ctx, id: added.document.id)
            #expect(try await generation() == before + 2)
            #expect(try await a.search(principal, SearchRequest(query: "zeppelin hangar", k: 5, mode: .bm25)).results.isEmpty)
            // Both replicas agree with the database path after all that.
            let onDatabase = SupportTestEnv.service(store, clock: clock, settings: Self.lenient(cacheMB: 0))
            for q in SupportCorpus.queries {
                let x = try await a.search(principal, SearchRequest(query: q, k: 20, mode: .bm25)).results
                let y = try await onDatabase.search(principal, SearchRequest(query: q, k: 20, mode: .bm25)).results
                #expect(x.map(\.chunkId) == y.map(\.chunkId) && !x.isEmpty, "\(q)")
            }
        }
    }

    static func rows(_ n: Int, seed: UInt64) -> [BM25Index.Row] {
        var random = SplitMix64(seed: seed)
        let words = ["lamp", "adapter", "refund", "plan", "router", "password", "cafe", "invoice"]
        return (0..<n).map { i in
            let text = (0..<(3 + random.below(20))).map { _ in random.pick(words) }.joined(separator: " ")
            return BM25Index.Row(id: String(format: "c%05d", i), documentID: "d\(i / 10)", collectionID: "c", tokenCount: KBTokenizer.tokens(text).count, text: text)
        }
    }

    /// A "word" longer than a PostgreSQL index entry may be (a pasted blob) is stored and found
    /// on both databases, by the index and by the database path alike.
    @Test(arguments: TestEnv.kinds)
    func aVeryLongWordIsStoredAndFoundOnBothPaths(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let indexed = SupportTestEnv.service(store, clock: clock, settings: Self.lenient())
            let onDatabase = SupportTestEnv.service(store, clock: clock, settings: Self.lenient(cacheMB: 0))
            let seeded = try await Seeded.make(store, clock: clock)
            let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            // Longer than a B-tree entry (2.7 KB): once a 500 on PostgreSQL.
            let huge = String(repeating: "h7k", count: 100_000)
            // Long enough to be stored shortened, short enough for a query (2,000 characters).
            let blob = String(repeating: "q9z", count: 600)
            _ = try await onDatabase.createCollection(ctx, name: "faq", description: nil)
            _ = try await onDatabase.ingest(ctx, IngestRequest(collection: "faq", title: "Huge", filename: nil,
                                                               markdown: "A pasted \(huge) blob.", format: "markdown", tags: []))
            let doc = try await onDatabase.ingest(ctx, IngestRequest(collection: "faq", title: "Pasted", filename: nil,
                                                                     markdown: "The key is \(blob) and nothing else.", format: "markdown", tags: []))
            _ = try await onDatabase.ingest(ctx, IngestRequest(collection: "faq", title: "Other", filename: nil,
                                                               markdown: "The key is in the drawer.", format: "markdown", tags: []))
            for service in [indexed, onDatabase] {
                let found = try await service.search(ctx.principal, SearchRequest(query: blob, k: 5, mode: .bm25)).results
                #expect(found.map(\.documentId) == [doc.document.id])
            }
        }
    }

    @Test func theCacheDropsTheLeastRecentlyUsedTenantPastItsCapAndSkipsOversizedOnes() throws {
        let one = try BM25Index(rows: Self.rows(200, seed: 1))
        let cache = BM25IndexCache(maxBytes: one.bytes * 5 / 2)
        cache.store(tenantID: "t1", claimed: 1, generation: 1, index: one)
        cache.store(tenantID: "t2", claimed: 1, generation: 1, index: try BM25Index(rows: Self.rows(200, seed: 2)))
        #expect(cache.index(tenantID: "t1", generation: 1) != nil, "t1 used last")
        #expect(cache.index(tenantID: "t1", generation: 2) == nil, "a stale generation is never used")
        cache.store(tenantID: "t3", claimed: 1, generation: 1, index: try BM25Index(rows: Self.rows(200, seed: 3)))
        #expect(cache.tenants == ["t1", "t3"])
        // Larger than the whole cap: not kept, and that generation stays on the database.
        let big = try BM25Index(rows: Self.rows(1_000, seed: 4))
        #expect(big.bytes > cache.maxBytes)
        #expect(cache.claim(tenantID: "t4", generation: 7))
        #expect(!cache.claim(tenantID: "t4", generation: 7), "one build per generation at a time")
        cache.store(tenantID: "t4", claimed: 7, generation: 7, index: big)
        #expect(cache.tenants == ["t1", "t3"])
        let small = KnowledgeRepository.Stats(chunks: 10, tokens: 10, revision: 1, generation: 7)
        #expect(cache.plan(tenantID: "t4", stats: small) == .database, "known to be too big at this generation")
        #expect(cache.plan(tenantID: "t5", stats: small) == .buildInline)
        let large = KnowledgeRepository.Stats(chunks: 30_000, tokens: 3_000_000, revision: 1, generation: 1)
        #expect(cache.plan(tenantID: "t5", stats: large) == .database, "estimated larger than the cap")
        #expect(BM25IndexCache(maxBytes: 1 << 30).plan(tenantID: "t5", stats: large) == .buildInBackground)
        #expect(BM25IndexCache(maxBytes: 0).plan(tenantID: "t5", stats: small) == .database)
        #expect(cache.description.contains("in-memory index for 2 tenant(s)"))
    }

    /// The index's top k against scoring every chunk with `BM25.score` and sorting (many ties).
    @Test func topKEqualsAFullSortWithTiesByChunkID() throws {
        let rows = Self.rows(500, seed: 9)
        let index = try BM25Index(rows: rows)
        let average = Double(rows.map(\.tokenCount).reduce(0, +)) / Double(rows.count)
        for query in [["lamp"], ["refund", "plan"], ["cafe", "invoice", "router", "nothing"]] {
            let tokens = rows.map { KBTokenizer.tokens($0.text) }
            let idfs = query.map { t in BM25.idf(documents: rows.count, containing: tokens.filter { $0.contains(t) }.count) }
            let expected = zip(rows, tokens).compactMap { row, tokens -> Ranked? in
                let tf = query.map { t in tokens.filter { $0 == t }.count }
                guard tf.contains(where: { $0 > 0 }) else { return nil }
                return Ranked(chunkID: row.id, score: BM25.score(frequencies: tf, idfs: idfs, length: row.tokenCount, averageLength: average))
            }.sorted { $0.score != $1.score ? $0.score > $1.score : $0.chunkID < $1.chunkID }
            for k in [1, 10, 37, 1_000] {
                #expect(index.search(terms: query, allowed: nil, limit: k) == Array(expected.prefix(k)), "\(query) top \(k)")
            }
        }
    }

    @Test func theByteTokenizerEqualsTheGeneralOne() {
        for text in ["Reset the PASSWORD, then 2.4 GHz Wi-Fi_router x86-64!", "Café crème brûlée", "", "   ", "a\r\nb", "ÅNGSTRÖM naïve 123abc"] {
            var out: [String] = []
            KBTokenizer.forEachToken(text) { out.append($0) }
            #expect(out == KBTokenizer.tokens(text), "\(text)")
        }
    }
}
