import AsyncHTTPClient
import Foundation
import ParleyCore

/// Which embedder the installation uses (`docs/configuration.md`, "Embeddings"): the built-in
/// model from `PARLEY_EMBEDDING_MODEL_DIR`, an OpenAI-compatible server at `PARLEY_EMBEDDINGS_URL`,
/// or none (keyword search alone). Setting both is refused.
public struct EmbeddingSettings: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case none
        case builtin(directory: String)
        case openAI(OpenAICompatibleEmbedder.Configuration)
    }

    public var source: Source

    public init(source: Source) { self.source = source }

    /// Vector lengths of well-known embedding models, so `PARLEY_EMBEDDINGS_DIMENSIONS` is needed
    /// only for others.
    public static let knownDimensions: [String: Int] = [
        "text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536,
        "nomic-embed-text": 768, "mxbai-embed-large": 1024, "all-minilm": 384, "all-minilm-l6-v2": 384,
        "snowflake-arctic-embed": 1024, "bge-m3": 1024, "bge-large": 1024, "bge-small-en-v1.5": 384,
        "bge-base-en-v1.5": 768, "bge-large-en-v1.5": 1024, "e5-small-v2": 384, "e5-base-v2": 768,
        "e5-large-v2": 1024, "multilingual-e5-large": 1024, "granite-embedding": 384,
    ]

    /// The dimensions of `model` if it is a known one (`nomic-embed-text:latest`,
    /// `sentence-transformers/all-MiniLM-L6-v2` and `BAAI/bge-m3` are recognised too).
    public static func dimensions(ofModel model: String) -> Int? {
        var name = model.lowercased()
        if let slash = name.lastIndex(of: "/") { name = String(name[name.index(after: slash)...]) }
        if let colon = name.firstIndex(of: ":") { name = String(name[..<colon]) }
        return knownDimensions[name]
    }

    public static func load(_ config: ParleyConfig) throws(ConfigError) -> EmbeddingSettings {
        try load(ConfigReader(sources: config.sources))
    }

    public static func load(_ reader: ConfigReader) throws(ConfigError) -> EmbeddingSettings {
        let directory = try reader.optional("PARLEY_EMBEDDING_MODEL_DIR",
                                            accepts: "a directory holding model.safetensors, config.json and vocab.txt (see docs/support.md, Embeddings)") { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        let url = try reader.optional("PARLEY_EMBEDDINGS_URL",
                                      accepts: "the base URL of an OpenAI-compatible embeddings server, such as https://api.openai.com or http://127.0.0.1:11434",
                                      valid: ParleyConfig.isHTTPURL)
        let model = try reader.optional("PARLEY_EMBEDDINGS_MODEL", accepts: "a model name such as text-embedding-3-small or nomic-embed-text") {
            !$0.contains(where: \.isWhitespace)
        }
        let apiKey = reader.sources.value("PARLEY_EMBEDDINGS_API_KEY")
        let dimensionsText = reader.sources.value("PARLEY_EMBEDDINGS_DIMENSIONS")
        let dimensions = dimensionsText == nil ? nil : try reader.int("PARLEY_EMBEDDINGS_DIMENSIONS", default: 0, range: 1...65_536)
        let batchSize = try reader.int("PARLEY_EMBEDDINGS_BATCH_SIZE", default: 64, range: 1...2048)
        let timeout = try reader.int("PARLEY_EMBEDDINGS_TIMEOUT_SECONDS", default: 60, range: 1...3600)

        if let directory, url != nil {
            throw .invalid(setting: "PARLEY_EMBEDDING_MODEL_DIR", value: directory,
                           accepts: "either PARLEY_EMBEDDING_MODEL_DIR (the built-in model) or PARLEY_EMBEDDINGS_URL (a server), not both: unset one of them")
        }
        if let directory { return EmbeddingSettings(source: .builtin(directory: directory)) }
        guard let url else {
            for key in ["PARLEY_EMBEDDINGS_MODEL", "PARLEY_EMBEDDINGS_API_KEY", "PARLEY_EMBEDDINGS_DIMENSIONS"] where reader.sources.value(key) != nil {
                throw .invalid(setting: "PARLEY_EMBEDDINGS_URL", value: "",
                               accepts: "the embeddings server's base URL, required when \(key) is set (e.g. https://api.openai.com)")
            }
            return EmbeddingSettings(source: .none)
        }
        guard let model else {
            throw .invalid(setting: "PARLEY_EMBEDDINGS_MODEL", value: "",
                           accepts: "the embedding model's name, required with PARLEY_EMBEDDINGS_URL (e.g. text-embedding-3-small, nomic-embed-text)")
        }
        guard let size = dimensions ?? Self.dimensions(ofModel: model) else {
            throw .invalid(setting: "PARLEY_EMBEDDINGS_DIMENSIONS", value: "",
                           accepts: "the length of \(model)'s vectors (an integer from 1 to 65536), required for a model Parley does not know")
        }
        return EmbeddingSettings(source: .openAI(.init(baseURL: url, model: model, apiKey: apiKey, dimensions: size,
                                                        batchSize: batchSize, timeout: .seconds(timeout))))
    }
}

/// The embedder `settings` describe, or nil when none is configured (keyword search alone).
/// The built-in model is loaded here (once per process); missing or broken files throw an
/// `EmbedderError.modelFiles` naming the file.
public func makeEmbedder(_ settings: EmbeddingSettings, httpClient: HTTPClient = .shared) throws -> (any Embedder)? {
    switch settings.source {
    case .none: return nil
    case .builtin(let directory): return try BuiltinEmbedder(directory: directory)
    case .openAI(let configuration): return OpenAICompatibleEmbedder(configuration: configuration, httpClient: httpClient)
    }
}
