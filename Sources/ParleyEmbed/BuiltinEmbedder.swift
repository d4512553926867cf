import Foundation
import Synchronization

/// The built-in embedder: all-MiniLM-L6-v2 (or another BERT sentence encoder of the same shape)
/// from its standard files, computed in process. The model is loaded once per directory and
/// process; forward passes run one at a time on a queue of their own (each spreads over the
/// machine's cores), never on the concurrency pool's threads.
public struct BuiltinEmbedder: Embedder {
    public static let modelName = "all-MiniLM-L6-v2"
    /// Most tokens one forward pass packs together (bounds the working memory to ~30 MB).
    static let tokensPerBatch = 2048

    public let encoder: BertEncoder
    public let identity: EmbedderIdentity

    private static let loaded = Mutex<[String: BertEncoder]>([:])
    private static let queue = DispatchQueue(label: "parley.embed.builtin")

    /// Loads (or reuses) the model in `directory`.
    public init(directory: String) throws(EmbedderError) {
        let url = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
        let encoder: BertEncoder
        if let cached = Self.loaded.withLock({ $0[url.path] }) {
            encoder = cached
        } else {
            encoder = try BertEncoder(directory: url)
            Self.loaded.withLock { $0[url.path] = encoder }
        }
        self.init(encoder: encoder)
    }

    public init(encoder: BertEncoder) {
        self.encoder = encoder
        let c = encoder.configuration
        // all-MiniLM-L6-v2's shape; another model in the directory gets a name of its own, so
        // vectors it made are never mixed with MiniLM's.
        let isMiniLM = c.layers == 6 && c.hidden == 384 && c.heads == 12 && c.intermediate == 1536 && c.vocabularySize == 30522
        let name = isMiniLM ? Self.modelName : "bert-\(c.layers)x\(c.hidden)-\(c.vocabularySize)"
        identity = EmbedderIdentity(name: "builtin:\(name)", dimensions: c.hidden)
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        let encoder = encoder
        let sequences = texts.map { encoder.tokenize($0) }
        // Longest first, so a batch holds texts of similar length; results go back in input order.
        let order = sequences.indices.sorted { sequences[$0].count > sequences[$1].count }
        var results = [[Float]](repeating: [], count: texts.count)
        var index = 0
        while index < order.count {
            try Task.checkCancellation()
            var batch: [Int] = []
            var tokens = 0
            while index < order.count, batch.isEmpty || tokens + sequences[order[index]].count <= Self.tokensPerBatch {
                batch.append(order[index])
                tokens += sequences[order[index]].count
                index += 1
            }
            let input = batch.map { sequences[$0] }
            let vectors = await withCheckedContinuation { (continuation: CheckedContinuation<[[Float]], Never>) in
                Self.queue.async { continuation.resume(returning: encoder.encode(input)) }
            }
            for (i, row) in batch.enumerated() { results[row] = vectors[i] }
        }
        return results
    }
}
