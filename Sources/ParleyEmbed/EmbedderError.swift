import Foundation

/// Why embedding failed. Messages say what to change and never carry an API key.
public enum EmbedderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The built-in model's files are missing or unreadable (names the file and what is wrong).
    case modelFiles(String)
    /// The embeddings server did not answer in time.
    case timeout
    /// The embeddings server refused the API key (401/403).
    case authentication
    /// The embeddings server asked to slow down (429).
    case rateLimited
    /// The embeddings server failed (5xx).
    case server(status: Int)
    /// The embeddings server refused the request (4xx other than the above), with its message.
    case invalidRequest(String)
    /// The answer was not an embeddings response, or did not match the request.
    case malformedResponse(String)
    /// The server could not be reached.
    case transport(String)

    public var description: String {
        switch self {
        case .modelFiles(let message): "embedding model files: \(message)"
        case .timeout: "the embeddings server did not answer in time (PARLEY_EMBEDDINGS_TIMEOUT_SECONDS)"
        case .authentication: "the embeddings server refused the API key (PARLEY_EMBEDDINGS_API_KEY)"
        case .rateLimited: "the embeddings server is rate limiting requests"
        case .server(let status): "the embeddings server failed with HTTP \(status)"
        case .invalidRequest(let message): "the embeddings server refused the request: \(message)"
        case .malformedResponse(let message): "the embeddings server's answer is not usable: \(message)"
        case .transport(let message): "cannot reach the embeddings server: \(message)"
        }
    }
}
