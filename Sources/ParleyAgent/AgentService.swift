import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit
import Synchronization

/// What a live stream yields: run events, and heartbeats while nothing happens.
public enum StreamItem: Sendable, Equatable {
    case event(WorkflowEvent)
    case heartbeat(workflowID: String, lastSeq: Int, at: Date)
    /// The last item of a stream this process ends before the run does (it is shutting down):
    /// the viewer reconnects, to this server or another, after `lastSeq` (`Last-Event-ID`).
    case reconnect(workflowID: String, lastSeq: Int, at: Date)
}

public enum ApprovalDecision: String, Sendable, Codable { case approve, deny }

/// The agent as the API sees it: start runs, follow them, approve, cancel, read them back.
/// Every method takes the caller and only ever touches the caller's tenant.
public struct AgentService: Sendable {
    public let runtime: AgentRuntime
    let repo = AgentRepository()
    var store: any Store { runtime.store }
    var clock: any Clock { runtime.clock }
    var settings: AgentSettings { runtime.settings }

    public init(runtime: AgentRuntime) {
        self.runtime = runtime
    }

    // MARK: runs

    /// Records a new run and starts it in the background. The run goes on if the caller leaves.
    /// Without `agent`, the run uses the tenant's default agent (created on first use).
    public func start(_ ctx: ActionContext, message: String, sessionID: String?, agent: AgentDefinition? = nil) async throws -> Workflow {
        try await begin(ctx, message: message, sessionID: sessionID, agent: agent, follow: false).workflow
    }

    /// Starts a run and follows it from its first event. Subscribing before the run exists means
    /// the stream needs no store reads unless the viewer falls behind.
    public func startAndFollow(_ ctx: ActionContext, message: String, sessionID: String?, agent: AgentDefinition? = nil,
                               history: [ModelMessage] = []) async throws -> (Workflow, AsyncStream<StreamItem>) {
        let begun = try await begin(ctx, message: message, sessionID: sessionID, agent: agent, history: history, follow: true)
        guard let subscription = begun.subscription else { throw ParleyError(.internalError, code: "internal_error", "no subscription") }
        return (begun.workflow, stream(subscription, tenantID: ctx.principal.tenantID, workflowID: begun.workflow.id, after: begun.after, readFirst: begun.replay))
    }

    /// A run just started (or, in a handed-off session, the hand-off's run a message was added
    /// to) and where its stream starts for the caller.
    struct Begun {
        var workflow: Workflow
        var subscription: EventHub.Subscription?
        var after = 0
        var replay = false
    }

    private func begin(_ ctx: ActionContext, message: String, sessionID: String?, agent: AgentDefinition?, history prior: [ModelMessage] = [],
                       follow: Bool) async throws -> Begun {
        try ctx.principal.require(.converse)
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ParleyError.badRequest("the message is empty; send some text", code: "empty_message") }
        // HTTP bodies are checked when decoded; this also covers WebSocket messages.
        guard !text.contains("\u{0}") else {
            throw ParleyError.badRequest("the message contains a NUL character (\\u0000); remove it", code: "invalid_text")
        }
        guard text.count <= settings.maxMessageCharacters else {
            throw ParleyError.badRequest("the message has \(text.count) characters; the limit is \(settings.maxMessageCharacters)", code: "message_too_long")
        }
        let tenantID = ctx.principal.tenantID
        var history: [SessionMessage] = []
        var memory = SessionMemory()
        if let sessionID {
            try Self.validateID(sessionID, what: "session")
            let session: Session
            (session, history, memory) = try await store.read { [repo] db in
                guard let session = try await repo.findSession(tenantID: tenantID, id: sessionID, on: db) else {
                    throw ParleyError.notFound("session \(sessionID) not found", code: "session_not_found")
                }
                // A handed-off session's messages go to the people, not to a new run.
                if session.mode == .handedOff { return (session, [], SessionMemory()) }
                return (session, try await repo.recentMessages(tenantID: tenantID, sessionID: sessionID, limit: 200, on: db),
                        try await repo.memory(tenantID: tenantID, sessionID: sessionID, on: db))
            }
            if session.mode == .handedOff {
                return try await messageDuringHandoff(ctx, text: text, sessionID: sessionID, follow: follow)
            }
        }
        var definition = agent
        if definition == nil { definition = try await agents.defaultAgent(tenantID: tenantID) }
        let now = clock.now()
        let workflow = Workflow(
            id: UUIDv7.make(at: now), tenantID: tenantID, sessionID: sessionID, status: .processing, initialPrompt: text,
            finalResponse: nil, agentType: settings.agentType, provider: nil, errorType: nil, errorMessage: nil,
            inputTokens: 0, outputTokens: 0, totalSteps: 0, toolsUsed: [], createdAt: now, updatedAt: now, startedAt: now, completedAt: nil,
            agentID: definition?.id, agentVersion: definition?.version)
        let owner = RunOwner(actor: ctx.principal.actor, role: ctx.principal.role, keyID: ctx.principal.keyID, requestID: ctx.requestID)
        let recorder = RunRecorder(workflowID: workflow.id, tenantID: tenantID, lastSeq: 0, writer: runtime.writer, clock: clock)
        let subscription = follow ? runtime.hub.subscribe(workflow.id) : nil
        let userMessage = sessionID.map {
            SessionMessage(id: UUIDv7.make(at: now), tenantID: tenantID, sessionID: $0, workflowID: workflow.id, role: .user, content: text, createdAt: now)
        }
        let started: [String: JSONValue] = [
            "initial_prompt": .string(text), "agent_type": .string(settings.agentType),
            "session_id": sessionID.map { JSONValue.string($0) } ?? .null,
            "agent_id": definition.map { JSONValue.string($0.id) } ?? .null,
            "agent_version": definition.map { JSONValue.number(Double($0.version)) } ?? .null,
        ]
        do {
            try await recorder.emit(EventType.workflowStarted, started) { [repo] db in
                try await repo.insertWorkflow(workflow, owner: owner, on: db)
                if let userMessage { try await repo.appendMessage(userMessage, on: db) }
            }
        } catch {
            subscription?.cancel()
            throw error
        }
        let window = ContextWindow.split(history: history, budget: settings.contextTokenBudget)
        var state = RunState(messages: window.kept + prior + [.user(text)])
        state.agent = definition.map(AgentRunConfig.init)
        state.summary = memory.summary
        var handle = RunHandle(workflowID: workflow.id, tenantID: tenantID, sessionID: sessionID, owner: owner, recorder: recorder)
        let unsummarised = window.older.filter { m in memory.through.map { m.id > $0 } ?? true }
        if !unsummarised.isEmpty {
            let ids = Array(Set(unsummarised.compactMap(\.workflowID)))
            // The run is recorded already: a failed read only leaves tool results out of the summary.
            let results = (try? await store.read { [repo] db in try await repo.toolOutputs(tenantID: tenantID, workflowIDs: ids, on: db) }) ?? []
            handle.memory = MemoryUpdate(previous: memory.summary, messages: unsummarised, toolResults: results)
        }
        runtime.launch(handle, state: state)
        return Begun(workflow: workflow, subscription: subscription)
    }

    public func workflow(_ principal: Principal, id: String) async throws -> Workflow {
        try principal.require(.readTenant)
        try Self.validateID(id, what: "workflow")
        let tenantID = principal.tenantID
        guard let w = try await store.read({ [repo] db in try await repo.findWorkflow(tenantID: tenantID, id: id, on: db) }) else {
            throw ParleyError.notFound("workflow \(id) not found", code: "workflow_not_found")
        }
        return w
    }

    public struct ListFilter: Sendable {
        public var status: WorkflowStatus?
        public var sessionID: String?
        public var createdAfter: Date?
        public var createdBefore: Date?
        public var before: String?
        public var limit: Int
        public init(status: WorkflowStatus? = nil, sessionID: String? = nil, createdAfter: Date? = nil, createdBefore: Date? = nil, before: String? = nil, limit: Int = 50) {
            self.status = status; self.sessionID = sessionID; self.createdAfter = createdAfter; self.createdBefore = createdBefore
            self.before = before; self.limit = limit
        }
    }

    public func list(_ principal: Principal, _ f: ListFilter) async throws -> [Workflow] {
        try principal.require(.readTenant)
        let filter = WorkflowFilter(status: f.status, sessionID: f.sessionID, createdAfter: f.createdAfter, createdBefore: f.createdBefore,
                                    beforeID: f.before, limit: f.limit)
        return try await store.read { [repo] db in try await repo.listWorkflows(tenantID: principal.tenantID, filter: filter, on: db) }
    }

    /// All persisted events of a run, for reading back its reasoning chain.
    public func events(_ principal: Principal, workflowID: String, after: Int = 0, limit: Int = 10_000) async throws -> [WorkflowEvent] {
        _ = try await workflow(principal, id: workflowID)
        return try await store.read { [repo] db in
            try await repo.events(tenantID: principal.tenantID, workflowID: workflowID, after: after, limit: limit, on: db)
        }
    }

    public func approvals(_ principal: Principal, workflowID: String) async throws -> [Approval] {
        _ = try await workflow(principal, id: workflowID)
        return try await store.read { [repo] db in try await repo.approvals(tenantID: principal.tenantID, workflowID: workflowID, on: db) }
    }

    // MARK: live streams

    /// Replays the run's events after `after`, then follows it live until its terminal event,
    /// with heartbeats while it is quiet. Checks access and the cursor before returning.
    public func follow(_ principal: Principal, workflowID: String, after: Int) async throws -> AsyncStream<StreamItem> {
        _ = try await workflow(principal, id: workflowID)
        guard after >= 0 else { throw ParleyError.badRequest("Last-Event-ID must be a non-negative event sequence number", code: "invalid_last_event_id") }
        let tenantID = principal.tenantID
        // Subscribe before reading the store, so nothing published in between is missed.
        let subscription = runtime.hub.subscribe(workflowID)
        let (last, lastType) = try await store.read { [repo] db in try await repo.lastEvent(workflowID: workflowID, on: db) }
        guard after <= last else {
            subscription.cancel()
            throw ParleyError.badRequest("Last-Event-ID \(after) is beyond the last event (\(last)) of workflow \(workflowID)", code: "invalid_last_event_id")
        }
        if after == last, let lastType, WorkflowEvent.terminalTypes.contains(lastType) {
            // The client already has the end of a finished run (an EventSource reconnecting).
            subscription.cancel()
            return AsyncStream { $0.finish() }
        }
        return stream(subscription, tenantID: tenantID, workflowID: workflowID, after: after, readFirst: true)
    }

    /// Replays from the store (when `readFirst`), then follows `subscription`, filling gaps from
    /// the store, until the terminal event; polls the store and beats on every heartbeat tick.
    private func stream(_ subscription: EventHub.Subscription, tenantID: String, workflowID: String, after: Int, readFirst: Bool) -> AsyncStream<StreamItem> {
        let (stream, continuation) = AsyncStream.makeStream(of: StreamItem.self)
        let store = self.store
        let repo = self.repo
        let clock = self.clock
        let cursor = SeqCursor(after)
        let hub = runtime.hub
        let pump = Task {
            func catchUp(through: Int?) async throws -> Bool {
                while true {
                    let from = cursor.value
                    let page = try await store.read { db in
                        try await repo.events(tenantID: tenantID, workflowID: workflowID, after: from, through: through, limit: 500, on: db)
                    }
                    for event in page {
                        continuation.yield(.event(event))
                        cursor.value = event.seq
                        if event.isTerminal { return true }
                    }
                    if page.count < 500 { return false }
                }
            }
            do {
                var done = readFirst ? try await catchUp(through: nil) : false
                if !done {
                    for await event in subscription.stream {
                        if event.type == EventHub.tick {
                            // Quiet for a heartbeat interval: poll the store (the run may execute
                            // in another replica, or may have ended), then beat.
                            if try await catchUp(through: nil) { done = true; break }
                            continuation.yield(.heartbeat(workflowID: workflowID, lastSeq: cursor.value, at: clock.now()))
                            continue
                        }
                        if event.seq <= cursor.value { continue }
                        if event.seq > cursor.value + 1, try await catchUp(through: event.seq - 1) { done = true; break }
                        continuation.yield(.event(event))
                        cursor.value = event.seq
                        if event.isTerminal { done = true; break }
                    }
                }
                if !done && !Task.isCancelled { done = try await catchUp(through: nil) }
                if !done && !Task.isCancelled && hub.isShutDown {
                    continuation.yield(.reconnect(workflowID: workflowID, lastSeq: cursor.value, at: clock.now()))
                }
            } catch {
                // The store failed mid-stream: end the stream; the client resumes from its last id.
            }
            continuation.finish()
        }
        let interval = settings.heartbeatInterval
        let beat = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                subscription.poke()
            }
        }
        continuation.onTermination = { _ in
            pump.cancel()
            beat.cancel()
            subscription.cancel()
        }
        return stream
    }

    /// Waits until the run ends or pauses for approval (for the request/response endpoints).
    public func waitForOutcome(_ principal: Principal, workflowID: String, following: AsyncStream<StreamItem>? = nil) async throws -> Workflow {
        let stream: AsyncStream<StreamItem>
        if let following { stream = following } else { stream = try await follow(principal, workflowID: workflowID, after: 0) }
        for await item in stream {
            if case .event(let e) = item, EventType.pausing.contains(e.type) { break }
        }
        return try await workflow(principal, id: workflowID)
    }

    // MARK: control

    public func cancel(_ ctx: ActionContext, workflowID: String) async throws -> Workflow {
        let principal = ctx.principal
        // Anyone who may run the agent in this tenant may stop one of its runs.
        try principal.require(.act)
        let current = try await workflow(principal, id: workflowID)
        if current.status.isTerminal {
            throw ParleyError.conflict("workflow \(workflowID) has already ended (\(current.status.rawValue))", code: "workflow_finished")
        }
        if await runtime.stopLocal(workflowID) { return try await workflow(principal, id: workflowID) }
        let tenantID = principal.tenantID
        let now = clock.now()
        let repo = self.repo
        _ = try await endIdleRun(tenantID: tenantID, workflowID: workflowID, from: [.waitingApproval, .waitingHuman, .pending], failure: .cancelled) { db in
            // Executing in another replica: it checks this flag between model turns.
            try await repo.requestCancel(tenantID: tenantID, id: workflowID, at: now, on: db)
        }
        return try await workflow(principal, id: workflowID)
    }

    /// Records a person's decision; once no approval of the turn is pending, the run resumes here.
    public func decide(_ ctx: ActionContext, workflowID: String, approvalID: String, decision: ApprovalDecision, comment: String?) async throws -> Approval {
        try ctx.principal.require(.operate)
        try Self.validateID(approvalID, what: "approval")
        let current = try await workflow(ctx.principal, id: workflowID)
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let repo = self.repo
        let actor = ctx.principal.actor
        let audit = AuditLog(clock: clock)
        let comment = comment?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(2000).description
        let (approval, resume): (Approval, Bool) = try await RunRecorder.appendToIdleRun(
            workflowID: workflowID, tenantID: tenantID, store: store, hub: runtime.hub, clock: clock
        ) { db in
            let all = try await repo.approvals(tenantID: tenantID, workflowID: workflowID, on: db)
            guard let existing = all.first(where: { $0.id == approvalID }) else {
                throw ParleyError.notFound("approval \(approvalID) not found on workflow \(workflowID)", code: "approval_not_found")
            }
            guard existing.status == .pending else {
                throw ParleyError.conflict("approval \(approvalID) was already \(existing.status.rawValue)", code: "approval_already_resolved")
            }
            guard let w = try await repo.findWorkflow(tenantID: tenantID, id: workflowID, on: db), w.status == .waitingApproval else {
                throw ParleyError.conflict("workflow \(workflowID) is \(current.status.rawValue), not waiting for approval", code: "workflow_not_waiting")
            }
            guard let decided = try await repo.decide(tenantID: tenantID, id: approvalID, status: decision == .approve ? .approved : .denied,
                                                      comment: comment, by: actor, at: now, on: db) else {
                throw ParleyError.conflict("approval \(approvalID) was already resolved", code: "approval_already_resolved")
            }
            try await audit.record(ctx, action: "approval.\(decision.rawValue)", targetType: "workflow", targetID: workflowID,
                                   details: JSONValue.object(["approval_id": .string(approvalID), "tool": .string(decided.tool)]).serialized(), on: db)
            let stillPending = all.contains { $0.id != approvalID && $0.status == .pending }
            let resume = !stillPending
            if resume {
                _ = try await repo.transition(tenantID: tenantID, id: workflowID, from: [.waitingApproval], to: .processing, at: now, on: db)
            }
            let fields: [String: JSONValue] = [
                "approval_id": .string(approvalID), "tool": .string(decided.tool), "decision": .string(decision.rawValue),
                "comment": comment.map { JSONValue.string($0) } ?? .null, "decided_by": .string(actor),
            ]
            return ((decided, resume), [(EventType.approvalResolved, fields)])
        }
        if resume { try await self.resume(tenantID: tenantID, workflowID: workflowID) }
        return approval
    }

    /// Picks up a run whose approvals are all decided, in whichever process handled the last one.
    /// `prepare` adjusts the checkpoint first (a hand-back adds the conversation held meanwhile).
    func resume(tenantID: String, workflowID: String, prepare: (@Sendable (inout RunState, [WorkflowEvent]) -> Void)? = nil) async throws {
        let repo = self.repo
        let loaded = try await store.read { db -> (RunState?, RunOwner?, Workflow?, Int) in
            (try await repo.loadState(tenantID: tenantID, id: workflowID, on: db), try await repo.owner(tenantID: tenantID, id: workflowID, on: db),
             try await repo.findWorkflow(tenantID: tenantID, id: workflowID, on: db), try await repo.lastSeq(workflowID: workflowID, on: db))
        }
        guard var state = loaded.0, let owner = loaded.1, let w = loaded.2 else { return }
        if let prepare {
            let events = try await store.read { db in try await repo.events(tenantID: tenantID, workflowID: workflowID, after: 0, limit: 100_000, on: db) }
            prepare(&state, events)
        }
        let recorder = RunRecorder(workflowID: workflowID, tenantID: tenantID, lastSeq: loaded.3, writer: runtime.writer, clock: clock)
        runtime.launch(RunHandle(workflowID: workflowID, tenantID: tenantID, sessionID: w.sessionID, owner: owner, recorder: recorder), state: state)
    }

    /// Marks runs whose process died mid-run as failed (they cannot be resumed: their last
    /// model turn is lost). Paused runs are untouched: their state is complete.
    public func recoverInterrupted() async throws -> Int {
        let cutoff = clock.now().addingTimeInterval(-Double(settings.runTimeout.components.seconds) - 60)
        let repo = self.repo
        let stale = try await store.read { db in try await repo.staleRuns(updatedBefore: cutoff, on: db) }
        for run in stale {
            _ = try await endIdleRun(tenantID: run.tenantID, workflowID: run.id, from: [.pending, .processing], failure: .interrupted) { _ in }
        }
        return stale.count
    }

    /// Ends a run no process is executing (paused, or left behind by a stopped server) with
    /// `failure`, if it is still in one of the `from` statuses; otherwise runs `otherwise`.
    /// Its open approvals are closed and its `workflow_error` recorded in the same transaction.
    private func endIdleRun(tenantID: String, workflowID: String, from: [WorkflowStatus], failure: RunFailure,
                            otherwise: @escaping @Sendable (any SQLDatabase) async throws -> Void) async throws -> Bool {
        let repo = self.repo
        let now = clock.now()
        let ended: Bool = try await RunRecorder.appendToIdleRun(workflowID: workflowID, tenantID: tenantID, store: store, hub: runtime.hub, clock: clock) { db in
            guard try await repo.transition(tenantID: tenantID, id: workflowID, from: from, to: failure.status, at: now, on: db) else {
                try await otherwise(db)
                return (false, [])
            }
            let state = try await repo.loadState(tenantID: tenantID, id: workflowID, on: db) ?? RunState(messages: [])
            try await repo.closePendingApprovals(tenantID: tenantID, workflowID: workflowID, at: now, on: db)
            // A run cancelled while with a person: its hand-off closes and the session is the agent's again.
            try await HandoffRepository().closeForWorkflow(tenantID: tenantID, workflowID: workflowID, at: now, on: db)
            try await repo.finish(tenantID: tenantID, id: workflowID, status: failure.status, state: state, finalResponse: nil,
                                  errorType: failure.type, errorMessage: failure.message, at: now, on: db)
            let fields: [String: JSONValue] = [
                "error_message": .string(failure.message), "error_type": .string(failure.type),
                "recovery_suggestion": failure.suggestion.map { JSONValue.string($0) } ?? .null,
                "partial_response": .null, "status": .string(failure.status.rawValue),
            ]
            return (true, [(EventType.workflowError, fields)])
        }
        if ended { runtime.metrics.workflowFinished(status: failure.status, duration: .zero) }
        return ended
    }

    // MARK: sessions

    public func createSession(_ ctx: ActionContext, title: String?) async throws -> Session {
        try ctx.principal.require(.converse)
        if let title, title.count > 200 { throw ParleyError.badRequest("title must be at most 200 characters", code: "invalid_title") }
        let now = clock.now()
        let session = Session(id: UUIDv7.make(at: now), tenantID: ctx.principal.tenantID, title: title, createdAt: now, updatedAt: now)
        try await store.transaction { [repo] db in try await repo.insertSession(session, on: db) }
        return session
    }

    public func session(_ principal: Principal, id: String) async throws -> Session {
        try principal.require(.readTenant)
        try Self.validateID(id, what: "session")
        guard let s = try await store.read({ [repo] db in try await repo.findSession(tenantID: principal.tenantID, id: id, on: db) }) else {
            throw ParleyError.notFound("session \(id) not found", code: "session_not_found")
        }
        return s
    }

    public func sessions(_ principal: Principal, before: String?, limit: Int) async throws -> [Session] {
        try principal.require(.readTenant)
        if let before { try Self.validateID(before, what: "session") }
        return try await store.read { [repo] db in
            try await repo.listSessions(tenantID: principal.tenantID, before: before, limit: limit, on: db)
        }
    }

    /// A blank title clears it (the console then shows the first message instead).
    public func renameSession(_ ctx: ActionContext, id: String, title: String?) async throws -> Session {
        try ctx.principal.require(.act)
        try Self.validateID(id, what: "session")
        let title = title?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let title, title.count > 200 { throw ParleyError.badRequest("title must be at most 200 characters", code: "invalid_title") }
        let now = clock.now()
        let tenantID = ctx.principal.tenantID
        guard let s = try await store.transaction({ [repo] db in
            try await repo.renameSession(tenantID: tenantID, id: id, title: title?.isEmpty == true ? nil : title, at: now, on: db)
        }) else {
            throw ParleyError.notFound("session \(id) not found", code: "session_not_found")
        }
        return s
    }

    public func messages(_ principal: Principal, sessionID: String, after: String?, limit: Int) async throws -> [SessionMessage] {
        _ = try await session(principal, id: sessionID)
        return try await store.read { [repo] db in
            try await repo.messages(tenantID: principal.tenantID, sessionID: sessionID, after: after, limit: limit, on: db)
        }
    }

    // MARK: tool policies

    public struct ToolView: Sendable, Equatable {
        public var name: String
        public var description: String
        public var hasSideEffects: Bool
        public var mode: ToolPolicyMode
        public var inputSchema: JSONValue
    }

    public func tools(_ principal: Principal) async throws -> [ToolView] {
        try principal.require(.readTenant)
        let policies = try await store.read { [repo] db in try await repo.policies(tenantID: principal.tenantID, on: db) }
        let hidden = try await runtime.settings.unavailableTools?(principal.tenantID) ?? []
        let registry = try await runtime.tools(tenantID: principal.tenantID)
        return registry.order.compactMap { registry[$0] }.filter { !hidden.contains($0.name) }.map {
            ToolView(name: $0.name, description: $0.description, hasSideEffects: $0.hasSideEffects,
                     mode: policies[$0.name] ?? ToolPolicyMode.default(for: $0), inputSchema: $0.inputSchema)
        }
    }

    public func setPolicy(_ ctx: ActionContext, tool: String, mode: ToolPolicyMode) async throws -> ToolView {
        try ctx.principal.require(.manageKeys)
        guard try await runtime.tools(tenantID: ctx.principal.tenantID)[tool] != nil else { throw ParleyError.notFound("there is no tool named '\(tool)'", code: "tool_not_found") }
        let tenantID = ctx.principal.tenantID
        let audit = AuditLog(clock: clock)
        let now = clock.now()
        try await store.transaction { [repo] db in
            try await repo.setPolicy(tenantID: tenantID, tool: tool, mode: mode, at: now, on: db)
            try await audit.record(ctx, action: "tool_policy.set", targetType: "tool", targetID: tool, details: JSONValue.object(["mode": .string(mode.rawValue)]).serialized(), on: db)
        }
        guard let view = try await tools(ctx.principal).first(where: { $0.name == tool }) else {
            throw ParleyError.notFound("there is no tool named '\(tool)'", code: "tool_not_found")
        }
        return view
    }

    static func validateID(_ id: String, what: String) throws {
        guard UUIDv7.isValid(id) else {
            throw ParleyError.badRequest("'\(id.prefix(64))' is not a valid \(what) id", code: "invalid_\(what)_id")
        }
    }
}

/// The last event sequence a stream delivered, shared between its pump and heartbeat tasks.
final class SeqCursor: Sendable {
    private let storage: Mutex<Int>
    init(_ value: Int) { storage = Mutex(value) }
    var value: Int {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Chooses which session history fits the model's context: newest turns first, within a budget
/// of approximate tokens (4 characters each); older turns are left out.
enum ContextWindow {
    static func estimateTokens(_ text: String) -> Int { text.utf8.count / 4 + 1 }

    static func messages(history: [SessionMessage], budget: Int) -> [ModelMessage] {
        split(history: history, budget: budget).kept
    }

    /// The newest turns that fit the budget, as model messages, and the older ones left out
    /// (oldest first), which session memory summarises.
    static func split(history: [SessionMessage], budget: Int) -> (older: [SessionMessage], kept: [ModelMessage]) {
        var kept: [ModelMessage] = []
        var used = 0
        var cut = 0
        for (i, message) in history.enumerated().reversed() {
            let cost = estimateTokens(message.content)
            if used + cost > budget { cut = i + 1; break }
            used += cost
            switch message.role {
            case .user: kept.append(.user(message.content))
            case .assistant: kept.append(.assistant(message.content))
            case .staff: kept.append(.assistant(HandoffText.staff("A staff member", message.content)))
            }
        }
        // A conversation must start with the user; drop a leading assistant turn.
        while let first = kept.last, first.role == .assistant {
            kept.removeLast()
            cut += 1
        }
        return (Array(history.prefix(cut)), kept.reversed())
    }
}

/// A session's stored summary and the last message it covers.
struct SessionMemory: Sendable {
    var summary: String?
    var through: String?
}
