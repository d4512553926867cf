import Foundation
import Logging
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization

public struct AgentSettings: Sendable {
    public var maxIterations: Int = 10
    /// How long one stretch of a run may take (a run paused for approval gets a new budget).
    public var runTimeout: Duration = .seconds(300)
    /// Approximate tokens of session history sent to the model.
    public var contextTokenBudget: Int = 8000
    public var maxMessageCharacters: Int = 32_000
    public var heartbeatInterval: Duration = .seconds(30)
    public var streamBuffer: Int = 1000
    public var maxOutputTokens: Int = 2048
    public var agentType: String = "ParleyAgent"
    public var systemPrompt: String = """
        You are Parley, an assistant for the staff and customers of a business. Use the tools to look \
        things up and act; never invent data a tool could give you. Be concise, and say plainly when \
        you cannot do something.
        """
    /// Per-tenant instructions appended to `systemPrompt` (packs keep theirs as tenant-editable
    /// data); nil or empty adds nothing.
    public var tenantInstructions: (@Sendable (_ tenantID: String) async -> String?)?
    /// Tools a tenant cannot use at all (those of the packs it switched off): never offered,
    /// refused if called, left out of `/v1/tools`.
    public var unavailableTools: (@Sendable (_ tenantID: String) async throws -> Set<String>)?
    /// Tools a tenant has beyond the installation's (those of its MCP servers, `server__tool`):
    /// offered, policed and executed like the others for that tenant's runs.
    public var extraTools: (@Sendable (_ tenantID: String) async throws -> [Tool])?
    /// Whether a name not (yet) among `extraTools` may still be one of the tenant's (a tool of a
    /// registered MCP server not discovered yet): agent definitions may list it.
    public var isTenantToolName: (@Sendable (_ tenantID: String, _ name: String) async throws -> Bool)?
    /// When the runtime hands a conversation to a person without the model asking (issue 12).
    public var escalationRules: EscalationRules = .standard
    /// Tells staff about a new hand-off (an email through the communications engine).
    public var handoffNotifier: (any HandoffNotifier)?

    public init() {}
}

/// What the server reports about agent work; the server implements it with Prometheus.
public protocol AgentMetrics: Sendable {
    func workflowFinished(status: WorkflowStatus, duration: Duration)
    func toolExecuted(tool: String, outcome: String, duration: Duration)
    func modelCalled(provider: String, outcome: String, duration: Duration)
    func tokensUsed(provider: String, input: Int, output: Int)
}

/// Why a run stopped early, for the user (`workflow_error`) and the status.
struct RunFailure: Error, Sendable {
    var type: String
    var message: String
    var suggestion: String?
    var status: WorkflowStatus = .failed

    static let cancelled = RunFailure(type: "cancelled", message: "The run was cancelled", suggestion: nil, status: .cancelled)
    static let deadline = RunFailure(type: "timeout", message: "The request took too long and was stopped",
                                     suggestion: "Please try again; split the request into smaller ones if it keeps happening")
    static let interrupted = RunFailure(type: "interrupted", message: "The server stopped while this request was running",
                                        suggestion: "Please send the request again")
    static func iterationLimit(_ n: Int) -> RunFailure {
        RunFailure(type: "iteration_limit", message: "The agent stopped after \(n) model turns without reaching an answer",
                   suggestion: "Rephrase the request more specifically")
    }

    /// Maps any error to what the user may see. Details (hosts, statuses, stack) stay in the log.
    static func classify(_ error: any Error) -> RunFailure {
        if let failure = error as? RunFailure { return failure }
        if let p = error as? ProviderError {
            switch p {
            case .overloaded:
                return RunFailure(type: "overloaded", message: "The AI service is currently overloaded", suggestion: "Please try again in a few moments")
            case .rateLimited:
                return RunFailure(type: "rate_limited", message: "The AI service is receiving too many requests", suggestion: "Please wait a minute and try again")
            case .timeout:
                return RunFailure(type: "timeout", message: "Request timed out", suggestion: "Please try again")
            case .invalidRequest:
                return RunFailure(type: "invalid_request", message: "The AI service could not process this request", suggestion: "Rephrase or shorten the message and try again")
            case .authentication:
                return RunFailure(type: "configuration", message: "The AI service rejected Parley's credentials", suggestion: "Ask an administrator to check the model provider settings")
            case .server, .transport, .malformedStream, .unavailable:
                return RunFailure(type: "provider_unavailable", message: "The AI service is unavailable", suggestion: "Please try again in a few moments")
            }
        }
        if error is CancellationError { return .cancelled }
        return RunFailure(type: "internal", message: "Something went wrong while running the agent", suggestion: "Please try again")
    }
}

/// A run being executed in this process: its task and why it might be stopped.
final class ActiveRun: Sendable {
    enum StopReason: Sendable { case cancelled, deadline, shutdown }
    let stopReason = Mutex<StopReason?>(nil)
    let task = Mutex<Task<Void, Never>?>(nil)

    func stop(_ reason: StopReason) {
        stopReason.withLock { if $0 == nil { $0 = reason } }
        task.withLock { $0 }?.cancel()
    }
}

/// Executes runs: the tool-calling loop, approvals, checkpoints and events.
public final class AgentRuntime: Sendable {
    let store: any Store
    let clock: any Clock
    public let hub: EventHub
    let writer: EventWriter
    let provider: any ModelProvider
    let tools: ToolRegistry
    let services: ToolServices
    let settings: AgentSettings
    let metrics: any AgentMetrics
    let logger: Logger
    let repo = AgentRepository()
    let handoffs = HandoffRepository()
    /// The language models without the offline planner, for session summaries; nil when none is configured.
    let summaryModel: (any ModelProvider)?
    let executor = ToolExecutor()
    private let active = Mutex<[String: ActiveRun]>([:])

    public init(store: any Store, clock: any Clock, hub: EventHub, provider: any ModelProvider, tools: ToolRegistry,
                settings: AgentSettings, metrics: any AgentMetrics, logger: Logger, services: ToolServices = ToolServices()) {
        self.services = services
        self.store = store
        self.clock = clock
        self.hub = hub
        self.writer = EventWriter(store: store, hub: hub)
        self.provider = provider
        self.summaryModel = Memory.languageModel(provider)
        self.tools = tools
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    public var activeRuns: Int { active.withLock { $0.count } }

    /// The installation's tools and the tenant's own (its MCP servers'), by name.
    public func tools(tenantID: String) async throws -> ToolRegistry {
        guard let extra = settings.extraTools else { return tools }
        return tools.adding(try await extra(tenantID))
    }

    /// Starts (or resumes) executing a run in the background; returns at once.
    func launch(_ run: RunHandle, state: RunState) {
        let control = ActiveRun()
        active.withLock { $0[run.workflowID] = control }
        let task = Task {
            let deadline = Task {
                try await Task.sleep(for: state.agent?.maxExecutionSeconds.map { Duration.seconds($0) } ?? self.settings.runTimeout)
                control.stop(.deadline)
            }
            await self.execute(run, state: state, control: control)
            deadline.cancel()
            _ = self.active.withLock { $0.removeValue(forKey: run.workflowID) }
        }
        control.task.withLock { $0 = task }
    }

    /// Stops a run executing in this process; returns once it has recorded its end.
    func stopLocal(_ workflowID: String) async -> Bool {
        guard let control = active.withLock({ $0[workflowID] }) else { return false }
        control.stop(.cancelled)
        await control.task.withLock { $0 }?.value
        return true
    }

    /// At shutdown: gives runs in progress `grace` to finish, then stops the rest, which record
    /// themselves as interrupted so their users know to ask again.
    public func shutdown(grace: Duration = .seconds(10)) async {
        let stopper = Task {
            try await Task.sleep(for: grace)
            for control in self.active.withLock({ Array($0.values) }) { control.stop(.shutdown) }
        }
        let tasks = active.withLock { $0.values.compactMap { $0.task.withLock { $0 } } }
        for task in tasks { await task.value }
        stopper.cancel()
    }

    private func execute(_ run: RunHandle, state initial: RunState, control: ActiveRun) async {
        var state = initial
        let started = ContinuousClock.now
        if let memory = run.memory { state.summary = await summarise(run, memory) }
        do {
            let outcome = try await loop(run, state: &state)
            switch outcome {
            case .completed(let answer):
                try await complete(run, state: state, answer: answer, duration: ContinuousClock.now - started,
                                   executed: .milliseconds(state.elapsedMilliseconds) + (ContinuousClock.now - started))
            case .paused:
                break
            }
        } catch {
            var failure = RunFailure.classify(error)
            if error is CancellationError || Task.isCancelled {
                switch control.stopReason.withLock({ $0 }) {
                case .deadline?: failure = .deadline
                case .shutdown?: failure = .interrupted
                default: failure = .cancelled
                }
            }
            if failure.type == "internal" {
                logger.error("agent run failed", metadata: ["workflow_id": "\(run.workflowID)", "request_id": "\(run.owner.requestID ?? "-")", "error": "\(String(reflecting: error))"])
            } else {
                logger.notice("agent run stopped", metadata: ["workflow_id": "\(run.workflowID)", "error_type": "\(failure.type)", "error": "\(error)"])
            }
            await fail(run, state: state, failure: failure, duration: ContinuousClock.now - started)
        }
    }

    enum LoopOutcome { case completed(String), paused }

    private func loop(_ run: RunHandle, state: inout RunState) async throws -> LoopOutcome {
        let hidden = try await settings.unavailableTools?(run.tenantID) ?? []
        let tools = try await self.tools(tenantID: run.tenantID)
        let available = tools.available(to: run.owner.role).filter { !hidden.contains($0.name) }
        var policies = try await store.read { [repo] db in try await repo.policies(tenantID: run.tenantID, on: db) }
        // An agent's allow-list and approval overrides come before the tenant's policy; pack switches before both.
        if let agent = state.agent { policies = agent.policies(over: policies, registered: tools.order) }
        for name in hidden { policies[name] = .disabled }
        let maxIterations = state.agent?.maxIterations ?? settings.maxIterations
        if !state.pending.isEmpty {
            try await finishTurn(run, state: &state, tools: tools, policies: policies)
        }
        // Hand-off rules on the customer's words, before the model answers (once per run).
        if state.iteration == 0, (state.handoffs ?? 0) == 0, let escalation = customerEscalation(state) {
            try await handOff(run, state: &state, escalation)
            return .paused
        }
        while true {
            try Task.checkCancellation()
            // The flag is for runs stopped from another replica; a fresh run cannot have it yet.
            if state.iteration > 0, try await store.read({ [repo] db in try await repo.cancelRequested(id: run.workflowID, on: db) }) {
                throw RunFailure.cancelled
            }
            guard state.iteration < maxIterations else { throw RunFailure.iterationLimit(maxIterations) }
            state.iteration += 1

            let turn = try await callModel(run, state: &state, tools: available.filter { policies[$0.name] != .disabled })
            if turn.calls.isEmpty { return .completed(turn.text) }

            var assistant: [ContentBlock] = turn.text.isEmpty ? [] : [.text(turn.text)]
            assistant += turn.calls.map { .toolCall(id: $0.id, name: $0.name, arguments: $0.arguments) }
            state.messages.append(ModelMessage(role: .assistant, content: assistant))
            let thought = !turn.thinking.isEmpty ? turn.thinking : !turn.text.isEmpty ? turn.text
                : "Using \(turn.calls.map(\.name).joined(separator: ", "))"

            var steps: [(type: String, fields: [String: JSONValue])] = []
            for call in turn.calls {
                state.stepNumber += 1
                let stepID = UUIDv7.make(at: clock.now())
                state.pending.append(PendingCall(callID: call.id, tool: call.name, arguments: call.arguments, stepID: stepID))
                steps.append((EventType.reasoningStep, [
                    "step_id": .string(stepID), "thought": .string(thought), "action": .string(call.name),
                    "action_input": (try? JSONValue.parse(call.arguments)) ?? .string(call.arguments),
                    "step_number": .number(Double(state.stepNumber)),
                ]))
            }
            if try await requestApprovals(run, state: &state, tools: tools, policies: policies, steps: steps) { return .paused }
            try await finishTurn(run, state: &state, tools: tools, policies: policies, announce: steps)
            if let escalation = try await toolEscalation(run, state: &state) {
                try await handOff(run, state: &state, escalation)
                return .paused
            }
        }
    }

    struct ModelTurn { var text = ""; var thinking = ""; var calls: [ToolCall] = [] }

    private func callModel(_ run: RunHandle, state: inout RunState, tools available: [Tool]) async throws -> ModelTurn {
        var system = settings.systemPrompt
        if let own = state.agent?.systemPrompt {
            system = own
        } else if let extra = await settings.tenantInstructions?(run.tenantID), !extra.isEmpty {
            system += "\n\n" + extra
        }
        if let summary = state.summary, !summary.isEmpty {
            system += "\n\nSummary of the earlier conversation (those turns are not repeated below):\n" + summary
        }
        if let note = state.handbackNote, !note.isEmpty {
            system += "\n\nA person on the team handed this conversation back to you with this note: " + note
        }
        let request = ModelRequest(system: system, messages: state.messages, tools: available.map(\.definition),
                                   maxTokens: state.agent?.maxTokens ?? settings.maxOutputTokens, model: state.agent?.model,
                                   audience: run.owner.role == .customer ? .customer : .staff)
        let provider = try self.provider(for: state.agent)
        var turn = ModelTurn()
        var answered = provider.name
        let started = ContinuousClock.now
        do {
            for try await event in provider.stream(request) {
                switch event {
                case .provider(let name):
                    answered = name
                case .textDelta(let text):
                    turn.text += text
                    run.recorder.emitStreaming(EventType.textDelta, ["text": JSONValue.string(text)])
                case .thinkingDelta(let text):
                    turn.thinking += text
                    run.recorder.emitStreaming(EventType.agentThinking, ["thought": JSONValue.string(text)])
                case .toolCall(let call):
                    turn.calls.append(call)
                case .usage(let input, let output):
                    state.inputTokens += input
                    state.outputTokens += output
                    metrics.tokensUsed(provider: answered, input: input, output: output)
                case .stop:
                    break
                }
            }
            // A cancelled consumer sees the stream simply end: that is not an answer.
            try Task.checkCancellation()
        } catch {
            metrics.modelCalled(provider: answered, outcome: Self.outcomeLabel(error), duration: ContinuousClock.now - started)
            state.answer = turn.text
            throw error
        }
        metrics.modelCalled(provider: answered, outcome: "success", duration: ContinuousClock.now - started)
        state.provider = answered
        state.answer = turn.text
        return turn
    }

    /// The provider an agent names (one of the configured chain, without failover), or the chain.
    func provider(for agent: AgentRunConfig?) throws -> any ModelProvider {
        guard let name = agent?.provider else { return provider }
        let candidates = (provider as? FailoverProvider)?.providers ?? [provider]
        if let match = candidates.first(where: { $0.name == name }) { return match }
        throw RunFailure(type: "configuration", message: "This agent uses the model provider '\(name)', which this server does not have configured",
                         suggestion: "Ask an administrator to configure that provider or to change the agent's model")
    }

    static func outcomeLabel(_ error: any Error) -> String {
        switch error as? ProviderError {
        case .overloaded?: "overloaded"
        case .rateLimited?: "rate_limited"
        case .timeout?: "timeout"
        case nil: error is CancellationError ? "cancelled" : "error"
        default: "error"
        }
    }

    /// Creates approvals for calls the tenant's policy holds back. Returns true if the run paused.
    private func requestApprovals(_ run: RunHandle, state: inout RunState, tools: ToolRegistry, policies: [String: ToolPolicyMode],
                                  steps: [(type: String, fields: [String: JSONValue])]) async throws -> Bool {
        let now = clock.now()
        var approvals: [Approval] = []
        for i in state.pending.indices where state.pending[i].result == nil {
            guard let tool = tools[state.pending[i].tool],
                  (policies[tool.name] ?? ToolPolicyMode.default(for: tool)) == .requireApproval else { continue }
            let input = (try? JSONValue.parse(state.pending[i].arguments)) ?? .string(state.pending[i].arguments)
            // Invalid input is rejected without bothering a human.
            guard JSONSchemaValidator.validate(input, against: tool.inputSchema).isEmpty else { continue }
            let approval = Approval(
                id: UUIDv7.make(at: now), tenantID: run.tenantID, workflowID: run.workflowID, callID: state.pending[i].callID,
                tool: tool.name, input: input,
                reason: tool.hasSideEffects ? "\(tool.name) changes data; this workspace requires approval before it runs"
                    : "this workspace requires approval before \(tool.name) runs",
                status: .pending, comment: nil, decidedBy: nil, createdAt: now, decidedAt: nil)
            state.pending[i].approvalID = approval.id
            approvals.append(approval)
        }
        guard !approvals.isEmpty else { return false }
        try await run.recorder.emit(steps)
        state.elapsedMilliseconds += (ContinuousClock.now - run.started).milliseconds
        // Calls that need no approval run now; their results wait in the checkpoint.
        try await runCalls(run, state: &state, tools: tools, policies: policies, only: { $0.approvalID == nil })
        let snapshot = state
        let created = approvals
        let items = approvals.map { a -> (type: String, fields: [String: JSONValue]) in
            (EventType.approvalRequired, ["approval_id": .string(a.id), "tool": .string(a.tool), "input": a.input,
                                          "reason": .string(a.reason), "call_id": .string(a.callID)])
        }
        try await run.recorder.emit(items) { [repo, clock] (db: any SQLDatabase) in
            for a in created { try await repo.insertApproval(a, on: db) }
            try await repo.saveProgress(tenantID: run.tenantID, id: run.workflowID, status: .waitingApproval, state: snapshot, at: clock.now(), on: db)
        }
        return true
    }

    /// Runs the turn's remaining calls (approved ones included), answers denied ones, and hands
    /// every result to the model in one message.
    private func finishTurn(_ run: RunHandle, state: inout RunState, tools: ToolRegistry, policies: [String: ToolPolicyMode],
                            announce: [(type: String, fields: [String: JSONValue])] = []) async throws {
        let awaitingDecision = state.pending.contains { $0.approvalID != nil && $0.result == nil }
        let decided = awaitingDecision
            ? try await store.read { [repo] db in try await repo.approvals(tenantID: run.tenantID, workflowID: run.workflowID, on: db) }
            : []
        let byID = Dictionary(decided.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var denied: [(type: String, fields: [String: JSONValue])] = []
        for i in state.pending.indices where state.pending[i].result == nil {
            guard let approvalID = state.pending[i].approvalID, let approval = byID[approvalID], approval.status == .denied else { continue }
            let comment = approval.comment.map { " Their comment: \($0)" } ?? ""
            state.pending[i].result = "Error: a person denied this action, so it was not performed.\(comment)"
            state.pending[i].isError = true
            denied.append((EventType.toolEnd, ["step_id": .string(state.pending[i].stepID), "tool": .string(state.pending[i].tool),
                                               "call_id": .string(state.pending[i].callID), "output": .string(state.pending[i].result ?? ""),
                                               "success": false, "duration_ms": 0, "status": "denied"]))
        }
        if !denied.isEmpty { try await run.recorder.emit(denied) }
        try await runCalls(run, state: &state, tools: tools, policies: policies, announce: announce, only: { _ in true })

        state.messages.append(ModelMessage(role: .tool, content: state.pending.map {
            .toolResult(callID: $0.callID, content: $0.result ?? "Error: no result", isError: $0.isError ?? true)
        }))
        for call in state.pending where !state.toolsUsed.contains(call.tool) { state.toolsUsed.append(call.tool) }
        state.pending = []
    }

    /// Executes the pending calls without a result that `only` selects, concurrently.
    private func runCalls(_ run: RunHandle, state: inout RunState, tools: ToolRegistry, policies: [String: ToolPolicyMode],
                          announce: [(type: String, fields: [String: JSONValue])] = [], only: (PendingCall) -> Bool) async throws {
        let todo = state.pending.indices.filter { state.pending[$0].result == nil && only(state.pending[$0]) }
        guard !todo.isEmpty else {
            if !announce.isEmpty { try await run.recorder.emit(announce) }
            return
        }
        try await run.recorder.emit(announce + todo.map { i in
            let call = state.pending[i]
            return (EventType.toolStart, ["step_id": .string(call.stepID), "tool": .string(call.tool), "call_id": .string(call.callID),
                                          "input": (try? JSONValue.parse(call.arguments)) ?? .string(call.arguments)])
        })
        let context = ToolContext(action: ActionContext(principal: run.principal, requestID: run.owner.requestID), workflowID: run.workflowID,
                                  store: store, clock: clock, services: services, knowledgeCollections: state.agent?.knowledgeCollections ?? [])
        let calls = todo.map { state.pending[$0] }
        let results = try await withThrowingTaskGroup(of: (Int, ToolOutcome).self) { group in
            for (n, call) in calls.enumerated() {
                group.addTask { [self] in
                    var outcome: ToolOutcome
                    if policies[call.tool] == .disabled {
                        outcome = ToolOutcome(status: .denied, output: .string("Error: this tool is not available here (disabled in this workspace or not among this agent's tools)."), duration: .zero)
                    } else {
                        // Only tools the run's owner may use run, whatever the model asks for.
                        let tool = tools[call.tool].flatMap { run.owner.role.allows($0.permission) ? $0 : nil }
                        outcome = try await executor.execute(tool, name: call.tool, arguments: call.arguments, context: context)
                    }
                    metrics.toolExecuted(tool: tools[call.tool] == nil ? "unknown" : call.tool, outcome: outcome.status.rawValue, duration: outcome.duration)
                    try await run.recorder.emit([(EventType.toolEnd, [
                        "step_id": .string(call.stepID), "tool": .string(call.tool), "call_id": .string(call.callID),
                        "output": outcome.output, "success": .bool(outcome.succeeded), "status": .string(outcome.status.rawValue),
                        "duration_ms": .number(Double(outcome.duration.milliseconds)),
                    ])] + Self.citations(in: outcome, call: call))
                    return (n, outcome)
                }
            }
            var out: [(Int, ToolOutcome)] = []
            for try await r in group { out.append(r) }
            return out
        }
        for (n, outcome) in results {
            let i = todo[n]
            state.pending[i].result = outcome.modelContent
            state.pending[i].isError = !outcome.succeeded
        }
    }

    /// A `citation` event for each entry of a successful tool output's `citations` array (any
    /// tool that cites sources: the entry's fields, with the call that produced it).
    static func citations(in outcome: ToolOutcome, call: PendingCall) -> [(type: String, fields: [String: JSONValue])] {
        guard outcome.succeeded, let list = outcome.output["citations"]?.arrayValue else { return [] }
        return list.compactMap { entry in
            guard var fields = entry.objectValue else { return nil }
            fields["step_id"] = .string(call.stepID)
            fields["tool"] = .string(call.tool)
            fields["call_id"] = .string(call.callID)
            return (EventType.citation, fields)
        }
    }

    private func complete(_ run: RunHandle, state: RunState, answer: String, duration: Duration, executed: Duration) async throws {
        let now = clock.now()
        let tenantID = run.tenantID
        let message = run.sessionID.map {
            SessionMessage(id: UUIDv7.make(at: now), tenantID: tenantID, sessionID: $0, workflowID: run.workflowID,
                           role: .assistant, content: answer, createdAt: now)
        }
        let usage: JSONValue = ["input_tokens": .number(Double(state.inputTokens)), "output_tokens": .number(Double(state.outputTokens))]
        let fields: [String: JSONValue] = [
            "final_response": .string(answer), "total_steps": .number(Double(state.stepNumber)),
            "execution_time_ms": .number(Double(executed.milliseconds)),
            "tools_used": .array(state.toolsUsed.map { JSONValue.string($0) }),
            "provider": state.provider.map { JSONValue.string($0) } ?? .null,
            "usage": usage,
        ]
        try await run.recorder.emit(EventType.workflowCompleted, fields) { [repo] db in
            try await repo.finish(tenantID: tenantID, id: run.workflowID, status: .completed, state: state, finalResponse: answer,
                                  errorType: nil, errorMessage: nil, at: now, on: db)
            if let message { try await repo.appendMessage(message, on: db) }
        }
        metrics.workflowFinished(status: .completed, duration: duration)
    }

    private func fail(_ run: RunHandle, state: RunState, failure: RunFailure, duration: Duration) async {
        let now = clock.now()
        let tenantID = run.tenantID
        let fields: [String: JSONValue] = [
            "error_message": .string(failure.message), "error_type": .string(failure.type),
            "recovery_suggestion": failure.suggestion.map { JSONValue.string($0) } ?? .null,
            "partial_response": state.answer.isEmpty ? JSONValue.null : JSONValue.string(state.answer),
            "status": .string(failure.status.rawValue),
        ]
        do {
            // Recording the end must not be skipped because the run's task was cancelled.
            try await Task.detached { [repo] in
                try await run.recorder.emit(EventType.workflowError, fields) { (db: any SQLDatabase) in
                    try await repo.finish(tenantID: tenantID, id: run.workflowID, status: failure.status, state: state, finalResponse: nil,
                                          errorType: failure.type, errorMessage: failure.message, at: now, on: db)
                }
            }.value
        } catch {
            logger.error("could not record the end of an agent run", metadata: ["workflow_id": "\(run.workflowID)", "error": "\(String(reflecting: error))"])
        }
        metrics.workflowFinished(status: failure.status, duration: duration)
    }
}

/// The identity of a run being executed.
struct RunHandle: Sendable {
    var workflowID: String
    var tenantID: String
    var sessionID: String?
    var owner: RunOwner
    var recorder: RunRecorder
    /// When this stretch of execution began (a resumed run starts a new one).
    var started = ContinuousClock.now
    /// Session turns that fell out of the history window and are not yet in its summary.
    var memory: MemoryUpdate?

    var principal: Principal {
        Principal(tenantID: tenantID, keyID: owner.keyID, role: owner.role, actor: owner.actor)
    }
}
