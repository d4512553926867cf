import Foundation

/// Answers without a language model: the sentences of the best passages that share the most
/// words with the question, each followed by its source's number (`[n]`).
enum Extractive {
    /// A passage's text as plain sentences (Markdown table rows and list items count as sentences).
    static func sentences(_ text: String) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n") {
            var l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("|") {
                if Chunker.isSeparator(l) { continue }
                let cells = l.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if !cells.isEmpty { out.append(cells.joined(separator: " | ")) }
                continue
            }
            while let first = l.first, "-*+#>".contains(first) { l = String(l.dropFirst()).trimmingCharacters(in: .whitespaces) }
            var current = ""
            for ch in l {
                current.append(ch)
                if ".!?".contains(ch) {
                    let s = current.trimmingCharacters(in: .whitespaces)
                    if !s.isEmpty { out.append(s) }
                    current = ""
                }
            }
            let rest = current.trimmingCharacters(in: .whitespaces)
            if !rest.isEmpty { out.append(rest) }
        }
        return out.map { $0.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: "") }
            .filter { Chunker.count($0) >= 3 }
    }

    /// The answer from numbered passages (`n`, text), best first.
    static func answer(question: String, passages: [(n: Int, text: String)], maxSentences: Int = 3) -> String {
        let terms = Set(KBTokenizer.queryTerms(question))
        var picked: [(sentence: String, n: Int, score: Int, order: Int)] = []
        var order = 0
        for (p, passage) in passages.enumerated() {
            for s in sentences(passage.text) {
                let overlap = Set(KBTokenizer.tokens(s)).intersection(terms).count
                // Earlier (better ranked) passages win ties.
                picked.append((s, passage.n, overlap * 100 - p * 10, order))
                order += 1
            }
        }
        let best = picked.filter { $0.score > 0 }.sorted { $0.score != $1.score ? $0.score > $1.score : $0.order < $1.order }.prefix(maxSentences)
        let chosen = best.isEmpty ? Array(picked.prefix(1)) : best.sorted { $0.order < $1.order }
        return chosen.map { s in
            let trimmed = s.sentence.last.map { ".!?".contains($0) } == true ? String(s.sentence.dropLast()) : s.sentence
            let end = s.sentence.last.map { ".!?".contains($0) ? String($0) : "." } ?? "."
            return "\(trimmed) [\(s.n)]\(end)"
        }.joined(separator: " ")
    }

    /// About `words` words of `text` around the first of the query's terms.
    static func snippet(_ text: String, terms: [String], words: Int = 40) -> String {
        let plain = text.replacingOccurrences(of: "\n", with: " ")
        let tokens = plain.split(separator: " ", omittingEmptySubsequences: true)
        guard tokens.count > words else { return tokens.joined(separator: " ") }
        let wanted = Set(terms)
        let hit = tokens.firstIndex { token in KBTokenizer.tokens(String(token)).contains(where: wanted.contains) } ?? 0
        let start = max(0, min(hit - words / 4, tokens.count - words))
        let end = min(tokens.count, start + words)
        return (start > 0 ? "… " : "") + tokens[start..<end].joined(separator: " ") + (end < tokens.count ? " …" : "")
    }
}
