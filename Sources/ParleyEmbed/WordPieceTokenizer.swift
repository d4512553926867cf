import Foundation

/// BERT's tokenizer: the basic tokenizer (clean the text, separate CJK characters, lower-case and
/// strip accents, split on whitespace and punctuation), then greedy longest-match-first WordPiece
/// with `##` continuations; a word that cannot be covered becomes `[UNK]`.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int32]
    public let lowercase: Bool
    public let stripAccents: Bool
    public let splitCJK: Bool
    public let unknown: Int32
    public let classify: Int32
    public let separator: Int32
    /// Words longer than this (in characters) become `[UNK]` without being split.
    public let maxCharactersPerWord = 100

    public init(vocabulary: [String: Int32], lowercase: Bool = true, stripAccents: Bool? = nil, splitCJK: Bool = true) throws(EmbedderError) {
        guard let unknown = vocabulary["[UNK]"], let classify = vocabulary["[CLS]"], let separator = vocabulary["[SEP]"] else {
            throw .modelFiles("vocab.txt lacks [UNK], [CLS] or [SEP]")
        }
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        // BERT's rule: accents are stripped when lower-casing unless `strip_accents` says otherwise.
        self.stripAccents = stripAccents ?? lowercase
        self.splitCJK = splitCJK
        self.unknown = unknown
        self.classify = classify
        self.separator = separator
    }

    /// Reads `vocab.txt` (one token a line; the line number is its id).
    public static func readVocabulary(_ url: URL) throws(EmbedderError) -> [String: Int32] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw .modelFiles("cannot read \(url.path): \(error.localizedDescription)")
        }
        var vocabulary: [String: Int32] = [:]
        var id: Int32 = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty, vocabulary[token] == nil { vocabulary[token] = id }
            id &+= 1
        }
        guard vocabulary.count > 3 else { throw .modelFiles("\(url.path) holds no vocabulary") }
        return vocabulary
    }

    /// `[CLS]`, the text's word pieces cut to `maxLength - 2`, `[SEP]`.
    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        var ids: [Int32] = [classify]
        let room = max(0, maxLength - 2)
        outer: for word in basicTokens(text) {
            for id in wordPieces(word) {
                if ids.count - 1 >= room { break outer }
                ids.append(id)
            }
        }
        ids.append(separator)
        return ids
    }

    /// The word pieces of `text` as strings (for tests and diagnostics).
    public func tokens(_ text: String) -> [String] {
        let names = Dictionary(vocabulary.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return basicTokens(text).flatMap { wordPieces($0) }.map { names[$0] ?? "[UNK]" }
    }

    // MARK: Basic tokenizer

    func basicTokens(_ text: String) -> [String] {
        // Clean: drop NUL, U+FFFD and control characters; every whitespace becomes a space;
        // CJK ideographs stand alone.
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v == 0 || v == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                cleaned.append(" ")
            } else if splitCJK && Self.isCJK(v) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        var out: [String] = []
        for word in String(cleaned).split(separator: " ", omittingEmptySubsequences: true) {
            var word = String(word)
            if lowercase { word = word.lowercased() }
            if stripAccents {
                var kept = String.UnicodeScalarView()
                for scalar in word.decomposedStringWithCanonicalMapping.unicodeScalars
                where scalar.properties.generalCategory != .nonspacingMark {
                    kept.append(scalar)
                }
                word = String(kept)
            }
            // Split on punctuation: each punctuation character is a word of its own.
            var current = String.UnicodeScalarView()
            for scalar in word.unicodeScalars {
                if Self.isPunctuation(scalar) {
                    if !current.isEmpty { out.append(String(current)); current = String.UnicodeScalarView() }
                    out.append(String(scalar))
                } else {
                    current.append(scalar)
                }
            }
            if !current.isEmpty { out.append(String(current)) }
        }
        return out
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        let category = s.properties.generalCategory
        return category == .control || category == .format
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        // Every non-alphanumeric ASCII character counts, as in BERT ($, +, ^, ` ...).
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    // MARK: WordPiece

    func wordPieces(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maxCharactersPerWord { return [unknown] }
        var pieces: [Int32] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32?
            while start < end {
                var piece = start > 0 ? "##" : ""
                piece.unicodeScalars.append(contentsOf: scalars[start..<end])
                if let id = vocabulary[piece] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}
