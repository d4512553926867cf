import Foundation
import ParleyComms
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyStorage

/// `parley bench kb-search`: BM25 top-10 latency over a large synthetic knowledge base on the
/// configured database (issue 12). It loads the chunks into a fresh tenant, builds the tenant's
/// in-memory BM25 index, times searches through `KnowledgeService.search` (mode bm25, k 10) and
/// through the ranking alone, both on the index and on the database path, checks that the two
/// rankings agree, and can write the same texts and queries to files so peers
/// (scripts/bench-kb.py) index exactly the same data.
enum KBBench {
    static let help = """
        USAGE: parley bench kb-search [--chunks <n>] [--queries <n>] [--export <dir>]

        OPTIONS:
          --chunks <n>     Synthetic chunks to load, 100 to 1000000. (default: 100000)
          --queries <n>    Queries of 2-4 terms timed, 1 to 10000. (default: 200)
          --export <dir>   Also write corpus.txt (one chunk per line) and queries.txt there.
        """

    static let commands: [PackCommand] = [
        PackCommand(.bench, "kb-search", summary: "Measure knowledge-base BM25 search (top 10) over synthetic chunks on the configured database.",
                    help: help) { ctx in try await run(ctx) },
    ]

    struct Options {
        var chunks = 100_000
        var queries = 200
        var export: String?
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var o = Options()
        var args = arguments[...]
        func value(_ name: String) throws -> String {
            guard let v = args.popFirst() else { throw ParleyError.badRequest("\(name) needs a value\n\n\(help)") }
            return v
        }
        while let arg = args.popFirst() {
            switch arg {
            case "--chunks":
                guard let n = Int(try value(arg)), (100...1_000_000).contains(n) else { throw ParleyError.badRequest("--chunks must be from 100 to 1000000") }
                o.chunks = n
            case "--queries":
                guard let n = Int(try value(arg)), (1...10_000).contains(n) else { throw ParleyError.badRequest("--queries must be from 1 to 10000") }
                o.queries = n
            case "--export": o.export = try value(arg)
            default: throw ParleyError.badRequest("unknown argument '\(arg)'\n\n\(help)")
            }
        }
        return o
    }

    static func run(_ ctx: PackCommandContext) async throws {
        let options = try parse(ctx.arguments)
        let store = ctx.store, clock = ctx.clock
        var corpus = SyntheticCorpus(seed: 12)
        let chunkTexts = (0..<options.chunks).map { _ in corpus.chunkText() }
        let queries = (0..<options.queries).map { _ in corpus.query() }
        if let dir = options.export {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let lines = chunkTexts.enumerated().map { i, t in heading(i) + " " + t }
            try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
            try (queries.joined(separator: "\n") + "\n").write(toFile: dir + "/queries.txt", atomically: true, encoding: .utf8)
        }

        let tenant = try await TenantService(store: store, clock: clock).create(name: "KB bench \(UUID().uuidString.prefix(8))", slug: nil,
                                                                               timeZone: "UTC", actor: "bench")
        let kb = KnowledgeService(store: store, clock: clock, settings: try SupportSettings.load(ctx.config), embedder: nil, logger: ctx.logger)
        let repo = kb.repo
        let tenantID = tenant.id
        let now = clock.now()
        let collection = KBCollection(id: UUIDv7.make(at: now), name: "bench", description: nil, documentCount: 0, createdAt: now, updatedAt: now)
        try await store.transaction { db in try await repo.insertCollection(collection, tenantID: tenantID, on: db) }
        let loadStart = ContinuousClock.now
        let perDocument = 100
        for start in stride(from: 0, to: chunkTexts.count, by: perDocument) {
            let range = start..<min(chunkTexts.count, start + perDocument)
            let doc = KBDocument(id: UUIDv7.make(at: now), collectionId: collection.id, collection: collection.name, title: "Document \(start / perDocument)",
                                 sourceFilename: nil, format: "markdown", contentHash: "bench-\(start)", tags: [], status: .ready,
                                 chunkCount: range.count, error: nil, createdAt: now, updatedAt: now)
            let chunks = range.map { i in
                KBChunk(id: UUIDv7.make(at: now), ordinal: i - start, headingPath: heading(i), text: chunkTexts[i],
                        wordCount: chunkTexts[i].split(separator: " ").count, startOffset: 0, endOffset: chunkTexts[i].utf8.count)
            }
            try await store.transaction { db in
                try await repo.insertDocument(doc, key: "bench-\(start)", markdown: "", tenantID: tenantID, on: db)
                try await repo.insertChunks(chunks, documentID: doc.id, collectionID: collection.id, tenantID: tenantID, on: db)
            }
        }
        let loadSeconds = (ContinuousClock.now - loadStart).seconds
        if store.kind == .postgres { try await store.transaction { db in try await db.raw("ANALYZE").run() } }

        let principal = Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: "bench")
        // The in-memory index, built before timing (a cold tenant this large is indexed in the
        // background while the database ranks); the same searches on the database path alone.
        let buildStart = ContinuousClock.now
        let indexed = try await kb.prepareBM25Index(tenantID: tenantID)
        let buildSeconds = (ContinuousClock.now - buildStart).seconds
        let generation = try await store.read { db in try await repo.stats(tenantID: tenantID, on: db).generation }
        let index = kb.bm25Index.index(tenantID: tenantID, generation: generation)
        var databaseSettings = kb.settings
        databaseSettings.bm25CacheMB = 0
        let onDatabase = KnowledgeService(store: store, clock: clock, settings: databaseSettings, embedder: nil, logger: ctx.logger)
        let bm25 = BM25Search(kind: store.kind, repo: repo)
        // A warm-up pass (caches, prepared plans), then the timed passes.
        for q in queries.prefix(20) {
            _ = try await kb.search(principal, SearchRequest(query: q, k: 10, mode: .bm25))
            _ = try await onDatabase.search(principal, SearchRequest(query: q, k: 10, mode: .bm25))
        }
        var service: [Double] = [], ranking: [Double] = [], dbService: [Double] = [], dbRanking: [Double] = []
        var found = 0, same = 0
        for q in queries {
            let terms = KBTokenizer.queryTerms(q)
            var started = ContinuousClock.now
            let r = try await kb.search(principal, SearchRequest(query: q, k: 10, mode: .bm25))
            service.append((ContinuousClock.now - started).seconds * 1000)
            found += r.results.count
            var inMemory: [Ranked] = []
            if let index {
                started = ContinuousClock.now
                inMemory = index.search(terms: terms, allowed: nil, limit: 10)
                ranking.append((ContinuousClock.now - started).seconds * 1000)
            }
            started = ContinuousClock.now
            _ = try await onDatabase.search(principal, SearchRequest(query: q, k: 10, mode: .bm25))
            dbService.append((ContinuousClock.now - started).seconds * 1000)
            started = ContinuousClock.now
            let fromDatabase = try await store.read { db in try await bm25.search(tenantID: tenantID, terms: terms, filter: SearchFilter(tags: []), limit: 10, on: db) }
            dbRanking.append((ContinuousClock.now - started).seconds * 1000)
            if inMemory.map(\.chunkID) == fromDatabase.map(\.chunkID), zip(inMemory, fromDatabase).allSatisfy({ abs($0.score - $1.score) <= 1e-9 * max(1, abs($1.score)) }) {
                same += 1
            }
        }
        let line: [String: JSONValue] = [
            "bench": "kb-search", "database": .string(store.kind == .sqlite ? "sqlite" : "postgres"),
            "chunks": .number(Double(options.chunks)), "queries": .number(Double(queries.count)),
            "load_s": .number((loadSeconds * 10).rounded() / 10), "results_per_query": .number(Double(found) / Double(max(1, queries.count))),
            "index": .bool(indexed), "index_build_s": .number((buildSeconds * 100).rounded() / 100),
            "index_mb": .number(((Double(index?.bytes ?? 0) / 1_048_576) * 10).rounded() / 10),
            "search_p50_ms": .number(percentile(service, 0.5)), "search_p95_ms": .number(percentile(service, 0.95)),
            "bm25_p50_ms": .number(percentile(ranking, 0.5)), "bm25_p95_ms": .number(percentile(ranking, 0.95)),
            "db_search_p50_ms": .number(percentile(dbService, 0.5)), "db_search_p95_ms": .number(percentile(dbService, 0.95)),
            "db_bm25_p50_ms": .number(percentile(dbRanking, 0.5)), "db_bm25_p95_ms": .number(percentile(dbRanking, 0.95)),
            "top10_equal_to_database": .number(Double(same)),
        ]
        print(JSONValue.object(line).serialized())
    }

    static func heading(_ i: Int) -> String { "Guide \(i / 100) > Section \(i % 100)" }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return (sorted[Int((Double(sorted.count - 1) * p).rounded())] * 1000).rounded() / 1000
    }
}

/// Deterministic synthetic text: a vocabulary of 30,000 made-up words drawn with Zipf's law
/// (s = 1), chunks of 100–300 words, queries of 2–4 words drawn from ranks 100–10,000 (the
/// words a question keeps after its stopwords).
struct SyntheticCorpus {
    private var random: SplitMix64
    let vocabulary: [String]
    private let cumulative: [Double]

    init(seed: UInt64, words: Int = 30_000) {
        random = SplitMix64(seed: seed)
        let syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "gu", "fi", "ho", "ze", "ba", "ly", "qu", "wen", "tor", "ish"]
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(words)
        var i = 0
        while vocabulary.count < words {
            var n = i, word = ""
            repeat { word += syllables[n % syllables.count]; n /= syllables.count } while n > 0
            if word.count >= 2 { vocabulary.append(word) }
            i += 1
        }
        self.vocabulary = vocabulary
        var total = 0.0
        cumulative = (1...words).map { r in total += 1 / Double(r); return total }
    }

    mutating func next() -> UInt64 { random.next() }

    mutating func uniform() -> Double { random.uniform() }

    /// A vocabulary rank (0-based) drawn with Zipf's law.
    mutating func zipf() -> Int {
        let target = uniform() * (cumulative.last ?? 1)
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < target { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func chunkText() -> String {
        let count = 100 + Int(next() % 201)
        return (0..<count).map { _ in vocabulary[zipf()] }.joined(separator: " ")
    }

    mutating func query() -> String {
        let count = 2 + Int(next() % 3)
        return (0..<count).map { _ in vocabulary[100 + Int(next() % 9_900)] }.joined(separator: " ")
    }
}
