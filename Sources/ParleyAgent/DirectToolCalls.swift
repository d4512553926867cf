import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage

/// A tool as a direct caller (an MCP client, docs/mcp.md) sees it: one the caller's role may use,
/// of a pack the tenant has on, not disabled by the tenant's policy.
public struct CallableTool: Sendable, Equatable {
    public var name: String
    public var description: String
    public var inputSchema: JSONValue
    public var hasSideEffects: Bool
    public var permission: Permission
    /// The tenant's policy: `require_approval` means a call waits for a person.
    public var mode: ToolPolicyMode
}

/// How a direct call ended, or why it waits.
public enum DirectCallResult: Sendable, Equatable {
    /// The tool ran (successfully or not: `status` is the `tool_end` status, `output` its output).
    case finished(workflowID: String, success: Bool, status: String, output: JSONValue)
    /// The tenant's policy holds the call for a person: approving it through the API runs the tool
    /// in this run (`POST /v1/workflows/{workflowID}/approvals/{approvalID}`).
    case waitingApproval(workflowID: String, approvalID: String, reason: String)
    /// The run ended without the tool's result (stopped, timed out, the server shut down).
    case failed(workflowID: String, type: String, message: String)
}

extension AgentService {
    /// Tools only a conversation can use (a hand-off needs one): never called directly.
    static let conversationOnly: Set<String> = [EscalationRules.toolName]

    /// The tools this caller may call directly (the tenant's MCP servers' too), in registration order.
    public func callableTools(_ principal: Principal) async throws -> [CallableTool] {
        let (policies, hidden) = try await restrictions(tenantID: principal.tenantID)
        let tools = try await runtime.tools(tenantID: principal.tenantID)
        return tools.order.compactMap { tools[$0] }.compactMap { tool in
            guard refusal(tool, principal: principal, policies: policies, hidden: hidden) == nil else { return nil }
            return CallableTool(name: tool.name, description: tool.description, inputSchema: tool.inputSchema, hasSideEffects: tool.hasSideEffects,
                                permission: tool.permission, mode: policies[tool.name] ?? ToolPolicyMode.default(for: tool))
        }
    }

    /// Calls one tool as `ctx`'s caller, outside a conversation: a run of its own records it (its
    /// events, an audit row), the tool's input is validated and it runs through the same executor
    /// as a model's call, under its timeout. A tool the tenant's policy holds for approval does
    /// not run: the run waits (`waitingApproval`), and runs the tool once a person approves.
    /// A tool the caller may not call throws a `ParleyError` naming it and why.
    public func callTool(_ ctx: ActionContext, name: String, arguments: JSONValue) async throws -> DirectCallResult {
        let tenantID = ctx.principal.tenantID
        let (policies, hidden) = try await restrictions(tenantID: tenantID)
        guard let tool = try await runtime.tools(tenantID: tenantID)[name] else {
            throw ParleyError.notFound("there is no tool named '\(name.prefix(100))'; tools/list names the tools you may call", code: "tool_not_found")
        }
        if let refusal = refusal(tool, principal: ctx.principal, policies: policies, hidden: hidden) { throw refusal }
        guard case .object = arguments else {
            throw ParleyError.badRequest("the arguments of '\(name)' must be a JSON object", code: "invalid_arguments")
        }
        let now = clock.now()
        let serialized = arguments.serialized()
        let workflow = Workflow(
            id: UUIDv7.make(at: now), tenantID: tenantID, sessionID: nil, status: .processing,
            initialPrompt: "Call the tool \(name) with \(serialized.prefix(2000))", finalResponse: nil, agentType: settings.agentType,
            provider: nil, errorType: nil, errorMessage: nil, inputTokens: 0, outputTokens: 0, totalSteps: 0, toolsUsed: [],
            createdAt: now, updatedAt: now, startedAt: now, completedAt: nil)
        let owner = RunOwner(actor: ctx.principal.actor, role: ctx.principal.role, keyID: ctx.principal.keyID, requestID: ctx.requestID)
        let recorder = RunRecorder(workflowID: workflow.id, tenantID: tenantID, lastSeq: 0, writer: runtime.writer, clock: clock)
        let subscription = runtime.hub.subscribe(workflow.id)
        let audit = AuditLog(clock: clock)
        let started: [String: JSONValue] = [
            "initial_prompt": .string(workflow.initialPrompt), "agent_type": .string(settings.agentType), "session_id": .null,
            "agent_id": .null, "agent_version": .null, "direct_tool_call": .string(name),
        ]
        do {
            try await recorder.emit(EventType.workflowStarted, started) { [repo] db in
                try await repo.insertWorkflow(workflow, owner: owner, on: db)
                try await audit.record(ctx, action: "tool.call", targetType: "tool", targetID: name,
                                       details: JSONValue.object(["workflow_id": .string(workflow.id), "via": "mcp"]).serialized(), on: db)
            }
        } catch {
            subscription.cancel()
            throw error
        }
        var state = RunState(messages: [.user(workflow.initialPrompt)])
        state.direct = true
        state.pending = [PendingCall(callID: "call_\(UUIDv7.make(at: now))", tool: name, arguments: serialized, stepID: UUIDv7.make(at: now))]
        runtime.launch(RunHandle(workflowID: workflow.id, tenantID: tenantID, sessionID: nil, owner: owner, recorder: recorder), state: state)

        var ended: [String: JSONValue]?
        for await item in stream(subscription, tenantID: tenantID, workflowID: workflow.id, after: 0, readFirst: false) {
            guard case .event(let event) = item else { continue }
            switch event.type {
            case EventType.toolEnd:
                ended = event.fields
            case EventType.approvalRequired:
                return .waitingApproval(workflowID: workflow.id, approvalID: event.fields["approval_id"]?.stringValue ?? "",
                                        reason: event.fields["reason"]?.stringValue ?? "this workspace requires approval before \(name) runs")
            case EventType.workflowCompleted:
                return .finished(workflowID: workflow.id, success: ended?["success"]?.boolValue ?? false,
                                 status: ended?["status"]?.stringValue ?? "error", output: ended?["output"] ?? .null)
            case EventType.workflowError:
                return .failed(workflowID: workflow.id, type: event.fields["error_type"]?.stringValue ?? "internal",
                               message: event.fields["error_message"]?.stringValue ?? "the call did not finish")
            default:
                continue
            }
        }
        // The stream ended before the run did: this server is shutting down.
        return .failed(workflowID: workflow.id, type: "interrupted", message: "the server stopped before the call finished; GET /v1/workflows/\(workflow.id) shows how it ended")
    }

    private func restrictions(tenantID: String) async throws -> (policies: [String: ToolPolicyMode], hidden: Set<String>) {
        let policies = try await store.read { [repo] db in try await repo.policies(tenantID: tenantID, on: db) }
        let hidden = try await settings.unavailableTools?(tenantID) ?? []
        return (policies, hidden)
    }

    /// Why this caller may not call `tool` directly; nil when it may.
    private func refusal(_ tool: Tool, principal: Principal, policies: [String: ToolPolicyMode], hidden: Set<String>) -> ParleyError? {
        if Self.conversationOnly.contains(tool.name) {
            return ParleyError.badRequest("the tool '\(tool.name)' works only inside a conversation with the agent (POST /v1/chat)", code: "tool_conversation_only")
        }
        if hidden.contains(tool.name) {
            return ParleyError.notFound("the tool '\(tool.name)' belongs to a pack this workspace has switched off (PUT /v1/tenant/packs switches it on)",
                                        code: "tool_unavailable")
        }
        if policies[tool.name] == .disabled {
            return ParleyError(.forbidden, code: "tool_disabled",
                               "this workspace's policy disables the tool '\(tool.name)' (PUT /v1/tools/\(tool.name)/policy changes it)")
        }
        guard principal.role.allows(tool.permission) else {
            let who = principal.keyID == nil ? "this caller's role" : "this key's role"
            return ParleyError(.forbidden, code: "forbidden",
                               "\(who) (\(principal.role.rawValue)) may not use the tool '\(tool.name)': it needs permission to \(tool.permission.words)")
        }
        return nil
    }
}
