import Foundation
import Logging
import ParleyAgent
import ParleyCore

/// `POST /v1/rag/query` with a language model configured: the model writes the answer from the
/// retrieved passages, citing them as [n]; numbers it was not given are removed and reported.
/// Without a model, or when it fails, the extractive answer is given and says why.
public struct ModelAnswers: Sendable {
    public let kb: KnowledgeService
    /// Nil: no language model is configured (answers are extractive).
    public let model: (any ModelProvider)?
    let logger: Logger

    public init(kb: KnowledgeService, model: (any ModelProvider)?, logger: Logger) {
        self.kb = kb
        self.model = model
        self.logger = logger
    }

    /// The configured providers in failover order, each tried once (a failed answer falls back
    /// to the extractive one at once rather than waiting on retries).
    public static func model(_ settings: ModelSettings, clock: any Clock, logger: Logger) -> (any ModelProvider)? {
        let chain = LanguageModels.configured(settings)
        guard !chain.isEmpty else { return nil }
        return FailoverProvider(name: "rag-answer", providers: chain, retry: RetryPolicy(maxAttempts: 1), clock: clock, logger: logger)
    }

    static let maxPassageCharacters = 4000
    static let maxAnswerCharacters = 8000

    static let systemPrompt = """
        You answer a question from a business's knowledge base, using only the numbered passages you are given.
        - Cite each fact with the number of its passage in square brackets, like [1] or [2][3]. Cite only numbers from the list.
        - If the passages do not answer the question, say plainly that the knowledge base does not cover it; never guess.
        - Be brief and concrete; quote steps, prices and figures exactly as written. Answer in the language of the question.
        """

    public func answer(_ principal: Principal, _ request: SearchRequest) async throws -> QueryAnswer {
        let found = try await kb.search(principal, request)
        var extractive = KnowledgeService.extractive(found)
        guard let model, !found.results.isEmpty else { return extractive }
        let citations = KnowledgeService.citations(found.results)
        do {
            let written = try await write(model, question: found.query, passages: zip(citations, found.results).map { ($0.n, $0.documentTitle, $0.headingPath, $1.text) })
            let checked = Self.checkReferences(written, passages: citations.count)
            guard !checked.text.isEmpty else { throw AnswerFailure("the model's answer was empty") }
            let (text, list) = KnowledgeService.renumber(checked.text, citations: citations)
            return QueryAnswer(query: found.query, answer: text, citations: list, noRelevantResults: false, mode: found.mode,
                               answeredBy: .model, droppedReferences: checked.dropped)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.warning("the model could not write a knowledge-base answer; answering extractively", metadata: ["error": "\(error)"])
            extractive.fallbackReason = "\(error)"
            return extractive
        }
    }

    struct AnswerFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func write(_ model: any ModelProvider, question: String, passages: [(n: Int, title: String, heading: String, text: String)]) async throws -> String {
        var prompt = "Passages:\n"
        for p in passages {
            let place = p.heading.isEmpty ? p.title : "\(p.title) — \(p.heading)"
            prompt += "\n[\(p.n)] \(place)\n\(p.text.prefix(Self.maxPassageCharacters))\n"
        }
        prompt += "\nQuestion: \(question)"
        var text = ""
        for try await event in model.stream(ModelRequest(system: Self.systemPrompt, messages: [.user(prompt)], temperature: 0.2, maxTokens: 1024)) {
            switch event {
            case .textDelta(let delta):
                text += delta
                guard text.count <= Self.maxAnswerCharacters else { throw AnswerFailure("the model's answer was longer than \(Self.maxAnswerCharacters) characters") }
            case .toolCall: throw AnswerFailure("the model called a tool instead of answering")
            case .stop(.maxTokens): throw AnswerFailure("the model's answer was cut off at its token limit")
            default: continue
            }
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Splits grouped references (`[1, 2]` becomes `[1][2]`) and removes numbers outside
    /// 1...`passages`, returning them in the order they appeared.
    static func checkReferences(_ text: String, passages: Int) -> (text: String, dropped: [Int]) {
        var out = ""
        var dropped: [Int] = []
        var rest = text[...]
        while let open = rest.firstIndex(of: "[") {
            out += rest[..<open]
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "]"), after.distance(from: after.startIndex, to: close) <= 40 else {
                out.append("[")
                rest = after
                continue
            }
            let inner = after[..<close]
            let items = inner.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !inner.isEmpty, items.allSatisfy({ !$0.isEmpty && $0.count <= 6 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else {
                out += "[" + inner + "]"  // not a reference: "[sic]", a Markdown link's text
                rest = after[after.index(after: close)...]
                continue
            }
            var kept = ""
            for item in items {
                guard let n = Int(item) else { continue }
                if (1...passages).contains(n) { kept += "[\(n)]" } else { dropped.append(n) }
            }
            if kept.isEmpty, out.last == " " { out.removeLast() }
            out += kept
            rest = after[after.index(after: close)...]
        }
        out += rest
        return (out.trimmingCharacters(in: .whitespacesAndNewlines), dropped)
    }
}
