import Foundation
@testable import ParleyEmbed
import Testing

/// Where the model's files are, and whether the tests that need them run: when they are set, and
/// always in CI (where their absence fails the tests instead of skipping them).
enum EmbedModelFiles {
    static let directory = ProcessInfo.processInfo.environment["PARLEY_EMBEDDING_MODEL_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    static let required = directory != nil || ProcessInfo.processInfo.environment["CI"] == "true"
}

/// The built-in all-MiniLM-L6-v2 against an independent numpy implementation of the same forward
/// pass (scripts/embed-reference.py, float64, padded batch with an attention mask) on the same
/// files. Needs PARLEY_EMBEDDING_MODEL_DIR (scripts/test fetches the files); skipped without it,
/// except in CI, where a missing model fails.
@Suite(.enabled(if: EmbedModelFiles.required, "PARLEY_EMBEDDING_MODEL_DIR is unset (scripts/fetch-embedding-model)"))
struct EmbedModelTests {
    static let directory = EmbedModelFiles.directory
    static let python = ProcessInfo.processInfo.environment["PARLEY_TEST_PYTHON"] ?? "python3"
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/embed-reference.py")

    static let sentences: [String] = [
        "How do I reset my password?",
        "The café serves crème brûlée for $4.50, doesn't it?",
        "Order #A-1093 shipped on 2026-11-30 via UPS; tracking: 1Z999AA10123456784.",
        "Refunds are issued within 5–7 business days (excluding weekends & holidays).",
        "WARRANTY EXPIRING: your vehicle's powertrain coverage ends 12/31/2026!!!",
        "naïve résumé coöperate Ångström façade jalapeño",
        "Der Kundendienst ist montags bis freitags von 9 bis 17 Uhr erreichbar.",
        "¿Dónde está mi pedido? Lo compré hace dos semanas.",
        "日本語のサポートは利用できますか？",
        "Contact support@example.com or call +1 (555) 123-4567.",
        "   leading and trailing whitespace\tand\ttabs\n\nand newlines   ",
        "a",
        "",
        "!!!???...",
        "The quick brown fox jumps over the lazy dog. 🦊🐶",
        "unbelievably antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "Version 2.3.1-beta fixes CVE-2026-12345 in libfoo >= 1.0 && < 2.0.",
        "To escalate, say \"talk to a human\" — an agent will reply within 10 minutes.",
        String(repeating: "Our premium plan includes priority support, unlimited seats, single sign-on and audit logs. ", count: 40),
        (1...400).map { "word\($0)" }.joined(separator: " "),
    ]

    static func model() throws -> BuiltinEmbedder {
        guard let directory else { throw TestFailure("PARLEY_EMBEDDING_MODEL_DIR is unset, and CI must run the built-in embedder tests") }
        return try BuiltinEmbedder(directory: directory)
    }

    struct Reference: Decodable {
        var tokens: [[Int32]]
        var vectors: [[Double]]
    }

    /// Runs the numpy reference on `texts` (its output goes through a file: it is larger than a pipe holds).
    static func reference(_ texts: [String]) async throws -> Reference {
        guard let directory else { throw TestFailure("PARLEY_EMBEDDING_MODEL_DIR is unset") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("parley-embed-ref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let input = work.appendingPathComponent("in.json"), output = work.appendingPathComponent("out.json")
        try JSONSerialization.data(withJSONObject: ["texts": texts]).write(to: input)
        let (status, log) = try await runCommand("/usr/bin/env", [python, script.path, directory, input.path, output.path])
        guard status == 0 else {
            throw TestFailure("the numpy reference failed (\(python); needs numpy from Tests/requirements.txt): \(log)")
        }
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: output))
    }

    static func cosine(_ a: [Float], _ b: [Double]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * y; na += Double(x) * Double(x); nb += y * y }
        return na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot())
    }

    @Test func matchesTheNumpyReference() async throws {
        let embedder = try Self.model()
        #expect(embedder.identity == EmbedderIdentity(name: "builtin:all-MiniLM-L6-v2", dimensions: 384))
        #expect(embedder.encoder.configuration.maxTokens == 256)
        let reference = try await Self.reference(Self.sentences)
        let vectors = try await embedder.embed(Self.sentences)
        #expect(vectors.count == Self.sentences.count)
        for (i, sentence) in Self.sentences.enumerated() {
            // The same word pieces (long texts cut at 256 tokens), then the same vector.
            #expect(embedder.encoder.tokenize(sentence) == reference.tokens[i], "tokens of \(sentence.prefix(60))")
            #expect(vectors[i].count == 384)
            let norm = vectors[i].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-4)
            let cosine = Self.cosine(vectors[i], reference.vectors[i])
            #expect(cosine >= 0.999, "cosine \(cosine) for \(sentence.prefix(60))")
        }
        #expect(reference.tokens[18].count == 256 && reference.tokens[19].count == 256)
    }

    @Test func aTextGetsTheSameVectorAloneOrInABatch() async throws {
        let embedder = try Self.model()
        let batch = try await embedder.embed(Self.sentences)
        for i in [0, 5, 18] {
            #expect(try await embedder.embed([Self.sentences[i]]) == [batch[i]])
        }
        #expect(try await embedder.embed([]).isEmpty)
        // Related texts are closer than unrelated ones.
        let v = try await embedder.embed(["How can I change my password?", "I forgot my login password", "The weather is sunny in Madrid"])
        let close = zip(v[0], v[1]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        let far = zip(v[0], v[2]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(close > far + 0.2)
    }

    @Test func makeEmbedderLoadsTheModelOnce() throws {
        guard let directory = Self.directory else { throw TestFailure("PARLEY_EMBEDDING_MODEL_DIR is unset") }
        let a = try #require(try makeEmbedder(EmbeddingSettings(source: .builtin(directory: directory))) as? BuiltinEmbedder)
        let b = try #require(try makeEmbedder(EmbeddingSettings(source: .builtin(directory: directory + "/"))) as? BuiltinEmbedder)
        #expect(a.encoder === b.encoder)
    }
}
