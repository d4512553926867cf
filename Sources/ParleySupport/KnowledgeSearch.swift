import Foundation
import ParleyEmbed
import ParleyStorage
import SQLKit

/// A chunk found by one ranking, best first.
struct Ranked: Sendable, Equatable {
    var chunkID: String
    var score: Double
}

/// What narrows a search: a set of collections (nil: all of them; empty: none), a document,
/// tags (any of them).
struct SearchFilter: Sendable {
    var collectionIDs: Set<String>? = nil
    var documentID: String? = nil
    var tags: [String]

    var isEmpty: Bool { collectionIDs == nil && documentID == nil && tags.isEmpty }

    func sql(chunk alias: String, tenantID: String) -> SQLQueryString {
        var sql: SQLQueryString = ""
        if let collectionIDs {
            if collectionIDs.isEmpty {
                sql += " AND 1 = 0"
            } else {
                sql += " AND \(unsafeRaw: alias).collection_id IN (\(SQLList(collectionIDs.sorted().map { SQLBind($0) })))"
            }
        }
        if let documentID { sql += " AND \(unsafeRaw: alias).document_id = \(bind: documentID)" }
        if !tags.isEmpty {
            sql += """
                 AND \(unsafeRaw: alias).document_id IN (SELECT document_id FROM support_document_tags
                 WHERE tenant_id = \(bind: tenantID) AND tag IN (\(SQLList(tags.map { SQLBind($0) }))))
                """
        }
        return sql
    }
}

/// BM25 over the tenant's chunks: FTS5's `bm25()` on SQLite; on PostgreSQL the same formula
/// over the postings and the tenant's corpus statistics.
struct BM25Search: Sendable {
    let kind: DatabaseKind
    let repo: KnowledgeRepository

    func search(tenantID: String, terms: [String], filter: SearchFilter, limit: Int, on db: any SQLDatabase) async throws -> [Ranked] {
        guard !terms.isEmpty, limit > 0 else { return [] }
        switch kind {
        case .sqlite: return try await sqlite(tenantID: tenantID, terms: terms, filter: filter, limit: limit, on: db)
        case .postgres: return try await postgres(tenantID: tenantID, terms: terms, filter: filter, limit: limit, on: db)
        }
    }

    /// Each term as an FTS5 string (so no query syntax gets through), any of them.
    static func matchExpression(_ terms: [String]) -> String {
        terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
    }

    private func sqlite(tenantID: String, terms: [String], filter: SearchFilter, limit: Int, on db: any SQLDatabase) async throws -> [Ranked] {
        guard try await repo.ftsExists(tenantID: tenantID, on: db) else { return [] }
        let fts = KnowledgeRepository.ftsTable(tenantID)
        let match = Self.matchExpression(terms)
        func ranked(_ rows: [any SQLRow]) throws -> [(id: String, score: Double)] {
            try rows.map { (try $0.decode(column: "id", as: String.self), try $0.decode(column: "score", as: Double.self)) }
        }
        if filter.isEmpty {
            // The tenant's FTS5 table holds only its chunks: FTS5 keeps the best matches itself (a
            // top-N sort, no row lookups), and only those are joined to their chunks. Exact unless
            // the matches tied with the last one kept run past what was read; then all are ranked.
            let read = limit * 2 + 1
            let best = try ranked(try await db.raw("""
                SELECT c.id, s.score FROM (SELECT rowid, bm25(\(ident: fts)) AS score FROM \(ident: fts) WHERE \(ident: fts) MATCH \(bind: match)
                                           ORDER BY score LIMIT \(literal: read)) s
                JOIN support_chunks c ON c.rowid = s.rowid WHERE c.tenant_id = \(bind: tenantID) ORDER BY s.score, c.id
                """).all())
            if best.count < read || best.count <= limit || best[limit - 1].score != best[best.count - 1].score {
                return best.prefix(limit).map { Ranked(chunkID: $0.id, score: -$0.score) }
            }
        }
        let rows = try await db.raw("""
            SELECT c.id, bm25(\(ident: fts)) AS score FROM \(ident: fts) JOIN support_chunks c ON c.rowid = \(ident: fts).rowid
            WHERE \(ident: fts) MATCH \(bind: match) AND c.tenant_id = \(bind: tenantID)\(filter.sql(chunk: "c", tenantID: tenantID))
            ORDER BY score, c.id LIMIT \(literal: limit)
            """).all()
        return try ranked(rows).map { Ranked(chunkID: $0.id, score: -$0.score) }
    }

    private func postgres(tenantID: String, terms: [String], filter: SearchFilter, limit: Int, on db: any SQLDatabase) async throws -> [Ranked] {
        let stats = try await repo.stats(tenantID: tenantID, on: db)
        guard stats.chunks > 0 else { return [] }
        // The postings' spelling of each term (a very long one is stored shortened, see `storedTerm`).
        let terms = terms.map(KBTokenizer.storedTerm)
        let termList = SQLList(terms.map { SQLBind($0) })
        var hits: [String: Int] = [:]
        for row in try await db.raw("""
            SELECT term, COUNT(*) AS n FROM support_postings WHERE tenant_id = \(bind: tenantID) AND term IN (\(termList)) GROUP BY term
            """).all() {
            hits[try row.decode(column: "term", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        let idfs = terms.map { BM25.idf(documents: stats.chunks, containing: hits[$0] ?? 0) }
        let average = Double(stats.tokens) / Double(stats.chunks)
        // The database scores with the same formula (float8 throughout) and returns the best
        // candidates with their term frequencies; they are scored again here in FTS5's order of
        // operations, so the figures agree with SQLite's to the bit. Twice the limit is fetched so
        // a last-bit difference in the database's sum cannot push a chunk out of the result.
        var idf: SQLQueryString = "CASE p.term"
        var frequencies: SQLQueryString = ""
        for (i, term) in terms.enumerated() {
            idf += " WHEN \(bind: term) THEN \(bind: idfs[i])"
            frequencies += ", MAX(CASE WHEN p.term = \(bind: term) THEN p.tf ELSE 0 END) AS tf\(unsafeRaw: String(i))"
        }
        idf += " END"
        let rows = try await db.raw("""
            SELECT p.chunk_id, MAX(c.token_count) AS token_count\(frequencies),
                   SUM((\(idf)) * ((p.tf * \(bind: BM25.k1 + 1.0)) / (p.tf + \(bind: BM25.k1) * (\(bind: 1 - BM25.b) + \(bind: BM25.b) * c.token_count / \(bind: average))))) AS score
            FROM support_postings p JOIN support_chunks c ON c.id = p.chunk_id
            WHERE p.tenant_id = \(bind: tenantID) AND p.term IN (\(termList)) AND c.tenant_id = \(bind: tenantID)\(filter.sql(chunk: "c", tenantID: tenantID))
            GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT \(literal: limit * 2)
            """).all()
        let scored = try rows.map { row in
            let tf = try terms.indices.map { try row.decode(column: "tf\($0)", as: Int.self) }
            return Ranked(chunkID: try row.decode(column: "chunk_id", as: String.self),
                          score: BM25.score(frequencies: tf, idfs: idfs, length: try row.decode(column: "token_count", as: Int.self), averageLength: average))
        }
        return Array(scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.chunkID < $1.chunkID }.prefix(limit))
    }
}

/// The tenants' vectors in memory for exact search, loaded on first use and again when the
/// tenant's knowledge base changes (its revision) or the embedder does.
actor VectorCache {
    struct Entry: Sendable {
        var revision: Int
        var embedder: EmbedderIdentity
        var chunkIDs: [String]
        var documentIDs: [String]
        var collectionIDs: [String]
        var matrix: VectorMatrix
    }

    private var entries: [String: Entry] = [:]
    private let maxTenants: Int

    init(maxTenants: Int = 64) {
        self.maxTenants = maxTenants
    }

    func entry(tenantID: String, revision: Int, embedder: EmbedderIdentity, load: @Sendable () async throws -> Entry) async throws -> Entry {
        if let e = entries[tenantID], e.revision == revision, e.embedder == embedder { return e }
        let loaded = try await load()
        if entries.count >= maxTenants, entries[tenantID] == nil, let victim = entries.keys.first { entries[victim] = nil }
        entries[tenantID] = loaded
        return loaded
    }

    func invalidate(tenantID: String) {
        entries[tenantID] = nil
    }
}

/// Reciprocal rank fusion: each list adds 1 / (k + rank) for the chunks it ranks (rank from 1).
enum RRF {
    static let k = 60.0

    static func fuse(_ lists: [[Ranked]]) -> [Ranked] {
        var scores: [String: Double] = [:]
        for list in lists {
            for (i, r) in list.enumerated() { scores[r.chunkID, default: 0] += 1 / (k + Double(i + 1)) }
        }
        return scores.map { Ranked(chunkID: $0.key, score: $0.value) }.sorted { $0.score != $1.score ? $0.score > $1.score : $0.chunkID < $1.chunkID }
    }
}
