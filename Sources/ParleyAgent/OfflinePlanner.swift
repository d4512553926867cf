import Foundation
import ParleyCore

// The offline planner: a deterministic model that needs no network. Packs teach it intents; it
// plans the same tool calls a language model would and writes the answer from their results.

/// A tool result the planner can reason about.
public struct ToolObservation: Sendable, Equatable {
    public var tool: String
    public var input: JSONValue
    public var output: JSONValue
    public var isError: Bool
}

/// Everything an intent sees when deciding its next step.
public struct PlannerTurn: Sendable {
    public var utterance: String
    public var entities: [String: String]
    /// Results of tool calls made since the user's message, oldest first.
    public var observations: [ToolObservation]
    /// Tools the caller may use in this run.
    public var availableTools: [ToolDefinition]
    /// Every installed intent, for help and capability answers.
    public var intents: [any OfflineIntent]
    /// The conversation before the user's message (session history), oldest first.
    public var history: [PriorMessage] = []

    public func latest(_ tool: String) -> ToolObservation? { observations.last { $0.tool == tool } }
    public func canUse(_ tool: String) -> Bool { availableTools.contains { $0.name == tool } }
}

public struct PlannedCall: Sendable, Equatable {
    public var tool: String
    public var input: JSONValue
    public init(_ tool: String, _ input: JSONValue = [:]) {
        self.tool = tool
        self.input = input
    }
}

public enum PlannerStep: Sendable, Equatable {
    /// Call these tools (concurrently); `thought` explains why, as a model's reasoning would.
    case callTools(thought: String, calls: [PlannedCall])
    case answer(String)
}

public struct IntentMatch: Sendable, Equatable {
    /// Higher wins when several intents match; 1.0 is an exact phrase, 0.5 a keyword hit.
    public var score: Double
    public var entities: [String: String]
    public init(score: Double, entities: [String: String] = [:]) {
        self.score = score
        self.entities = entities
    }
}

/// What a pack implements to teach the offline planner a request it can serve.
public protocol OfflineIntent: Sendable {
    var name: String { get }
    /// One line shown by the help intent and in docs, e.g. "Revoke an API key by name".
    var summary: String { get }
    var examples: [String] { get }
    func match(_ utterance: Utterance) -> IntentMatch?
    /// Called once per model turn with the observations so far; must end with `.answer`.
    func next(_ turn: PlannerTurn) -> PlannerStep
    /// Whether the intent applies when only these tools are offered (a switched-off pack's
    /// intents do not match); true by default.
    func isAvailable(offered: Set<String>) -> Bool
}

extension OfflineIntent {
    public func isAvailable(offered: Set<String>) -> Bool { true }
}

/// An earlier message of the conversation, as text: what the user said or the assistant answered.
public struct PriorMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case user, assistant }
    public var role: Role
    public var text: String
    public init(role: Role, text: String) {
        self.role = role
        self.text = text
    }
}

/// A user message prepared for matching: lower-cased words, with the original text kept for
/// extracting names verbatim.
public struct Utterance: Sendable {
    public var text: String
    public var lowered: String
    public var words: [String]
    /// The conversation before this message, oldest first, so follow-ups ("W2 and 1099", "send
    /// her a reminder") can be read in context.
    public var history: [PriorMessage] = []

    public init(_ text: String, history: [PriorMessage] = []) {
        self.text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        lowered = self.text.lowercased()
        words = lowered.split { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }.map(String.init)
        self.history = history
    }

    /// The assistant's most recent answer before this message.
    public var lastAnswer: String? { history.last { $0.role == .assistant }?.text }

    public func has(_ word: String) -> Bool { words.contains(word) }
    public func hasAny(_ list: [String]) -> Bool { list.contains { has($0) } }
    public func contains(_ phrase: String) -> Bool { lowered.contains(phrase) }

    /// The text after the first of `markers` (case-insensitive), trimmed of quotes and punctuation.
    public func text(after markers: [String]) -> String? {
        for marker in markers {
            guard let range = lowered.range(of: marker) else { continue }
            let offset = lowered.distance(from: lowered.startIndex, to: range.upperBound)
            let rest = String(text.dropFirst(offset))
                .trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\"'`“”‘’.,!?:;")))
            if !rest.isEmpty { return rest }
        }
        return nil
    }
}

/// The deterministic planner as a `ModelProvider`, so the agent loop treats it like any model.
///
/// It keeps no state between turns: each call re-reads the conversation since the user's last
/// message, so a run paused for approval (or handed over from a failed model) continues correctly.
public struct OfflinePlanner: ModelProvider {
    public let name = "offline"
    public let intents: [any OfflineIntent]

    public init(intents: [any OfflineIntent]) {
        self.intents = intents + [HelpIntent(), CapabilitiesIntent(), HandbackIntent()]
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelEvent, any Error> {
        let events = plan(request)
        return AsyncThrowingStream { continuation in
            for event in events { continuation.yield(event) }
            continuation.finish()
        }
    }

    func plan(_ request: ModelRequest) -> [ModelEvent] {
        guard let userIndex = request.messages.lastIndex(where: { m in
            m.role == .user && m.content.contains { if case .text = $0 { true } else { false } }
        }) else {
            return [.textDelta(fallback()), .stop(.endTurn)]
        }
        let text = request.messages[userIndex].content.compactMap { if case .text(let t) = $0 { t } else { nil } }.joined(separator: "\n")
        let history = request.messages[..<userIndex].compactMap { m -> PriorMessage? in
            let text = m.content.compactMap { if case .text(let t) = $0 { t } else { nil } }.joined(separator: "\n")
            return text.isEmpty ? nil : PriorMessage(role: m.role == .user ? .user : .assistant, text: text)
        }
        let utterance = Utterance(text, history: history)
        let observations = Self.observations(in: request.messages[(userIndex + 1)...])
        let callCount = observations.count

        let offered = Set(request.tools.map(\.name))
        guard let (intent, match) = best(for: utterance, offered: offered) else {
            return [.textDelta(fallback()), .stop(.endTurn)]
        }
        let turn = PlannerTurn(utterance: utterance.text, entities: match.entities, observations: observations,
                               availableTools: request.tools, intents: intents, history: history)
        switch intent.next(turn) {
        case .answer(let text):
            return [.textDelta(text), .stop(.endTurn)]
        case .callTools(let thought, let calls):
            let missing = calls.filter { !turn.canUse($0.tool) }.map(\.tool)
            if !missing.isEmpty {
                return [.textDelta("I recognised your request (\(intent.summary.lowercased())), but your role may not use \(missing.joined(separator: ", ")). Ask an administrator to do it or to give your key a role that allows it."), .stop(.endTurn)]
            }
            var out: [ModelEvent] = [.thinkingDelta(thought)]
            for (i, call) in calls.enumerated() {
                out.append(.toolCall(ToolCall(id: "offline_\(callCount + i + 1)", name: call.tool, arguments: call.input.serialized())))
            }
            out.append(.stop(.toolUse))
            return out
        }
    }

    /// The intent that reads the message best (the first of equal scores), with what it read.
    /// The intent that reads `utterance` best, among those whose tools are offered (nil: all).
    func best(for utterance: Utterance, offered: Set<String>? = nil) -> (any OfflineIntent, IntentMatch)? {
        intents.filter { intent in offered.map { intent.isAvailable(offered: $0) } ?? true }
            .compactMap { intent in intent.match(utterance).map { (intent, $0) } }.max { $0.1.score < $1.1.score }
    }

    static func observations(in messages: ArraySlice<ModelMessage>) -> [ToolObservation] {
        var calls: [String: (String, JSONValue)] = [:]
        var out: [ToolObservation] = []
        for message in messages {
            for block in message.content {
                switch block {
                case .toolCall(let id, let name, let arguments):
                    calls[id] = (name, (try? JSONValue.parse(arguments)) ?? .object([:]))
                case .toolResult(let callID, let content, let isError):
                    guard let (name, input) = calls[callID] else { continue }
                    let output = (try? JSONValue.parse(content)) ?? .string(content)
                    out.append(ToolObservation(tool: name, input: input, output: output, isError: isError))
                case .text:
                    continue
                }
            }
        }
        return out
    }

    func fallback() -> String {
        Self.capabilityText(intents: intents, intro: "I'm running without an AI model, so I can only handle these requests:")
            + "\n\nTo let me answer anything else, configure a model: set ANTHROPIC_API_KEY, or OPENAI_API_KEY (with OPENAI_BASE_URL for any OpenAI-compatible server such as Ollama or vLLM), and restart Parley."
    }

    static func capabilityText(intents: [any OfflineIntent], intro: String) -> String {
        var lines = [intro]
        // The hand-back intent answers a marker, never a person: it is not a capability.
        for intent in intents where !(intent is HandbackIntent) {
            let example = intent.examples.first.map { " (e.g. \"\($0)\")" } ?? ""
            lines.append("- \(intent.summary)\(example)")
        }
        return lines.joined(separator: "\n")
    }
}

/// "help", "what can you do": lists the requests the planner understands.
struct HelpIntent: OfflineIntent {
    let name = "help"
    let summary = "Explain what I can do"
    let examples = ["help", "what can you do?"]

    func match(_ u: Utterance) -> IntentMatch? {
        if u.words == ["help"] || u.words == ["hi"] || u.words == ["hello"] { return IntentMatch(score: 1) }
        if u.contains("what can you do") || u.contains("how do i use") || u.has("help") { return IntentMatch(score: 0.6) }
        return nil
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        .answer(OfflinePlanner.capabilityText(intents: turn.intents, intro: "Here is what I can do for you:"))
    }
}

/// "which tools do you have": lists the tools this caller may use, flagging side effects.
struct CapabilitiesIntent: OfflineIntent {
    let name = "capabilities"
    let summary = "List the tools available to you"
    let examples = ["which tools can you use?"]

    func match(_ u: Utterance) -> IntentMatch? {
        if u.hasAny(["tools", "capabilities", "capability"]) { return IntentMatch(score: 0.7) }
        return nil
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard !turn.availableTools.isEmpty else { return .answer("No tools are available to your role.") }
        let lines = turn.availableTools.map { "- \($0.name): \($0.description)" }
        return .answer("These tools are available to you:\n" + lines.joined(separator: "\n"))
    }
}
