import Foundation

/// Which embedder made a vector: a stored vector from another embedder is stale and is re-embedded.
public struct EmbedderIdentity: Sendable, Hashable, Codable {
    /// `builtin:all-MiniLM-L6-v2`, `openai:<base-url>:<model>`.
    public var name: String
    public var dimensions: Int

    public init(name: String, dimensions: Int) {
        self.name = name
        self.dimensions = dimensions
    }
}

/// Turns texts into vectors (L2-normalised, `identity.dimensions` long). Implementations: the
/// built-in all-MiniLM-L6-v2 and any OpenAI-compatible `/v1/embeddings` server.
public protocol Embedder: Sendable {
    var identity: EmbedderIdentity { get }
    func embed(_ texts: [String]) async throws -> [[Float]]
}
