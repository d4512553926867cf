import Foundation

/// A BERT encoder (all-MiniLM-L6-v2 and any model of the same architecture) loaded from a
/// sentence-transformers directory, run in Swift: embeddings, `layers` × (self-attention, GELU
/// feed-forward, post-layer norms), mean pooling over the tokens, L2 normalisation.
///
/// Weights are immutable after loading; one instance serves every caller. Sequences of a batch are
/// packed end to end (no padding): the position-wise layers run on all tokens at once, attention
/// runs within each sequence, which is what an attention mask over a padded batch computes.
public final class BertEncoder: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var hidden: Int
        public var layers: Int
        public var heads: Int
        public var intermediate: Int
        public var layerNormEpsilon: Float
        public var maxPositions: Int
        public var vocabularySize: Int
        /// Tokens per text, `[CLS]` and `[SEP]` included; longer texts are truncated.
        public var maxTokens: Int
    }

    struct Layer: Sendable {
        let qkv: PackedLinear
        let attentionOutput: PackedLinear
        let attentionNormWeight: [Float], attentionNormBias: [Float]
        let intermediate: PackedLinear
        let output: PackedLinear
        let outputNormWeight: [Float], outputNormBias: [Float]
    }

    public let configuration: Configuration
    public let tokenizer: WordPieceTokenizer
    let wordEmbeddings: [Float]
    let positionEmbeddings: [Float]
    let tokenTypeEmbedding: [Float]
    let embeddingNormWeight: [Float], embeddingNormBias: [Float]
    let layers: [Layer]
    let threads: Int

    // MARK: Loading

    /// Reads `config.json`, `vocab.txt` and `model.safetensors` (and, when present,
    /// `sentence_bert_config.json`, `tokenizer_config.json`, `1_Pooling/config.json`) from `directory`.
    public init(directory: URL, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws(EmbedderError) {
        let config = try Self.json(directory, "config.json", required: true)
        func int(_ key: String) throws(EmbedderError) -> Int {
            guard let value = config[key] as? Int, value > 0 else {
                throw .modelFiles("config.json lacks a positive \(key)")
            }
            return value
        }
        if let type = config["model_type"] as? String, type != "bert" {
            throw .modelFiles("config.json describes a \(type) model; only BERT encoders (such as all-MiniLM-L6-v2) run built in")
        }
        if let act = config["hidden_act"] as? String, act != "gelu" {
            throw .modelFiles("config.json asks for the \(act) activation; only gelu is supported")
        }
        if let position = config["position_embedding_type"] as? String, position != "absolute" {
            throw .modelFiles("config.json asks for \(position) position embeddings; only absolute ones are supported")
        }
        let hidden = try int("hidden_size"), heads = try int("num_attention_heads")
        guard hidden % heads == 0 else { throw .modelFiles("config.json: hidden_size \(hidden) is not a multiple of num_attention_heads \(heads)") }
        let maxPositions = try int("max_position_embeddings")
        let sentence = try Self.json(directory, "sentence_bert_config.json", required: false)
        let tokenizerConfig = try Self.json(directory, "tokenizer_config.json", required: false)
        let pooling = try Self.json(directory, "1_Pooling/config.json", required: false)
        if let mean = pooling["pooling_mode_mean_tokens"] as? Bool, !mean {
            throw .modelFiles("1_Pooling/config.json does not pool by mean; only mean pooling is supported")
        }
        let declaredMax = (sentence["max_seq_length"] as? Int) ?? (tokenizerConfig["model_max_length"] as? Int) ?? maxPositions
        let configuration = Configuration(
            hidden: hidden, layers: try int("num_hidden_layers"), heads: heads, intermediate: try int("intermediate_size"),
            layerNormEpsilon: Float((config["layer_norm_eps"] as? Double) ?? 1e-12),
            maxPositions: maxPositions, vocabularySize: try int("vocab_size"),
            maxTokens: max(2, min(declaredMax, maxPositions)))

        let vocabulary = try WordPieceTokenizer.readVocabulary(directory.appendingPathComponent("vocab.txt"))
        guard vocabulary.values.allSatisfy({ Int($0) < configuration.vocabularySize }) else {
            throw .modelFiles("vocab.txt has more tokens than config.json's vocab_size \(configuration.vocabularySize)")
        }
        let lowercase = (tokenizerConfig["do_lower_case"] as? Bool) ?? true
        let tokenizer = try WordPieceTokenizer(vocabulary: vocabulary, lowercase: lowercase,
                                               stripAccents: tokenizerConfig["strip_accents"] as? Bool,
                                               splitCJK: (tokenizerConfig["tokenize_chinese_chars"] as? Bool) ?? true)

        let weightsURL = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw .modelFiles("\(weightsURL.path) is missing (PARLEY_EMBEDDING_MODEL_DIR must hold model.safetensors, config.json and vocab.txt)")
        }
        let weights = try SafeTensors(contentsOf: weightsURL)
        let prefix = weights.tensors["embeddings.word_embeddings.weight"] == nil && weights.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func tensor(_ name: String, _ shape: [Int]) throws(EmbedderError) -> [Float] {
            try weights.floats(prefix + name, shape: shape)
        }
        func linear(_ name: String, inputs: Int, outputs: Int) throws(EmbedderError) -> (weight: [Float], bias: [Float]) {
            (try tensor(name + ".weight", [outputs, inputs]), try tensor(name + ".bias", [outputs]))
        }
        let h = hidden, f = configuration.intermediate
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [configuration.vocabularySize, h])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [maxPositions, h])
        let types = weights.tensors[prefix + "embeddings.token_type_embeddings.weight"]?.shape.first ?? 0
        tokenTypeEmbedding = Array(try tensor("embeddings.token_type_embeddings.weight", [max(types, 1), h]).prefix(h))
        embeddingNormWeight = try tensor("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try tensor("embeddings.LayerNorm.bias", [h])
        var layers: [Layer] = []
        for l in 0..<configuration.layers {
            let p = "encoder.layer.\(l)."
            let q = try linear(p + "attention.self.query", inputs: h, outputs: h)
            let k = try linear(p + "attention.self.key", inputs: h, outputs: h)
            let v = try linear(p + "attention.self.value", inputs: h, outputs: h)
            let o = try linear(p + "attention.output.dense", inputs: h, outputs: h)
            let i = try linear(p + "intermediate.dense", inputs: h, outputs: f)
            let out = try linear(p + "output.dense", inputs: f, outputs: h)
            layers.append(Layer(
                qkv: .concatenated([q, k, v], inputs: h),
                attentionOutput: PackedLinear(weight: o.weight, bias: o.bias, inputs: h, outputs: h),
                attentionNormWeight: try tensor(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try tensor(p + "attention.output.LayerNorm.bias", [h]),
                intermediate: PackedLinear(weight: i.weight, bias: i.bias, inputs: h, outputs: f),
                output: PackedLinear(weight: out.weight, bias: out.bias, inputs: f, outputs: h),
                outputNormWeight: try tensor(p + "output.LayerNorm.weight", [h]),
                outputNormBias: try tensor(p + "output.LayerNorm.bias", [h])))
        }
        self.layers = layers
        self.configuration = configuration
        self.tokenizer = tokenizer
        self.threads = max(1, min(threads, 16))
    }

    private static func json(_ directory: URL, _ name: String, required: Bool) throws(EmbedderError) -> [String: Any] {
        let url = directory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            if required {
                throw .modelFiles("\(url.path) is missing (PARLEY_EMBEDDING_MODEL_DIR must hold model.safetensors, config.json and vocab.txt)")
            }
            return [:]
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .modelFiles("\(url.path) is not a JSON object")
        }
        return object
    }

    // MARK: Inference

    /// Token ids of `text` as the model reads it (`[CLS] … [SEP]`, truncated to `maxTokens`).
    public func tokenize(_ text: String) -> [Int32] {
        tokenizer.encode(text, maxLength: configuration.maxTokens)
    }

    /// One L2-normalised vector per token sequence (each from `tokenize`). Runs synchronously on
    /// the calling thread and up to `threads` others.
    public func encode(_ sequences: [[Int32]]) -> [[Float]] {
        let h = configuration.hidden, f = configuration.intermediate
        let lengths = sequences.map { min($0.count, configuration.maxPositions) }
        let total = lengths.reduce(0, +)
        guard total > 0 else { return sequences.map { _ in [Float](repeating: 0, count: h) } }
        var starts: [Int] = []
        var offset = 0
        for length in lengths { starts.append(offset); offset += length }

        var x = [Float](repeating: 0, count: total * h)
        var qkv = [Float](repeating: 0, count: total * 3 * h)
        var context = [Float](repeating: 0, count: total * h)
        var scratch = [Float](repeating: 0, count: total * h)
        var inner = [Float](repeating: 0, count: total * f)

        // Embeddings: word + position + token type 0, then layer norm.
        x.withUnsafeMutableBufferPointer { xb in
            guard let xp = xb.baseAddress else { return }
            wordEmbeddings.withUnsafeBufferPointer { word in
                positionEmbeddings.withUnsafeBufferPointer { position in
                    tokenTypeEmbedding.withUnsafeBufferPointer { type in
                        guard let word = word.baseAddress, let position = position.baseAddress, let type = type.baseAddress else { return }
                        for (s, sequence) in sequences.enumerated() {
                            for p in 0..<lengths[s] {
                                let id = Int(sequence[p])
                                let token = id >= 0 && id < configuration.vocabularySize ? id : Int(tokenizer.unknown)
                                let row = xp + (starts[s] + p) * h
                                for j in 0..<h { row[j] = word[token * h + j] + position[p * h + j] + type[j] }
                            }
                        }
                    }
                }
            }
            embeddingNormWeight.withUnsafeBufferPointer { w in
                embeddingNormBias.withUnsafeBufferPointer { b in
                    guard let w = w.baseAddress, let b = b.baseAddress else { return }
                    layerNorm(xp, residual: nil, rows: total, width: h, gamma: w, beta: b, epsilon: configuration.layerNormEpsilon)
                }
            }
        }

        for layer in layers {
            x.withUnsafeMutableBufferPointer { xb in
                qkv.withUnsafeMutableBufferPointer { qb in
                    context.withUnsafeMutableBufferPointer { cb in
                        scratch.withUnsafeMutableBufferPointer { sb in
                            inner.withUnsafeMutableBufferPointer { ib in
                                guard let xp = xb.baseAddress, let qp = qb.baseAddress, let cp = cb.baseAddress,
                                      let sp = sb.baseAddress, let ip = ib.baseAddress else { return }
                                run(layer, x: xp, qkv: qp, context: cp, scratch: sp, inner: ip,
                                    total: total, starts: starts, lengths: lengths)
                            }
                        }
                    }
                }
            }
        }

        // Mean pooling over each sequence's tokens, then L2 normalisation.
        return sequences.indices.map { s in
            var pooled = [Float](repeating: 0, count: h)
            guard lengths[s] > 0 else { return pooled }
            for p in 0..<lengths[s] {
                let base = (starts[s] + p) * h
                for j in 0..<h { pooled[j] += x[base + j] }
            }
            return l2Normalized(pooled)
        }
    }

    private func run(_ layer: Layer, x: UnsafeMutablePointer<Float>, qkv: UnsafeMutablePointer<Float>,
                     context: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                     inner: UnsafeMutablePointer<Float>, total: Int, starts: [Int], lengths: [Int]) {
        let h = configuration.hidden, f = configuration.intermediate, eps = configuration.layerNormEpsilon
        layer.qkv.apply(x, rows: total, into: qkv, threads: threads)
        attention(qkv: qkv, into: context, starts: starts, lengths: lengths)
        layer.attentionOutput.apply(context, rows: total, into: scratch, threads: threads)
        // x = LN(attention output + x), written into x.
        layer.attentionNormWeight.withUnsafeBufferPointer { w in
            layer.attentionNormBias.withUnsafeBufferPointer { b in
                guard let w = w.baseAddress, let b = b.baseAddress else { return }
                layerNorm(scratch, residual: x, rows: total, width: h, gamma: w, beta: b, epsilon: eps)
            }
        }
        x.update(from: scratch, count: total * h)
        layer.intermediate.apply(x, rows: total, into: inner, threads: threads)
        parallelRows(total, threads: threads) { range in
            gelu(inner + range.lowerBound * f, count: range.count * f)
        }
        layer.output.apply(inner, rows: total, into: scratch, threads: threads)
        layer.outputNormWeight.withUnsafeBufferPointer { w in
            layer.outputNormBias.withUnsafeBufferPointer { b in
                guard let w = w.baseAddress, let b = b.baseAddress else { return }
                layerNorm(scratch, residual: x, rows: total, width: h, gamma: w, beta: b, epsilon: eps)
            }
        }
        x.update(from: scratch, count: total * h)
    }

    /// Multi-head self-attention within each sequence: `context = softmax(QKᵀ/√d)·V` per head.
    private func attention(qkv: UnsafeMutablePointer<Float>, into context: UnsafeMutablePointer<Float>,
                           starts: [Int], lengths: [Int]) {
        let h = configuration.hidden, heads = configuration.heads, d = h / heads
        let stride = 3 * h
        let scale = 1 / Float(d).squareRoot()
        let jobs = lengths.indices.flatMap { s in (0..<heads).map { (s, $0) } }
        let maxLength = lengths.max() ?? 0
        let workers = max(1, min(threads, jobs.count))
        concurrently(workers) { worker in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(maxLength, 1))
            defer { scores.deallocate() }
            var job = worker
            while job < jobs.count {
                let (s, head) = jobs[job]
                let start = starts[s], length = lengths[s]
                for i in 0..<length {
                    let q = qkv + (start + i) * stride + head * d
                    for j in 0..<length {
                        scores[j] = dot(q, qkv + (start + j) * stride + h + head * d, count: d) * scale
                    }
                    softmax(scores, count: length)
                    let out = context + (start + i) * h + head * d
                    out.update(repeating: 0, count: d)
                    for j in 0..<length {
                        axpy(scores[j], qkv + (start + j) * stride + 2 * h + head * d, out, count: d)
                    }
                }
                job += workers
            }
        }
    }
}

/// Splits `rows` into `threads` contiguous ranges run concurrently (one range when small).
func parallelRows(_ rows: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    let threads = max(1, min(threads, rows / 16))
    if threads == 1 { body(0..<rows); return }
    concurrently(threads) { t in
        body((rows * t / threads)..<(rows * (t + 1) / threads))
    }
}

/// `v / |v|` (a zero vector stays zero).
func l2Normalized(_ v: [Float]) -> [Float] {
    var sum: Double = 0
    for value in v { sum += Double(value) * Double(value) }
    guard sum > 0, sum.isFinite else { return v }
    let scale = Float(1 / sum.squareRoot())
    return v.map { $0 * scale }
}
