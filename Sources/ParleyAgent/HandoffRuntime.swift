import Foundation
import Logging
import ParleyCore
import ParleyStorage
import SQLKit

// The runtime's side of hand-offs (issue 12) and session memory.

extension AgentRuntime {
    /// The rule the customer's latest message fires, with their earlier messages for repeats.
    func customerEscalation(_ state: RunState) -> Escalation? {
        let userTexts = state.messages.filter { $0.role == .user }.map { m in
            m.content.compactMap { if case .text(let t) = $0 { t } else { nil } }.joined(separator: "\n")
        }
        guard let last = userTexts.last, !last.isEmpty else { return nil }
        return settings.escalationRules.evaluate(last, earlier: Array(userTexts.dropLast()))
    }

    /// After a turn's tools ran: the model asked for a person, or searches found nothing relevant
    /// too often in this session.
    func toolEscalation(_ run: RunHandle, state: inout RunState) async throws -> Escalation? {
        guard let results = state.messages.last, results.role == .tool else { return nil }
        var calls: [String: (name: String, arguments: String)] = [:]
        for message in state.messages.reversed() where message.role == .assistant {
            for case .toolCall(let id, let name, let arguments) in message.content { calls[id] = (name, arguments) }
            break
        }
        var outputs: [String] = []
        for case .toolResult(let callID, let content, let isError) in results.content where !isError {
            guard let call = calls[callID] else { continue }
            if call.name == EscalationRules.toolName {
                let input = (try? JSONValue.parse(call.arguments)) ?? [:]
                return Escalation(trigger: EscalationRules.toolName, reason: input["reason"]?.stringValue ?? "The assistant asked for a person",
                                  summary: input["summary"]?.stringValue)
            }
            outputs.append(content)
        }
        let found = EscalationRules.noRelevantResults(outputs)
        guard found > 0 else { return nil }
        let count: Int
        if let sessionID = run.sessionID {
            let tenantID = run.tenantID
            count = try await store.transaction { [handoffs] db in try await handoffs.addNoResults(tenantID: tenantID, sessionID: sessionID, found, on: db) }
        } else {
            count = (state.noResults ?? 0) + found
            state.noResults = count
        }
        let limit = settings.escalationRules.noResultsLimit
        guard count >= limit else { return nil }
        return Escalation(trigger: "no_relevant_results",
                          reason: "The knowledge search found nothing relevant \(count) times in this conversation")
    }

    /// Pauses the run for a person: records the hand-off, switches the session to `handed_off`,
    /// checkpoints the conversation (status `WAITING_HUMAN`) and emits `handoff`, in one
    /// transaction; staff are notified in it too.
    func handOff(_ run: RunHandle, state: inout RunState, _ escalation: Escalation) async throws {
        let now = clock.now()
        state.handoffs = (state.handoffs ?? 0) + 1
        state.elapsedMilliseconds += (ContinuousClock.now - run.started).milliseconds
        let handoff = Handoff(
            id: UUIDv7.make(at: now), tenantID: run.tenantID, sessionID: run.sessionID, workflowID: run.workflowID, state: .open,
            trigger: escalation.trigger, reason: String(escalation.reason.prefix(500)),
            summary: (escalation.summary?.isEmpty == false ? escalation.summary : Memory.staffSummary(state.messages)).map { String($0.prefix(4000)) },
            claimedBy: nil, claimedAt: nil, returnedBy: nil, returnedAt: nil, note: nil, createdAt: now, updatedAt: now)
        let snapshot = state
        let fields: [String: JSONValue] = [
            "handoff_id": .string(handoff.id), "reason": .string(handoff.reason), "trigger": .string(handoff.trigger),
            "summary": handoff.summary.map { JSONValue.string($0) } ?? .null,
            "session_id": run.sessionID.map { JSONValue.string($0) } ?? .null,
            "at": .string(Timestamps.format(now)), "message": .string(HandoffText.notice),
        ]
        let notifier = settings.handoffNotifier
        let logger = self.logger
        try await run.recorder.emit(EventType.handoff, fields) { [repo, handoffs] db in
            try await handoffs.insert(handoff, on: db)
            if let sessionID = handoff.sessionID {
                try await handoffs.setSessionMode(tenantID: handoff.tenantID, sessionID: sessionID, mode: .handedOff, at: now, on: db)
            }
            try await repo.saveProgress(tenantID: handoff.tenantID, id: handoff.workflowID, status: .waitingHuman, state: snapshot, at: now, on: db)
            do {
                try await notifier?.handoffOpened(handoff, on: db)
            } catch {
                // The hand-off matters more than its email: it is recorded either way.
                logger.warning("could not queue the hand-off notice", metadata: ["handoff_id": "\(handoff.id)", "error": "\(error)"])
            }
        }
    }

    /// The new summary of the session's older turns (by the model when one is configured,
    /// extractively otherwise), stored on the session; the previous one if anything fails.
    func summarise(_ run: RunHandle, _ memory: MemoryUpdate) async -> String? {
        var summary: String?
        if let model = summaryModel {
            summary = await Memory.modelSummary(model, previous: memory.previous, messages: memory.messages, toolResults: memory.toolResults)
        }
        let text = summary ?? Memory.extractive(previous: memory.previous, messages: memory.messages, toolResults: memory.toolResults)
        guard let sessionID = run.sessionID, let through = memory.messages.last?.id else { return memory.previous }
        let tenantID = run.tenantID
        let now = clock.now()
        do {
            try await store.transaction { [handoffs] db in
                try await handoffs.saveSummary(tenantID: tenantID, sessionID: sessionID, summary: text, through: through, at: now, on: db)
            }
        } catch {
            logger.warning("could not store the session summary", metadata: ["session_id": "\(sessionID)", "error": "\(error)"])
        }
        return text
    }
}

/// Turns to fold into a session's summary before a run.
struct MemoryUpdate: Sendable {
    var previous: String?
    var messages: [SessionMessage]
    /// Outputs of the tools those turns' runs used (tool name, output text), oldest first.
    var toolResults: [(tool: String, output: String)]
}

/// Session memory: summaries of the turns that no longer fit the history budget.
enum Memory {
    static let maxCharacters = 2000

    /// The language models of a provider chain, without the offline planner.
    static func languageModel(_ provider: any ModelProvider) -> (any ModelProvider)? {
        if provider is OfflinePlanner { return nil }
        if let chain = provider as? FailoverProvider {
            let models = chain.providers.filter { !($0 is OfflinePlanner) }
            if models.isEmpty { return nil }
            return models.count == chain.providers.count ? chain : (models.count == 1 ? models[0] : FailoverProvider(providers: models))
        }
        return provider
    }

    static func speaker(_ role: SessionMessage.Role) -> String {
        switch role {
        case .user: "Customer"
        case .assistant: "Assistant"
        case .staff: "Staff"
        }
    }

    static func modelSummary(_ model: any ModelProvider, previous: String?, messages: [SessionMessage],
                             toolResults: [(tool: String, output: String)]) async -> String? {
        var transcript = previous.map { "Earlier summary:\n\($0)\n\n" } ?? ""
        transcript += messages.map { "\(speaker($0.role)): \($0.content.prefix(4000))" }.joined(separator: "\n")
        if !toolResults.isEmpty {
            transcript += "\n\nTool results:\n" + toolResults.suffix(20).map { "- \($0.tool): \($0.output.prefix(500))" }.joined(separator: "\n")
        }
        let request = ModelRequest(
            system: """
                You write the memory of a customer conversation for the assistant that continues it. Summarise the transcript: \
                the questions asked, the facts given (names, numbers, order or case ids, dates), what tools returned, and what was \
                decided or promised. At most 150 words, plain text, no preamble.
                """,
            messages: [.user(transcript)], tools: [], maxTokens: 400)
        var text = ""
        do {
            for try await event in model.stream(request) {
                if case .textDelta(let t) = event { text += t }
            }
        } catch {
            return nil
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : String(trimmed.prefix(maxCharacters))
    }

    /// Key sentences: the customer's questions and the facts they gave, the first sentence of each
    /// answer (and any with numbers), and short tool results; the oldest lines go first when long.
    static func extractive(previous: String?, messages: [SessionMessage], toolResults: [(tool: String, output: String)]) -> String {
        var lines: [String] = previous.map { $0.split(separator: "\n").map(String.init) } ?? []
        for message in messages {
            let sentences = Self.sentences(message.content)
            switch message.role {
            case .user:
                for s in sentences where s.hasSuffix("?") { lines.append("Customer asked: \(s)") }
                for s in sentences where !s.hasSuffix("?") && Self.isFact(s) { lines.append("Customer said: \(s)") }
            case .assistant, .staff:
                var picked = sentences.prefix(1).map { $0 }
                picked += sentences.dropFirst().filter { $0.contains(where: \.isNumber) }.prefix(2)
                for s in picked { lines.append("\(speaker(message.role)) said: \(s)") }
            }
        }
        for result in toolResults.suffix(10) {
            lines.append("Tool \(result.tool) returned: \(result.output.prefix(200))")
        }
        var text = lines.joined(separator: "\n")
        while text.count > maxCharacters, !lines.isEmpty {
            lines.removeFirst()
            text = lines.joined(separator: "\n")
        }
        return text
    }

    static func sentences(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        for ch in text {
            current.append(ch)
            if ch == "." || ch == "?" || ch == "!" || ch == "\n" {
                let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if s.count > 1 { out.append(String(s.prefix(240))) }
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if rest.count > 1 { out.append(String(rest.prefix(240))) }
        return out
    }

    /// A sentence that gives a fact: a number, an address, or the customer speaking of themselves.
    static func isFact(_ s: String) -> Bool {
        let lower = " " + s.lowercased() + " "
        return s.contains(where: \.isNumber) || s.contains("@")
            || [" my ", " i am ", " i'm ", " i have ", " i've ", " we ", " our "].contains { lower.contains($0) }
    }

    /// What staff read first in the inbox when the model gave no summary: the customer's last words.
    static func staffSummary(_ messages: [ModelMessage]) -> String? {
        let texts = messages.filter { $0.role == .user }.suffix(3).map { m in
            m.content.compactMap { if case .text(let t) = $0 { t } else { nil } }.joined(separator: " ")
        }.filter { !$0.isEmpty }
        return texts.isEmpty ? nil : "The customer wrote: " + texts.map { "\"\($0.prefix(300))\"" }.joined(separator: " … ")
    }
}
