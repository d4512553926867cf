import Crypto
import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// The knowledge base's SQL, every statement scoped to the tenant.
struct KnowledgeRepository: Sendable {
    let kind: DatabaseKind

    // MARK: collections

    func insertCollection(_ c: KBCollection, tenantID: String, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO support_collections (id, tenant_id, name, description, created_at, updated_at)
            VALUES (\(bind: c.id), \(bind: tenantID), \(bind: c.name), \(bind: c.description), \(bind: c.createdAt), \(bind: c.updatedAt))
            """).run()
    }

    private static let collectionColumns: SQLQueryString = """
        c.*, (SELECT COUNT(*) FROM support_documents d WHERE d.tenant_id = c.tenant_id AND d.collection_id = c.id AND d.deleted_at IS NULL) AS document_count
        """

    func collections(tenantID: String, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> [KBCollection] {
        let live: SQLQueryString = includeDeleted ? "" : " AND c.deleted_at IS NULL"
        return try await db.raw("""
            SELECT \(Self.collectionColumns) FROM support_collections c WHERE c.tenant_id = \(bind: tenantID)\(live) ORDER BY c.name
            """).all().map(Self.decodeCollection)
    }

    /// A live collection (a deleted one too with `includeDeleted`).
    func collection(tenantID: String, name: String, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> KBCollection? {
        let live: SQLQueryString = includeDeleted ? "" : " AND c.deleted_at IS NULL"
        return try await db.raw("""
            SELECT \(Self.collectionColumns) FROM support_collections c WHERE c.tenant_id = \(bind: tenantID) AND c.name = \(bind: name)\(live)
            """).first().map(Self.decodeCollection)
    }

    func setCollectionDeleted(tenantID: String, id: String, at: Date?, now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE support_collections SET deleted_at = \(bind: at), updated_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    func setDocumentDeleted(tenantID: String, id: String, at: Date?, now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE support_documents SET deleted_at = \(bind: at), updated_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    /// The live documents of a collection (id, key, markdown), to take out of or put back into the index.
    func collectionDocuments(tenantID: String, collectionID: String, on db: any SQLDatabase) async throws -> [String] {
        try await db.raw("""
            SELECT id FROM support_documents WHERE tenant_id = \(bind: tenantID) AND collection_id = \(bind: collectionID) AND deleted_at IS NULL ORDER BY id
            """).all().map { try $0.decode(column: "id", as: String.self) }
    }

    func markdown(tenantID: String, documentID: String, on db: any SQLDatabase) async throws -> String? {
        try await db.raw("SELECT markdown FROM support_documents WHERE tenant_id = \(bind: tenantID) AND id = \(bind: documentID)")
            .first()?.decode(column: "markdown", as: String.self)
    }

    static func decodeCollection(_ r: any SQLRow) throws -> KBCollection {
        KBCollection(id: try r.decode(column: "id", as: String.self), name: try r.decode(column: "name", as: String.self),
                     description: try r.decode(column: "description", as: String?.self), documentCount: try r.decode(column: "document_count", as: Int.self),
                     createdAt: try r.decode(column: "created_at", as: Date.self), updatedAt: try r.decode(column: "updated_at", as: Date.self),
                     deletedAt: try r.decode(column: "deleted_at", as: Date?.self))
    }

    // MARK: documents

    static let documentColumns: SQLQueryString = """
        d.id, d.collection_id, c.name AS collection_name, d.title, d.source_filename, d.format, d.content_hash, d.tags, d.status,
        d.chunk_count, d.error, d.created_at, d.updated_at, COALESCE(d.deleted_at, c.deleted_at) AS deleted_at
        """

    /// A live document in a live collection (with `includeDeleted`, whatever its state).
    func document(tenantID: String, id: String, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> KBDocument? {
        let live: SQLQueryString = includeDeleted ? "" : " AND d.deleted_at IS NULL AND c.deleted_at IS NULL"
        return try await db.raw("""
            SELECT \(Self.documentColumns) FROM support_documents d JOIN support_collections c ON c.id = d.collection_id
            WHERE d.tenant_id = \(bind: tenantID) AND d.id = \(bind: id)\(live)
            """).first().map(Self.decodeDocument)
    }

    /// Whether the document itself was deleted (not only hidden with its collection).
    func documentDeletedAt(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Date? {
        try await db.raw("SELECT deleted_at FROM support_documents WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)")
            .first()?.decode(column: "deleted_at", as: Date?.self)
    }

    func document(tenantID: String, collectionID: String, key: String, on db: any SQLDatabase) async throws -> KBDocument? {
        try await db.raw("""
            SELECT \(Self.documentColumns) FROM support_documents d JOIN support_collections c ON c.id = d.collection_id
            WHERE d.tenant_id = \(bind: tenantID) AND d.collection_id = \(bind: collectionID) AND d.doc_key = \(bind: key)
            """).first().map(Self.decodeDocument)
    }

    /// Newest first, older than `before` (a document id).
    func documents(tenantID: String, collectionID: String?, before: String?, limit: Int, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> [KBDocument] {
        var sql: SQLQueryString = """
            SELECT \(Self.documentColumns) FROM support_documents d JOIN support_collections c ON c.id = d.collection_id
            WHERE d.tenant_id = \(bind: tenantID)
            """
        if !includeDeleted { sql += " AND d.deleted_at IS NULL AND c.deleted_at IS NULL" }
        if let collectionID { sql += " AND d.collection_id = \(bind: collectionID)" }
        if let before { sql += " AND d.id < \(bind: before)" }
        sql += " ORDER BY d.id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decodeDocument)
    }

    static func decodeDocument(_ r: any SQLRow) throws -> KBDocument {
        let tagsText = try r.decode(column: "tags", as: String.self)
        let tags = (try? JSONValue.parse(tagsText))?.arrayValue?.compactMap(\.stringValue) ?? []
        return KBDocument(id: try r.decode(column: "id", as: String.self), collectionId: try r.decode(column: "collection_id", as: String.self),
                          collection: try r.decode(column: "collection_name", as: String.self), title: try r.decode(column: "title", as: String.self),
                          sourceFilename: try r.decode(column: "source_filename", as: String?.self), format: try r.decode(column: "format", as: String.self),
                          contentHash: try r.decode(column: "content_hash", as: String.self), tags: tags,
                          status: DocumentStatus(rawValue: try r.decode(column: "status", as: String.self)) ?? .failed,
                          chunkCount: try r.decode(column: "chunk_count", as: Int.self), error: try r.decode(column: "error", as: String?.self),
                          createdAt: try r.decode(column: "created_at", as: Date.self), updatedAt: try r.decode(column: "updated_at", as: Date.self),
                          deletedAt: try r.decode(column: "deleted_at", as: Date?.self))
    }

    func insertDocument(_ d: KBDocument, key: String, markdown: String, tenantID: String, on db: any SQLDatabase) async throws {
        let tags = JSONValue.array(d.tags.map { .string($0) }).serialized()
        try await db.raw("""
            INSERT INTO support_documents (id, tenant_id, collection_id, doc_key, title, source_filename, format, content_hash, tags, status,
                                           chunk_count, error, markdown, created_at, updated_at)
            VALUES (\(bind: d.id), \(bind: tenantID), \(bind: d.collectionId), \(bind: key), \(bind: d.title), \(bind: d.sourceFilename),
                    \(bind: d.format), \(bind: d.contentHash), \(bind: tags), \(bind: d.status.rawValue), \(bind: d.chunkCount), \(bind: d.error),
                    \(bind: markdown), \(bind: d.createdAt), \(bind: d.updatedAt))
            """).run()
        try await setTags(d.tags, documentID: d.id, tenantID: tenantID, on: db)
    }

    func updateDocument(_ d: KBDocument, markdown: String, tenantID: String, on db: any SQLDatabase) async throws {
        let tags = JSONValue.array(d.tags.map { .string($0) }).serialized()
        try await db.raw("""
            UPDATE support_documents SET title = \(bind: d.title), source_filename = \(bind: d.sourceFilename), format = \(bind: d.format),
                content_hash = \(bind: d.contentHash), tags = \(bind: tags), status = \(bind: d.status.rawValue), chunk_count = \(bind: d.chunkCount),
                error = \(bind: d.error), markdown = \(bind: markdown), updated_at = \(bind: d.updatedAt), deleted_at = NULL
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: d.id)
            """).run()
        try await setTags(d.tags, documentID: d.id, tenantID: tenantID, on: db)
    }

    func setTags(_ tags: [String], documentID: String, tenantID: String, on db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM support_document_tags WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: documentID)").run()
        for tag in Set(tags) {
            try await db.raw("INSERT INTO support_document_tags (tenant_id, document_id, tag) VALUES (\(bind: tenantID), \(bind: documentID), \(bind: tag))").run()
        }
    }

    func deleteDocument(tenantID: String, id: String, on db: any SQLDatabase) async throws {
        try await deleteChunks(tenantID: tenantID, documentID: id, on: db)
        try await db.raw("DELETE FROM support_document_tags WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: id)").run()
        try await db.raw("DELETE FROM support_batch_items WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: id) AND status = 'pending'").run()
        try await db.raw("UPDATE support_batch_items SET document_id = NULL WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: id)").run()
        try await db.raw("DELETE FROM support_documents WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    // MARK: chunks and the BM25 index

    /// The tenant's FTS5 table (SQLite): a name from a hash of the tenant id.
    static func ftsTable(_ tenantID: String) -> String {
        "support_fts_" + SHA256.hash(data: Data(tenantID.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    func ftsExists(tenantID: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = \(bind: Self.ftsTable(tenantID))").first() != nil
    }

    func chunks(tenantID: String, documentID: String, on db: any SQLDatabase) async throws -> [KBChunk] {
        try await db.raw("""
            SELECT * FROM support_chunks WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: documentID) ORDER BY ordinal
            """).all().map(Self.decodeChunk)
    }

    static func decodeChunk(_ r: any SQLRow) throws -> KBChunk {
        KBChunk(id: try r.decode(column: "id", as: String.self), ordinal: try r.decode(column: "ordinal", as: Int.self),
                headingPath: try r.decode(column: "heading_path", as: String.self), text: try r.decode(column: "text", as: String.self),
                wordCount: try r.decode(column: "word_count", as: Int.self), startOffset: try r.decode(column: "start_offset", as: Int.self),
                endOffset: try r.decode(column: "end_offset", as: Int.self))
    }

    /// What BM25 indexes of a chunk: its heading path and its text.
    static func indexedText(_ c: KBChunk) -> String { c.headingPath + "\n" + c.text }

    func insertChunks(_ chunks: [KBChunk], documentID: String, collectionID: String, tenantID: String, on db: any SQLDatabase) async throws {
        var tokens = 0
        if kind == .sqlite, !chunks.isEmpty {
            try await db.raw("""
                CREATE VIRTUAL TABLE IF NOT EXISTS \(ident: Self.ftsTable(tenantID))
                USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')
                """).run()
        }
        for c in chunks {
            let terms = KBTokenizer.tokens(Self.indexedText(c))
            tokens += terms.count
            try await db.raw("""
                INSERT INTO support_chunks (id, tenant_id, document_id, collection_id, ordinal, heading_path, text, word_count, token_count,
                                            start_offset, end_offset)
                VALUES (\(bind: c.id), \(bind: tenantID), \(bind: documentID), \(bind: collectionID), \(bind: c.ordinal), \(bind: c.headingPath),
                        \(bind: c.text), \(bind: c.wordCount), \(bind: terms.count), \(bind: c.startOffset), \(bind: c.endOffset))
                """).run()
            switch kind {
            case .sqlite:
                try await db.raw("""
                    INSERT INTO \(ident: Self.ftsTable(tenantID)) (rowid, body)
                    VALUES ((SELECT rowid FROM support_chunks WHERE id = \(bind: c.id)), \(bind: Self.indexedText(c)))
                    """).run()
            case .postgres:
                var tf: [String: Int] = [:]
                for t in terms { tf[KBTokenizer.storedTerm(t), default: 0] += 1 }
                let rows = tf.sorted { $0.key < $1.key }
                for start in stride(from: 0, to: rows.count, by: 500) {
                    var sql: SQLQueryString = "INSERT INTO support_postings (tenant_id, term, chunk_id, tf) VALUES "
                    for (i, row) in rows[start..<min(rows.count, start + 500)].enumerated() {
                        if i > 0 { sql += ", " }
                        sql += "(\(bind: tenantID), \(bind: row.key), \(bind: c.id), \(bind: row.value))"
                    }
                    try await db.raw(sql).run()
                }
            }
        }
        try await changeStats(tenantID: tenantID, chunks: chunks.count, tokens: tokens, on: db)
    }

    func deleteChunks(tenantID: String, documentID: String, on db: any SQLDatabase) async throws {
        let counts = try await db.raw("""
            SELECT COUNT(*) AS n, COALESCE(SUM(token_count), 0) AS t FROM support_chunks
            WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: documentID)
            """).first()
        let n = try counts?.decode(column: "n", as: Int.self) ?? 0
        guard n > 0 else { return }
        let t = try counts?.decode(column: "t", as: Int.self) ?? 0
        let ids: SQLQueryString = "SELECT id FROM support_chunks WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: documentID)"
        switch kind {
        case .sqlite:
            if try await ftsExists(tenantID: tenantID, on: db) {
                try await db.raw("""
                    DELETE FROM \(ident: Self.ftsTable(tenantID)) WHERE rowid IN
                    (SELECT rowid FROM support_chunks WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: documentID))
                    """).run()
            }
        case .postgres:
            try await db.raw("DELETE FROM support_postings WHERE tenant_id = \(bind: tenantID) AND chunk_id IN (\(ids))").run()
        }
        try await db.raw("DELETE FROM support_embeddings WHERE tenant_id = \(bind: tenantID) AND chunk_id IN (\(ids))").run()
        try await db.raw("DELETE FROM support_chunks WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: documentID)").run()
        try await changeStats(tenantID: tenantID, chunks: -n, tokens: -t, on: db)
    }

    /// The tenant's corpus totals (BM25's N and average length), its revision, which every
    /// change bumps (the vector cache reloads on a new revision), and its BM25 generation, which
    /// only a change of chunks bumps (in the same transaction), so every replica's in-memory
    /// BM25 index knows it is stale.
    func changeStats(tenantID: String, chunks: Int, tokens: Int, on db: any SQLDatabase) async throws {
        let generation = chunks != 0 || tokens != 0 ? 1 : 0
        try await db.raw("""
            INSERT INTO support_stats (tenant_id, chunk_count, token_count, revision, bm25_generation)
            VALUES (\(bind: tenantID), \(bind: chunks), \(bind: tokens), 1, \(bind: generation))
            ON CONFLICT (tenant_id) DO UPDATE SET chunk_count = support_stats.chunk_count + \(bind: chunks),
                token_count = support_stats.token_count + \(bind: tokens), revision = support_stats.revision + 1,
                bm25_generation = support_stats.bm25_generation + \(bind: generation)
            """).run()
    }

    struct Stats: Sendable {
        var chunks: Int
        var tokens: Int
        var revision: Int
        var generation: Int
    }

    func stats(tenantID: String, on db: any SQLDatabase) async throws -> Stats {
        guard let row = try await db.raw("SELECT * FROM support_stats WHERE tenant_id = \(bind: tenantID)").first() else {
            return Stats(chunks: 0, tokens: 0, revision: 0, generation: 0)
        }
        return Stats(chunks: try row.decode(column: "chunk_count", as: Int.self), tokens: try row.decode(column: "token_count", as: Int.self),
                     revision: try row.decode(column: "revision", as: Int.self), generation: try row.decode(column: "bm25_generation", as: Int.self))
    }

    // MARK: embeddings

    static func encode(_ vector: [Float]) -> Data {
        var data = Data(capacity: vector.count * 4)
        for v in vector { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    static func decodeVector(_ data: Data, dimensions: Int) -> [Float]? {
        guard data.count == dimensions * 4 else { return nil }
        let bytes = [UInt8](data)
        return (0..<dimensions).map { i in
            let b = i * 4
            let bits = UInt32(bytes[b]) | UInt32(bytes[b + 1]) << 8 | UInt32(bytes[b + 2]) << 16 | UInt32(bytes[b + 3]) << 24
            return Float(bitPattern: bits)
        }
    }

    func upsertEmbedding(chunkID: String, tenantID: String, embedder: String, vector: [Float], on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO support_embeddings (chunk_id, tenant_id, embedder, dimensions, vector)
            VALUES (\(bind: chunkID), \(bind: tenantID), \(bind: embedder), \(bind: vector.count), \(bind: Self.encode(vector)))
            ON CONFLICT (chunk_id) DO UPDATE SET embedder = excluded.embedder, dimensions = excluded.dimensions, vector = excluded.vector
            """).run()
    }

    /// Chunks without a vector from `embedder` (none yet, or another embedder's).
    func chunksToEmbed(tenantID: String, embedder: String, limit: Int, on db: any SQLDatabase) async throws -> [(id: String, text: String)] {
        try await db.raw("""
            SELECT c.id, c.heading_path, c.text FROM support_chunks c
            WHERE c.tenant_id = \(bind: tenantID) AND NOT EXISTS (
                SELECT 1 FROM support_embeddings e WHERE e.chunk_id = c.id AND e.embedder = \(bind: embedder))
            ORDER BY c.id LIMIT \(literal: limit)
            """).all().map { r in
            (try r.decode(column: "id", as: String.self),
             Self.indexedText(KBChunk(id: "", ordinal: 0, headingPath: try r.decode(column: "heading_path", as: String.self),
                                      text: try r.decode(column: "text", as: String.self), wordCount: 0, startOffset: 0, endOffset: 0)))
        }
    }
}
