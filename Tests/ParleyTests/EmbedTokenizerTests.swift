import Foundation
@testable import ParleyEmbed
import Testing

/// BERT's tokenizer on a small vocabulary, and the safetensors reader on files built here.
@Suite struct EmbedTokenizerTests {
    static let vocabulary: [String] = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cafe", "serves", "creme", "brulee", "for", "$", "4", ".", "50",
        "un", "##aff", "##able", "!", ",", "hello", "world", "日", "本", "-", "e", "##mail", "'", "s",
    ]

    static func tokenizer(lowercase: Bool = true) throws -> WordPieceTokenizer {
        let ids = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) })
        return try WordPieceTokenizer(vocabulary: ids, lowercase: lowercase)
    }

    @Test func lowercasesStripsAccentsAndSplitsPunctuation() throws {
        let t = try Self.tokenizer()
        #expect(t.tokens("The Café serves CRÈME brûlée for $4.50!") ==
            ["the", "cafe", "serves", "creme", "brulee", "for", "$", "4", ".", "50", "!"])
        #expect(t.tokens("Hello,world") == ["hello", ",", "world"])
        #expect(t.tokens("e-mail's") == ["e", "-", "[UNK]", "'", "s"])
    }

    @Test func wordPiecesAreGreedyLongestMatchWithContinuations() throws {
        let t = try Self.tokenizer()
        #expect(t.tokens("unaffable") == ["un", "##aff", "##able"])
        // A word that cannot be covered entirely is one [UNK], not a partial match.
        #expect(t.tokens("unaffablez") == ["[UNK]"])
        #expect(t.tokens("email") == ["e", "##mail"])
        #expect(t.tokens(String(repeating: "a", count: 101)) == ["[UNK]"])
    }

    @Test func cjkCharactersControlCharactersAndWhitespace() throws {
        let t = try Self.tokenizer()
        #expect(t.tokens("日本") == ["日", "本"])
        #expect(t.tokens("hello\u{0}\u{200B}\u{FFFD}\tworld\u{00A0}the\r\n") == ["hello", "world", "the"])
        #expect(t.tokens("") == [])
        #expect(t.tokens(" \n\t ") == [])
    }

    @Test func encodeWrapsAndTruncatesToTheMaximum() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("hello world", maxLength: 128) == [2, 19, 20, 3])
        #expect(t.encode("", maxLength: 128) == [2, 3])
        let long = Array(repeating: "hello", count: 500).joined(separator: " ")
        let ids = t.encode(long, maxLength: 8)
        #expect(ids == [2, 19, 19, 19, 19, 19, 19, 3])
        #expect(t.encode(long, maxLength: 2) == [2, 3])
    }

    @Test func caseIsKeptWhenTheModelIsCased() throws {
        let t = try Self.tokenizer(lowercase: false)
        #expect(t.tokens("Hello world") == ["[UNK]", "world"])
    }

    @Test func vocabularyWithoutSpecialTokensIsRefused() {
        #expect(throws: EmbedderError.self) { try WordPieceTokenizer(vocabulary: ["hello": 0]) }
    }

    // MARK: safetensors

    static func safetensors(_ tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])], headerPatch: ((String) -> String)? = nil) -> Data {
        var offset = 0
        var entries: [String] = []
        for t in tensors {
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\"\(t.name)\":{\"dtype\":\"\(t.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}")
            offset += t.bytes.count
        }
        var header = "{\"__metadata__\":{\"format\":\"pt\"}," + entries.joined(separator: ",") + "}"
        if let headerPatch { header = headerPatch(header) }
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        for t in tensors { data.append(contentsOf: t.bytes) }
        return data
    }

    static func bytes(_ floats: [Float]) -> [UInt8] { floats.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }
    static func bytes16(_ values: [UInt16]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }

    @Test func readsF32F16AndBF16Tensors() throws {
        let file = try SafeTensors(data: Self.safetensors([
            ("a", "F32", [2, 2], Self.bytes([1, -2.5, 3.25, 0])),
            // 1.0, -2.0, 0.5, 65504 (largest half), a subnormal (2^-24), +inf
            ("b", "F16", [6], Self.bytes16([0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00])),
            ("c", "BF16", [2], Self.bytes16([0x3F80, 0xC040])),
        ]))
        #expect(try file.floats("a", shape: [2, 2]) == [1, -2.5, 3.25, 0])
        #expect(try file.floats("b") == [1, -2, 0.5, 65504, 0x1p-24, .infinity])
        #expect(try file.floats("c") == [1, -3])
        #expect(throws: EmbedderError.self) { try file.floats("a", shape: [4]) }
        #expect(throws: EmbedderError.self) { try file.floats("missing") }
    }

    @Test func malformedFilesAreTypedErrors() {
        let good = Self.safetensors([("a", "F32", [2], Self.bytes([1, 2]))])
        // Too short; a header length past the end; offsets past the end; bytes that do not match the shape; not JSON.
        let cases: [Data] = [
            Data([1, 2, 3]),
            { var d = good; d[0] = 0xFF; d[1] = 0xFF; return d }(),
            Self.safetensors([("a", "F32", [2], Self.bytes([1, 2]))]) { $0.replacingOccurrences(of: "[0,8]", with: "[0,800]") },
            Self.safetensors([("a", "F32", [3], Self.bytes([1, 2]))]),
            Self.safetensors([("a", "F32", [2], Self.bytes([1, 2]))]) { _ in "[1,2,3]" },
            Self.safetensors([("a", "F32", [-1], Self.bytes([1, 2]))]),
        ]
        for data in cases {
            #expect(throws: EmbedderError.self) { try SafeTensors(data: data) }
        }
        #expect(throws: EmbedderError.self) {
            try SafeTensors(data: Self.safetensors([("i", "I64", [1], [UInt8](repeating: 0, count: 8))])).floats("i")
        }
    }

    @Test func missingModelDirectoryNamesTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-embed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try BertEncoder(directory: dir)
            Issue.record("an empty directory loaded")
        } catch {
            #expect(error.description.contains("config.json"))
        }
        try Data(#"{"model_type":"bert","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":16,"max_position_embeddings":16,"vocab_size":28}"#.utf8)
            .write(to: dir.appendingPathComponent("config.json"))
        try Data(Self.vocabulary.joined(separator: "\n").utf8).write(to: dir.appendingPathComponent("vocab.txt"))
        do {
            _ = try BertEncoder(directory: dir)
            Issue.record("a directory without weights loaded")
        } catch {
            #expect(error.description.contains("model.safetensors"))
        }
        try Data("not a safetensors file".utf8).write(to: dir.appendingPathComponent("model.safetensors"))
        #expect(throws: EmbedderError.self) { try BertEncoder(directory: dir) }
    }
}
