import Foundation
import Hummingbird
import ParleyAgent
import ParleyCore
import ParleyHTTP

/// `/v1/agents`: a tenant's agents as data, their versions, and runs of one (issue 13).
struct AgentDefinitionController {
    let agents: AgentDefinitionService
    let metrics: HTTPMetrics
    let maxBodyBytes: Int

    static func version(_ v: AgentVersion) -> JSONValue {
        ["agent_id": .string(v.agentID), "version": .number(Double(v.version)), "created_by": .string(v.createdBy),
         "created_at": .string(Timestamps.format(v.createdAt)),
         "definition": (try? JSONValue.parse(String(decoding: JSONEncoder().encode(v.spec), as: UTF8.self))) ?? .null]
    }

    /// A version list's `before`: a version number from a previous page's `next_cursor`.
    static func versionCursor(_ cursor: String?) throws -> Int? {
        guard let cursor else { return nil }
        guard let n = Int(cursor), n > 0 else {
            throw ParleyError.badRequest("'before' must be a version number from a previous page's next_cursor", code: "invalid_query")
        }
        return n
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/agents") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: AgentChanges.fields)
            let created = try await agents.create(try ctx.action(), try AgentChanges.parse(body))
            return RawJSON(value: created.json, status: .created)
        }
        r.on(.get, "/agents", query: Paging.parameters + ["include_deleted"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await agents.list(try ctx.caller(), includeDeleted: try req.includeDeleted(), before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map(\.json), next: page.next))
        }
        r.on(.get, "/agents/:id", query: ["include_deleted"]) { req, ctx in
            RawJSON(value: try await agents.read(try ctx.caller(), ref: try ctx.parameters.require("id"), includeDeleted: try req.includeDeleted()).json)
        }
        r.on(.patch, "/agents/:id") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: AgentChanges.fields)
            return RawJSON(value: try await agents.update(try ctx.action(), ref: try ctx.parameters.require("id"), try AgentChanges.parse(body)).json)
        }
        r.on(.delete, "/agents/:id") { _, ctx in
            RawJSON(value: try await agents.delete(try ctx.action(), ref: try ctx.parameters.require("id")).json)
        }
        r.on(.post, "/agents/:id/restore") { _, ctx in
            RawJSON(value: try await agents.restore(try ctx.action(), ref: try ctx.parameters.require("id")).json)
        }
        r.on(.get, "/agents/:id/versions", query: Paging.parameters) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await agents.versions(try ctx.caller(), ref: try ctx.parameters.require("id"), before: try Self.versionCursor(query.cursor),
                                                 limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: { String($0.version) })
            return RawJSON(value: Paging.envelope(page.rows.map(Self.version), next: page.next))
        }
        // Streams exactly like `/v1/chat`.
        r.on(.post, "/agents/:id/execute") { req, ctx in
            let body = try await req.decodeJSON(ChatRequest.self, limit: maxBodyBytes)
            let (_, stream) = try await agents.execute(try ctx.action(), ref: try ctx.parameters.require("id"), message: body.message, sessionID: body.sessionID)
            return SSE.response(stream, metrics: metrics)
        }
    }
}

/// `/v1/conversations`: the agent's sessions with their messages and tool executions (seed 004's names).
struct ConversationController {
    let conversations: ConversationService

    static func conversation(_ c: Conversation) -> [String: JSONValue] {
        var out = AgentViews.session(c.session).objectValue ?? [:]
        out["id"] = .string(c.session.id)
        out["deleted_at"] = AgentViews.date(c.deletedAt)
        return out
    }

    static func toolExecution(_ t: ToolExecution) -> JSONValue {
        ["call_id": .string(t.callID), "workflow_id": .string(t.workflowID), "tool": .string(t.tool), "input": t.input, "output": t.output,
         "status": AgentViews.text(t.status), "duration_ms": t.durationMilliseconds.map { .number(Double($0)) } ?? .null,
         "started_at": AgentViews.date(t.startedAt), "completed_at": AgentViews.date(t.completedAt)]
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/conversations", query: Paging.parameters + ["include_deleted"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await conversations.list(try ctx.caller(), includeDeleted: try req.includeDeleted(), before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.session.id)
            return RawJSON(value: Paging.envelope(page.rows.map { .object(Self.conversation($0)) }, next: page.next))
        }
        r.on(.get, "/conversations/:id", query: ["include_deleted"]) { req, ctx in
            let (c, messages, tools) = try await conversations.get(try ctx.caller(), id: try ctx.parameters.require("id"), includeDeleted: try req.includeDeleted())
            var out = Self.conversation(c)
            out["messages"] = .array(messages.map(AgentViews.message))
            out["tool_executions"] = .array(tools.map(Self.toolExecution))
            return RawJSON(value: .object(out))
        }
        r.on(.delete, "/conversations/:id") { _, ctx in
            RawJSON(value: .object(Self.conversation(try await conversations.delete(try ctx.action(), id: try ctx.parameters.require("id")))))
        }
        r.on(.post, "/conversations/:id/restore") { _, ctx in
            RawJSON(value: .object(Self.conversation(try await conversations.restore(try ctx.action(), id: try ctx.parameters.require("id")))))
        }
    }
}
