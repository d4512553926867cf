import Foundation

// Fuzzy person-name matching for client lookup: normalisation, nickname equivalence, a similarity
// score, and the keys of a database-side candidate index (`case_name_keys`).

// MARK: - Normalisation

/// Turns a free-form person name into comparable tokens (first ... last).
public enum NameNormalizer {
    /// Inputs are cut to this many Unicode scalars before any other work, so huge input costs little.
    public static let maxInputScalars = 200
    /// At most this many tokens are kept (after reordering "Last, First").
    public static let maxTokens = 8
    /// Longer tokens are cut; keeps edit-distance work bounded.
    public static let maxTokenLength = 32

    /// Titles and generational suffixes carry no identity; dropped wherever they occur.
    static let droppedWords: Set<String> = [
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "jr", "sr", "ii", "iii", "iv", "esq",
    ]

    /// Lowercased, diacritics folded, punctuation stripped, "Last, First [Middle]" reordered to
    /// first ... last, titles/suffixes dropped, apostrophes joined (O'Brien -> obrien), hyphenated
    /// parts split into separate tokens (Smith-Jones -> smith jones).
    public static func tokens(_ name: String) -> [String] {
        parse(name).map(\.text)
    }

    struct Token: Sendable, Hashable {
        var text: String
        /// The text's Unicode scalar values, for edit distances.
        var scalars: [UInt32]
        /// Part of a hyphenated compound ("smith" and "jones" in "Smith-Jones").
        var hyphenated: Bool
    }

    static func parse(_ name: String) -> [Token] {
        let scalars = fold(name)
        var parts: [[Token]] = [[]]
        var word: [UInt32] = []
        var wordHyphenated = false

        func endWord(hyphenNext: Bool) {
            if !word.isEmpty {
                if word.count > maxTokenLength { word.removeLast(word.count - maxTokenLength) }
                let text = makeString(word)
                if word.count > 4 || !droppedWords.contains(text) {
                    parts[parts.count - 1].append(Token(text: text, scalars: word, hyphenated: wordHyphenated || hyphenNext))
                }
                word.removeAll(keepingCapacity: true)
                wordHyphenated = hyphenNext
            } else if !hyphenNext {
                wordHyphenated = false
            }
        }

        for value in scalars {
            switch value {
            case 0x27, 0x2019, 0x2018, 0x60, 0xB4, 0x2BC, 0x2BB:
                continue  // apostrophes: O'Brien -> obrien
            case 0x2D, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014:
                endWord(hyphenNext: true)
            case 0x2C, 0xFF0C, 0x3B:  // comma, fullwidth comma, semicolon
                endWord(hyphenNext: false)
                if parts.count < maxTokens { parts.append([]) }
            case 0x61...0x7A:
                word.append(value)
            case 0..<0x80:
                endWord(hyphenNext: false)
            default:
                if Unicode.Scalar(value)?.properties.isAlphabetic == true {
                    word.append(value)
                } else {
                    endWord(hyphenNext: false)
                }
            }
        }
        endWord(hyphenNext: false)

        let nonEmpty = parts.filter { !$0.isEmpty }
        var ordered: [Token]
        if nonEmpty.count >= 2 {
            // "Smith, John Paul" -> john paul smith; any further comma parts keep their order.
            ordered = Array(nonEmpty.dropFirst().joined()) + nonEmpty[0]
        } else {
            ordered = nonEmpty.first ?? []
        }
        if ordered.count > maxTokens { ordered = Array(ordered.prefix(maxTokens)) }
        return ordered
    }

    static func makeString(_ scalars: [UInt32]) -> String {
        if scalars.allSatisfy({ $0 < 0x80 }) {
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: scalars.count) { bytes in
                for (i, v) in scalars.enumerated() { bytes[i] = UInt8(truncatingIfNeeded: v) }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars.compactMap(Unicode.Scalar.init))
        return String(view)
    }

    /// The first `maxInputScalars` scalars, lowercased, with diacritics and a few letters that do
    /// not decompose (ø, ł, ß, æ, ...) folded.
    static func fold(_ name: String) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(min(name.utf8.count, maxInputScalars))
        var ascii = true
        for byte in name.utf8 {
            if out.count == maxInputScalars { break }
            if byte >= 0x80 { ascii = false; break }
            out.append(byte >= 0x41 && byte <= 0x5A ? UInt32(byte) + 32 : UInt32(byte))
        }
        if ascii { return out }
        out.removeAll(keepingCapacity: true)
        for scalar in name.unicodeScalars.prefix(maxInputScalars) {
            let v = scalar.value
            if v < 0x80 {
                out.append(v >= 0x41 && v <= 0x5A ? v + 32 : v)
            } else if v < 0x250 {
                out.append(contentsOf: latinFold[Int(v) - 0x80])
            } else if v >= 0x1E00 && v < 0x1F00 {
                out.append(contentsOf: vietnameseFold[Int(v) - 0x1E00])
            } else {
                out.append(contentsOf: foldScalar(scalar))
            }
        }
        return out
    }

    // Folding per scalar through Foundation is slow; the Latin ranges names mostly use are tabled.
    static let latinFold: [[UInt32]] = (0x80..<0x250).map { Unicode.Scalar($0).map(foldScalar) ?? [] }
    static let vietnameseFold: [[UInt32]] = (0x1E00..<0x1F00).map { Unicode.Scalar($0).map(foldScalar) ?? [] }

    static func foldScalar(_ scalar: Unicode.Scalar) -> [UInt32] {
        var out: [UInt32] = []
        for s in String(scalar).lowercased().decomposedStringWithCanonicalMapping.unicodeScalars {
            switch s.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark:
                continue
            default:
                break
            }
            if let replacement = specialLetters[s] {
                out.append(contentsOf: replacement.unicodeScalars.map(\.value))
            } else {
                out.append(s.value)
            }
        }
        return out
    }

    static let specialLetters: [Unicode.Scalar: String] = [
        "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
        "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l", "ĸ": "k", "ſ": "s",
    ]

    /// A single name word reduced to lowercase folded letters ("K.C." -> "kc", "José" -> "jose").
    static func foldWord(_ word: String) -> String {
        if word.utf8.count <= maxTokenLength && word.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) { return word }
        var view = String.UnicodeScalarView()
        for value in fold(word) {
            guard let s = Unicode.Scalar(value), s.properties.isAlphabetic else { continue }
            if view.count == maxTokenLength { break }
            view.append(s)
        }
        return String(view)
    }
}

// MARK: - Nicknames

/// Nickname relations (bob <-> robert, liz <-> elizabeth), keyed by folded lowercase names.
public struct NicknameTable: Sendable {
    /// formal name -> its nicknames
    let nicknamesOf: [String: Set<String>]
    /// nickname -> formal names it abbreviates
    let formalsOf: [String: Set<String>]

    /// Parses `name1,relationship,name2` lines (header optional, CRLF tolerated). Unknown
    /// relationships and malformed lines are skipped rather than rejected.
    public init(csv: String) {
        var nicknamesOf: [String: Set<String>] = [:]
        var formalsOf: [String: Set<String>] = [:]
        // Bytes, not Characters: grapheme breaking a 70 KB literal is needlessly slow at start-up.
        for line in csv.utf8.split(whereSeparator: { $0 == 0x0A || $0 == 0x0D }) {
            let fields = line.split(separator: 0x2C, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let relation = String(decoding: fields[1].filter { $0 != 0x20 && $0 != 0x09 }, as: UTF8.self)
            guard relation.lowercased() == "has_nickname" else { continue }
            let formal = NameNormalizer.foldWord(String(decoding: fields[0], as: UTF8.self))
            let nick = NameNormalizer.foldWord(String(decoding: fields[2], as: UTF8.self))
            guard !formal.isEmpty, !nick.isEmpty, formal != nick else { continue }
            nicknamesOf[formal, default: []].insert(nick)
            formalsOf[nick, default: []].insert(formal)
        }
        self.nicknamesOf = nicknamesOf
        self.formalsOf = formalsOf
        // Integer ids let scoring compare relations without hashing strings per token pair.
        let all = Set(nicknamesOf.keys).union(formalsOf.keys).sorted()
        var ids: [String: Int32] = [:]
        for (i, name) in all.enumerated() { ids[name] = Int32(i) }
        self.ids = ids
        func idList(_ names: Set<String>) -> [Int32] { names.compactMap { ids[$0] }.sorted() }
        variantIDs = all.map { name in
            var v = nicknamesOf[name] ?? []
            v.formUnion(formalsOf[name] ?? [])
            return idList(v)
        }
        formalIDs = all.map { name in
            var f = formalsOf[name] ?? []
            if nicknamesOf[name] != nil { f.insert(name) }
            return idList(f)
        }
    }

    let ids: [String: Int32]
    /// Per id: ids one hop away (sorted).
    let variantIDs: [[Int32]]
    /// Per id: ids of the formal names it stands for, itself included if formal (sorted).
    let formalIDs: [[Int32]]

    /// Nickname facts of one folded token, computed once per prepared name.
    struct Relations: Sendable, Hashable {
        var id: Int32
        var variants: [Int32]
        var formals: [Int32]

        func isVariant(of other: Relations) -> Bool { variants.contains(other.id) }

        func sharesFormal(with other: Relations) -> Bool {
            var i = 0
            var j = 0
            while i < formals.count && j < other.formals.count {
                if formals[i] == other.formals[j] { return true }
                if formals[i] < other.formals[j] { i += 1 } else { j += 1 }
            }
            return false
        }
    }

    func relations(_ key: String) -> Relations? {
        guard let id = ids[key] else { return nil }
        return Relations(id: id, variants: variantIDs[Int(id)], formals: formalIDs[Int(id)])
    }

    /// The embedded standard table (see NicknameData.swift).
    public static let standard = NicknameTable(csv: NicknameData.csv)

    /// Names one hop away in either direction: robert -> bob, rob, bobby, ...; bob -> robert.
    /// The token is folded first ("Bob", "BOB" work); the token itself is not included.
    public func variants(of token: String) -> Set<String> {
        let key = NameNormalizer.foldWord(token)
        return directVariants(key)
    }

    func directVariants(_ key: String) -> Set<String> {
        var out = nicknamesOf[key] ?? []
        if let formals = formalsOf[key] { out.formUnion(formals) }
        out.remove(key)
        return out
    }

    /// Formal names a (folded) token stands for, itself included when it is a formal name.
    /// Siblings share one: bobby and rob both give robert.
    func formalNames(_ key: String) -> Set<String> {
        var out = formalsOf[key] ?? []
        if nicknamesOf[key] != nil { out.insert(key) }
        return out
    }

    // Allocation-free forms of the above for scoring.
    func areVariants(_ x: String, _ y: String) -> Bool {
        nicknamesOf[x]?.contains(y) == true || formalsOf[x]?.contains(y) == true
    }

    func shareFormalName(_ x: String, _ y: String) -> Bool {
        guard let fx = formalsOf[x] else { return false }
        let yIsFormal = nicknamesOf[y] != nil
        if let fy = formalsOf[y] {
            for f in fx where fy.contains(f) { return true }
        }
        return yIsFormal && fx.contains(y)
    }

    /// Number of formal names in the table.
    public var count: Int { nicknamesOf.count }
}

// MARK: - Matching

/// A name normalised once, for scoring against many others.
public struct PreparedName: Sendable, Hashable {
    public let tokens: [String]
    let scalars: [[UInt32]]
    let weights: [Double]
    let totalWeight: Double
    public var isEmpty: Bool { tokens.isEmpty }

    let relations: [NicknameTable.Relations?]
    /// Per token, a bit per letter (value mod 64): a cheap lower bound on edit distance.
    let letterMasks: [UInt64]

    init(_ parsed: [NameNormalizer.Token], nicknames: NicknameTable) {
        tokens = parsed.map(\.text)
        relations = tokens.map { nicknames.relations($0) }
        scalars = parsed.map(\.scalars)
        letterMasks = scalars.map { $0.reduce(UInt64(0)) { $0 | (1 << UInt64($1 & 63)) } }
        let n = parsed.count
        weights = parsed.enumerated().map { index, token in
            if token.hyphenated { return NameMatcher.hyphenWeight }
            if n > 2 && index > 0 && index < n - 1 { return NameMatcher.middleWeight }
            return 1
        }
        totalWeight = weights.reduce(0, +)
    }
}

/// One ranked candidate.
public struct NameMatchResult<ID: Sendable & Hashable>: Sendable, Hashable {
    public let id: ID
    public let name: String
    public let score: Double
}

/// Scores how likely two names denote the same person, and produces index keys for retrieval.
///
/// Score scale (0...1), for whole names after normalisation (first/last tokens weigh 1, middle
/// tokens 0.2, hyphenated parts 0.75; an unmatched token counts against the score by its weight):
/// - 1.0: identical tokens, also "Smith, John" for "John Smith"; out of order ("Smith John") 0.96.
/// - ~0.95: query without the candidate's middle name or initial ("John Smith" / "John Paul Smith").
/// - 0.94: a nickname for the first name ("Bob Smith" / "Robert Smith", "Liz" / "Elizabeth"); 0.92
///   for two nicknames of one formal name.
/// - 0.85...0.93: one typo or adjacent transposition in one token ("Jonh Smith" 0.92, "John Smtih"
///   0.93; lower in 3-letter tokens); two typos in long tokens somewhat lower; two in short ones 0.5.
/// - 0.86: an initial for the first name ("J Smith" / "John Smith").
/// - 0.5: only the surname (or only the first name) agrees; < 0.3: unrelated; 0 if either is empty.
/// Identical inputs always score identically (ties are real ties).
/// `defaultThreshold` separates likely matches from the rest.
public struct NameMatcher: Sendable {
    public let nicknames: NicknameTable

    /// Scores at or above this are reported as matches by default.
    public static let defaultThreshold = 0.8

    // Token similarities; ordered exact > nickname > single typo > initial > prefix ("Chris" of
    // "Christine"). Tuned on the labelled queries of LabelledQueries.swift.
    static let nicknameSimilarity = 0.88
    static let siblingNicknameSimilarity = 0.84
    static let maxTypoSimilarity = 0.86
    static let initialSimilarity = 0.72
    static let prefixSimilarity = 0.7
    // Token weights: a middle name matters less than first and last; hyphen parts share a surname.
    static let middleWeight = 0.2
    static let hyphenWeight = 0.75
    static let reorderPenalty = 0.04

    public init(nicknames: NicknameTable = .standard) {
        self.nicknames = nicknames
    }

    public func prepare(_ name: String) -> PreparedName {
        PreparedName(NameNormalizer.parse(name), nicknames: nicknames)
    }

    public func score(query: String, candidate: String) -> Double {
        score(prepare(query), prepare(candidate))
    }

    public func score(query: PreparedName, candidate: String) -> Double {
        score(query, prepare(candidate))
    }

    /// Optimal one-to-one token alignment maximising weighted similarity; unmatched tokens count
    /// against the score with their weight.
    public func score(_ query: PreparedName, _ candidate: PreparedName) -> Double {
        let n = query.tokens.count
        let m = candidate.tokens.count
        guard n > 0, m > 0 else { return 0 }

        let full = 1 << m
        let states = (n + 1) * full
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: n * m + states) { values in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: states) { choice in
                let sim = UnsafeMutableBufferPointer(rebasing: values[0..<(n * m)])
                let dp = UnsafeMutableBufferPointer(rebasing: values[(n * m)...])
                for i in 0..<n {
                    for j in 0..<m {
                        sim[i * m + j] = tokenSimilarity(query, i, candidate, j)
                    }
                }
                dp.initialize(repeating: -1)
                choice.initialize(repeating: -1)
                // dp over (query token index, mask of used candidate tokens); n, m <= 8.
                dp[0] = 0
                for i in 0..<n {
                    for mask in 0..<full {
                        let current = dp[i * full + mask]
                        if current < 0 { continue }
                        let skip = (i + 1) * full + mask  // query token i left unmatched
                        if current > dp[skip] { dp[skip] = current; choice[skip] = -1 }
                        for j in 0..<m where mask & (1 << j) == 0 {
                            let s = sim[i * m + j]
                            if s <= 0 { continue }
                            let value = current + s * (query.weights[i] + candidate.weights[j])
                            let next = (i + 1) * full + (mask | (1 << j))
                            if value > dp[next] { dp[next] = value; choice[next] = Int8(j) }
                        }
                    }
                }
                var best = 0.0
                var bestMask = 0
                for mask in 0..<full where dp[n * full + mask] > best {
                    best = dp[n * full + mask]
                    bestMask = mask
                }
                var result = best / (query.totalWeight + candidate.totalWeight)

                // Reordered tokens still match, just below the same order, so exact order wins ties.
                var mask = bestMask
                var previous = Int.max
                var inOrder = true
                for i in stride(from: n, to: 0, by: -1) {
                    let j = Int(choice[i * full + mask])
                    if j >= 0 {
                        if j > previous { inOrder = false }
                        previous = j
                        mask &= ~(1 << j)
                    }
                }
                if !inOrder { result -= Self.reorderPenalty }
                return min(1, max(0, result))
            }
        }
    }

    func tokenSimilarity(_ q: PreparedName, _ i: Int, _ c: PreparedName, _ j: Int) -> Double {
        let a = q.scalars[i]
        let b = c.scalars[j]
        if a == b { return 1 }
        if a.count == 1 || b.count == 1 {
            return a[0] == b[0] ? Self.initialSimilarity : 0
        }
        // Each letter of one token missing from the other costs at least one edit.
        let ma = q.letterMasks[i]
        let mb = c.letterMasks[j]
        let missing = max((ma & ~mb).nonzeroBitCount, (mb & ~ma).nonzeroBitCount)
        var best = missing > 2 ? 0 : typoSimilarity(a, b)
        if best < Self.nicknameSimilarity {
            if let x = q.relations[i], let y = c.relations[j] {
                if x.isVariant(of: y) {
                    best = Self.nicknameSimilarity
                } else if best < Self.siblingNicknameSimilarity, x.sharesFormal(with: y) {
                    best = Self.siblingNicknameSimilarity
                }
            }
        }
        if best < Self.prefixSimilarity {
            let (short, long) = a.count < b.count ? (a, b) : (b, a)
            if short.count >= 3 && long.starts(with: short) { best = Self.prefixSimilarity }
        }
        return best
    }

    /// Blend of edit similarity and Jaro-Winkler, capped below a nickname; noise floored to 0.
    func typoSimilarity(_ a: [UInt32], _ b: [UInt32]) -> Double {
        let longest = max(a.count, b.count)
        let d = Self.osaDistance(a, b, limit: 3)
        // Two edits only in long names: in short ones they turn one name into another (Agnes/Magnus).
        if d > 2 || (longest < 7 && d > 1) { return 0 }
        let edit = 1 - Double(d) / Double(longest)
        let s = 0.5 * edit + 0.5 * Self.jaroWinkler(a, b)
        return s < 0.6 ? 0 : min(s, Self.maxTypoSimilarity)
    }

    /// Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions);
    /// returns `limit + 1` as soon as the distance must exceed `limit`.
    static func osaDistance(_ a: [UInt32], _ b: [UInt32], limit: Int) -> Int {
        let n = a.count
        let m = b.count
        if abs(n - m) > limit { return limit + 1 }
        if n == 0 { return m }
        if m == 0 { return n }
        let width = m + 1
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * width) { buf in
            var prev2 = 0
            var prev = width
            var cur = 2 * width
            for j in 0...m { buf[prev + j] = j }
            for i in 1...n {
                buf[cur] = i
                var rowMin = i
                for j in 1...m {
                    let cost = a[i - 1] == b[j - 1] ? 0 : 1
                    var v = min(buf[prev + j] + 1, buf[cur + j - 1] + 1, buf[prev + j - 1] + cost)
                    if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                        v = min(v, buf[prev2 + j - 2] + 1)
                    }
                    buf[cur + j] = v
                    rowMin = min(rowMin, v)
                }
                // Row minima never decrease, so the distance is already over the limit.
                if rowMin > limit { return limit + 1 }
                (prev2, prev, cur) = (prev, cur, prev2)
            }
            return buf[prev + m]
        }
    }

    static func jaroWinkler(_ a: [UInt32], _ b: [UInt32]) -> Double {
        let n = a.count
        let m = b.count
        if n == 0 || m == 0 { return 0 }
        let window = max(0, max(n, m) / 2 - 1)
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: n + m) { flags in
            flags.initialize(repeating: false)
            var matches = 0
            for i in 0..<n {
                let lo = max(0, i - window)
                let hi = min(m - 1, i + window)
                if lo > hi { continue }
                for j in lo...hi where !flags[n + j] && a[i] == b[j] {
                    flags[i] = true
                    flags[n + j] = true
                    matches += 1
                    break
                }
            }
            if matches == 0 { return 0 }
            var transpositions = 0
            var k = 0
            for i in 0..<n where flags[i] {
                while !flags[n + k] { k += 1 }
                if a[i] != b[k] { transpositions += 1 }
                k += 1
            }
            let mm = Double(matches)
            let jaro = (mm / Double(n) + mm / Double(m) + (mm - Double(transpositions / 2)) / mm) / 3
            var prefix = 0
            while prefix < min(4, n, m) && a[prefix] == b[prefix] { prefix += 1 }
            return jaro + Double(prefix) * 0.1 * (1 - jaro)
        }
    }

    /// Ranks candidates by score; keeps those at or above `threshold`, best first, at most
    /// `limit`. Equal scores keep the candidates' input order.
    public func rank<ID: Sendable & Hashable>(
        query: String,
        candidates: [(id: ID, name: String)],
        threshold: Double = NameMatcher.defaultThreshold,
        limit: Int = 10
    ) -> [NameMatchResult<ID>] {
        let prepared = prepare(query)
        guard !prepared.isEmpty, limit > 0 else { return [] }
        var scored: [(offset: Int, result: NameMatchResult<ID>)] = []
        for (offset, candidate) in candidates.enumerated() {
            let s = score(prepared, prepare(candidate.name))
            if s >= threshold {
                scored.append((offset, NameMatchResult(id: candidate.id, name: candidate.name, score: s)))
            }
        }
        scored.sort { $0.result.score != $1.result.score ? $0.result.score > $1.result.score : $0.offset < $1.offset }
        return scored.prefix(limit).map(\.result)
    }

    // MARK: Index keys
    //
    // Retrieval on SQLite and PostgreSQL alike (measured at 100k names: ~22 keys per name, ~12k
    // postings touched per query; all labelled queries had their answer in the top 200):
    //   CREATE TABLE case_name_keys (tenant_id TEXT NOT NULL, key TEXT NOT NULL, case_id TEXT NOT NULL,
    //     PRIMARY KEY (tenant_id, key, case_id))            -- WITHOUT ROWID on SQLite
    //   SELECT case_id, COUNT(*) AS shared FROM case_name_keys
    //   WHERE tenant_id = $1 AND key IN (<queryKeys>) GROUP BY case_id ORDER BY shared DESC LIMIT 200
    // then `rank` the returned cases' client names. Replace a case's rows when its client name changes.

    /// At most this many keys per name (index or query).
    public static let maxKeys = 64
    /// Tokens beyond this many are not keyed (they still count in `score`).
    static let maxKeyedTokens = 4
    /// Deletion neighbourhoods are built on this long a prefix of a token.
    static let keyPrefixLength = 8
    static let maxFormalKeys = 4

    /// Keys to store for a client name (`case_name_keys`). Short ASCII strings, deduplicated:
    /// - `d:` a token's first 8 letters and each one-letter deletion of them: two tokens within one
    ///   edit or adjacent transposition share at least one (for tokens of 3+ letters);
    /// - `p:` a Soundex-style code per token (vowel and spelling variants: Smyth/Smith);
    /// - `n:` the formal name(s) a first name stands for (Bob, Robert -> robert);
    /// - `f:` first initial + code of the last token (separates "J Smith" among Smiths).
    public func indexKeys(for name: String) -> [String] {
        keys(NameNormalizer.parse(name), query: false)
    }

    /// Keys to look up for a typed query; the cases sharing most of them are the candidates.
    public func queryKeys(for query: String) -> [String] {
        keys(NameNormalizer.parse(query), query: true)
    }

    func keys(_ tokens: [NameNormalizer.Token], query: Bool) -> [String] {
        var out: [String] = []
        var seen: Set<String> = []
        func add(_ key: String) {
            if out.count < Self.maxKeys && seen.insert(key).inserted { out.append(key) }
        }
        let words = tokens.map(\.text)
        // First, last, then middle tokens, so the cap drops middle names first.
        var keyed: [String] = []
        if let first = words.first { keyed.append(first) }
        if words.count > 1, let last = words.last { keyed.append(last) }
        if words.count > 2 { keyed.append(contentsOf: words[1..<(words.count - 1)]) }
        for word in keyed.prefix(Self.maxKeyedTokens) where word.unicodeScalars.count >= 2 {
            let head = String(word.prefix(Self.keyPrefixLength))
            add("d:" + Self.ascii(head))
            let chars = Array(head)
            if chars.count >= 3 {
                for skip in chars.indices {
                    var variant = chars
                    variant.remove(at: skip)
                    add("d:" + Self.ascii(String(variant)))
                }
            }
            if let code = Self.phonetic(word) { add("p:" + code) }
            for formal in nicknames.formalNames(word).sorted().prefix(Self.maxFormalKeys) {
                add("n:" + Self.ascii(formal))
            }
        }
        if words.count >= 2, let first = words.first, let last = words.last {
            if let initial = Self.initialKey(first), let code = Self.phonetic(last) {
                add("f:" + initial + code)
            }
            // A query may be "Smith John" without the comma; stored names are in canonical order.
            if query, let initial = Self.initialKey(last), let code = Self.phonetic(first) {
                add("f:" + initial + code)
            }
        }
        return out
    }

    static func initialKey(_ word: String) -> String? {
        guard let c = word.unicodeScalars.first else { return nil }
        return c.isASCII ? String(c) : nil
    }

    /// Keys stay ASCII: non-ASCII text (other scripts) becomes a 64-bit FNV-1a hash in hex.
    static func ascii(_ text: String) -> String {
        if text.unicodeScalars.allSatisfy(\.isASCII) { return text }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return "#" + String(hash, radix: 16)
    }

    /// Soundex with the first letter's sound class folded (c/k/q, ph/f, ...); nil for non-Latin.
    static func phonetic(_ word: String) -> String? {
        var letters = Array(word.unicodeScalars.filter { $0.value >= 97 && $0.value <= 122 }.map { Character($0) })
        guard letters.count == word.unicodeScalars.count, let first = letters.first else { return nil }
        var lead: Character = first
        if letters.count >= 2 && first == "p" && letters[1] == "h" {
            lead = "f"
            letters.removeFirst()
        } else if first == "c" || first == "q" {
            lead = "k"
        } else if first == "z" {
            lead = "s"
        } else if "aeiouy".contains(first) {
            lead = "a"
        }
        func digit(_ c: Character) -> Character? {
            switch c {
            case "b", "f", "p", "v": return "1"
            case "c", "g", "j", "k", "q", "s", "x", "z": return "2"
            case "d", "t": return "3"
            case "l": return "4"
            case "m", "n": return "5"
            case "r": return "6"
            default: return nil
            }
        }
        var code = String(lead)
        var last = digit(first)
        for c in letters.dropFirst() {
            let d = digit(c)
            if let d, d != last {
                code.append(d)
                if code.count == 4 { break }
            }
            // h and w do not separate equal codes; vowels do.
            if c != "h" && c != "w" { last = d }
        }
        return code
    }
}
