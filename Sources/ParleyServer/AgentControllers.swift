import Foundation
import HTTPTypes
import Hummingbird
import ParleyAgent
import ParleyCore
import ParleyHTTP

/// Server-Sent Events: `id:` is the event's seq (heartbeats carry none, so a reconnect resumes
/// after the last real event), `event:` its type, `data:` its JSON.
enum SSE {
    static func encode(_ item: StreamItem) -> String {
        switch item {
        case .event(let e):
            return "id: \(e.seq)\nevent: \(e.type)\ndata: \(e.json.serialized())\n\n"
        case .heartbeat(let workflowID, let lastSeq, let at):
            let data: JSONValue = ["type": "heartbeat", "workflow_id": .string(workflowID), "seq": .number(Double(lastSeq)),
                                   "timestamp": .string(Timestamps.format(at))]
            return "event: heartbeat\ndata: \(data.serialized())\n\n"
        case .reconnect(let workflowID, let lastSeq, let at):
            // No `id:`: the client's Last-Event-ID stays at the last run event it received.
            return "retry: \(ShutdownDrain.retryMilliseconds)\nevent: reconnect\ndata: \(SSE.reconnectJSON(workflowID, lastSeq, at).serialized())\n\n"
        }
    }

    /// The `reconnect` event (docs/events.md): this server is shutting down; resume after `seq`.
    static func reconnectJSON(_ workflowID: String, _ lastSeq: Int, _ at: Date) -> JSONValue {
        ["type": "reconnect", "workflow_id": .string(workflowID), "seq": .number(Double(lastSeq)), "reason": "server_shutdown",
         "retry_ms": .number(Double(ShutdownDrain.retryMilliseconds)), "timestamp": .string(Timestamps.format(at))]
    }

    static func response(_ stream: AsyncStream<StreamItem>, metrics: HTTPMetrics) -> Response {
        response(stream, metrics: metrics, encode: encode)
    }

    /// A live event stream: each item written as it comes (framed by `encode`), counted as an
    /// open stream while it lasts.
    static func response<Item: Sendable>(_ stream: AsyncStream<Item>, metrics: HTTPMetrics,
                                         encode: @escaping @Sendable (Item) -> String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no"],
                 body: ResponseBody { writer in
                     metrics.streamOpened()
                     defer { metrics.streamClosed() }
                     // A write to a client that went away throws, which ends the loop and (through
                     // the stream's termination) the subscription; the run itself goes on.
                     for await item in stream {
                         try await writer.write(ByteBuffer(string: encode(item)))
                     }
                     try await writer.finish(nil)
                 })
    }
}

extension HTTPField.Name {
    static let xAccelBuffering = Self("X-Accel-Buffering")!
    static let lastEventID = Self("Last-Event-ID")!
}

/// JSON shapes of runs, sessions and approvals.
enum AgentViews {
    static func date(_ d: Date?) -> JSONValue { d.map { .string(Timestamps.format($0)) } ?? .null }
    static func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
    static func number(_ n: Int) -> JSONValue { .number(Double(n)) }

    static func workflow(_ w: Workflow) -> [String: JSONValue] {
        [
            "workflow_id": .string(w.id), "status": .string(w.status.rawValue), "session_id": text(w.sessionID),
            "initial_prompt": .string(w.initialPrompt), "final_response": text(w.finalResponse), "agent_type": .string(w.agentType),
            "provider": text(w.provider), "error_type": text(w.errorType), "error_message": text(w.errorMessage),
            "total_steps": number(w.totalSteps), "tools_used": .array(w.toolsUsed.map { .string($0) }),
            "usage": ["input_tokens": number(w.inputTokens), "output_tokens": number(w.outputTokens)],
            "created_at": date(w.createdAt), "updated_at": date(w.updatedAt), "started_at": date(w.startedAt), "completed_at": date(w.completedAt),
            "agent_id": text(w.agentID), "agent_version": w.agentVersion.map { number($0) } ?? .null,
        ]
    }

    /// Seed 000's reasoning chain: one entry per tool step, with what the tool returned.
    static func reasoningChain(_ events: [WorkflowEvent]) -> JSONValue {
        var ends: [String: WorkflowEvent] = [:]
        for e in events where e.type == EventType.toolEnd {
            if let step = e.fields["step_id"]?.stringValue { ends[step] = e }
        }
        return .array(events.filter { $0.type == EventType.reasoningStep }.map { step in
            var entry = step.fields
            entry["timestamp"] = date(step.timestamp)
            if let id = step.fields["step_id"]?.stringValue, let end = ends[id] {
                entry["action_output"] = end.fields["output"] ?? .null
                entry["success"] = end.fields["success"] ?? .null
                entry["duration_ms"] = end.fields["duration_ms"] ?? .null
            }
            return .object(entry)
        })
    }

    static func approval(_ a: Approval) -> JSONValue {
        ["approval_id": .string(a.id), "workflow_id": .string(a.workflowID), "tool": .string(a.tool), "input": a.input,
         "reason": .string(a.reason), "status": .string(a.status.rawValue), "comment": text(a.comment),
         "decided_by": text(a.decidedBy), "created_at": date(a.createdAt), "decided_at": date(a.decidedAt)]
    }

    static func session(_ s: Session) -> JSONValue {
        ["session_id": .string(s.id), "title": text(s.title), "state": .string(s.mode.rawValue), "summary": text(s.summary),
         "created_at": date(s.createdAt), "updated_at": date(s.updatedAt)]
    }

    static func message(_ m: SessionMessage) -> JSONValue {
        ["message_id": .string(m.id), "session_id": .string(m.sessionID), "workflow_id": text(m.workflowID),
         "role": .string(m.role.rawValue), "content": .string(m.content), "created_at": date(m.createdAt)]
    }
}

struct ChatRequest: Decodable {
    var message: String
    var sessionID: String?
    enum CodingKeys: String, CodingKey { case message, sessionID = "session_id" }
}

/// `POST /chat` (seed 000) and `POST /v1/chat`: start a run and stream it.
struct ChatController {
    let agent: AgentService
    let metrics: HTTPMetrics
    let maxBodyBytes: Int

    func register<G: RouterMethods<ParleyRequestContext>>(_ r: Routes<G>) {
        r.on(.post, "/chat") { req, ctx in
            let body = try await req.decodeJSON(ChatRequest.self, limit: maxBodyBytes)
            let action = try ctx.action()
            let (_, stream) = try await agent.startAndFollow(action, message: body.message, sessionID: body.sessionID)
            return SSE.response(stream, metrics: metrics)
        }
    }
}

struct WorkflowController {
    let agent: AgentService
    let metrics: HTTPMetrics
    let maxBodyBytes: Int

    struct Decision: Decodable { var decision: String; var comment: String? }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/workflows", query: Paging.parameters + ["status", "session_id", "created_after", "created_before"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            var filter = AgentService.ListFilter(limit: query.fetchLimit)
            if let s = req.queryString("status") {
                guard let status = WorkflowStatus(rawValue: s.uppercased()) else {
                    throw ParleyError.badRequest("status must be one of \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_query")
                }
                filter.status = status
            }
            filter.sessionID = req.queryString("session_id")
            filter.createdAfter = try req.queryDate("created_after")
            filter.createdBefore = try req.queryDate("created_before")
            filter.before = query.cursor
            let page = Paging.page(try await agent.list(try ctx.caller(), filter), limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map { .object(AgentViews.workflow($0)) }, next: page.next))
        }
        r.on(.get, "/workflows/:id") { _, ctx in
            let principal = try ctx.caller()
            let id = try ctx.parameters.require("id")
            let w = try await agent.workflow(principal, id: id)
            var body = AgentViews.workflow(w)
            body["approvals"] = .array(try await agent.approvals(principal, workflowID: id).map(AgentViews.approval))
            return RawJSON(value: .object(body))
        }
        r.on(.get, "/workflows/:id/events", query: ["after"]) { req, ctx in
            let principal = try ctx.caller()
            let id = try ctx.parameters.require("id")
            let after = try Self.cursor(req)
            // A client asking for JSON gets the stored events as a list instead of a stream.
            if req.headers[.accept]?.contains("application/json") == true {
                let events = try await agent.events(principal, workflowID: id, after: after)
                return try RawJSON(value: ["data": .array(events.map(\.json))]).response(from: req, context: ctx)
            }
            return SSE.response(try await agent.follow(principal, workflowID: id, after: after), metrics: metrics)
        }
        r.on(.post, "/workflows/:id/cancel") { _, ctx in
            let w = try await agent.cancel(try ctx.action(), workflowID: try ctx.parameters.require("id"))
            return RawJSON(value: .object(AgentViews.workflow(w)))
        }
        r.on(.get, "/workflows/:id/approvals") { _, ctx in
            let list = try await agent.approvals(try ctx.caller(), workflowID: try ctx.parameters.require("id"))
            return RawJSON(value: Paging.envelope(list.map(AgentViews.approval), next: nil))
        }
        r.on(.post, "/workflows/:id/approvals/:approval_id") { req, ctx in
            let body = try await req.decodeJSON(Decision.self, limit: maxBodyBytes)
            guard let decision = ApprovalDecision(rawValue: body.decision.lowercased()) else {
                throw ParleyError.badRequest("decision must be \"approve\" or \"deny\"", code: "invalid_decision")
            }
            let approval = try await agent.decide(try ctx.action(), workflowID: try ctx.parameters.require("id"),
                                                  approvalID: try ctx.parameters.require("approval_id"), decision: decision, comment: body.comment)
            return RawJSON(value: AgentViews.approval(approval))
        }
    }

    /// `Last-Event-ID` (what EventSource sends on reconnect) wins over `?after=`.
    static func cursor(_ req: Request) throws -> Int {
        guard let raw = req.headers[.lastEventID] ?? req.queryString("after") else { return 0 }
        guard let n = Int(raw.trimmingCharacters(in: .whitespaces)), n >= 0 else {
            throw ParleyError.badRequest("Last-Event-ID must be a non-negative event sequence number, got '\(raw.prefix(40))'", code: "invalid_last_event_id")
        }
        return n
    }
}

/// Seed 000's read endpoints, kept as compatible aliases.
struct SeedWorkflowController {
    let agent: AgentService

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/workflows/:id") { _, ctx in
            let principal = try ctx.caller()
            let id = try ctx.parameters.require("id")
            let w = try await agent.workflow(principal, id: id)
            var body = AgentViews.workflow(w)
            body["reasoning_chain"] = AgentViews.reasoningChain(try await agent.events(principal, workflowID: id))
            return RawJSON(value: .object(body))
        }
        r.on(.get, "/workflows/:id/status") { _, ctx in
            let w = try await agent.workflow(try ctx.caller(), id: try ctx.parameters.require("id"))
            return JSON(WorkflowStatusView(workflowId: w.id, status: w.status.rawValue, createdAt: w.createdAt, updatedAt: w.updatedAt,
                                           hasFinalResponse: w.finalResponse != nil))
        }
    }
}

struct SessionController {
    let agent: AgentService
    let maxBodyBytes: Int

    struct CreateSession: Decodable { var title: String? }
    struct PostMessage: Decodable { var content: String?; var message: String? }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/sessions") { req, ctx in
            // An empty body is fine: a session needs no fields.
            var request = req
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            let body = buffer.readableBytes == 0 ? CreateSession()
                : try await request.decodeJSON(CreateSession.self, limit: maxBodyBytes)
            let session = try await agent.createSession(try ctx.action(), title: body.title)
            return RawJSON(value: AgentViews.session(session), status: .created)
        }
        r.on(.get, "/sessions", query: Paging.parameters) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await agent.sessions(try ctx.caller(), before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map(AgentViews.session), next: page.next))
        }
        r.on(.patch, "/sessions/:id") { req, ctx in
            let body = try await req.decodeJSON(CreateSession.self, limit: maxBodyBytes)
            return RawJSON(value: AgentViews.session(try await agent.renameSession(try ctx.action(), id: try ctx.parameters.require("id"), title: body.title)))
        }
        r.on(.get, "/sessions/:id") { _, ctx in
            RawJSON(value: AgentViews.session(try await agent.session(try ctx.caller(), id: try ctx.parameters.require("id"))))
        }
        r.on(.get, "/sessions/:id/messages", query: Paging.forwardParameters) { req, ctx in
            let query = try Paging.read(req, default: 100, max: 500, direction: .forward)
            let list = try await agent.messages(try ctx.caller(), sessionID: try ctx.parameters.require("id"), after: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map(AgentViews.message), next: page.next))
        }
        // Request/response for clients that do not stream: waits for the answer (or for a pause).
        r.on(.post, "/sessions/:id/messages") { req, ctx in
            let body = try await req.decodeJSON(PostMessage.self, limit: maxBodyBytes)
            let action = try ctx.action()
            let (run, stream) = try await agent.startAndFollow(action, message: body.content ?? body.message ?? "", sessionID: try ctx.parameters.require("id"))
            let done = try await agent.waitForOutcome(action.principal, workflowID: run.id, following: stream)
            var out = AgentViews.workflow(done)
            if done.status == .waitingApproval {
                out["approvals"] = .array(try await agent.approvals(action.principal, workflowID: run.id).filter { $0.status == .pending }.map(AgentViews.approval))
            }
            // 202 when the run is not over: paused for approval (or still going if the wait was cut short).
            return RawJSON(value: .object(out), status: done.status.isTerminal ? .ok : .accepted)
        }
    }
}

struct ToolController {
    let agent: AgentService
    let maxBodyBytes: Int

    struct SetPolicy: Decodable { var mode: String }

    static func view(_ t: AgentService.ToolView) -> JSONValue {
        ["name": .string(t.name), "description": .string(t.description), "has_side_effects": .bool(t.hasSideEffects),
         "mode": .string(t.mode.rawValue), "input_schema": t.inputSchema]
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/tools") { _, ctx in
            RawJSON(value: Paging.envelope(try await agent.tools(try ctx.caller()).map(Self.view), next: nil))
        }
        r.on(.put, "/tools/:name/policy") { req, ctx in
            let body = try await req.decodeJSON(SetPolicy.self, limit: maxBodyBytes)
            guard let mode = ToolPolicyMode(rawValue: body.mode) else {
                throw ParleyError.badRequest("mode must be one of \(ToolPolicyMode.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_mode")
            }
            return RawJSON(value: Self.view(try await agent.setPolicy(try ctx.action(), tool: try ctx.parameters.require("name"), mode: mode)))
        }
    }
}

extension Request {
    func queryDate(_ name: String) throws -> Date? {
        guard let raw = queryString(name) else { return nil }
        guard let date = JSONCoding.parse(raw) else {
            throw ParleyError.badRequest("query parameter '\(name)' must be an ISO 8601 timestamp such as 2026-01-31T09:00:00Z", code: "invalid_query")
        }
        try JSONCoding.checkRange(date, raw, name: "query parameter '\(name)'")
        return date
    }
}

/// `GET /api/workflows/{id}/status` (seed 000's polling route).
struct WorkflowStatusView: Encodable, Sendable {
    var workflowId: String
    var status: String
    var createdAt: Date
    var updatedAt: Date
    var hasFinalResponse: Bool
}
