import Foundation
import ParleyStorage
import SQLKit
import Synchronization

/// A tenant's chunks as an in-memory BM25 index: term -> postings (chunk number, term frequency)
/// in compact arrays, chunk lengths, N and the average length. It ranks exactly as the database
/// paths do (`BM25Search`): the same tokens (`KBTokenizer`), the same corpus statistics, FTS5's
/// formula in the same order of operations, and ties broken by chunk id (chunks are numbered in
/// id order, so a lower number is a lower id).
struct BM25Index: Sendable {
    /// Chunk ids in ascending order; a chunk's number is its position here.
    let chunkIDs: [String]
    /// Per chunk: its document and collection (numbers into `documentIDs` / `collectionIDs`).
    let chunkDocument: [Int32]
    let chunkCollection: [Int32]
    let documentIDs: [String]
    let collectionIDs: [String]
    private let documentNumbers: [String: Int32]
    private let collectionNumbers: [String: Int32]
    /// Per chunk: `k1 * (1 - b + b * length / averageLength)`, the denominator's length part.
    private let lengthNorm: [Double]
    private let terms: [String: Int32]
    /// Postings of term t: `postingChunks[postingStart[t] ..< postingStart[t + 1]]`, ascending.
    private let postingStart: [Int]
    private let postingChunks: [Int32]
    private let postingFrequencies: [UInt16]
    let averageLength: Double
    /// What the index occupies, roughly (arrays and strings), for the cache's byte cap.
    let bytes: Int

    var count: Int { chunkIDs.count }

    /// One chunk as the database holds it.
    struct Row: Sendable {
        var id: String
        var documentID: String
        var collectionID: String
        var tokenCount: Int
        var text: String
    }

    enum BuildError: Error {
        /// A term occurs more than 65,535 times in one chunk: the index stores frequencies in 16 bits.
        case frequencyTooLarge
    }

    /// Builds the index from every chunk of the tenant (any order).
    init(rows unsorted: [Row]) throws {
        let rows = unsorted.sorted { $0.id < $1.id }
        let n = rows.count
        var documentNumbers: [String: Int32] = [:], collectionNumbers: [String: Int32] = [:]
        var documentIDs: [String] = [], collectionIDs: [String] = []
        var chunkDocument = [Int32](repeating: 0, count: n), chunkCollection = [Int32](repeating: 0, count: n)
        var terms: [String: Int32] = [:]
        // Each chunk's distinct terms with their frequencies, flat, then regrouped by term.
        var rowStart = [Int](repeating: 0, count: n + 1)
        var rowTerms: [Int32] = [], rowFrequencies: [UInt16] = []
        var termDocuments: [Int] = []
        var totalTokens = 0
        var local: [Int32: Int] = [:]
        for (i, row) in rows.enumerated() {
            if let d = documentNumbers[row.documentID] { chunkDocument[i] = d } else {
                let d = Int32(documentIDs.count)
                documentNumbers[row.documentID] = d
                documentIDs.append(row.documentID)
                chunkDocument[i] = d
            }
            if let c = collectionNumbers[row.collectionID] { chunkCollection[i] = c } else {
                let c = Int32(collectionIDs.count)
                collectionNumbers[row.collectionID] = c
                collectionIDs.append(row.collectionID)
                chunkCollection[i] = c
            }
            totalTokens += row.tokenCount
            local.removeAll(keepingCapacity: true)
            KBTokenizer.forEachToken(row.text) { token in
                let t: Int32
                if let known = terms[token] { t = known } else {
                    t = Int32(terms.count)
                    terms[token] = t
                    termDocuments.append(0)
                }
                local[t, default: 0] += 1
            }
            for (t, f) in local {
                guard f <= Int(UInt16.max) else { throw BuildError.frequencyTooLarge }
                rowTerms.append(t)
                rowFrequencies.append(UInt16(f))
                termDocuments[Int(t)] += 1
            }
            rowStart[i + 1] = rowTerms.count
        }
        var postingStart = [Int](repeating: 0, count: termDocuments.count + 1)
        for t in termDocuments.indices { postingStart[t + 1] = postingStart[t] + termDocuments[t] }
        var fill = postingStart
        var postingChunks = [Int32](repeating: 0, count: rowTerms.count)
        var postingFrequencies = [UInt16](repeating: 0, count: rowTerms.count)
        for i in 0..<n {
            for p in rowStart[i]..<rowStart[i + 1] {
                let t = Int(rowTerms[p])
                postingChunks[fill[t]] = Int32(i)
                postingFrequencies[fill[t]] = rowFrequencies[p]
                fill[t] += 1
            }
        }
        // The same average as the PostgreSQL path (the tenant's totals) and FTS5.
        let average = n == 0 ? 1 : Double(totalTokens) / Double(n)
        lengthNorm = rows.map { BM25.k1 * (1 - BM25.b + BM25.b * Double($0.tokenCount) / average) }
        averageLength = average
        let ids = rows.map(\.id)
        self.chunkIDs = ids
        self.chunkDocument = chunkDocument
        self.chunkCollection = chunkCollection
        self.documentIDs = documentIDs
        self.collectionIDs = collectionIDs
        self.documentNumbers = documentNumbers
        self.collectionNumbers = collectionNumbers
        self.terms = terms
        self.postingStart = postingStart
        self.postingChunks = postingChunks
        self.postingFrequencies = postingFrequencies
        func stringBytes(_ s: [String]) -> Int { s.reduce(0) { $0 + 16 + ($1.utf8.count > 15 ? $1.utf8.count : 0) } }
        bytes = postingChunks.count * 6 + postingStart.count * 8 + n * (8 + 4 + 4) + stringBytes(ids)
            + (stringBytes(documentIDs) + stringBytes(collectionIDs)) * 2 + terms.keys.reduce(0) { $0 + 16 + 4 + 8 + $1.utf8.count }
    }

    /// What narrows a search, as chunk numbers: nil lets every chunk through.
    struct Allowed {
        var collections: Set<Int32>?
        var document: Int32?
        var documents: Set<Int32>?
        /// The filter names only collections, or a document, the index does not hold: nothing matches.
        var nothing = false
    }

    func allowed(_ filter: SearchFilter, taggedDocuments: [String]?) -> Allowed? {
        guard !filter.isEmpty else { return nil }
        var a = Allowed()
        if let wanted = filter.collectionIDs {
            let held = Set(wanted.compactMap { collectionNumbers[$0] })
            if held.isEmpty { a.nothing = true } else { a.collections = held }
        }
        if let d = filter.documentID {
            if let n = documentNumbers[d] { a.document = n } else { a.nothing = true }
        }
        if !filter.tags.isEmpty {
            a.documents = Set((taggedDocuments ?? []).compactMap { documentNumbers[$0] })
        }
        return a
    }

    /// The best `limit` chunks holding any of `terms` (distinct), best first; equal scores in
    /// chunk id order.
    func search(terms queryTerms: [String], allowed: Allowed?, limit: Int) -> [Ranked] {
        guard limit > 0, count > 0, allowed?.nothing != true else { return [] }
        var scores = [Double](repeating: 0, count: count)
        var touched: [Int32] = []
        // Term at a time in the query's order: each chunk's sum is built in the same order as
        // `BM25.score` (a term the chunk lacks adds exactly 0 there), so the figures are equal.
        // Every contribution is positive (idf >= 1e-6, tf >= 1): a zero score is an untouched chunk.
        for term in queryTerms {
            guard let t = terms[term].map(Int.init) else { continue }
            let start = postingStart[t], end = postingStart[t + 1]
            let idf = BM25.idf(documents: count, containing: end - start)
            scores.withUnsafeMutableBufferPointer { scores in
                lengthNorm.withUnsafeBufferPointer { norm in
                    postingChunks.withUnsafeBufferPointer { chunks in
                        postingFrequencies.withUnsafeBufferPointer { frequencies in
                            for p in start..<end {
                                let c = Int(chunks[p])
                                let f = Double(frequencies[p])
                                if scores[c] == 0 { touched.append(Int32(c)) }
                                scores[c] += idf * ((f * (BM25.k1 + 1.0)) / (f + norm[c]))
                            }
                        }
                    }
                }
            }
        }
        var heap = TopK(capacity: limit)
        for c32 in touched {
            let c = Int(c32)
            if let a = allowed {
                if let x = a.collections, !x.contains(chunkCollection[c]) { continue }
                if let x = a.document, chunkDocument[c] != x { continue }
                if let docs = a.documents, !docs.contains(chunkDocument[c]) { continue }
            }
            heap.offer(score: scores[c], chunk: c32)
        }
        return heap.sorted().map { Ranked(chunkID: chunkIDs[Int($0.chunk)], score: $0.score) }
    }
}

/// The best k (score, chunk) pairs: a bounded min-heap whose root is the worst kept, where
/// "better" is a higher score, then a lower chunk number.
struct TopK {
    struct Item {
        var score: Double
        var chunk: Int32
    }

    private var items: [Item] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        items.reserveCapacity(capacity)
    }

    static func better(_ a: Item, _ b: Item) -> Bool {
        a.score != b.score ? a.score > b.score : a.chunk < b.chunk
    }

    mutating func offer(score: Double, chunk: Int32) {
        let item = Item(score: score, chunk: chunk)
        if items.count < capacity {
            items.append(item)
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.better(items[parent], items[i]) else { break }
                items.swapAt(parent, i)
                i = parent
            }
        } else if let root = items.first, Self.better(item, root) {
            items[0] = item
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var worst = i
                if l < items.count, Self.better(items[worst], items[l]) { worst = l }
                if r < items.count, Self.better(items[worst], items[r]) { worst = r }
                if worst == i { break }
                items.swapAt(i, worst)
                i = worst
            }
        }
    }

    func sorted() -> [Item] { items.sorted(by: Self.better) }
}

/// The tenants' BM25 indexes, least recently used evicted past a byte cap. Several replicas
/// may share one database: an index is used only while the tenant's BM25 generation (in
/// `support_stats`, bumped in the transaction that writes chunks) is the one it was built at.
/// A cold or stale index is rebuilt (inline for small tenants, in the background for large ones,
/// the database ranking answering meanwhile); a tenant too large for the cap stays on the
/// database path.
final class BM25IndexCache: Sendable {
    /// Tenants up to this many chunks are indexed before the search that finds their index cold
    /// returns (a few milliseconds); larger ones in the background.
    static let inlineBuildChunks = 20_000

    struct Entry: Sendable {
        var generation: Int
        var index: BM25Index
        var used: UInt64
    }

    struct State: Sendable {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var tick: UInt64 = 0
        /// Tenant -> generation being built.
        var building: [String: Int] = [:]
        /// Tenant -> generation that did not fit under the cap.
        var tooBig: [String: Int] = [:]
        var memorySearches = 0
        var databaseSearches = 0
        var lastPath = "none yet"
    }

    let maxBytes: Int
    private let state = Mutex(State())

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    var enabled: Bool { maxBytes > 0 }

    /// The tenant's index if it is current.
    func index(tenantID: String, generation: Int) -> BM25Index? {
        state.withLock { s in
            guard var e = s.entries[tenantID], e.generation == generation else { return nil }
            s.tick += 1
            e.used = s.tick
            s.entries[tenantID] = e
            return e.index
        }
    }

    /// How a cold tenant should be handled: its estimated index size from the corpus totals.
    enum Plan: Equatable {
        case database
        case buildInline
        case buildInBackground
    }

    func plan(tenantID: String, stats: KnowledgeRepository.Stats) -> Plan {
        guard enabled, stats.chunks > 0 else { return .database }
        // At most one posting per token: an upper bound of the index's size.
        let estimate = stats.tokens * 6 + stats.chunks * 120
        return state.withLock { s in
            if estimate > maxBytes || s.tooBig[tenantID] == stats.generation { return .database }
            if s.building[tenantID] == stats.generation { return .database }
            return stats.chunks <= Self.inlineBuildChunks ? .buildInline : .buildInBackground
        }
    }

    /// Claims the build of a tenant's generation; false when one is already under way.
    func claim(tenantID: String, generation: Int) -> Bool {
        state.withLock { s in
            if s.building[tenantID] == generation { return false }
            s.building[tenantID] = generation
            return true
        }
    }

    /// Stores a built index (evicting the least recently used tenants past the cap) and ends
    /// the build claimed for `claimed`.
    func store(tenantID: String, claimed: Int, generation: Int, index: BM25Index) {
        state.withLock { s in
            if s.building[tenantID] == claimed { s.building[tenantID] = nil }
            if let current = s.entries[tenantID], current.generation > generation { return }
            if let old = s.entries.removeValue(forKey: tenantID) { s.bytes -= old.index.bytes }
            guard index.bytes <= maxBytes else {
                s.tooBig[tenantID] = generation
                return
            }
            s.tooBig[tenantID] = nil
            while s.bytes + index.bytes > maxBytes, let victim = s.entries.min(by: { $0.value.used < $1.value.used }) {
                s.entries[victim.key] = nil
                s.bytes -= victim.value.index.bytes
            }
            s.tick += 1
            s.entries[tenantID] = Entry(generation: generation, index: index, used: s.tick)
            s.bytes += index.bytes
        }
    }

    /// Ends a failed build; an `unindexable` generation is not tried again.
    func buildFailed(tenantID: String, generation: Int, unindexable: Bool) {
        state.withLock { s in
            if s.building[tenantID] == generation { s.building[tenantID] = nil }
            if unindexable { s.tooBig[tenantID] = generation }
        }
    }

    /// The tenants indexed now, for tests.
    var tenants: Set<String> { state.withLock { Set($0.entries.keys) } }

    func record(memory: Bool) {
        state.withLock { s in
            if memory { s.memorySearches += 1 } else { s.databaseSearches += 1 }
            s.lastPath = memory ? "in-memory index" : "database"
        }
    }

    /// One line for `/status`.
    var description: String {
        guard enabled else { return "database (the in-memory BM25 index is off: PARLEY_SUPPORT_BM25_CACHE_MB is 0)" }
        return state.withLock { s in
            let mb = { (b: Int) in String(format: "%.1f", Double(b) / 1_048_576) }
            return "in-memory index for \(s.entries.count) tenant(s) (\(mb(s.bytes)) of \(mb(maxBytes)) MB), database when cold or too large; "
                + "last search: \(s.lastPath) (\(s.memorySearches) in memory, \(s.databaseSearches) on the database)"
        }
    }

    /// Loads every chunk of the tenant and indexes it. The generation is read first: chunks
    /// written after it only make the index newer than its label, and the next search rebuilds.
    static func load(tenantID: String, repo: KnowledgeRepository, on db: any SQLDatabase) async throws -> (generation: Int, index: BM25Index) {
        let generation = try await repo.stats(tenantID: tenantID, on: db).generation
        let rows = try await db.raw("""
            SELECT id, document_id, collection_id, token_count, heading_path, text FROM support_chunks WHERE tenant_id = \(bind: tenantID)
            """).all().map { r in
            BM25Index.Row(id: try r.decode(column: "id", as: String.self), documentID: try r.decode(column: "document_id", as: String.self),
                          collectionID: try r.decode(column: "collection_id", as: String.self),
                          tokenCount: try r.decode(column: "token_count", as: Int.self),
                          text: try r.decode(column: "heading_path", as: String.self) + "\n" + (try r.decode(column: "text", as: String.self)))
        }
        return (generation, try BM25Index(rows: rows))
    }
}
