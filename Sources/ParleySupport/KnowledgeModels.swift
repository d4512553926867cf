import Foundation
import ParleyCore

public struct KBCollection: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var description: String?
    public var documentCount: Int
    public var createdAt: Date
    public var updatedAt: Date
    /// Set while soft-deleted (listed with `include_deleted=true`); its documents are hidden with it.
    public var deletedAt: Date? = nil
}

public enum DocumentStatus: String, Sendable, Codable {
    case ready, failed
}

/// Where a document's vectors are: BM25 finds a document as soon as it is stored; its chunks are
/// embedded afterwards on the job queue (`support.reembed`).
public enum EmbeddingState: String, Sendable, Codable {
    /// No embedder is configured: the document is searched by BM25 alone.
    case none
    /// Some chunks wait for a vector from the current embedder (a job is queued or running).
    case pending
    /// Every chunk has a vector from the current embedder.
    case ready
    /// The embedding job gave up (`embedding_error` says why); BM25 still finds the document.
    case failed
}

public struct KBDocument: Sendable, Codable, Equatable {
    public var id: String
    public var collectionId: String
    public var collection: String
    public var title: String
    public var sourceFilename: String?
    public var format: String
    public var contentHash: String
    public var tags: [String]
    public var status: DocumentStatus
    public var chunkCount: Int
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var embedding: EmbeddingState = .none
    public var embeddingError: String? = nil
    /// Set while soft-deleted (listed with `include_deleted=true`): not searchable until restored.
    public var deletedAt: Date? = nil
}

public struct KBChunk: Sendable, Codable, Equatable {
    public var id: String
    public var ordinal: Int
    public var headingPath: String
    public var text: String
    public var wordCount: Int
    public var startOffset: Int
    public var endOffset: Int
}

public struct KBDocumentDetail: Sendable, Codable, Equatable {
    public var document: KBDocument
    public var chunks: [KBChunk]
    public var embeddedChunks: Int
}

/// What happened to an uploaded document: new, its chunks replaced, or identical (nothing done).
public enum IngestOutcome: String, Sendable, Codable {
    case created, replaced, unchanged
}

public struct IngestResult: Sendable, Codable, Equatable {
    public var document: KBDocument
    public var outcome: IngestOutcome
}

/// A document to add: Markdown already converted.
public struct IngestRequest: Sendable, Codable, Equatable {
    public var collection: String
    public var title: String?
    public var filename: String?
    public var markdown: String
    public var format: String
    public var tags: [String]

    public init(collection: String, title: String?, filename: String?, markdown: String, format: String, tags: [String]) {
        self.collection = collection
        self.title = title
        self.filename = filename
        self.markdown = markdown
        self.format = format
        self.tags = tags
    }
}

public enum SearchMode: String, Sendable, Codable, CaseIterable {
    case hybrid, bm25, vector
}

public struct SearchRequest: Sendable, Equatable {
    public var query: String
    public var collection: String?
    /// More collections by name (with `collection`, any of them).
    public var collections: [String]
    /// Collection ids the search may not leave (an agent's `knowledge_collections`); nil or
    /// empty: every collection.
    public var collectionScope: [String]?
    public var documentID: String?
    public var tags: [String]
    public var k: Int
    public var mode: SearchMode

    public init(query: String, collection: String? = nil, collections: [String] = [], collectionScope: [String]? = nil,
                documentID: String? = nil, tags: [String] = [], k: Int = 5, mode: SearchMode = .hybrid) {
        self.query = query
        self.collection = collection
        self.collections = collections
        self.collectionScope = collectionScope
        self.documentID = documentID
        self.tags = tags
        self.k = k
        self.mode = mode
    }
}

public struct SearchResult: Sendable, Codable, Equatable {
    public var rank: Int
    public var chunkId: String
    public var documentId: String
    public var documentTitle: String
    public var collection: String
    public var headingPath: String
    public var snippet: String
    public var text: String
    /// The ranking's score: BM25 (bm25 mode), cosine similarity (vector) or the fused
    /// reciprocal-rank score (hybrid).
    public var score: Double
    public var bm25: Double?
    public var similarity: Double?
    public var startOffset: Int
    public var endOffset: Int
}

public struct SearchResponse: Sendable, Codable, Equatable {
    public var query: String
    /// The mode actually used (hybrid without an embedder runs as bm25).
    public var mode: SearchMode
    public var results: [SearchResult]
    public var noRelevantResults: Bool
    public var note: String?
}

/// A numbered source of an answer: `[n]` in the text.
public struct Citation: Sendable, Codable, Equatable {
    public var n: Int
    public var chunkId: String
    public var documentId: String
    public var documentTitle: String
    public var headingPath: String
    public var snippet: String
}

/// Who wrote an answer: the configured language model from the passages, or the extractive
/// answerer (no model configured, nothing relevant found, or the model failed).
public enum AnswerSource: String, Sendable, Codable {
    case model, extractive
}

public struct QueryAnswer: Sendable, Codable, Equatable {
    public var query: String
    public var answer: String
    public var citations: [Citation]
    public var noRelevantResults: Bool
    public var mode: SearchMode
    public var answeredBy: AnswerSource = .extractive
    /// Why a configured model did not write this answer (it failed, or answered nothing).
    public var fallbackReason: String? = nil
    /// Reference numbers the model wrote that name no passage it was given: removed from the text.
    public var droppedReferences: [Int] = []
}

public struct BatchItemView: Sendable, Codable, Equatable {
    public var ordinal: Int
    public var title: String?
    public var status: String
    public var documentId: String?
    public var error: String?
}

public struct BatchView: Sendable, Codable, Equatable {
    public var id: String
    public var status: String
    public var total: Int
    public var done: Int
    public var failed: Int
    public var pending: Int
    public var items: [BatchItemView]
    public var createdAt: Date
}

/// A tenant's own relevance thresholds; nil fields follow the installation's settings.
public struct KBThresholds: Sendable, Codable, Equatable {
    public var minBm25: Double
    public var minSimilarity: Double
    public var source: String
}
