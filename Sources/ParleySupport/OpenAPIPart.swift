// Generated from Sources/ParleySupport/openapi.yaml by scripts/sync-openapi: this pack's part of the OpenAPI document.
enum OpenAPIPart {
    static let yaml = #"""
# The support pack's part of the OpenAPI document (its tags, paths and schemas, indented as in the
# full document). Edit here, then run scripts/sync-openapi; see docs/packs.md and docs/support.md.
tags:
  - name: knowledge
    description: |
      The customer-support pack's knowledge base: collections, documents cut into chunks by their
      structure, BM25 and vector search fused by reciprocal rank, answers with numbered citations.
paths:
  /v1/rag/collections:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [knowledge]
      operationId: listKnowledgeCollections
      summary: The tenant's knowledge-base collections with their document counts. Any role.
      description: Deleted collections (with `deleted_at`) are listed with `include_deleted=true`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: 'All collections, by name (one page: `next_cursor` is null).'
          content:
            application/json:
              schema:
                type: object
                required: [data]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/KnowledgeCollection'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    post:
      tags: [knowledge]
      operationId: createKnowledgeCollection
      summary: Create a collection (its name is unique in the tenant; 409 `collection_exists`). Admin, operator or service.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/NewKnowledgeCollection'
      responses:
        '201':
          description: The new collection.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeCollection'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          description: A collection of that name exists (`collection_exists`).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
  /v1/rag/collections/{name}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: name
        in: path
        required: true
        description: The collection's name.
        schema:
          type: string
    delete:
      tags: [knowledge]
      operationId: deleteKnowledgeCollection
      summary: Soft-delete a collection with its documents. Admin, operator or service.
      description: Its documents leave search at once (their chunks leave the index; the tenant's BM25 generation and vector revision move on) and come back with `POST /v1/rag/collections/{name}/restore` within `PARLEY_RETENTION_DAYS`; after that the collection is purged with its documents. Its name stays taken until then. Audited (`rag.collection.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The collection, with `deleted_at`.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeCollection'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/rag/collections/{name}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: name
        in: path
        required: true
        description: The collection's name.
        schema:
          type: string
    post:
      tags: [knowledge]
      operationId: restoreKnowledgeCollection
      summary: Restore a deleted collection and index its documents again. Admin, operator or service.
      description: Audited (`rag.collection.restore`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The collection.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeCollection'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`collection_not_found` (also once purged), `restore_window_passed`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/rag/documents:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [knowledge]
      operationId: listKnowledgeDocuments
      summary: The tenant's documents, newest first, with their status and chunk counts. Any role.
      description: Deleted documents (and those of deleted collections) are listed, with `deleted_at`, with `include_deleted=true`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
        - name: collection
          in: query
          description: Only this collection's documents (404 `collection_not_found` when there is none of that name).
          schema:
            type: string
        - name: limit
          in: query
          description: Documents per page, 1 to 200 (400 `invalid_query` outside).
          schema:
            type: integer
            minimum: 1
            maximum: 200
            default: 50
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: One page of documents.
          content:
            application/json:
              schema:
                type: object
                required: [data]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/KnowledgeDocument'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    post:
      tags: [knowledge]
      operationId: addKnowledgeDocument
      summary: Add a document, or replace a changed one. Admin, operator or service.
      description: |
        Three ways to send it. A JSON body `{collection, title, text (or content), format?, tags?, filename?}`
        with the text in Markdown (`format` markdown, the default, or text; html, csv and json are
        converted). Or the file itself as the body with its `Content-Type`, and `?collection=&filename=`
        (optionally `title`, and `tags` comma-separated). Or a `multipart/form-data` form (a browser's
        or `curl -F` upload): a `file` part (its filename and Content-Type name the format) and the
        fields `collection` (required), `title` and `tags` (comma-separated); nothing in the query.
        Files are converted to Markdown first (415 `unsupported_format`, 413 `document_too_large`,
        422 `unreadable_document`). A form is read strictly: 400 `missing_boundary`,
        `truncated_multipart`, `invalid_multipart`, `duplicate_part`, `unknown_part`, `too_many_parts`,
        `multipart_header_too_large`, `missing_file`; 413 `payload_too_large`.

        The answer comes once the document is stored and searchable by BM25; with an embedder
        configured its chunks are embedded afterwards on the job queue (`support.reembed`), and
        `document.embedding` says where that stands (`pending`, then `ready`; `failed` with
        `embedding_error` when the job gave up; `none` without an embedder). Until then hybrid search
        ranks the document by BM25 alone.

        A document is the same one when it has the same collection and filename (or title, without
        a filename). Sending it again with different content replaces its chunks in one transaction
        (200, `outcome` replaced); identical content changes nothing (200, `outcome` unchanged).
      security:
        - bearerAuth: []
      parameters:
        - name: collection
          in: query
          description: With a file body, the collection's name (required then; not with a JSON body).
          schema:
            type: string
        - name: filename
          in: query
          description: With a file body, its name (its extension names the format).
          schema:
            type: string
        - name: title
          in: query
          description: With a file body, the title (default the document's own title, else the filename).
          schema:
            type: string
        - name: tags
          in: query
          description: With a file body, tags separated by commas.
          schema:
            type: string
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/NewKnowledgeDocument'
          application/octet-stream:
            schema:
              type: string
              format: binary
          multipart/form-data:
            schema:
              type: object
              required: [file, collection]
              additionalProperties: false
              properties:
                file:
                  type: string
                  format: binary
                  description: The document; its filename (or the part's Content-Type) names the format.
                collection:
                  type: string
                title:
                  type: string
                  description: Default the document's own title, else the filename.
                tags:
                  type: string
                  description: Tags separated by commas.
      responses:
        '201':
          description: A new document.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeIngest'
        '200':
          description: 'An existing document: its chunks replaced, or unchanged.'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeIngest'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '422':
          description: The file could not be read (`unreadable_document`).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /v1/rag/documents/batch:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [knowledge]
      operationId: addKnowledgeDocumentBatch
      summary: Queue many documents (1 to 500) for ingestion by the worker. Admin, operator or service.
      description: |
        Each entry has the fields of a JSON `POST /v1/rag/documents`; every collection must exist
        (404 `collection_not_found`). Answers 202 at once; follow `GET /v1/rag/batches/{batch_id}`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/NewKnowledgeBatch'
      responses:
        '202':
          description: The batch, queued.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeBatch'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
  /v1/rag/batches/{batch_id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: batch_id
        in: path
        required: true
        description: The batch's id.
        schema:
          type: string
    get:
      tags: [knowledge]
      operationId: getKnowledgeBatch
      summary: A batch's progress (done, failed, pending) and each entry's outcome. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The batch.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeBatch'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
  /v1/rag/documents/{document_id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: document_id
        in: path
        required: true
        description: The document's id.
        schema:
          type: string
    get:
      tags: [knowledge]
      operationId: getKnowledgeDocument
      summary: A document with its chunks (heading path, text, offsets in its Markdown). Any role.
      description: A deleted document (or one of a deleted collection) answers 404 `document_deleted` naming the date until which it can be restored, unless `include_deleted=true` (then without chunks).
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The document.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeDocumentDetail'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    delete:
      tags: [knowledge]
      operationId: deleteKnowledgeDocument
      summary: Soft-delete a document; its chunks and vectors leave the search index. Admin, operator or service.
      description: Restorable (indexed again from its stored Markdown) with `POST /v1/rag/documents/{document_id}/restore` within `PARLEY_RETENTION_DAYS`; then purged. Audited (`rag.document.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: Deleted.
          content:
            application/json:
              schema:
                type: object
                required: [id, deleted, deleted_at]
                properties:
                  id:
                    type: string
                  deleted:
                    type: boolean
                  deleted_at:
                    type: string
                    format: date-time
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/rag/documents/{document_id}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: document_id
        in: path
        required: true
        description: The document's id.
        schema:
          type: string
    post:
      tags: [knowledge]
      operationId: restoreKnowledgeDocument
      summary: Restore a deleted document and index it again. Admin, operator or service.
      description: Its Markdown is chunked again (and embedded again by the `support.reembed` job when an embedder is configured). Audited (`rag.document.restore`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The document.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeDocument'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`document_not_found` (also once purged), `restore_window_passed`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`collection_deleted`: restore its collection first.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/rag/search:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [knowledge]
      operationId: searchKnowledge
      summary: Ranked passages for a query. Any role.
      description: |
        `mode` hybrid (the default) fuses the BM25 and vector rankings by reciprocal rank (k = 60);
        without an embedder it runs as bm25 and says so in `note`; `vector` then answers 400
        `vector_search_unavailable`. A result is kept when its BM25 score reaches the tenant's
        `min_bm25` or its similarity reaches `min_similarity` (`GET /v1/rag/settings`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/KnowledgeSearch'
      responses:
        '200':
          description: The results, best first.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeSearchResults'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
  /v1/rag/query:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [knowledge]
      operationId: queryKnowledge
      summary: An answer from the best passages with numbered citations ([1], [2]). Any role.
      description: |
        With a language model configured (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY` or `OPENAI_BASE_URL`)
        the model writes the answer from the retrieved passages, citing them as `[n]`; numbers that
        name no passage it was given are removed from the text and listed in `dropped_references`,
        and the citations are renumbered in order of first use (`answered_by` model). Without a
        model, or when the model fails (`fallback_reason` says how), the answer is extractive: the
        passages' own sentences, each followed by the number of its citation (`answered_by`
        extractive). `no_relevant_results` is true (and `citations` empty) when nothing passes the
        relevance thresholds; the model is not asked then.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/KnowledgeSearch'
      responses:
        '200':
          description: The answer.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeAnswer'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
  /v1/rag/settings:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [knowledge]
      operationId: getKnowledgeSettings
      summary: The tenant's relevance thresholds (its own, or the installation's). Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The thresholds.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeThresholds'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    put:
      tags: [knowledge]
      operationId: setKnowledgeSettings
      summary: Set the tenant's relevance thresholds (null returns one to the installation's setting). Admin or operator.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                min_bm25:
                  type: [number, 'null']
                  minimum: 0
                  maximum: 1000
                min_similarity:
                  type: [number, 'null']
                  minimum: -1
                  maximum: 1
      responses:
        '200':
          description: The thresholds now.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/KnowledgeThresholds'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
schemas:
    KnowledgeCollection:
      type: object
      required: [id, name, document_count, created_at, updated_at]
      properties:
        id:
          type: string
        name:
          type: string
        description:
          type: [string, 'null']
        document_count:
          type: integer
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
        deleted_at:
          type: string
          format: date-time
          description: Only while deleted (listed with `include_deleted=true`).
    NewKnowledgeCollection:
      type: object
      required: [name]
      additionalProperties: false
      properties:
        name:
          type: string
          minLength: 1
          maxLength: 100
          description: Letters, digits, spaces, '-', '_' and '.'.
        description:
          type: [string, 'null']
          maxLength: 1000
    NewKnowledgeDocument:
      type: object
      required: [collection]
      additionalProperties: false
      properties:
        collection:
          type: string
        title:
          type: [string, 'null']
          maxLength: 300
        text:
          type: string
          description: The document in Markdown (or as `format` says).
        content:
          type: string
          description: Another name for `text`; send one of them.
        format:
          type: string
          enum: [markdown, text, html, csv, json]
        filename:
          type: [string, 'null']
        tags:
          type: array
          maxItems: 20
          items:
            type: string
            maxLength: 50
    NewKnowledgeBatch:
      type: object
      required: [documents]
      additionalProperties: false
      properties:
        documents:
          type: array
          minItems: 1
          maxItems: 500
          items:
            $ref: '#/components/schemas/NewKnowledgeDocument'
    KnowledgeDocument:
      type: object
      required: [id, collection_id, collection, title, format, content_hash, tags, status, chunk_count, created_at, updated_at, embedding]
      properties:
        id:
          type: string
        collection_id:
          type: string
        collection:
          type: string
        title:
          type: string
        source_filename:
          type: [string, 'null']
        format:
          type: string
        content_hash:
          type: string
          description: SHA-256 of the document's Markdown, hex.
        tags:
          type: array
          items:
            type: string
        status:
          type: string
          enum: [ready, failed]
        chunk_count:
          type: integer
        error:
          type: [string, 'null']
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
        embedding:
          type: string
          enum: [none, pending, ready, failed]
          description: |
            The chunks' vectors from the configured embedder: `pending` while the `support.reembed` job
            has chunks left (BM25 finds the document meanwhile), `ready` when every chunk has one,
            `failed` when the job gave up (`embedding_error`), `none` without an embedder.
        embedding_error:
          type: [string, 'null']
          description: Why the embedding job gave up (with `embedding` failed).
        deleted_at:
          type: string
          format: date-time
          description: Only while deleted (listed with `include_deleted=true`).
    KnowledgeIngest:
      type: object
      required: [document, outcome]
      properties:
        document:
          $ref: '#/components/schemas/KnowledgeDocument'
        outcome:
          type: string
          enum: [created, replaced, unchanged]
    KnowledgeChunk:
      type: object
      required: [id, ordinal, heading_path, text, word_count, start_offset, end_offset]
      properties:
        id:
          type: string
        ordinal:
          type: integer
        heading_path:
          type: string
          description: 'The chunk''s section, e.g. `# Billing > ## Refund policy` (empty before the first heading).'
        text:
          type: string
        word_count:
          type: integer
        start_offset:
          type: integer
          description: Where the chunk starts in the document's Markdown (UTF-16 code units, a JavaScript string index).
        end_offset:
          type: integer
    KnowledgeDocumentDetail:
      type: object
      required: [document, chunks, embedded_chunks]
      properties:
        document:
          $ref: '#/components/schemas/KnowledgeDocument'
        chunks:
          type: array
          items:
            $ref: '#/components/schemas/KnowledgeChunk'
        embedded_chunks:
          type: integer
          description: Chunks with a vector from the configured embedder (0 without one).
    KnowledgeBatch:
      type: object
      required: [id, status, total, done, failed, pending, items, created_at]
      properties:
        id:
          type: string
        status:
          type: string
          enum: [queued, running, finished]
        total:
          type: integer
        done:
          type: integer
        failed:
          type: integer
        pending:
          type: integer
        created_at:
          type: string
          format: date-time
        items:
          type: array
          items:
            type: object
            required: [ordinal, status]
            properties:
              ordinal:
                type: integer
              title:
                type: [string, 'null']
              status:
                type: string
                enum: [pending, done, failed]
              document_id:
                type: [string, 'null']
              error:
                type: [string, 'null']
    KnowledgeSearch:
      type: object
      required: [query]
      additionalProperties: false
      properties:
        query:
          type: string
          minLength: 1
          maxLength: 2000
        collection:
          type: [string, 'null']
          description: Only this collection (by name).
        collections:
          type: array
          maxItems: 50
          description: Only these collections (by name); with `collection`, any of them. Each must exist (404 `collection_not_found`).
          items:
            type: string
        document_id:
          type: [string, 'null']
        tags:
          type: array
          description: Only documents carrying any of these tags.
          items:
            type: string
        k:
          type: integer
          minimum: 1
          maximum: 50
          default: 5
        mode:
          type: string
          enum: [hybrid, bm25, vector]
          default: hybrid
    KnowledgeSearchResult:
      type: object
      required: [rank, chunk_id, document_id, document_title, collection, heading_path, snippet, text, score, start_offset, end_offset]
      properties:
        rank:
          type: integer
        chunk_id:
          type: string
        document_id:
          type: string
        document_title:
          type: string
        collection:
          type: string
        heading_path:
          type: string
        snippet:
          type: string
        text:
          type: string
        score:
          type: number
          description: BM25 (bm25 mode), cosine similarity (vector) or the reciprocal-rank fusion score (hybrid).
        bm25:
          type: [number, 'null']
        similarity:
          type: [number, 'null']
        start_offset:
          type: integer
        end_offset:
          type: integer
    KnowledgeSearchResults:
      type: object
      required: [query, mode, results, no_relevant_results]
      properties:
        query:
          type: string
        mode:
          type: string
          enum: [hybrid, bm25, vector]
          description: The mode used (hybrid without an embedder runs as bm25).
        results:
          type: array
          items:
            $ref: '#/components/schemas/KnowledgeSearchResult'
        no_relevant_results:
          type: boolean
        note:
          type: [string, 'null']
    KnowledgeCitation:
      type: object
      required: [n, chunk_id, document_id, document_title, heading_path, snippet]
      properties:
        n:
          type: integer
        chunk_id:
          type: string
        document_id:
          type: string
        document_title:
          type: string
        heading_path:
          type: string
        snippet:
          type: string
    KnowledgeAnswer:
      type: object
      required: [query, answer, citations, no_relevant_results, mode, answered_by, dropped_references]
      properties:
        query:
          type: string
        answer:
          type: string
          description: The answer, each sentence followed by its source's number, like `[1]`.
        citations:
          type: array
          items:
            $ref: '#/components/schemas/KnowledgeCitation'
        no_relevant_results:
          type: boolean
        mode:
          type: string
          enum: [hybrid, bm25, vector]
        answered_by:
          type: string
          enum: [model, extractive]
          description: Who wrote the answer.
        fallback_reason:
          type: [string, 'null']
          description: Why a configured model did not write it (the model failed or answered nothing).
        dropped_references:
          type: array
          items:
            type: integer
          description: Reference numbers the model wrote that name no passage it was given (removed from the answer).
    KnowledgeThresholds:
      type: object
      required: [min_bm25, min_similarity, source]
      properties:
        min_bm25:
          type: number
        min_similarity:
          type: number
        source:
          type: string
          enum: [installation, tenant]
"""#
}
