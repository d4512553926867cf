import Foundation
import ParleyCore

// Labelled lookup queries over a synthetic client set: what a paralegal might type, and whom they meant.

public struct LabelledQuery: Sendable, Hashable, Codable {
    public enum Category: String, Sendable, Hashable, Codable, CaseIterable {
        case typo, transposition, nickname, reordered, droppedMiddle = "dropped_middle", initial
        case diacriticsRemoved = "diacritics_removed", diacriticsAdded = "diacritics_added"
        case letterCase = "case"
        /// A name not in the set: no result should reach the threshold.
        case negative
    }

    public let query: String
    public let category: Category
    /// The intended client's name; nil for negatives.
    public let expected: String?
    /// Index of the intended client in the generating array; nil for negatives.
    public let expectedIndex: Int?

    public init(query: String, category: Category, expected: String?, expectedIndex: Int?) {
        self.query = query
        self.category = category
        self.expected = expected
        self.expectedIndex = expectedIndex
    }
}

extension SyntheticClients {
    /// `perCategory` positive queries for each category (typo, transposition, nickname, "Last,
    /// First" reordering, dropped middle name, initial, diacritics removed/added, case) and
    /// `negatives` names absent from the set, identical for the same clients and seed.
    ///
    /// A positive query is kept only when its answer is determinable from the name alone: no client
    /// with a different (normalised) name is an equally good reading of it. E.g. "John Smith" is
    /// not a dropped-middle query for "John Paul Smith" when a "John Peter Smith" exists, and a typo
    /// is not kept if it lands within two edits of another client's name. Clients whose names are
    /// identical after normalisation (namesakes, "José García" / "Jose Garcia") are one answer.
    /// Negatives use first names (without nickname relations) and surnames absent from the set, some
    /// with a common surname;
    /// `NameMatcher.defaultThreshold` is the threshold they are expected to stay under.
    public static func labelledQueries(
        for clients: [SyntheticClient],
        seed: UInt64,
        perCategory: Int = 25,
        negatives: Int = 30
    ) -> [LabelledQuery] {
        guard !clients.isEmpty else { return [] }
        let index = ClientNameIndex(clients)
        var rng = SplitMix64(seed: seed ^ 0x5EED_0F_1AB3_11ED)
        var out: [LabelledQuery] = []
        let categories = LabelledQuery.Category.allCases.filter { $0 != .negative }
        for category in categories {
            var made = 0
            var attempts = 0
            var used: Set<String> = []
            while made < perCategory && attempts < perCategory * 400 {
                attempts += 1
                let i = rng.below(clients.count)
                guard let query = makeQuery(category, for: i, index: index, rng: &rng),
                    used.insert(query).inserted,
                    index.isDeterminable(query: query, category: category, expected: i)
                else { continue }
                out.append(LabelledQuery(query: query, category: category, expected: clients[i].name, expectedIndex: i))
                made += 1
            }
        }
        var made = 0
        var attempts = 0
        while made < negatives && attempts < negatives * 100 {
            attempts += 1
            let first = rng.pick(negativeFirstNames)
            // A nickname of a client's name is not "absent" (Lucinda finds Lou): skip related names.
            guard NicknameTable.standard.variants(of: first).isEmpty else { continue }
            let last: String
            if rng.chance(0.4) {
                last = index.tokens[rng.below(clients.count)].last.map(capitalised) ?? rng.pick(negativeSurnames)
            } else {
                last = rng.pick(negativeSurnames)
            }
            let query = "\(first) \(last)"
            guard index.byNormKey[NameNormalizer.tokens(query).joined(separator: " ")] == nil else { continue }
            out.append(LabelledQuery(query: query, category: .negative, expected: nil, expectedIndex: nil))
            made += 1
        }
        return out
    }

    static func capitalised(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }

    /// "John Paul Smith" / "John P. Smith", not "Anna de Vries" (a two-word surname).
    static func hasMiddleName(_ words: [String]) -> Bool {
        words.count == 3 && (formalFirstNames.contains(words[1]) || (words[1].count == 2 && words[1].hasSuffix(".")))
    }

    static func makeQuery(
        _ category: LabelledQuery.Category, for i: Int, index: ClientNameIndex, rng: inout SplitMix64
    ) -> String? {
        let name = index.names[i]
        var words = name.split(separator: " ").map(String.init)
        guard words.count >= 2 else { return nil }
        let tokens = index.tokens[i]
        switch category {
        case .typo, .transposition:
            let position = rng.chance(0.5) ? 0 : words.count - 1
            var letters = Array(words[position])
            guard letters.count >= 4, letters.allSatisfy(\.isLetter) else { return nil }
            if category == .transposition {
                let candidates = (0..<(letters.count - 1)).filter { letters[$0].lowercased() != letters[$0 + 1].lowercased() }
                guard !candidates.isEmpty else { return nil }
                let at = candidates[rng.below(candidates.count)]
                letters.swapAt(at, at + 1)
                guard NameNormalizer.tokens(String(letters)) != NameNormalizer.tokens(words[position]) else { return nil }
            } else {
                let alphabet = Array("abcdefghijklmnopqrstuvwxyz")
                // Mostly after the first letter, as typists mostly get that right; sometimes not.
                let at = rng.chance(0.85) ? 1 + rng.below(letters.count - 1) : 0
                switch rng.below(4) {
                case 0: letters[at] = rng.pick(alphabet.filter { String($0) != letters[at].lowercased() })
                case 1: letters.remove(at: at)
                case 2: letters.insert(rng.pick(alphabet), at: at)
                default: letters.insert(letters[at], at: at)
                }
            }
            words[position] = String(letters)
            return words.joined(separator: " ")
        case .nickname:
            let nicks = NicknameTable.standard.nicknamesOf[tokens[0]]?.sorted() ?? []
            let usable = nicks.filter { $0.count >= 2 }
            guard !usable.isEmpty else { return nil }
            words[0] = capitalised(rng.pick(usable))
            return words.joined(separator: " ")
        case .reordered:
            guard let last = words.last else { return nil }
            let rest = words.dropLast().joined(separator: " ")
            return rng.chance(0.8) ? "\(last), \(rest)" : "\(last) \(rest)"
        case .droppedMiddle:
            guard words.count == 3, hasMiddleName(words), let first = words.first, let last = words.last else { return nil }
            return "\(first) \(last)"
        case .initial:
            if words.count == 3 && words[1].count > 2 && hasMiddleName(words) {
                return "\(words[0]) \(words[1].prefix(1)). \(words[2])"
            }
            guard words.count == 2 else { return nil }
            return "\(words[0].prefix(1)). \(words[1])"
        case .diacriticsRemoved:
            guard !name.unicodeScalars.allSatisfy(\.isASCII) else { return nil }
            let stripped = name.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
                $0.properties.generalCategory != .nonspacingMark
            }
            return String(String.UnicodeScalarView(stripped))
        case .diacriticsAdded:
            guard name.unicodeScalars.allSatisfy(\.isASCII) else { return nil }
            let accents: [Character: Character] = ["e": "é", "a": "á", "o": "ö", "u": "ü", "i": "í", "n": "ñ", "c": "ç"]
            var chars = Array(name)
            let positions = chars.indices.filter { accents[chars[$0]] != nil }
            guard !positions.isEmpty else { return nil }
            for _ in 0..<(1 + rng.below(2)) {
                let p = positions[rng.below(positions.count)]
                if let accented = accents[chars[p]] { chars[p] = accented }
            }
            return String(chars)
        case .letterCase:
            switch rng.below(3) {
            case 0: return name.uppercased()
            case 1: return name.lowercased()
            default:
                return String(name.map { c in rng.chance(0.5) ? Character(c.uppercased()) : Character(c.lowercased()) })
            }
        case .negative:
            return nil
        }
    }

    /// Names absent from the synthetic lists, for negative queries.
    static let negativeFirstNames = [
        "Xiomara", "Zebulon", "Quillon", "Ottoline", "Perpetua", "Lysander", "Evander", "Cressida",
        "Isolde", "Thelonious", "Octavian", "Persephone", "Leopold", "Marisol", "Ingeborg", "Radomir",
        "Svetlana", "Anselm", "Wolfgang", "Ximena", "Yevgeny", "Zenobia", "Balthazar", "Ulrika",
        "Tiberius", "Saoirse", "Ragnhild", "Philippa", "Oksana", "Nkechi", "Magnus", "Lucinda",
    ]
    static let negativeSurnames = [
        "Zwicky", "Quattlebaum", "Featherstonehaugh", "Vandersloot", "Pennywhistle", "Oyelaran",
        "Grzybowski", "Thistlewaite", "Kowalczyk", "Abendroth", "Brightwater", "Castellanos",
        "Dobrzanski", "Eisenhower", "Fairbanks", "Gudmundsdottir", "Hollingsworth", "Ilunga",
        "Jaworski", "Kuznetsova", "Lindahl", "Mbeki", "Nakashima", "Ostrowski", "Pomeroy",
    ]
}

/// Lookups over a client list used to keep labelled queries unambiguous.
struct ClientNameIndex {
    let names: [String]
    let tokens: [[String]]
    let normKeys: [String]
    /// normalised name -> client indexes with it
    let byNormKey: [String: [Int]]
    let byFirst: [String: [Int]]
    let byLast: [String: [Int]]

    init(_ clients: [SyntheticClient]) {
        names = clients.map(\.name)
        tokens = names.map(NameNormalizer.tokens)
        normKeys = tokens.map { $0.joined(separator: " ") }
        var byNormKey: [String: [Int]] = [:]
        var byFirst: [String: [Int]] = [:]
        var byLast: [String: [Int]] = [:]
        for (i, t) in tokens.enumerated() {
            byNormKey[normKeys[i], default: []].append(i)
            if let first = t.first { byFirst[first, default: []].append(i) }
            if let last = t.last { byLast[last, default: []].append(i) }
        }
        self.byNormKey = byNormKey
        self.byFirst = byFirst
        self.byLast = byLast
    }

    /// False when some client with a different normalised name reads as well as the expected one.
    func isDeterminable(query: String, category: LabelledQuery.Category, expected: Int) -> Bool {
        let q = NameNormalizer.tokens(query)
        let e = tokens[expected]
        let eKey = normKeys[expected]
        guard let qFirst = q.first, let qLast = q.last, let eFirst = e.first, let eLast = e.last else { return false }
        func others(_ list: [Int]?) -> [Int] { (list ?? []).filter { normKeys[$0] != eKey } }

        // The query is literally someone else's name.
        if !others(byNormKey[q.joined(separator: " ")]).isEmpty { return false }
        let sortedQuery = q.sorted()
        switch category {
        case .reordered:
            // "Smith John" without a comma also reads as a person called Smith John.
            return !others(byLast[qFirst]).contains { tokens[$0].sorted() == sortedQuery }
        case .droppedMiddle:
            // Another John ... Smith (with or without another middle name).
            return others(byLast[eLast]).allSatisfy { tokens[$0].first != eFirst }
        case .initial:
            if qFirst.count > 1 {
                return others(byLast[eLast]).allSatisfy { other in
                    let t = tokens[other]
                    return !(t.first == eFirst && (t.count == 2 || (t.count == 3 && t[1].first == q[1].first)))
                        && !(t.first.map { NicknameTable.standard.areVariants($0, eFirst) } ?? false)
                }
            }
            return others(byLast[eLast]).allSatisfy { tokens[$0].first?.first != qFirst.first }
        case .nickname:
            let related = NicknameTable.standard.directVariants(qFirst).union([qFirst])
            return others(byLast[eLast]).allSatisfy { other in
                guard let f = tokens[other].first, f != eFirst else { return true }
                return !related.contains(f) && !NicknameTable.standard.shareFormalName(qFirst, f)
            }
        case .typo, .transposition:
            guard q.count == e.count else { return false }
            let changed = q.indices.filter { q[$0] != e[$0] }
            guard changed.count == 1, let p = changed.first else { return false }
            let pool = p == 0 ? byLast[qLast] : byFirst[qFirst]
            let qScalars = q[p].unicodeScalars.map(\.value)
            return others(pool).allSatisfy { other in
                let t = tokens[other]
                guard t.count == q.count else { return true }
                for k in t.indices where k != p && t[k] != q[k] { return true }
                return NameMatcher.osaDistance(qScalars, t[p].unicodeScalars.map(\.value), limit: 2) > 2
            }
        case .diacriticsRemoved, .diacriticsAdded, .letterCase, .negative:
            return true
        }
    }
}
