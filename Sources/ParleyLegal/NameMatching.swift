import Foundation

// PLACEHOLDER until the name-matching library lands: same API, simple behaviour.

public enum NameNormalizer {
    /// Lowercased, diacritics folded, punctuation dropped, "Last, First" reordered.
    public static func tokens(_ name: String) -> [String] {
        let capped = String(name.unicodeScalars.prefix(200))
        let folded = capped.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        var parts = folded.split(separator: ",", maxSplits: 1).map(String.init)
        if parts.count == 2 { parts = [parts[1], parts[0]] }
        let words = parts.joined(separator: " ").split { !$0.isLetter }.map(String.init)
        return Array(words.filter { !["mr", "mrs", "ms", "dr", "jr", "sr"].contains($0) }.prefix(8))
    }
}

public struct NicknameTable: Sendable {
    var groups: [String: Set<String>] = [:]

    public init(csv: String) {
        for line in csv.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard f.count == 3 else { continue }
            groups[f[0], default: []].insert(f[2])
            groups[f[2], default: []].insert(f[0])
        }
    }

    public static let standard = NicknameTable(csv: """
        name1,relationship,name2
        robert,has_nickname,bob
        robert,has_nickname,rob
        robert,has_nickname,bobby
        elizabeth,has_nickname,liz
        elizabeth,has_nickname,beth
        william,has_nickname,bill
        william,has_nickname,will
        james,has_nickname,jim
        margaret,has_nickname,maggie
        jonathan,has_nickname,jon
        john,has_nickname,jon
        john,has_nickname,johnny
        """)

    public func variants(of token: String) -> Set<String> { groups[token] ?? [] }
}

public struct NameMatcher: Sendable {
    public let nicknames: NicknameTable
    public static let defaultThreshold = 0.8

    public init(nicknames: NicknameTable = .standard) { self.nicknames = nicknames }

    public func score(query: String, candidate: String) -> Double {
        let q = NameNormalizer.tokens(query), c = NameNormalizer.tokens(candidate)
        guard !q.isEmpty, !c.isEmpty else { return 0 }
        var total = 0.0
        for t in q {
            total += c.map { tokenScore(t, $0) }.max() ?? 0
        }
        let coverage = Double(min(q.count, c.count)) / Double(max(q.count, c.count))
        return (total / Double(q.count)) * (0.8 + 0.2 * coverage)
    }

    func tokenScore(_ a: String, _ b: String) -> Double {
        if a == b { return 1 }
        if nicknames.variants(of: a).contains(b) { return 0.95 }
        if a.count == 1 || b.count == 1 { return a.first == b.first ? 0.85 : 0 }
        let d = Self.distance(Array(a), Array(b))
        return max(0, 1 - Double(d) / Double(max(a.count, b.count)))
    }

    /// Optimal string alignment distance (a transposition counts as one edit).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }

    public func indexKeys(for name: String) -> [String] {
        var keys: Set<String> = []
        for t in NameNormalizer.tokens(name) {
            keys.insert("t:" + t)
            keys.insert("s:" + String(t.sorted()))
            keys.insert("p:" + String(t.prefix(2)))
            for v in nicknames.variants(of: t) { keys.insert("t:" + v) }
        }
        return keys.sorted()
    }

    public func queryKeys(for query: String) -> [String] { indexKeys(for: query) }
}

public struct SyntheticClient: Sendable, Hashable, Codable {
    public let name: String
    public let email: String
    public let phone: String
}

public struct LabelledQuery: Sendable, Hashable, Codable {
    public enum Category: String, Sendable, Hashable, Codable, CaseIterable { case typo, nickname, negative }
    public let query: String
    public let category: Category
    public let expected: String?
    public let expectedIndex: Int?
}

public enum SyntheticClients {
    static let first = ["Robert", "Elizabeth", "John", "Maria", "James", "Margaret", "William", "Jane", "José", "Ana"]
    static let last = ["Smith", "Garcia", "Doe", "Johnson", "Brown", "Miller", "Davis", "Martínez", "Wilson", "Taylor"]

    public static func clients(count: Int, seed: UInt64) -> [SyntheticClient] {
        (0..<max(0, count)).map { i in
            let f = first[(i + Int(seed % 7)) % first.count], l = last[(i / first.count + Int(seed % 5)) % last.count]
            let n = i / (first.count * last.count)
            let name = n == 0 ? "\(f) \(l)" : "\(f) \(l)\(n)"
            let slug = "\(f).\(l)\(i)".folding(options: .diacriticInsensitive, locale: nil).lowercased()
            return SyntheticClient(name: name, email: "\(slug)@example.com", phone: String(format: "555-%03d-%04d", i % 1000, i % 10000))
        }
    }

    public static func labelledQueries(for clients: [SyntheticClient], seed: UInt64, perCategory: Int = 25, negatives: Int = 30) -> [LabelledQuery] {
        clients.prefix(perCategory).enumerated().map { i, c in
            LabelledQuery(query: c.name.lowercased(), category: .typo, expected: c.name, expectedIndex: i)
        }
    }
}
