import Foundation
import ParleyAgent
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit
import Synchronization

/// Tool and agent steps through the agent runtime: the tenant's tool policies and the
/// `ToolExecutor`; runs of agent definitions.
public struct AgentServiceFlowRunner: FlowToolRunner, FlowAgentRunner {
    let agent: AgentService

    public init(agent: AgentService) { self.agent = agent }

    public func tool(_ principal: Principal, name: String) async throws -> (hasSideEffects: Bool, mode: ToolPolicyMode)? {
        try await agent.flowTool(principal, name: name).map { ($0.hasSideEffects, $0.mode) }
    }

    public func run(_ ctx: ActionContext, name: String, input: JSONValue, executionID: String) async throws -> ToolOutcome {
        try await agent.runFlowTool(ctx, name: name, input: input, runID: executionID)
    }

    public func start(_ ctx: ActionContext, agent ref: String, message: String) async throws -> String {
        let definitions = agent.agents
        let d = try await definitions.get(ctx.principal, ref: ref)
        let (workflow, stream) = try await definitions.run(ctx, agent: d, message: message)
        // The run goes on without a viewer; the step follows it by id.
        Task { for await _ in stream {} }
        return workflow.id
    }

    public func outcome(_ principal: Principal, runID: String) async throws -> FlowAgentOutcome {
        let w = try await agent.waitForOutcome(principal, workflowID: runID)
        switch w.status {
        case .completed:
            return .completed(["run_id": .string(w.id), "text": w.finalResponse.map { .string($0) } ?? .null, "tools_used": .array(w.toolsUsed.map { .string($0) })])
        case .failed, .cancelled:
            return .failed(w.errorMessage ?? w.status.rawValue.lowercased())
        case .waitingApproval, .waitingHuman:
            return .paused
        case .pending, .processing:
            return .failed("the run stopped being followed before it ended")
        }
    }
}

/// What a live event stream carries: the execution's events, and at shutdown a last item telling
/// the viewer to reconnect (to any replica) after `lastSeq`.
public enum FlowStreamItem: Sendable, Equatable {
    case event(FlowEvent)
    case reconnect(executionID: String, lastSeq: Int)
}

/// The live event streams of this process, so a shutdown can end them (the server's drain
/// waits for every response, which a live stream never finishes by itself).
public final class FlowStreams: Sendable {
    private struct State {
        var closing = false
        var streams: [Int: @Sendable () -> Void] = [:]
        var next = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Registers a stream's `end`; nil when the process is already shutting down.
    func add(_ end: @escaping @Sendable () -> Void) -> Int? {
        state.withLock { s in
            if s.closing { return nil }
            s.next += 1
            s.streams[s.next] = end
            return s.next
        }
    }

    func remove(_ id: Int) { _ = state.withLock { $0.streams.removeValue(forKey: id) } }

    /// Ends every live stream with its `reconnect`; streams opened later end at once.
    public func finishAll() {
        let ends = state.withLock { s -> [@Sendable () -> Void] in
            s.closing = true
            defer { s.streams = [:] }
            return Array(s.streams.values)
        }
        for end in ends { end() }
    }

    public var count: Int { state.withLock { $0.streams.count } }
}

/// Flows as data and their executions: every method takes the caller and touches only its tenant.
public struct FlowService: Sendable {
    public let engine: FlowEngine
    public let streams = FlowStreams()
    var store: any Store { engine.store }
    var clock: any Clock { engine.clock }
    var repo: FlowRepository { engine.repo }
    /// How often a live event stream looks for new events (executions advance in any process).
    public var pollInterval: Duration = .milliseconds(100)

    public init(engine: FlowEngine) { self.engine = engine }

    // MARK: definitions

    public func create(_ ctx: ActionContext, _ body: JSONValue) async throws -> Flow {
        try ctx.principal.require(.manageKeys, toDo: "create or change flows")
        let spec = try FlowSpec.parse(body, tools: repo.tools)
        let now = clock.now()
        let f = Flow(id: UUIDv7.make(at: now), tenantID: ctx.principal.tenantID, version: 1, spec: spec, createdAt: now, updatedAt: now)
        return try await write(ctx, action: "flow.create", f) { [repo] db in
            try await Self.requireFreeName(spec.name, tenantID: f.tenantID, except: nil, repo: repo, on: db)
            try await repo.insert(f, by: ctx.principal.actor, on: db)
        }
    }

    /// A PATCH: the fields sent replace the current version's; the result is checked whole.
    public func update(_ ctx: ActionContext, ref: String, _ body: JSONValue) async throws -> Flow {
        try ctx.principal.require(.manageKeys, toDo: "create or change flows")
        let current = try await get(ctx.principal, ref: ref)
        guard let changes = body.objectValue else { throw ParleyError.badRequest("send a JSON object", code: "invalid_json") }
        var merged = current.spec.json.objectValue ?? [:]
        for (k, v) in changes { merged[k] = v }
        let spec = try FlowSpec.parse(.object(merged), tools: repo.tools)
        var next = current
        next.spec = spec
        next.version = current.version + 1
        next.updatedAt = clock.now()
        let written = next
        return try await write(ctx, action: "flow.update", written) { [repo] db in
            guard let latest = try await repo.flow(tenantID: current.tenantID, id: current.id, on: db), latest.version == current.version,
                  latest.deletedAt == nil else {
                throw ParleyError.conflict("flow \(current.spec.name) changed while this change was made; read it again and retry", code: "flow_changed")
            }
            if spec.name != current.spec.name { try await Self.requireFreeName(spec.name, tenantID: current.tenantID, except: current.id, repo: repo, on: db) }
            try await repo.update(written, by: ctx.principal.actor, on: db)
        }
    }

    public func delete(_ ctx: ActionContext, ref: String) async throws -> Flow {
        try ctx.principal.require(.manageKeys, toDo: "delete flows")
        var f = try await get(ctx.principal, ref: ref)
        let now = clock.now()
        f.deletedAt = now
        f.updatedAt = now
        let deleted = f
        return try await write(ctx, action: "flow.delete", deleted) { [repo] db in
            try await repo.setDeleted(tenantID: deleted.tenantID, id: deleted.id, at: now, on: db)
        }
    }

    /// By id or name; a deleted flow is not found.
    public func get(_ principal: Principal, ref: String) async throws -> Flow {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        let found = try await store.read { [repo] db -> Flow? in
            if UUIDv7.isValid(ref) { return try await repo.flow(tenantID: tenantID, id: ref.lowercased(), on: db) }
            return try await repo.flow(tenantID: tenantID, name: ref, on: db)
        }
        guard let found, found.deletedAt == nil else {
            throw ParleyError.notFound("there is no flow '\(ref.prefix(64))' in this workspace; GET /v1/flows lists them", code: "flow_not_found")
        }
        return found
    }

    public func list(_ principal: Principal, before: String?, limit: Int) async throws -> [Flow] {
        try principal.require(.readTenant)
        if let before { try Self.validateID(before, what: "flow") }
        let tenantID = principal.tenantID
        return try await store.read { [repo] db in try await repo.flows(tenantID: tenantID, includeDeleted: false, before: before, limit: limit, on: db) }
    }

    public func versions(_ principal: Principal, ref: String, before: Int?, limit: Int) async throws -> [FlowVersion] {
        let f = try await get(principal, ref: ref)
        return try await store.read { [repo] db in try await repo.versions(tenantID: principal.tenantID, flowID: f.id, before: before, limit: limit, on: db) }
    }

    static func requireFreeName(_ name: String, tenantID: String, except id: String?, repo: FlowRepository, on db: any SQLDatabase) async throws {
        if let other = try await repo.flow(tenantID: tenantID, name: name, on: db), other.id != id {
            throw ParleyError.conflict("a flow named '\(name)' already exists (\(other.id)); choose another name", code: "flow_name_taken")
        }
    }

    static func validateID(_ id: String, what: String) throws {
        guard UUIDv7.isValid(id) else { throw ParleyError.badRequest("'\(id.prefix(64))' is not a valid \(what) id", code: "invalid_\(what)_id") }
    }

    private func write(_ ctx: ActionContext, action: String, _ f: Flow, _ body: @escaping @Sendable (any SQLDatabase) async throws -> Void) async throws -> Flow {
        let audit = AuditLog(clock: clock)
        do {
            try await store.transaction { db in
                try await body(db)
                try await audit.record(ctx, action: action, targetType: "flow", targetID: f.id,
                                       details: JSONValue.object(["name": .string(f.spec.name), "version": .number(Double(f.version))]).serialized(), on: db)
            }
        } catch StoreError.uniqueViolation {
            throw ParleyError.conflict("a flow with that name was just created; choose another name", code: "flow_name_taken")
        }
        return f
    }

    // MARK: executions

    /// Starts an execution of the flow's current version; its steps run on the job queue.
    public func execute(_ ctx: ActionContext, ref: String, input: JSONValue) async throws -> FlowExecution {
        try ctx.principal.require(.act, toDo: "run flows")
        let f = try await get(ctx.principal, ref: ref)
        if let schema = f.spec.inputSchema {
            let violations = JSONSchemaValidator.validate(input, against: schema)
            if !violations.isEmpty {
                throw ParleyError.badRequest("the input does not match flow \(f.spec.name)'s input_schema: " + violations.prefix(10).map(\.description).joined(separator: "; "),
                                             code: "invalid_input")
            }
        }
        let engine = self.engine
        let audit = AuditLog(clock: clock)
        let e = try await store.transaction { db in
            let e = try await engine.createExecution(flowID: f.id, version: f.version, spec: f.spec, input: input, principal: ctx.principal, parent: nil, on: db)
            try await audit.record(ctx, action: "flow.execute", targetType: "flow_execution", targetID: e.id,
                                   details: JSONValue.object(["flow": .string(f.spec.name), "version": .number(Double(f.version))]).serialized(), on: db)
            return e
        }
        engine.wake()
        return e
    }

    public func execution(_ principal: Principal, id: String) async throws -> (FlowExecution, [FlowStepRun]) {
        try principal.require(.readTenant)
        try Self.validateID(id, what: "execution")
        let tenantID = principal.tenantID
        let found = try await store.read { [repo] db -> (FlowExecution, [FlowStepRun])? in
            guard let e = try await repo.execution(tenantID: tenantID, id: id.lowercased(), on: db) else { return nil }
            return (e, try await repo.steps(tenantID: tenantID, executionID: e.id, on: db))
        }
        guard let found else { throw ParleyError.notFound("there is no flow execution \(id.prefix(64)) in this workspace", code: "execution_not_found") }
        return found
    }

    public func executions(_ principal: Principal, flow: String?, status: FlowExecutionStatus?, before: String?, limit: Int) async throws -> [FlowExecution] {
        try principal.require(.readTenant)
        if let before { try Self.validateID(before, what: "execution") }
        var flowID: String?
        if let flow { flowID = try await get(principal, ref: flow).id }
        let tenantID = principal.tenantID
        let only = flowID
        return try await store.read { [repo] db in
            try await repo.executions(tenantID: tenantID, flowID: only, status: status, before: before, limit: limit, on: db)
        }
    }

    /// Stops the execution at its next step boundary (a step running now finishes, nothing follows).
    public func cancel(_ ctx: ActionContext, id: String) async throws -> FlowExecution {
        try ctx.principal.require(.act, toDo: "cancel flow executions")
        let (e, _) = try await execution(ctx.principal, id: id)
        guard !e.status.isTerminal else {
            throw ParleyError.conflict("execution \(e.id) has already ended (\(e.status.rawValue))", code: "execution_finished")
        }
        let engine = self.engine
        let audit = AuditLog(clock: clock)
        try await engine.locked(e) { db in
            try await engine.finish(e.id, tenantID: e.tenantID, .cancelled, output: nil, error: "cancelled by \(ctx.principal.actor)", on: db)
            try await audit.record(ctx, action: "flow.cancel", targetType: "flow_execution", targetID: e.id, details: nil, on: db)
        }
        return try await execution(ctx.principal, id: e.id).0
    }

    /// A person's decision on an approval step, or on a tool step its tool's policy holds for approval.
    public func decide(_ ctx: ActionContext, id: String, step stepID: String, approve: Bool, comment: String?) async throws -> FlowStepRun {
        try ctx.principal.require(.operate, toDo: "approve or reject flow steps")
        let (e, _) = try await execution(ctx.principal, id: id)
        let engine = self.engine
        let repo = self.repo
        let clock = self.clock
        let audit = AuditLog(clock: clock)
        try await engine.locked(e) { db in
            guard let current = try await repo.execution(tenantID: e.tenantID, id: e.id, on: db), !current.status.isTerminal else {
                throw ParleyError.conflict("execution \(e.id) has already ended", code: "execution_finished")
            }
            guard let spec = try await repo.spec(tenantID: e.tenantID, flowID: e.flowID, version: e.flowVersion, on: db), let step = spec.step(stepID) else {
                throw ParleyError.notFound("execution \(e.id) has no step '\(stepID.prefix(64))'", code: "step_not_found")
            }
            guard var row = try await repo.step(tenantID: e.tenantID, executionID: e.id, stepID: stepID, on: db),
                  row.status == .waiting, row.approval == "pending" else {
                throw ParleyError.conflict("step '\(stepID)' is not waiting for a decision", code: "step_not_waiting")
            }
            let now = clock.now()
            var by: [String: JSONValue] = ["approved": .bool(approve), "by": .string(ctx.principal.actor)]
            if let comment { by["comment"] = .string(comment) }
            row.approval = approve ? "approved" : "rejected"
            try await repo.event(current, "approval_resolved", step: stepID, data: .object(by), at: now, on: db)
            try await audit.record(ctx, action: approve ? "flow.approve" : "flow.reject", targetType: "flow_execution", targetID: e.id,
                                   details: JSONValue.object(["step": .string(stepID)]).serialized(), on: db)
            if current.status == .waiting { try await repo.setStatus(current, .running, at: now, on: db) }
            var running = current
            running.status = .running
            if approve && step.type == .tool {
                // The tool runs in its own job now.
                row.status = .pending
                row.updatedAt = now
                try await repo.save(row, tenantID: e.tenantID, on: db)
                try await engine.enqueue(running, step: stepID, at: now, on: db)
            } else if approve {
                try await engine.complete(running, spec, step, row, output: .object(by), next: nil, on: db)
            } else if step.type == .approval, let onReject = step.config["on_reject"]?.stringValue {
                try await engine.complete(running, spec, step, row, output: .object(by), next: .some(onReject), on: db)
            } else {
                let why = "step '\(stepID)' was rejected by \(ctx.principal.actor)" + (comment.map { ": \($0)" } ?? "")
                try await engine.fail(running, spec, step, row, error: why, on: db)
            }
        }
        guard let row = try await store.read({ db in try await repo.step(tenantID: e.tenantID, executionID: e.id, stepID: stepID, on: db) }) else {
            throw ParleyError.notFound("execution \(e.id) has no step '\(stepID.prefix(64))'", code: "step_not_found")
        }
        return row
    }

    public func events(_ principal: Principal, id: String, after: Int, limit: Int = 1000) async throws -> [FlowEvent] {
        let (e, _) = try await execution(principal, id: id)
        return try await store.read { [repo] db in try await repo.events(tenantID: e.tenantID, executionID: e.id, after: after, limit: limit, on: db) }
    }

    /// The execution's events after `after`, live until it ends (or the viewer leaves, or this
    /// process shuts down: then a last `reconnect`). Executions advance in whichever process holds
    /// their job, so the stream reads the stored log.
    public func follow(_ principal: Principal, id: String, after: Int) async throws -> AsyncStream<FlowStreamItem> {
        let (e, _) = try await execution(principal, id: id)
        let repo = self.repo
        let store = self.store
        let poll = pollInterval
        let streams = self.streams
        return AsyncStream { continuation in
            let cursor = Mutex(after)
            let registration = streams.add {
                continuation.yield(.reconnect(executionID: e.id, lastSeq: cursor.withLock { $0 }))
                continuation.finish()
            }
            guard let registration else {
                continuation.yield(.reconnect(executionID: e.id, lastSeq: after))
                continuation.finish()
                return
            }
            let task = Task {
                defer { streams.remove(registration) }
                while !Task.isCancelled {
                    let from = cursor.withLock { $0 }
                    guard let batch = try? await store.read({ db in
                        try await repo.events(tenantID: e.tenantID, executionID: e.id, after: from, limit: 500, on: db)
                    }) else { break }
                    for event in batch {
                        continuation.yield(.event(event))
                        cursor.withLock { $0 = event.seq }
                        if FlowEvent.terminal.contains(event.type) { continuation.finish(); return }
                    }
                    if batch.isEmpty {
                        // An execution that ended before `after` has nothing more to send.
                        if let now = try? await store.read({ db in try await repo.execution(tenantID: e.tenantID, id: e.id, on: db) }), now.status.isTerminal,
                           now.lastSeq <= from {
                            break
                        }
                        try? await Task.sleep(for: poll)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                task.cancel()
                streams.remove(registration)
            }
        }
    }
}
