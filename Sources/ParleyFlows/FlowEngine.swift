import Foundation
import Logging
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyOutbound
import ParleyStorage
import SQLKit

/// Tools for tool steps: the tenant's view of one (its policy) and a run of it.
public protocol FlowToolRunner: Sendable {
    /// nil when the tool is not installed, its pack is off for the tenant, or the caller's role may not use it.
    func tool(_ principal: Principal, name: String) async throws -> (hasSideEffects: Bool, mode: ToolPolicyMode)?
    func run(_ ctx: ActionContext, name: String, input: JSONValue, executionID: String) async throws -> ToolOutcome
}

public enum FlowAgentOutcome: Sendable, Equatable {
    case completed(JSONValue)
    case failed(String)
    /// Waiting for a person (an approval or a hand-off): checked again later.
    case paused
}

/// Agent definitions for agent steps: start a run, and wait for how it ends.
public protocol FlowAgentRunner: Sendable {
    func start(_ ctx: ActionContext, agent: String, message: String) async throws -> String
    func outcome(_ principal: Principal, runID: String) async throws -> FlowAgentOutcome
}

/// Messages for send_message steps (the communications engine's `MessageService`).
public protocol FlowMessenger: Sendable {
    /// Accepts the message (deduplicated by `request.idempotencyKey`); answers its id, status and whether it is new.
    func accept(_ ctx: ActionContext, _ request: MessageRequest) async throws -> (id: String, status: String, created: Bool)
}

extension MessageService: FlowMessenger {
    public func accept(_ ctx: ActionContext, _ request: MessageRequest) async throws -> (id: String, status: String, created: Bool) {
        let accepted = try await send(ctx, request)
        return (accepted.message.id, accepted.message.status.rawValue, accepted.created)
    }
}

/// What one attempt of a step came to.
enum StepResult: Sendable {
    case completed(JSONValue, next: String?? = nil)
    case failed(String, retryable: Bool)
    case waitUntil(Date, data: JSONValue)
    case approval(message: String?)
    case parallel([String])
    case child(flowID: String, version: Int, spec: FlowSpec, input: JSONValue)
    case agentPaused(runID: String)
}

/// Runs executions one step at a time as jobs on the communications queue (`core.flow_step`).
/// Each step's result is stored, with the next step's job, in one transaction; a worker that dies
/// leaves the job to be rescued, and the step is resumed where it was: a completed step is never
/// run again, and a step with side effects is repeated only when marked idempotent.
public struct FlowEngine: Sendable {
    public static let jobType = "core.flow_step"
    /// Sub-flows nest at most this deep.
    public static let maxDepth = 5

    let store: any Store
    let clock: any Clock
    let queue: JobQueue
    let tools: (any FlowToolRunner)?
    let agents: (any FlowAgentRunner)?
    let messages: (any FlowMessenger)?
    let http: (any FlowHTTPClient)?
    let wake: @Sendable () -> Void
    let logger: Logger
    let repo: FlowRepository
    /// How long an agent step waits before looking again at a run that paused for a person.
    var agentRecheck: TimeInterval = 10

    public init(store: any Store, clock: any Clock, tools: (any FlowToolRunner)?, agents: (any FlowAgentRunner)?, messages: (any FlowMessenger)? = nil,
                http: (any FlowHTTPClient)? = nil, toolNames: Set<String>, logger: Logger, wake: @escaping @Sendable () -> Void) {
        self.messages = messages
        self.http = http
        self.store = store
        self.clock = clock
        self.queue = JobQueue(store: store, clock: clock)
        self.tools = tools
        self.agents = agents
        self.wake = wake
        self.logger = logger
        self.repo = FlowRepository(tools: toolNames)
    }

    /// The worker's handler for flow steps.
    public var handler: JobHandler { JobHandler(type: Self.jobType) { job in try await self.run(job) } }

    // MARK: scheduling

    static func lockKey(_ rootID: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "flow:\(rootID)".utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return Int64(bitPattern: hash)
    }

    /// One transaction over an execution tree, serialised with every other on the same tree.
    func locked<T: Sendable>(_ e: FlowExecution, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let result = try await store.transaction(lockKey: Self.lockKey(e.rootID), body)
        wake()
        return result
    }

    func enqueue(_ e: FlowExecution, step: String, at: Date, on db: any SQLDatabase) async throws {
        let payload = JSONValue.object(["execution_id": .string(e.id), "step_id": .string(step)]).serialized()
        try await queue.enqueue(NewJob(tenantID: e.tenantID, type: Self.jobType, payload: payload, runAt: at, priority: 50, maxAttempts: 10), on: db)
    }

    /// A new execution of `spec` (its first step queued), inside the caller's transaction.
    func createExecution(flowID: String, version: Int, spec: FlowSpec, input: JSONValue, principal: Principal,
                         parent: (execution: FlowExecution, step: String)?, on db: any SQLDatabase) async throws -> FlowExecution {
        let now = clock.now()
        let id = UUIDv7.make(at: now)
        let e = FlowExecution(id: id, tenantID: principal.tenantID, flowID: flowID, flowVersion: version, status: .running, input: input, output: nil,
                              error: nil, principal: principal, parentExecutionID: parent?.execution.id, parentStep: parent?.step,
                              rootID: parent?.execution.rootID ?? id, depth: (parent?.execution.depth ?? -1) + 1, lastSeq: 0,
                              createdAt: now, updatedAt: now, finishedAt: nil)
        try await repo.insert(e, on: db)
        var data: [String: JSONValue] = ["flow_id": .string(flowID), "flow_version": .number(Double(version)), "input": input]
        if let parent { data["parent_execution_id"] = .string(parent.execution.id) }
        try await repo.event(e, "execution_started", step: nil, data: .object(data), at: now, on: db)
        guard let start = spec.start else { throw ParleyError.badRequest("the flow has no steps", code: "invalid_flow") }
        try await queueStep(e, start, at: now, on: db)
        return e
    }

    func queueStep(_ e: FlowExecution, _ step: FlowStep, at: Date, on db: any SQLDatabase) async throws {
        let row = FlowStepRun(executionID: e.id, stepID: step.id, type: step.type.rawValue, status: .pending, input: nil, output: nil, error: nil,
                              attempts: 0, approval: nil, handle: nil, waitUntil: nil, startedAt: nil, finishedAt: nil, updatedAt: clock.now())
        try await repo.save(row, tenantID: e.tenantID, on: db)
        try await enqueue(e, step: step.id, at: at, on: db)
    }

    // MARK: running a step

    func run(_ job: Job) async throws {
        guard let payload = try? JSONValue.parse(job.payload), let executionID = payload["execution_id"]?.stringValue,
              let stepID = payload["step_id"]?.stringValue else { throw JobHandler.Permanent("the flow step job's payload is unreadable") }
        let tenantID = job.tenantID
        let repo = self.repo
        let loaded = try await store.read { db -> (FlowExecution, FlowSpec?, FlowStepRun?, [FlowStepRun])? in
            guard let e = try await repo.execution(tenantID: tenantID, id: executionID, on: db) else { return nil }
            let spec = try await repo.spec(tenantID: tenantID, flowID: e.flowID, version: e.flowVersion, on: db)
            let rows = try await repo.steps(tenantID: tenantID, executionID: executionID, on: db)
            return (e, spec, rows.first { $0.stepID == stepID }, rows)
        }
        guard let loaded else { throw JobHandler.Permanent("flow execution \(executionID) no longer exists") }
        let (e, specOrNil, existing, rows) = loaded
        guard !e.status.isTerminal else { return }
        guard let spec = specOrNil, let step = spec.step(stepID) else {
            try await locked(e) { db in try await self.finish(e.id, tenantID: tenantID, .failed, output: nil, error: "step '\(stepID)' is not in the flow's version \(e.flowVersion)", on: db) }
            return
        }
        var row = existing ?? FlowStepRun(executionID: e.id, stepID: step.id, type: step.type.rawValue, status: .pending, input: nil, output: nil, error: nil,
                                          attempts: 0, approval: nil, handle: nil, waitUntil: nil, startedAt: nil, finishedAt: nil, updatedAt: clock.now())
        let now = clock.now()
        switch row.status {
        case .completed, .failed, .skipped, .cancelled:
            return
        case .waiting:
            if step.type == .delay, let until = row.waitUntil {
                guard now >= until else { return }
                try await record(e, spec, step, row, .completed(row.output ?? .object([:])))
            } else if step.type == .agent, let runID = row.handle {
                try await record(e, spec, step, row, try await followAgent(e, step, runID: runID))
            }
            return
        case .running:
            // The attempt before this one was interrupted (its worker died) after it began.
            if step.type == .tool, !step.idempotent, let name = step.config["tool"]?.stringValue,
               let info = try await tools?.tool(e.principal, name: name), info.hasSideEffects {
                try await record(e, spec, step, row, .failed(
                    "step '\(step.id)' was interrupted while its tool '\(name)' (which has side effects) was running, and it is not marked idempotent, so it was not run again; check whether it took effect, then start a new execution (or mark the step \"idempotent\": true)",
                    retryable: false))
                return
            }
            if step.type == .agent, let runID = row.handle {
                try await record(e, spec, step, row, try await followAgent(e, step, runID: runID))
                return
            }
            if step.type == .http, step.httpHasSideEffects, !step.idempotent {
                try await record(e, spec, step, row, .failed(
                    "step '\(step.id)' was interrupted while its \((step.config["method"]?.stringValue ?? "").uppercased()) request was being sent, and it is not marked idempotent, so it was not sent again; check whether it took effect, then start a new execution (or mark the step \"idempotent\": true)",
                    retryable: false))
                return
            }
        case .pending, .retrying:
            break
        }
        // A new attempt: recorded as running before any effect.
        let context = Self.context(e, rows)
        row.status = .running
        row.attempts += 1
        row.startedAt = row.startedAt ?? now
        row.error = nil
        row.updatedAt = now
        row.input = [.transform, .tool, .agent, .subFlow, .sendMessage, .http].contains(step.type)
            ? FlowTemplate.render(step.config, context: context) : step.config
        // What is sent goes out as rendered; what is kept hides credentials.
        let rendered = row.input
        if step.type == .http { row.input = row.input.map(FlowStep.redactingCredentials) }
        let started = row
        let proceed = try await locked(e) { db -> Bool in
            guard let current = try await repo.execution(tenantID: tenantID, id: e.id, on: db), !current.status.isTerminal else { return false }
            // A parallel step that completed meanwhile skipped this branch.
            if let stored = try await repo.step(tenantID: tenantID, executionID: e.id, stepID: step.id, on: db), stored.status.isFinal { return false }
            try await repo.save(started, tenantID: tenantID, on: db)
            try await repo.event(e, "step_started", step: step.id, data: ["step_type": .string(step.type.rawValue), "attempt": .number(Double(started.attempts))],
                                 at: now, on: db)
            return true
        }
        guard proceed else { return }
        let result = await attempt(e, spec, step, &row, context: context, rendered: rendered)
        try await record(e, spec, step, row, result)
    }

    /// The values templates see: `input`, `steps.<id>.output` (completed steps), `execution.id`.
    static func context(_ e: FlowExecution, _ rows: [FlowStepRun]) -> JSONValue {
        var steps: [String: JSONValue] = [:]
        for r in rows where r.status == .completed {
            steps[r.stepID] = ["output": r.output ?? .null, "status": .string(r.status.rawValue)]
        }
        return ["input": e.input, "steps": .object(steps), "execution": ["id": .string(e.id), "flow_id": .string(e.flowID)]]
    }

    func attempt(_ e: FlowExecution, _ spec: FlowSpec, _ step: FlowStep, _ row: inout FlowStepRun, context: JSONValue,
                 rendered: JSONValue?) async -> StepResult {
        let c = step.config
        do {
            switch step.type {
            case .transform:
                return .completed(FlowTemplate.render(c["output"] ?? .null, context: context))
            case .condition:
                for (i, b) in step.conditionBranches.enumerated() {
                    let value = b.path.evaluate(context)
                    let right = b.value.map { FlowTemplate.render($0, context: context) }
                    if Comparison.holds(value, b.op, right) {
                        return .completed(["branch": .number(Double(i)), "next": b.next.map { .string($0) } ?? .null, "value": value ?? .null], next: .some(b.next))
                    }
                }
                let fallback = c["default"]?.stringValue
                return .completed(["branch": "default", "next": fallback.map { .string($0) } ?? .null], next: .some(fallback))
            case .delay:
                let seconds = c["seconds"]?.doubleValue ?? 0
                if seconds <= 0 { return .completed(["waited_seconds": 0]) }
                return .waitUntil(clock.now().addingTimeInterval(seconds), data: ["waited_seconds": .number(seconds)])
            case .approval:
                if row.approval == "approved" { return .completed(["approved": true]) }
                return .approval(message: c["message"].map { FlowTemplate.render($0, context: context) }?.stringValue)
            case .parallel:
                return .parallel(step.parallelBranches)
            case .tool:
                return try await runTool(e, step, &row)
            case .agent:
                return try await runAgent(e, step, &row)
            case .sendMessage:
                return try await sendMessage(e, step, row)
            case .http:
                return try await callHTTP(step, rendered ?? step.config)
            case .subFlow:
                guard e.depth + 1 <= Self.maxDepth else {
                    return .failed("sub-flows nest at most \(Self.maxDepth) deep; step '\(step.id)' would go deeper", retryable: false)
                }
                let ref = c["flow"]?.stringValue ?? ""
                let tenantID = e.tenantID
                let repo = self.repo
                guard let flow = try await store.read({ db -> Flow? in
                    if UUIDv7.isValid(ref) { return try await repo.flow(tenantID: tenantID, id: ref.lowercased(), on: db) }
                    return try await repo.flow(tenantID: tenantID, name: ref, on: db)
                }), flow.deletedAt == nil else {
                    return .failed("step '\(step.id)': there is no flow '\(ref.prefix(64))' in this workspace", retryable: false)
                }
                let input = row.input?["input"] ?? .object([:])
                if let schema = flow.spec.inputSchema {
                    let violations = JSONSchemaValidator.validate(input, against: schema)
                    if !violations.isEmpty {
                        return .failed("step '\(step.id)': the input does not match flow \(flow.spec.name)'s input_schema: "
                                       + violations.prefix(5).map(\.description).joined(separator: "; "), retryable: false)
                    }
                }
                return .child(flowID: flow.id, version: flow.version, spec: flow.spec, input: input)
            }
        } catch {
            return .failed("step '\(step.id)' failed: \(Self.describe(error))", retryable: true)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let p = error as? ParleyError { return p.message }
        if error is StepTimeout { return "it did not finish in time" }
        return "an internal error (\(type(of: error)))"
    }

    func runTool(_ e: FlowExecution, _ step: FlowStep, _ row: inout FlowStepRun) async throws -> StepResult {
        guard let tools else { return .failed("tool steps cannot run in this process (no tools installed)", retryable: true) }
        let name = step.config["tool"]?.stringValue ?? ""
        guard let info = try await tools.tool(e.principal, name: name) else {
            return .failed("step '\(step.id)': the tool '\(name)' is not available to this workspace or to the role that started the execution", retryable: false)
        }
        switch info.mode {
        case .disabled:
            return .failed("step '\(step.id)': the workspace's policy disables the tool '\(name)'", retryable: false)
        case .requireApproval where row.approval != "approved":
            return .approval(message: "Run the tool '\(name)' with \(row.input?["input"]?.serialized() ?? "{}")?")
        default:
            break
        }
        var rendered = row.input?["input"] ?? .object([:])
        if let text = rendered.stringValue, let parsed = try? JSONValue.parse(text) { rendered = parsed }
        let input = rendered
        let ctx = ActionContext(principal: e.principal, requestID: "flow:\(e.id)")
        let outcome = try await Self.withTimeout(step.timeoutSeconds) { try await tools.run(ctx, name: name, input: input, executionID: e.id) }
        guard outcome.succeeded else {
            let text = outcome.output.stringValue ?? outcome.output.serialized()
            return .failed("step '\(step.id)': the tool '\(name)' failed (\(outcome.status.rawValue)): \(text.prefix(500))", retryable: true)
        }
        return .completed(outcome.output)
    }

    /// Sends through the communications engine under a key of its own (`flow:<execution>:<step>`),
    /// so an attempt repeated after an interruption finds the message already accepted.
    func sendMessage(_ e: FlowExecution, _ step: FlowStep, _ row: FlowStepRun) async throws -> StepResult {
        guard let messages else { return .failed("send_message steps cannot run in this process (no message service)", retryable: true) }
        let c = row.input ?? step.config
        func text(_ key: String) -> String? {
            guard let v = c[key], v != .null else { return nil }
            return v.stringValue ?? v.serialized()
        }
        guard let channel = c["channel"]?.stringValue.flatMap(Channel.init(rawValue:)), let to = text("to"), !to.isEmpty else {
            return .failed("step '\(step.id)': the recipient is empty once its templates are filled in", retryable: false)
        }
        let request = MessageRequest(channel: channel, to: to, subject: text("subject"), text: text("text") ?? "", template: text("template"),
                                     variables: c["variables"]?.objectValue ?? [:], idempotencyKey: "flow:\(e.id):\(step.id)")
        let ctx = ActionContext(principal: e.principal, requestID: "flow:\(e.id)")
        do {
            let sent = try await messages.accept(ctx, request)
            return .completed(["message_id": .string(sent.id), "status": .string(sent.status), "created": .bool(sent.created)])
        } catch let error as ParleyError where error.kind != .internalError && error.kind != .unavailable {
            // Refused (a bad address, no consent, an unknown template): trying again cannot help.
            return .failed("step '\(step.id)': the message was refused: \(error.message)", retryable: false)
        }
    }

    /// One request to a host on the step's allow-list, through the `OutboundGuard`.
    func callHTTP(_ step: FlowStep, _ c: JSONValue) async throws -> StepResult {
        guard let http else { return .failed("http steps cannot run in this process", retryable: true) }
        let method = (c["method"]?.stringValue ?? "GET").uppercased()
        let url = c["url"]?.stringValue ?? ""
        let allowed = Set((c["allow_hosts"]?.arrayValue ?? []).compactMap { $0.stringValue?.lowercased() })
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = parsed.host?.lowercased() else {
            return .failed("step '\(step.id)': '\(url.prefix(100))' is not an http(s) URL once its templates are filled in", retryable: false)
        }
        guard allowed.contains(host) else {
            return .failed("step '\(step.id)': the host '\(host)' is not in the step's allow_hosts", retryable: false)
        }
        var headers: [String: String] = [:]
        for (k, v) in c["headers"]?.objectValue ?? [:] { headers[k] = v.stringValue ?? v.serialized() }
        let body = c["body"].flatMap { $0 == .null ? nil : $0 }
        let answer: (status: Int, body: String)
        do {
            answer = try await http.send(method: method, url: url, headers: headers, body: body, timeout: step.timeoutSeconds)
        } catch let error as OutboundError {
            return .failed("step '\(step.id)': \(method) \(host) failed: \(error.message)", retryable: error.isRetryable)
        }
        let json = (try? JSONValue.parse(answer.body)) ?? .string(answer.body)
        guard (200..<300).contains(answer.status) else {
            let retryable = answer.status == 429 || answer.status == 408 || answer.status >= 500
            return .failed("step '\(step.id)': \(method) \(host) answered \(answer.status): \(answer.body.prefix(300))", retryable: retryable)
        }
        return .completed(["status": .number(Double(answer.status)), "body": json])
    }

    func runAgent(_ e: FlowExecution, _ step: FlowStep, _ row: inout FlowStepRun) async throws -> StepResult {
        guard let agents else { return .failed("agent steps cannot run in this process (no agent runtime)", retryable: true) }
        let ref = step.config["agent"]?.stringValue ?? ""
        let message = row.input?["message"]?.stringValue ?? row.input?["message"]?.serialized() ?? ""
        guard !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return .failed("step '\(step.id)': the agent's message is empty once its templates are filled in", retryable: false)
        }
        let ctx = ActionContext(principal: e.principal, requestID: "flow:\(e.id)")
        let runID = try await agents.start(ctx, agent: ref, message: message)
        row.handle = runID
        // Kept before waiting: a worker that dies meanwhile resumes by following this run.
        let saved = row
        let repo = self.repo
        try await locked(e) { db in try await repo.save(saved, tenantID: e.tenantID, on: db) }
        return try await followAgent(e, step, runID: runID)
    }

    func followAgent(_ e: FlowExecution, _ step: FlowStep, runID: String) async throws -> StepResult {
        guard let agents else { return .failed("agent steps cannot run in this process (no agent runtime)", retryable: true) }
        do {
            switch try await Self.withTimeout(step.timeoutSeconds, { try await agents.outcome(e.principal, runID: runID) }) {
            case .completed(let output): return .completed(output)
            case .failed(let reason): return .failed("step '\(step.id)': the agent's run \(runID) failed: \(reason)", retryable: true)
            case .paused: return .agentPaused(runID: runID)
            }
        } catch {
            return .failed("step '\(step.id)': \(Self.describe(error))", retryable: true)
        }
    }

    struct StepTimeout: Error {}

    static func withTimeout<T: Sendable>(_ seconds: Double?, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let seconds else { return try await body() }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                throw StepTimeout()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw StepTimeout() }
            return first
        }
    }

    // MARK: recording

    /// Stores an attempt's result and what follows from it, in one transaction.
    func record(_ e: FlowExecution, _ spec: FlowSpec, _ step: FlowStep, _ attempted: FlowStepRun, _ result: StepResult) async throws {
        let tenantID = e.tenantID
        let repo = self.repo
        try await locked(e) { db in
            guard let current = try await repo.execution(tenantID: tenantID, id: e.id, on: db) else { return }
            var row = attempted
            if let stored = try await repo.step(tenantID: tenantID, executionID: e.id, stepID: step.id, on: db), stored.status.isFinal { return }
            let now = self.clock.now()
            row.updatedAt = now
            guard !current.status.isTerminal else {
                // Cancelled meanwhile: the result is kept, nothing follows.
                if case .completed(let output, _) = result { row.output = output; row.status = .completed; row.finishedAt = now } else { row.status = .cancelled }
                try await repo.save(row, tenantID: tenantID, on: db)
                return
            }
            switch result {
            case .completed(let output, let next):
                try await self.complete(current, spec, step, row, output: output, next: next, on: db)
            case .failed(let error, let retryable):
                if retryable, row.attempts <= step.retries.max {
                    let delay = step.retries.delay(afterAttempt: row.attempts)
                    let at = now.addingTimeInterval(delay)
                    row.status = .retrying
                    row.error = error
                    try await repo.save(row, tenantID: tenantID, on: db)
                    try await repo.event(current, "step_retrying", step: step.id,
                                         data: ["attempt": .number(Double(row.attempts)), "error": .string(error), "retry_at": .string(Timestamps.format(at))],
                                         at: now, on: db)
                    try await self.enqueue(current, step: step.id, at: at, on: db)
                } else {
                    try await self.fail(current, spec, step, row, error: error, on: db)
                }
            case .waitUntil(let until, let data):
                row.status = .waiting
                row.waitUntil = until
                row.output = data
                try await repo.save(row, tenantID: tenantID, on: db)
                try await repo.event(current, "step_waiting", step: step.id, data: ["until": .string(Timestamps.format(until))], at: now, on: db)
                try await self.enqueue(current, step: step.id, at: until, on: db)
            case .agentPaused(let runID):
                let until = now.addingTimeInterval(self.agentRecheck)
                row.status = .waiting
                row.handle = runID
                row.waitUntil = until
                try await repo.save(row, tenantID: tenantID, on: db)
                try await repo.event(current, "step_waiting", step: step.id, data: ["run_id": .string(runID), "reason": "the agent's run is waiting for a person"],
                                     at: now, on: db)
                try await self.enqueue(current, step: step.id, at: until, on: db)
            case .approval(let message):
                row.status = .waiting
                row.approval = "pending"
                try await repo.save(row, tenantID: tenantID, on: db)
                try await repo.event(current, "approval_required", step: step.id,
                                     data: ["message": message.map { .string($0) } ?? .null,
                                            "decide": .string("POST /v1/flows/executions/\(current.id)/steps/\(step.id)/decision")], at: now, on: db)
                if current.status == .running { try await repo.setStatus(current, .waiting, at: now, on: db) }
            case .parallel(let branches):
                row.status = .waiting
                try await repo.save(row, tenantID: tenantID, on: db)
                try await repo.event(current, "step_waiting", step: step.id, data: ["branches": .array(branches.map { .string($0) })], at: now, on: db)
                for b in branches { if let s = spec.step(b) { try await self.queueStep(current, s, at: now, on: db) } }
            case .child(let flowID, let version, let childSpec, let input):
                let child = try await self.createExecution(flowID: flowID, version: version, spec: childSpec, input: input, principal: current.principal,
                                                           parent: (current, step.id), on: db)
                row.status = .waiting
                row.handle = child.id
                try await repo.save(row, tenantID: tenantID, on: db)
                try await repo.event(current, "step_waiting", step: step.id, data: ["child_execution_id": .string(child.id)], at: now, on: db)
            }
        }
    }

    func complete(_ e: FlowExecution, _ spec: FlowSpec, _ step: FlowStep, _ attempted: FlowStepRun, output: JSONValue, next: String??,
                  on db: any SQLDatabase) async throws {
        let now = clock.now()
        var row = attempted
        row.status = .completed
        row.output = output
        row.error = nil
        row.waitUntil = nil
        row.finishedAt = now
        row.updatedAt = now
        try await repo.save(row, tenantID: e.tenantID, on: db)
        try await repo.event(e, "step_completed", step: step.id, data: ["output": output, "attempts": .number(Double(row.attempts))], at: now, on: db)
        if let owner = spec.parallelOwner(of: step.id) {
            try await settleParallel(e, spec, owner, on: db)
            return
        }
        let target: String? = next ?? step.next
        if let target, let nextStep = spec.step(target) {
            if e.status == .waiting { try await repo.setStatus(e, .running, at: now, on: db) }
            try await queueStep(e, nextStep, at: now, on: db)
        } else {
            let rows = try await repo.steps(tenantID: e.tenantID, executionID: e.id, on: db)
            let result = spec.output.map { FlowTemplate.render($0, context: Self.context(e, rows)) } ?? output
            try await finish(e.id, tenantID: e.tenantID, .completed, output: result, error: nil, on: db)
        }
    }

    func fail(_ e: FlowExecution, _ spec: FlowSpec, _ step: FlowStep, _ attempted: FlowStepRun, error: String, on db: any SQLDatabase) async throws {
        let now = clock.now()
        var row = attempted
        row.status = .failed
        row.error = error
        row.finishedAt = now
        row.updatedAt = now
        try await repo.save(row, tenantID: e.tenantID, on: db)
        try await repo.event(e, "step_failed", step: step.id, data: ["error": .string(error), "attempts": .number(Double(row.attempts))], at: now, on: db)
        if let owner = spec.parallelOwner(of: step.id) {
            try await settleParallel(e, spec, owner, on: db)
        } else {
            try await finish(e.id, tenantID: e.tenantID, .failed, output: nil, error: error, on: db)
        }
    }

    /// A parallel step completes once enough branches completed, and fails once too many failed.
    func settleParallel(_ e: FlowExecution, _ spec: FlowSpec, _ owner: FlowStep, on db: any SQLDatabase) async throws {
        guard let ownerRow = try await repo.step(tenantID: e.tenantID, executionID: e.id, stepID: owner.id, on: db), ownerRow.status == .waiting else { return }
        let rows = try await repo.steps(tenantID: e.tenantID, executionID: e.id, on: db).filter { owner.parallelBranches.contains($0.stepID) }
        let done = rows.filter { $0.status == .completed }.sorted { ($0.finishedAt ?? .distantFuture, $0.stepID) < ($1.finishedAt ?? .distantFuture, $1.stepID) }
        let failed = rows.filter { $0.status == .failed }
        let needed = owner.parallelNeeded
        let total = owner.parallelBranches.count
        if done.count >= needed {
            let chosen = Array(done.prefix(needed))
            let now = clock.now()
            for var r in rows where !r.status.isFinal {
                r.status = .skipped
                r.finishedAt = now
                r.updatedAt = now
                try await repo.save(r, tenantID: e.tenantID, on: db)
            }
            let outputs = JSONValue.object(Dictionary(uniqueKeysWithValues: chosen.map { ($0.stepID, $0.output ?? .null) }))
            try await complete(e, spec, owner, ownerRow, output: ["branches": outputs, "completed": .array(chosen.map { .string($0.stepID) })], next: nil, on: db)
        } else if failed.count > total - needed {
            let reasons = failed.map { "\($0.stepID): \($0.error ?? "failed")" }.joined(separator: "; ")
            try await fail(e, spec, owner, ownerRow, error: "parallel step '\(owner.id)' cannot reach \(needed) completed branch(es): \(reasons)", on: db)
        }
    }

    /// Ends an execution; a sub-flow's end completes or fails its parent's step.
    func finish(_ executionID: String, tenantID: String, _ status: FlowExecutionStatus, output: JSONValue?, error: String?, on db: any SQLDatabase) async throws {
        guard let e = try await repo.execution(tenantID: tenantID, id: executionID, on: db), !e.status.isTerminal else { return }
        let now = clock.now()
        try await repo.setStatus(e, status, output: output, error: error, at: now, on: db)
        var data: [String: JSONValue] = [:]
        if let output { data["output"] = output }
        if let error { data["error"] = .string(error) }
        try await repo.event(e, "execution_\(status.rawValue)", step: nil, data: .object(data), at: now, on: db)
        // Steps still waiting or queued end with it.
        for var r in try await repo.steps(tenantID: tenantID, executionID: e.id, on: db) where !r.status.isFinal {
            r.status = .cancelled
            r.finishedAt = now
            r.updatedAt = now
            try await repo.save(r, tenantID: tenantID, on: db)
        }
        if status == .cancelled {
            for child in try await repo.children(tenantID: tenantID, of: e.id, on: db) where !child.status.isTerminal {
                try await finish(child.id, tenantID: tenantID, .cancelled, output: nil, error: "its parent execution was cancelled", on: db)
            }
        }
        guard let parentID = e.parentExecutionID, let stepID = e.parentStep,
              let parent = try await repo.execution(tenantID: tenantID, id: parentID, on: db), !parent.status.isTerminal,
              let parentSpec = try await repo.spec(tenantID: tenantID, flowID: parent.flowID, version: parent.flowVersion, on: db),
              let step = parentSpec.step(stepID),
              let row = try await repo.step(tenantID: tenantID, executionID: parentID, stepID: stepID, on: db), row.status == .waiting, row.handle == e.id
        else { return }
        if status == .completed {
            try await complete(parent, parentSpec, step, row, output: output ?? .null, next: nil, on: db)
        } else {
            try await fail(parent, parentSpec, step, row, error: "step '\(stepID)': its sub-flow execution \(e.id) \(status.rawValue): \(error ?? "")", on: db)
        }
    }
}
