import Crypto
import Foundation

/// The tokens BM25 counts, the same as SQLite FTS5's `unicode61 remove_diacritics 2` tokenizer:
/// runs of letters and digits, lower-cased, accents removed. The PostgreSQL postings are built
/// with it, so both databases see the same terms and the same document lengths.
public enum KBTokenizer {
    public static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        func flush() {
            guard !current.isEmpty else { return }
            out.append(fold(current))
            current = ""
        }
        for ch in text {
            if ch.isLetter || ch.isNumber { current.append(ch) } else { flush() }
        }
        flush()
        return out
    }

    /// The same tokens as `tokens(_:)`, one at a time; ASCII text (the common case) is scanned
    /// as bytes (for ASCII, a letter or digit is [A-Za-z0-9] and folding is lower-casing).
    static func forEachToken(_ text: String, _ body: (String) -> Void) {
        var text = text
        let scanned = text.withUTF8 { bytes -> Bool in
            guard !bytes.contains(where: { $0 >= 0x80 }) else { return false }
            var token: [UInt8] = []
            token.reserveCapacity(32)
            for b in bytes {
                if (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) {
                    token.append(b)
                } else if b >= 0x41 && b <= 0x5A {
                    token.append(b + 0x20)
                } else if !token.isEmpty {
                    body(String(decoding: token, as: UTF8.self))
                    token.removeAll(keepingCapacity: true)
                }
            }
            if !token.isEmpty { body(String(decoding: token, as: UTF8.self)) }
            return true
        }
        if !scanned {
            for t in tokens(text) { body(t) }
        }
    }

    /// The longest term PostgreSQL's postings keep as it is (bytes). A B-tree entry holds at
    /// most about 2.7 KB, so a longer "word" (a base64 blob, a hash run together) is stored as
    /// its first 64 characters, `~` and the SHA-256 of the whole. Queries map their terms the
    /// same way, so such a word still matches itself, and document lengths are unchanged.
    static let maxStoredTermBytes = 200

    public static func storedTerm(_ term: String) -> String {
        guard term.utf8.count > maxStoredTermBytes else { return term }
        let digest = SHA256.hash(data: Data(term.utf8)).map { String(format: "%02x", $0) }.joined()
        return String(term.prefix(64)) + "~" + digest
    }

    static func fold(_ token: String) -> String {
        let lowered = token.lowercased()
        guard !lowered.allSatisfy(\.isASCII) else { return lowered }
        return lowered.folding(options: [.diacriticInsensitive], locale: nil)
    }

    /// Words too common to say anything about relevance: left out of queries only (the index
    /// keeps them, so document lengths match FTS5's).
    static let stopwords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "did", "for", "from", "had", "has",
        "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "please", "so",
        "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
        "where", "which", "who", "why", "will", "with", "would", "you", "your", "about", "tell", "know", "want", "need", "get", "s", "t", "am", "any", "some", "all", "more", "than",
    ]

    /// A query's distinct terms in order, without stopwords (all of them when nothing else is left).
    public static func queryTerms(_ text: String) -> [String] {
        var seen = Set<String>()
        let all = tokens(text).filter { seen.insert($0).inserted }
        let content = all.filter { !stopwords.contains($0) }
        return Array((content.isEmpty ? all : content).prefix(32))
    }
}

/// FTS5's `bm25()` exactly (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), at least
/// 1e-6), as a positive number (FTS5 returns it negated), computed in the same order of
/// operations so the two agree to the bit.
public enum BM25 {
    public static let k1 = 1.2
    public static let b = 0.75

    public static func idf(documents n: Int, containing hits: Int) -> Double {
        let idf = log((Double(n) - Double(hits) + 0.5) / (Double(hits) + 0.5))
        return idf <= 0 ? 1e-6 : idf
    }

    /// `frequencies[i]` is the count of query term i in the chunk, `idfs[i]` its idf.
    public static func score(frequencies: [Int], idfs: [Double], length: Int, averageLength: Double) -> Double {
        var score = 0.0
        let d = Double(length)
        for i in idfs.indices {
            let f = Double(frequencies[i])
            score += idfs[i] * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + b * d / averageLength)))
        }
        return score
    }
}
