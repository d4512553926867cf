import Foundation
import ParleyCore
import ParleyLegal
import Testing

@Suite struct NameNormalizerTests {
    @Test(arguments: [
        ("John Smith", ["john", "smith"]),
        ("  JOHN \t  SMITH  ", ["john", "smith"]),
        ("Smith, John", ["john", "smith"]),
        ("Smith, John Paul", ["john", "paul", "smith"]),
        ("Smith,John", ["john", "smith"]),
        ("Dr. John Smith Jr.", ["john", "smith"]),
        ("Mrs Mary Smith", ["mary", "smith"]),
        ("Smith, John, Jr.", ["john", "smith"]),
        ("Smith Jr., John", ["john", "smith"]),
        ("John Smith III", ["john", "smith"]),
        ("Prof. Jane Doe, Esq.", ["jane", "doe"]),
        ("Miss Ann Lee II", ["ann", "lee"]),
        ("Ms. Jo Iv", ["jo"]),
        ("José García", ["jose", "garcia"]),
        ("JOSÉ GARCÍA", ["jose", "garcia"]),
        ("Jose\u{301} Garci\u{301}a", ["jose", "garcia"]),
        ("Søren Ångström", ["soren", "angstrom"]),
        ("Jürgen Weiß", ["jurgen", "weiss"]),
        ("Łukasz Wiśniewski", ["lukasz", "wisniewski"]),
        ("Nguyễn Văn Đặng", ["nguyen", "van", "dang"]),
        ("Yılmaz İlker", ["yilmaz", "ilker"]),
        ("O'Brien", ["obrien"]),
        ("Sean O\u{2019}Brien", ["sean", "obrien"]),
        ("D'Angelo, Maria", ["maria", "dangelo"]),
        ("Mary Smith-Jones", ["mary", "smith", "jones"]),
        ("Smith-Jones, Mary", ["mary", "smith", "jones"]),
        ("Mary\u{2013}Jane Watson", ["mary", "jane", "watson"]),
        ("J. R. R. Tolkien", ["j", "r", "r", "tolkien"]),
        ("anna de vries", ["anna", "de", "vries"]),
        ("John (Jack) Smith #2", ["john", "jack", "smith"]),
    ])
    func normalises(input: String, expected: [String]) {
        #expect(NameNormalizer.tokens(input) == expected)
    }

    @Test(arguments: ["", "   ", "!!!", ",,,", "-", "'", "😀🎉", "12345", "Dr.", "Mr. Jr.", "\u{0}\u{7}"])
    func emptyForNoName(input: String) {
        #expect(NameNormalizer.tokens(input).isEmpty)
    }

    @Test func dropsEmojiAndKeepsLetters() {
        #expect(NameNormalizer.tokens("😀 John 🎉 Smith") == ["john", "smith"])
        #expect(NameNormalizer.tokens("Иван Петров") == ["иван", "петров"])
    }

    @Test func capsHugeInput() {
        let long = String(repeating: "abcdefghij", count: 1_000)
        let tokens = NameNormalizer.tokens(long)
        #expect(tokens.count == 1)
        #expect(tokens[0].count == NameNormalizer.maxTokenLength)

        let many = (0..<100).map { "name\($0 % 10)x" }.joined(separator: " ")
        #expect(NameNormalizer.tokens(many).count == NameNormalizer.maxTokens)

        let commas = String(repeating: "a, ", count: 5_000)
        #expect(NameNormalizer.tokens(commas).count <= NameNormalizer.maxTokens)

        let zalgo = "J" + String(repeating: "\u{301}", count: 10_000) + "ohn"
        #expect(NameNormalizer.tokens(zalgo).count <= 1)
    }
}

@Suite struct NameNicknameTests {
    let table = NicknameTable.standard

    @Test func bothDirections() {
        #expect(table.variants(of: "bob").contains("robert"))
        #expect(table.variants(of: "robert").isSuperset(of: ["bob", "rob", "bobby"]))
        #expect(table.variants(of: "liz").contains("elizabeth"))
        #expect(table.variants(of: "elizabeth").contains("liz"))
        #expect(table.variants(of: "Bob").contains("robert"))
        #expect(!table.variants(of: "robert").contains("robert"))
    }

    @Test(arguments: ["", "zzzzqx", "😀", String(repeating: "x", count: 10_000)])
    func unknownIsEmpty(token: String) {
        #expect(table.variants(of: token).isEmpty)
    }

    @Test func parsesCustomCSV() {
        let csv = "name1,relationship,name2\r\nalpha,has_nickname,al\r\nbad line\r\nx,other,y\r\n,has_nickname,z\r\nK.C.,has_nickname,Casey\n"
        let custom = NicknameTable(csv: csv)
        #expect(custom.variants(of: "al") == ["alpha"])
        #expect(custom.variants(of: "alpha") == ["al"])
        #expect(custom.variants(of: "x").isEmpty)
        #expect(custom.variants(of: "kc") == ["casey"])
        #expect(NicknameTable(csv: "").variants(of: "bob").isEmpty)
    }

    @Test func standardTableIsLoaded() {
        #expect(table.count > 900)
    }
}

@Suite struct NameScoreTests {
    let m = NameMatcher()

    @Test func exactAndCosmetic() {
        #expect(m.score(query: "John Smith", candidate: "John Smith") == 1)
        #expect(m.score(query: "JOHN smith", candidate: "John Smith") == 1)
        #expect(m.score(query: "Jose Garcia", candidate: "José García") == 1)
        #expect(m.score(query: "Dr John Smith", candidate: "John Smith Jr.") == 1)
    }

    @Test func reordering() {
        #expect(m.score(query: "Smith, John", candidate: "John Smith") == 1)
        let swapped = m.score(query: "Smith John", candidate: "John Smith")
        #expect(swapped >= 0.95 && swapped < 1)
        // Out-of-order alignment must not beat the in-order reading of a nickname.
        #expect(m.score(query: "Gory Alexandra Hernandez", candidate: "Gregory Alexandra Hernandez")
            > m.score(query: "Gory Alexandra Hernandez", candidate: "Alexandra Gregory Hernandez"))
        #expect(m.score(query: "Smith, John Paul", candidate: "John Paul Smith") == 1)
    }

    @Test(arguments: [("Bob Smith", "Robert Smith"), ("Liz Taylor", "Elizabeth Taylor"), ("Elizabeth Taylor", "Liz Taylor"), ("Bill Jones", "William Jones")])
    func nicknames(query: String, candidate: String) {
        let s = m.score(query: query, candidate: candidate)
        #expect(s >= 0.85 && s < 0.97, "\(query) / \(candidate): \(s)")
    }

    @Test(arguments: [("Jonh Smith", "John Smith"), ("John Smtih", "John Smith"), ("Jon Smith", "John Smith"), ("John Smithe", "John Smith"), ("Jhon Smith", "John Smith"), ("Catherine Hernandes", "Catherine Hernandez")])
    func oneTypoOrTransposition(query: String, candidate: String) {
        let s = m.score(query: query, candidate: candidate)
        #expect(s >= 0.8 && s < 1, "\(query) / \(candidate): \(s)")
    }

    @Test func middleNamesAndInitials() {
        #expect(m.score(query: "John Smith", candidate: "John Paul Smith") >= 0.9)
        #expect(m.score(query: "John Paul Smith", candidate: "John Smith") >= 0.9)
        #expect(m.score(query: "John P. Smith", candidate: "John Paul Smith") >= 0.9)
        let initial = m.score(query: "J Smith", candidate: "John Smith")
        #expect(initial >= 0.75 && initial < 0.9)
        #expect(m.score(query: "J Smith", candidate: "Mary Smith") < NameMatcher.defaultThreshold)
    }

    @Test func hyphenatedSurnames() {
        #expect(m.score(query: "Mary Smith", candidate: "Mary Smith-Jones") >= NameMatcher.defaultThreshold)
        #expect(m.score(query: "Mary Jones", candidate: "Mary Smith-Jones") >= NameMatcher.defaultThreshold)
        #expect(m.score(query: "Mary Smith Jones", candidate: "Mary Smith-Jones") == 1)
    }

    @Test func unrelatedAndPartial() {
        #expect(m.score(query: "John Smith", candidate: "Mary Jones") < 0.3)
        #expect(m.score(query: "Xiomara Zwicky", candidate: "Robert Brown") < 0.3)
        #expect(m.score(query: "Mary Smith", candidate: "John Smith") < NameMatcher.defaultThreshold)
        #expect(m.score(query: "Mark Smith", candidate: "Mary Smith") < m.score(query: "Mary Smith", candidate: "Mary Smith"))
    }

    @Test func preferenceOrder() {
        // Exact tokens with a middle name beat a nickname; a nickname beats a sibling nickname.
        #expect(m.score(query: "Catherine Clark", candidate: "Catherine Patrick Clark") > m.score(query: "Catherine Clark", candidate: "Kay Clark"))
        #expect(m.score(query: "Bob Smith", candidate: "Robert Smith") > m.score(query: "Bob Smith", candidate: "Robert Jones"))
        #expect(m.score(query: "John Smith", candidate: "John Smith") > m.score(query: "John Smith", candidate: "Jon Smith"))
    }

    @Test func tiesAreEqual() {
        let a = m.score(query: "Jon Smyth", candidate: "John Smith")
        let b = m.score(query: "Jon Smyth", candidate: "John Smith")
        #expect(a == b)
        #expect(m.score(query: "Bob Smith", candidate: "Robert Smith") == m.score(query: "Bob Smith", candidate: "ROBERT SMITH"))
    }

    @Test(arguments: ["", "   ", "!!!", "😀🎉", "\u{0}"])
    func emptyQueryScoresZero(query: String) {
        #expect(m.score(query: query, candidate: "John Smith") == 0)
        #expect(m.score(query: "John Smith", candidate: query) == 0)
    }

    @Test func hostileInputIsBoundedAndFast() {
        let huge = String(repeating: "Smith ", count: 2_000)
        let manyTokens = (0..<100).map { "tok\($0)" }.joined(separator: " ")
        let inputs = [huge, manyTokens, String(repeating: "😀", count: 10_000), String(repeating: ",", count: 10_000), String(repeating: "é", count: 10_000)]
        let clock = ContinuousClock()
        let start = clock.now
        for a in inputs {
            for b in inputs + ["John Smith"] {
                let s = m.score(query: a, candidate: b)
                #expect(s >= 0 && s <= 1)
            }
            #expect(m.indexKeys(for: a).count <= NameMatcher.maxKeys)
            #expect(m.queryKeys(for: a).count <= NameMatcher.maxKeys)
        }
        // Generous: the point is no quadratic blow-up on 10k-character input.
        #expect(clock.now - start < .seconds(2))
    }

    @Test func rankHonoursThresholdAndLimit() {
        let candidates: [(id: Int, name: String)] = [
            (1, "Robert Smith"), (2, "John Smith"), (3, "Bob Smith"), (4, "Robert Smyth"), (5, "Mary Jones"), (6, "Bob Smith"),
        ]
        let all = m.rank(query: "Bob Smith", candidates: candidates, limit: 10)
        #expect(all.map(\.id) == [3, 6, 1, 4])
        #expect(all.allSatisfy { $0.score >= NameMatcher.defaultThreshold })
        #expect(m.rank(query: "Bob Smith", candidates: candidates, limit: 2).map(\.id) == [3, 6])
        #expect(m.rank(query: "Bob Smith", candidates: candidates, threshold: 0.99).map(\.id) == [3, 6])
        #expect(m.rank(query: "", candidates: candidates).isEmpty)
        #expect(m.rank(query: "Bob Smith", candidates: candidates, limit: 0).isEmpty)
        #expect(m.rank(query: "Bob Smith", candidates: [(id: Int, name: String)]()).isEmpty)
    }
}

@Suite struct NameKeyTests {
    let m = NameMatcher()

    @Test func keysAreShortASCIIAndUnique() {
        for name in ["John Smith", "José García-Núñez", "Иван Петров", "李小龍", "O'Brien, Seán", "A", ""] {
            let keys = m.indexKeys(for: name)
            #expect(Set(keys).count == keys.count)
            #expect(keys.count <= NameMatcher.maxKeys)
            #expect(keys.allSatisfy { $0.unicodeScalars.allSatisfy(\.isASCII) && $0.count <= 24 }, "\(name): \(keys)")
        }
        #expect(m.indexKeys(for: "").isEmpty)
        #expect(!m.indexKeys(for: "Иван Петров").isEmpty)
    }

    @Test(arguments: [
        ("Bob Smith", "Robert Smith"), ("Jonh Smith", "John Smith"), ("Smith, John", "John Smith"), ("Smith John", "John Smith"),
        ("Liz Smyth", "Elizabeth Smith"), ("J Smith", "John Smith"), ("Jose Garcia", "José García"), ("Mary Jones", "Mary Smith-Jones"),
        ("Xohn Smith", "John Smith"),
    ])
    func queryKeysMeetIndexKeys(query: String, stored: String) {
        let shared = Set(m.queryKeys(for: query)).intersection(m.indexKeys(for: stored))
        #expect(shared.count >= 2, "\(query) / \(stored)")
    }

    @Test func exactShareMoreThanPartial() {
        let q = Set(m.queryKeys(for: "John Smith"))
        #expect(q.intersection(m.indexKeys(for: "John Smith")).count > q.intersection(m.indexKeys(for: "John Jones")).count)
        #expect(q.intersection(m.indexKeys(for: "John Smith")).count > q.intersection(m.indexKeys(for: "Mary Smith")).count)
    }
}

@Suite struct NameSyntheticTests {
    @Test func deterministicAndRealistic() throws {
        let a = SyntheticClients.clients(count: 3_000, seed: 11)
        #expect(a == SyntheticClients.clients(count: 3_000, seed: 11))
        #expect(a != SyntheticClients.clients(count: 3_000, seed: 12))
        #expect(a.count == 3_000)
        #expect(Set(a.map(\.email)).count == a.count)
        #expect(Set(a.map(\.phone)).count == a.count)
        let e164 = try Regex("^\\+[1-9][0-9]{10}$")
        #expect(a.allSatisfy { $0.phone.wholeMatch(of: e164) != nil })
        let names = a.map(\.name)
        #expect(names.contains { !$0.unicodeScalars.allSatisfy(\.isASCII) })
        #expect(names.contains { $0.contains("'") })
        #expect(names.contains { $0.contains("-") })
        #expect(names.contains { $0.split(separator: " ").count == 3 })
        #expect(Set(names).count < names.count, "namesakes expected")
        #expect(SyntheticClients.clients(count: 0, seed: 1).isEmpty)
    }

    @Test func randomIndexesCoverLargeRanges() {
        var rng = SplitMix64(seed: 1)
        let draws = (0..<1_000).map { _ in rng.below(100_000) }
        #expect(draws.allSatisfy { (0..<100_000).contains($0) })
        #expect(draws.contains { $0 > 90_000 })
        #expect(rng.below(0) == 0)
        #expect(rng.below(-5) == 0)
    }

    @Test func labelledQueriesCoverCategories() {
        let clients = SyntheticClients.clients(count: 5_000, seed: 3)
        let queries = SyntheticClients.labelledQueries(for: clients, seed: 9)
        #expect(queries == SyntheticClients.labelledQueries(for: clients, seed: 9))
        let positives = queries.filter { $0.category != .negative }
        #expect(positives.count >= 150)
        #expect(queries.filter { $0.category == .negative }.count >= 20)
        for category in LabelledQuery.Category.allCases {
            #expect(queries.contains { $0.category == category }, "\(category)")
        }
        for q in positives {
            guard let i = q.expectedIndex else {
                Issue.record("positive without expectation")
                continue
            }
            #expect(clients[i].name == q.expected)
        }
        #expect(SyntheticClients.labelledQueries(for: [], seed: 1).isEmpty)
    }

    /// The legal pack's retrieval path in miniature: top K by shared keys, then rerank.
    @Test func retrievalFindsLabelledClients() {
        let matcher = NameMatcher()
        let clients = SyntheticClients.clients(count: 2_000, seed: 5)
        var index: [String: [Int]] = [:]
        for (i, c) in clients.enumerated() {
            for key in matcher.indexKeys(for: c.name) { index[key, default: []].append(i) }
        }
        let normalized = clients.map { NameNormalizer.tokens($0.name) }
        var correct = 0
        var positives = 0
        var falsePositives = 0
        for q in SyntheticClients.labelledQueries(for: clients, seed: 6) {
            var counts: [Int: Int] = [:]
            for key in matcher.queryKeys(for: q.query) {
                for i in index[key] ?? [] { counts[i, default: 0] += 1 }
            }
            let top = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(200)
            let ranked = matcher.rank(query: q.query, candidates: top.map { (id: $0.key, name: clients[$0.key].name) }, limit: 5)
            if let expected = q.expectedIndex {
                positives += 1
                let best = ranked.filter { $0.score == ranked.first?.score }
                if !best.isEmpty && best.allSatisfy({ normalized[$0.id] == normalized[expected] }) { correct += 1 }
            } else if !ranked.isEmpty {
                falsePositives += 1
            }
        }
        #expect(Double(correct) / Double(positives) >= 0.95)
        #expect(falsePositives <= 3)
    }
}
