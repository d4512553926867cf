import Foundation
import ParleyStorage

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
    ]
}
