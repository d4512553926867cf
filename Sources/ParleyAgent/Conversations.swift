import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

// Conversations (issue 13, seed 004's names): the agent's sessions with their messages and tool
// executions (the tool_start/tool_end events of the session's runs). Deleting one is soft.

public struct Conversation: Sendable, Equatable {
    public var session: Session
    public var deletedAt: Date?
}

/// One tool call of a conversation's runs: what it was given and what it returned.
public struct ToolExecution: Sendable, Equatable {
    public var callID: String
    public var workflowID: String
    public var tool: String
    public var input: JSONValue
    public var output: JSONValue
    /// `success`, `error`, `denied`, ... (as on `tool_end`); nil while it runs.
    public var status: String?
    public var durationMilliseconds: Int?
    public var startedAt: Date
    public var completedAt: Date?
}

struct ConversationRepository: Sendable {
    func list(tenantID: String, includeDeleted: Bool, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [Conversation] {
        var sql: SQLQueryString = "SELECT * FROM agent_sessions WHERE tenant_id = \(bind: tenantID)"
        if !includeDeleted { sql += " AND deleted_at IS NULL" }
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decode)
    }

    func find(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Conversation? {
        try await db.raw("SELECT * FROM agent_sessions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decode)
    }

    func setDeleted(tenantID: String, id: String, at: Date?, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE agent_sessions SET deleted_at = \(bind: at) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    /// The tool calls of the session's runs, oldest first.
    func toolExecutions(tenantID: String, sessionID: String, limit: Int, on db: any SQLDatabase) async throws -> [ToolExecution] {
        let rows = try await db.raw("""
            SELECT e.workflow_id, e.type, e.data, e.created_at FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id
            WHERE w.tenant_id = \(bind: tenantID) AND w.session_id = \(bind: sessionID) AND e.tenant_id = \(bind: tenantID)
              AND e.type IN ('tool_start', 'tool_end')
            ORDER BY e.workflow_id, e.seq LIMIT \(literal: limit * 2)
            """).all()
        var out: [ToolExecution] = []
        var index: [String: Int] = [:]
        for row in rows {
            let workflowID = try row.decode(column: "workflow_id", as: String.self)
            let at = try row.decode(column: "created_at", as: Date.self)
            guard let data = try? JSONValue.parse(try row.decode(column: "data", as: String.self)),
                  let callID = data["call_id"]?.stringValue, let tool = data["tool"]?.stringValue else { continue }
            let key = workflowID + "/" + callID
            if try row.decode(column: "type", as: String.self) == EventType.toolStart {
                index[key] = out.count
                out.append(ToolExecution(callID: callID, workflowID: workflowID, tool: tool, input: data["input"] ?? .null, output: .null,
                                         status: nil, durationMilliseconds: nil, startedAt: at, completedAt: nil))
            } else {
                // A denied call ends without having started.
                if index[key] == nil {
                    index[key] = out.count
                    out.append(ToolExecution(callID: callID, workflowID: workflowID, tool: tool, input: .null, output: .null,
                                             status: nil, durationMilliseconds: nil, startedAt: at, completedAt: nil))
                }
                let i = index[key] ?? out.count - 1
                out[i].output = data["output"] ?? .null
                out[i].status = data["status"]?.stringValue
                out[i].durationMilliseconds = data["duration_ms"]?.intValue
                out[i].completedAt = at
            }
        }
        return Array(out.prefix(limit))
    }

    static func decode(_ row: any SQLRow) throws -> Conversation {
        Conversation(session: try AgentRepository.decodeSession(row), deletedAt: try row.decode(column: "deleted_at", as: Date?.self))
    }
}

/// `/v1/conversations`: the sessions under seed 004's name.
public struct ConversationService: Sendable {
    let agent: AgentService
    let retention: Retention
    let repo = ConversationRepository()
    var store: any Store { agent.runtime.store }

    public init(agent: AgentService, retention: Retention = .standard) {
        self.agent = agent
        self.retention = retention
    }

    public func list(_ principal: Principal, includeDeleted: Bool, before: String?, limit: Int) async throws -> [Conversation] {
        try principal.require(.readTenant)
        if let before { try AgentService.validateID(before, what: "conversation") }
        return try await store.read { [repo] db in
            try await repo.list(tenantID: principal.tenantID, includeDeleted: includeDeleted, before: before, limit: limit, on: db)
        }
    }

    /// The conversation with its messages and tool executions (the first 500 of each).
    public func get(_ principal: Principal, id: String, includeDeleted: Bool) async throws -> (Conversation, [SessionMessage], [ToolExecution]) {
        let c = try await find(principal, id: id, includeDeleted: includeDeleted)
        let tenantID = principal.tenantID
        let (messages, tools) = try await store.read { [repo] db in
            (try await AgentRepository().messages(tenantID: tenantID, sessionID: id, after: nil, limit: 500, on: db),
             try await repo.toolExecutions(tenantID: tenantID, sessionID: id, limit: 500, on: db))
        }
        return (c, messages, tools)
    }

    public func delete(_ ctx: ActionContext, id: String) async throws -> Conversation {
        try ctx.principal.require(.act, toDo: "delete conversations")
        return try await setDeleted(ctx, id: id, deleted: true)
    }

    public func restore(_ ctx: ActionContext, id: String) async throws -> Conversation {
        try ctx.principal.require(.act, toDo: "restore conversations")
        return try await setDeleted(ctx, id: id, deleted: false)
    }

    private func setDeleted(_ ctx: ActionContext, id: String, deleted: Bool) async throws -> Conversation {
        var c = try await find(ctx.principal, id: id, includeDeleted: true)
        guard (c.deletedAt != nil) != deleted else { return c }
        let now = agent.runtime.clock.now()
        if let at = c.deletedAt { try retention.requireRestorable("conversation \(id)", deletedAt: at, now: now) }
        c.deletedAt = deleted ? now : nil
        let tenantID = ctx.principal.tenantID
        let audit = AuditLog(clock: agent.runtime.clock)
        try await store.transaction { [repo] db in
            try await repo.setDeleted(tenantID: tenantID, id: id, at: deleted ? now : nil, on: db)
            try await audit.record(ctx, action: deleted ? "conversation.delete" : "conversation.restore", targetType: "session", targetID: id, on: db)
        }
        return c
    }

    private func find(_ principal: Principal, id: String, includeDeleted: Bool) async throws -> Conversation {
        try principal.require(.readTenant)
        try AgentService.validateID(id, what: "conversation")
        guard let c = try await store.read({ [repo] db in try await repo.find(tenantID: principal.tenantID, id: id, on: db) }) else {
            throw ParleyError.notFound("conversation \(id) not found", code: "conversation_not_found")
        }
        if let at = c.deletedAt, !includeDeleted {
            throw retention.deleted("conversation \(id)", code: "conversation_deleted", restore: "/v1/conversations/\(id)/restore", deletedAt: at)
        }
        return c
    }
}
