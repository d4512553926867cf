import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// The knowledge base's tables. BM25 lives per database: on SQLite an FTS5 table per tenant
/// (`support_fts_<tenant>`, created with the tenant's first document, so FTS5's own corpus
/// statistics are the tenant's); on PostgreSQL `support_postings` (term, chunk, tf) with the
/// chunk lengths in `support_chunks.token_count` and the tenant's totals in `support_stats`.
/// Both rank with FTS5's BM25 (`BM25.score`), so a query orders the same on either.
public enum SupportSchema {
    public static let migrations: [Migration] = [
        Migration("support_0001_knowledge_base", [
            """
            CREATE TABLE support_collections (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                description TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                UNIQUE (tenant_id, name)
            )
            """,
            """
            CREATE TABLE support_documents (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                collection_id TEXT NOT NULL REFERENCES support_collections(id),
                doc_key TEXT NOT NULL,
                title TEXT NOT NULL,
                source_filename TEXT,
                format TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                tags TEXT NOT NULL,
                status TEXT NOT NULL,
                chunk_count INTEGER NOT NULL,
                error TEXT,
                markdown TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                UNIQUE (tenant_id, collection_id, doc_key)
            )
            """,
            "CREATE INDEX support_documents_list ON support_documents (tenant_id, id)",
            """
            CREATE TABLE support_document_tags (
                tenant_id TEXT NOT NULL,
                document_id TEXT NOT NULL REFERENCES support_documents(id),
                tag TEXT NOT NULL,
                PRIMARY KEY (tenant_id, tag, document_id)
            )
            """,
            """
            CREATE TABLE support_chunks (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                document_id TEXT NOT NULL REFERENCES support_documents(id),
                collection_id TEXT NOT NULL,
                ordinal INTEGER NOT NULL,
                heading_path TEXT NOT NULL,
                text TEXT NOT NULL,
                word_count INTEGER NOT NULL,
                token_count INTEGER NOT NULL,
                start_offset INTEGER NOT NULL,
                end_offset INTEGER NOT NULL
            )
            """,
            "CREATE INDEX support_chunks_document ON support_chunks (tenant_id, document_id, ordinal)",
            """
            CREATE TABLE support_embeddings (
                chunk_id TEXT PRIMARY KEY REFERENCES support_chunks(id),
                tenant_id TEXT NOT NULL,
                embedder TEXT NOT NULL,
                dimensions INTEGER NOT NULL,
                vector BYTEA NOT NULL
            )
            """,
            "CREATE INDEX support_embeddings_tenant ON support_embeddings (tenant_id, embedder)",
            """
            CREATE TABLE support_postings (
                tenant_id TEXT NOT NULL,
                term TEXT NOT NULL,
                chunk_id TEXT NOT NULL REFERENCES support_chunks(id),
                tf INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, term, chunk_id)
            )
            """,
            "CREATE INDEX support_postings_chunk ON support_postings (chunk_id)",
            """
            CREATE TABLE support_stats (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                chunk_count %BIGINT% NOT NULL,
                token_count %BIGINT% NOT NULL,
                revision %BIGINT% NOT NULL
            )
            """,
            """
            CREATE TABLE support_batches (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                total INTEGER NOT NULL,
                job_id TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
            """
            CREATE TABLE support_batch_items (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                batch_id TEXT NOT NULL REFERENCES support_batches(id),
                ordinal INTEGER NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL,
                document_id TEXT,
                error TEXT
            )
            """,
            "CREATE INDEX support_batch_items_batch ON support_batch_items (tenant_id, batch_id, ordinal)",
            """
            CREATE TABLE support_tenant_settings (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                min_bm25 DOUBLE PRECISION,
                min_similarity DOUBLE PRECISION,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
        ]),
        // The BM25 generation: bumped with every change of a tenant's chunks, in the same
        // transaction, so an in-memory BM25 index (on any replica) knows when it is stale.
        Migration("support_0002_kb_generation", [
            "ALTER TABLE support_stats ADD COLUMN bm25_generation %BIGINT% NOT NULL DEFAULT 0",
        ]),
        // Soft delete (docs/soft-delete.md): a deleted document or collection keeps its row (and
        // the document its Markdown) but not its chunks, until restored or purged.
        Migration("support_0003_soft_delete", [
            "ALTER TABLE support_documents ADD COLUMN deleted_at %TIMESTAMP%",
            "ALTER TABLE support_collections ADD COLUMN deleted_at %TIMESTAMP%",
            "CREATE INDEX support_documents_deleted ON support_documents (deleted_at) WHERE deleted_at IS NOT NULL",
            "CREATE INDEX support_collections_deleted ON support_collections (deleted_at) WHERE deleted_at IS NOT NULL",
        ]),
    ]

    /// Documents deleted longer ago than the retention period go with their chunks, vectors,
    /// postings (or FTS5 rows), tags and pending batch items; a deleted collection with all of
    /// its documents.
    static let purgeTargets: [PurgeTarget] = [
        PurgeTarget(table: "support_documents") { request, db in
            var select: SQLQueryString = """
                SELECT id, tenant_id FROM support_documents WHERE deleted_at IS NOT NULL AND deleted_at < \(bind: request.cutoff) ORDER BY id
                """
            if let limit = request.limit { select += " LIMIT \(literal: limit)" }
            let rows = try await db.raw(select).all().map { row -> (tenantID: String, id: String) in
                (try row.decode(column: "tenant_id", as: String.self), try row.decode(column: "id", as: String.self))
            }
            return try await purgeDocuments(rows, kind: request.kind, on: db)
        },
        PurgeTarget(table: "support_collections") { request, db in
            var select: SQLQueryString = """
                SELECT id, tenant_id FROM support_collections WHERE deleted_at IS NOT NULL AND deleted_at < \(bind: request.cutoff) ORDER BY id
                """
            if let limit = request.limit { select += " LIMIT \(literal: limit)" }
            var out: [PurgedRows] = []
            for row in try await db.raw(select).all() {
                let tenantID = try row.decode(column: "tenant_id", as: String.self), id = try row.decode(column: "id", as: String.self)
                let documents = try await db.raw("""
                    SELECT id FROM support_documents WHERE tenant_id = \(bind: tenantID) AND collection_id = \(bind: id)
                    """).all().map { row -> (tenantID: String, id: String) in (tenantID, try row.decode(column: "id", as: String.self)) }
                out += try await purgeDocuments(documents, kind: request.kind, on: db)
                let n = try await PurgeTarget.count(db, "DELETE FROM support_collections WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)")
                out.append(PurgedRows(table: "support_collections", tenantID: tenantID, rows: n))
            }
            return out
        },
    ]

    /// Deletes each (tenant, document) with everything that hangs off it; counts documents and chunks.
    static func purgeDocuments(_ documents: [(tenantID: String, id: String)], kind: DatabaseKind, on db: any SQLDatabase) async throws -> [PurgedRows] {
        let repo = KnowledgeRepository(kind: kind)
        var docs: [String: Int] = [:], chunks: [String: Int] = [:]
        for (tenantID, id) in documents {
            chunks[tenantID, default: 0] += try await db.raw("""
                SELECT COUNT(*) AS n FROM support_chunks WHERE tenant_id = \(bind: tenantID) AND document_id = \(bind: id)
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            try await repo.deleteDocument(tenantID: tenantID, id: id, on: db)
            docs[tenantID, default: 0] += 1
        }
        return docs.sorted { $0.key < $1.key }.map { PurgedRows(table: "support_documents", tenantID: $0.key, rows: $0.value) }
            + chunks.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { PurgedRows(table: "support_chunks", tenantID: $0.key, rows: $0.value) }
    }
}
