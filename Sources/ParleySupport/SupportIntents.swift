import Foundation
import ParleyAgent
import ParleyCore

/// The offline planner's support intent: a customer's question goes to search_knowledge, and the
/// answer is made of the best passages' sentences, each followed by its source's `[n]`.
struct KnowledgeQuestionIntent: OfflineIntent {
    let name = "knowledge_question"
    let summary = "Answer a question from the knowledge base, citing the sources"
    let examples = ["How do I reset my password?", "search the knowledge base for refund policy"]

    static let questionWords: Set<String> = ["how", "what", "what's", "whats", "where", "why", "when", "which", "who", "can", "could",
                                             "do", "does", "is", "are", "will", "should", "may", "am"]

    func isAvailable(offered: Set<String>) -> Bool { offered.contains("search_knowledge") }

    func match(_ u: Utterance) -> IntentMatch? {
        if let q = u.text(after: ["search the knowledge base for", "search the knowledge base about", "search the docs for", "knowledge base:"]) {
            return IntentMatch(score: 0.9, entities: ["query": q])
        }
        // Any other question: a low score, so every pack's more specific intent wins.
        guard KBTokenizer.queryTerms(u.text).contains(where: { !KBTokenizer.stopwords.contains($0) }) else { return nil }
        if u.text.hasSuffix("?") || u.words.first.map(Self.questionWords.contains) == true {
            return IntentMatch(score: 0.35, entities: ["query": u.text])
        }
        return nil
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        let query = turn.entities["query"] ?? turn.utterance
        guard let found = turn.latest("search_knowledge") else {
            return .callTools(thought: "This is a question for the knowledge base; I will search it and answer only from what it says.",
                              calls: [PlannedCall("search_knowledge", ["query": .string(query)])])
        }
        if found.isError {
            let text = found.output.stringValue ?? found.output.serialized()
            return .answer("I could not search the knowledge base: \(text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text)")
        }
        let results = found.output["results"]?.arrayValue ?? []
        guard found.output["no_relevant_results"]?.boolValue != true, !results.isEmpty else {
            return .answer(KnowledgeService.nothingFound + " Would you like me to pass your question to a person?")
        }
        let passages = results.compactMap { r -> (n: Int, text: String)? in
            guard let n = r["n"]?.intValue, let text = r["text"]?.stringValue else { return nil }
            return (n, text)
        }
        return .answer(Extractive.answer(question: query, passages: Array(passages.prefix(3))))
    }
}
