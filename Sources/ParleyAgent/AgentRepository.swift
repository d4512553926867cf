import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// The agent runtime's tables. Every query is scoped by `tenant_id`.
public enum AgentSchema {
    public static let migrations: [Migration] = AgentDefinitionSchema.migrations + [
        Migration("0002_agent_runtime", [
            """
            CREATE TABLE agent_sessions (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                title TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX agent_sessions_tenant ON agent_sessions (tenant_id, id)",
            """
            CREATE TABLE session_messages (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                session_id TEXT NOT NULL REFERENCES agent_sessions(id),
                workflow_id TEXT,
                role TEXT NOT NULL,
                content TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX session_messages_session ON session_messages (session_id, id)",
            """
            CREATE TABLE workflows (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                session_id TEXT,
                status TEXT NOT NULL,
                initial_prompt TEXT NOT NULL,
                final_response TEXT,
                agent_type TEXT NOT NULL,
                provider TEXT,
                error_type TEXT,
                error_message TEXT,
                input_tokens %BIGINT% NOT NULL DEFAULT 0,
                output_tokens %BIGINT% NOT NULL DEFAULT 0,
                total_steps INTEGER NOT NULL DEFAULT 0,
                tools_used TEXT NOT NULL DEFAULT '[]',
                state TEXT,
                cancel_requested %BOOL% NOT NULL DEFAULT FALSE,
                actor TEXT NOT NULL,
                role TEXT NOT NULL,
                key_id TEXT,
                request_id TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                started_at %TIMESTAMP%,
                completed_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX workflows_tenant ON workflows (tenant_id, id)",
            "CREATE INDEX workflows_status ON workflows (status, updated_at)",
            """
            CREATE TABLE workflow_events (
                workflow_id TEXT NOT NULL REFERENCES workflows(id),
                seq INTEGER NOT NULL,
                tenant_id TEXT NOT NULL,
                type TEXT NOT NULL,
                data TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (workflow_id, seq)
            )
            """,
            """
            CREATE TABLE workflow_approvals (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                workflow_id TEXT NOT NULL REFERENCES workflows(id),
                call_id TEXT NOT NULL,
                tool TEXT NOT NULL,
                input TEXT NOT NULL,
                reason TEXT NOT NULL,
                status TEXT NOT NULL,
                comment TEXT,
                decided_by TEXT,
                created_at %TIMESTAMP% NOT NULL,
                decided_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX workflow_approvals_workflow ON workflow_approvals (workflow_id)",
            """
            CREATE TABLE tool_policies (
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                tool TEXT NOT NULL,
                mode TEXT NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (tenant_id, tool)
            )
            """,
        ]),
    ]
}

/// Who started a run; a run resumed after approval acts with the starter's rights.
struct RunOwner: Sendable, Equatable {
    var actor: String
    var role: Role
    var keyID: String?
    var requestID: String?
}

struct WorkflowFilter: Sendable {
    var status: WorkflowStatus?
    var sessionID: String?
    var createdAfter: Date?
    var createdBefore: Date?
    var beforeID: String?
    var limit: Int
}

struct AgentRepository: Sendable {
    // MARK: sessions

    func insertSession(_ s: Session, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO agent_sessions (id, tenant_id, title, created_at, updated_at)
            VALUES (\(bind: s.id), \(bind: s.tenantID), \(bind: s.title), \(bind: s.createdAt), \(bind: s.updatedAt))
            """).run()
    }

    func findSession(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Session? {
        // A deleted conversation is gone for the agent and the API (`/v1/conversations` can still show it).
        try await db.raw("SELECT * FROM agent_sessions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) AND deleted_at IS NULL").first().map(Self.decodeSession)
    }

    /// Newest first; `before` is the last id of the previous page.
    func listSessions(tenantID: String, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [Session] {
        var sql: SQLQueryString = "SELECT * FROM agent_sessions WHERE tenant_id = \(bind: tenantID) AND deleted_at IS NULL"
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(bind: limit)"
        return try await db.raw(sql).all().map(Self.decodeSession)
    }

    func renameSession(tenantID: String, id: String, title: String?, at: Date, on db: any SQLDatabase) async throws -> Session? {
        try await db.raw("""
            UPDATE agent_sessions SET title = \(bind: title), updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) AND deleted_at IS NULL RETURNING *
            """).first().map(Self.decodeSession)
    }

    static func decodeSession(_ row: any SQLRow) throws -> Session {
        Session(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                title: try row.decode(column: "title", as: String?.self),
                createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self),
                mode: SessionMode(rawValue: try row.decode(column: "state", as: String.self)) ?? .agent,
                summary: try row.decode(column: "summary", as: String?.self))
    }

    func appendMessage(_ m: SessionMessage, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO session_messages (id, tenant_id, session_id, workflow_id, role, content, created_at)
            VALUES (\(bind: m.id), \(bind: m.tenantID), \(bind: m.sessionID), \(bind: m.workflowID), \(bind: m.role.rawValue), \(bind: m.content), \(bind: m.createdAt))
            """).run()
        try await db.raw("UPDATE agent_sessions SET updated_at = \(bind: m.createdAt) WHERE id = \(bind: m.sessionID) AND tenant_id = \(bind: m.tenantID)").run()
    }

    /// The newest `limit` messages, returned oldest first.
    func recentMessages(tenantID: String, sessionID: String, limit: Int, on db: any SQLDatabase) async throws -> [SessionMessage] {
        try await db.raw("""
            SELECT * FROM session_messages WHERE tenant_id = \(bind: tenantID) AND session_id = \(bind: sessionID)
            ORDER BY id DESC LIMIT \(literal: limit)
            """).all().map(Self.decodeMessage).reversed()
    }

    func messages(tenantID: String, sessionID: String, after: String?, limit: Int, on db: any SQLDatabase) async throws -> [SessionMessage] {
        var sql: SQLQueryString = "SELECT * FROM session_messages WHERE tenant_id = \(bind: tenantID) AND session_id = \(bind: sessionID)"
        if let after { sql += " AND id > \(bind: after)" }
        sql += " ORDER BY id LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decodeMessage)
    }

    func memory(tenantID: String, sessionID: String, on db: any SQLDatabase) async throws -> SessionMemory {
        guard let row = try await db.raw("""
            SELECT summary, summary_through FROM agent_sessions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: sessionID)
            """).first() else { return SessionMemory() }
        return SessionMemory(summary: try row.decode(column: "summary", as: String?.self), through: try row.decode(column: "summary_through", as: String?.self))
    }

    /// The successful tool outputs of these runs, oldest first (for session summaries).
    func toolOutputs(tenantID: String, workflowIDs: [String], on db: any SQLDatabase) async throws -> [(tool: String, output: String)] {
        guard !workflowIDs.isEmpty else { return [] }
        let ids = SQLList(workflowIDs.prefix(200).map { SQLBind($0) })
        return try await db.raw("""
            SELECT data FROM workflow_events WHERE tenant_id = \(bind: tenantID) AND workflow_id IN (\(ids)) AND type = 'tool_end'
            ORDER BY workflow_id, seq LIMIT 200
            """).all().compactMap { row in
            guard let data = try? JSONValue.parse(try row.decode(column: "data", as: String.self)), data["success"]?.boolValue == true,
                  let tool = data["tool"]?.stringValue, let output = data["output"] else { return nil }
            return (tool, output.stringValue ?? output.serialized())
        }
    }

    static func decodeMessage(_ row: any SQLRow) throws -> SessionMessage {
        let roleText = try row.decode(column: "role", as: String.self)
        return SessionMessage(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            sessionID: try row.decode(column: "session_id", as: String.self), workflowID: try row.decode(column: "workflow_id", as: String?.self),
            role: SessionMessage.Role(rawValue: roleText) ?? .assistant, content: try row.decode(column: "content", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self))
    }

    // MARK: workflows

    func insertWorkflow(_ w: Workflow, owner: RunOwner, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO workflows (id, tenant_id, session_id, status, initial_prompt, agent_type, actor, role, key_id, request_id, created_at, updated_at,
                                   agent_id, agent_version)
            VALUES (\(bind: w.id), \(bind: w.tenantID), \(bind: w.sessionID), \(bind: w.status.rawValue), \(bind: w.initialPrompt), \(bind: w.agentType),
                    \(bind: owner.actor), \(bind: owner.role.rawValue), \(bind: owner.keyID), \(bind: owner.requestID), \(bind: w.createdAt), \(bind: w.updatedAt),
                    \(bind: w.agentID), \(bind: w.agentVersion))
            """).run()
    }

    func findWorkflow(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Workflow? {
        try await db.raw("SELECT * FROM workflows WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decodeWorkflow)
    }

    func listWorkflows(tenantID: String, filter: WorkflowFilter, on db: any SQLDatabase) async throws -> [Workflow] {
        var sql: SQLQueryString = "SELECT * FROM workflows WHERE tenant_id = \(bind: tenantID)"
        if let s = filter.status { sql += " AND status = \(bind: s.rawValue)" }
        if let s = filter.sessionID { sql += " AND session_id = \(bind: s)" }
        if let d = filter.createdAfter { sql += " AND created_at >= \(bind: d)" }
        if let d = filter.createdBefore { sql += " AND created_at < \(bind: d)" }
        if let b = filter.beforeID { sql += " AND id < \(bind: b)" }
        sql += " ORDER BY id DESC LIMIT \(literal: filter.limit)"
        return try await db.raw(sql).all().map(Self.decodeWorkflow)
    }

    func owner(tenantID: String, id: String, on db: any SQLDatabase) async throws -> RunOwner? {
        guard let row = try await db.raw("SELECT actor, role, key_id, request_id FROM workflows WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first() else { return nil }
        return RunOwner(actor: try row.decode(column: "actor", as: String.self),
                        role: Role(rawValue: try row.decode(column: "role", as: String.self)) ?? .viewer,
                        keyID: try row.decode(column: "key_id", as: String?.self), requestID: try row.decode(column: "request_id", as: String?.self))
    }

    func loadState(tenantID: String, id: String, on db: any SQLDatabase) async throws -> RunState? {
        guard let row = try await db.raw("SELECT state FROM workflows WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first(),
              let text = try row.decode(column: "state", as: String?.self) else { return nil }
        return try JSONDecoder().decode(RunState.self, from: Data(text.utf8))
    }

    /// Moves a run between statuses only from the expected one, so two actors never both win.
    func transition(tenantID: String, id: String, from: [WorkflowStatus], to: WorkflowStatus, at: Date, on db: any SQLDatabase) async throws -> Bool {
        let froms = SQLList(from.map { SQLBind($0.rawValue) })
        let started: SQLQueryString = to == .processing ? ", started_at = COALESCE(started_at, \(bind: at))" : ""
        let rows = try await db.raw("""
            UPDATE workflows SET status = \(bind: to.rawValue), updated_at = \(bind: at)\(started)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) AND status IN (\(froms)) RETURNING id
            """).all()
        return !rows.isEmpty
    }

    func saveProgress(tenantID: String, id: String, status: WorkflowStatus, state: RunState, at: Date, on db: any SQLDatabase) async throws {
        let stateText = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try await db.raw("""
            UPDATE workflows SET status = \(bind: status.rawValue), state = \(bind: stateText), provider = \(bind: state.provider),
                total_steps = \(bind: state.stepNumber), tools_used = \(bind: Self.encodeList(state.toolsUsed)),
                input_tokens = \(bind: state.inputTokens), output_tokens = \(bind: state.outputTokens), updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    /// Records the end of a run; the conversation state is dropped (the events keep the story).
    func finish(tenantID: String, id: String, status: WorkflowStatus, state: RunState, finalResponse: String?,
                errorType: String?, errorMessage: String?, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE workflows SET status = \(bind: status.rawValue), state = NULL, provider = \(bind: state.provider),
                final_response = \(bind: finalResponse), error_type = \(bind: errorType), error_message = \(bind: errorMessage),
                total_steps = \(bind: state.stepNumber), tools_used = \(bind: Self.encodeList(state.toolsUsed)),
                input_tokens = \(bind: state.inputTokens), output_tokens = \(bind: state.outputTokens),
                updated_at = \(bind: at), completed_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    func requestCancel(tenantID: String, id: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE workflows SET cancel_requested = \(bind: true), updated_at = \(bind: at) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    func cancelRequested(id: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("SELECT cancel_requested FROM workflows WHERE id = \(bind: id)").first()?.decode(column: "cancel_requested", as: Bool.self) ?? false
    }

    /// Runs that were processing when their server stopped: nothing has touched them for longer
    /// than any run may last.
    func staleRuns(updatedBefore: Date, on db: any SQLDatabase) async throws -> [(tenantID: String, id: String)] {
        try await db.raw("""
            SELECT tenant_id, id FROM workflows WHERE status IN ('PENDING', 'PROCESSING') AND updated_at < \(bind: updatedBefore) ORDER BY id LIMIT 1000
            """).all().map { (try $0.decode(column: "tenant_id", as: String.self), try $0.decode(column: "id", as: String.self)) }
    }

    static func encodeList(_ list: [String]) -> String {
        JSONValue.array(list.map { .string($0) }).serialized()
    }

    static func decodeWorkflow(_ row: any SQLRow) throws -> Workflow {
        let statusText = try row.decode(column: "status", as: String.self)
        let tools = (try? JSONValue.parse(try row.decode(column: "tools_used", as: String.self)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return Workflow(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            sessionID: try row.decode(column: "session_id", as: String?.self),
            status: WorkflowStatus(rawValue: statusText) ?? .failed,
            initialPrompt: try row.decode(column: "initial_prompt", as: String.self),
            finalResponse: try row.decode(column: "final_response", as: String?.self),
            agentType: try row.decode(column: "agent_type", as: String.self), provider: try row.decode(column: "provider", as: String?.self),
            errorType: try row.decode(column: "error_type", as: String?.self), errorMessage: try row.decode(column: "error_message", as: String?.self),
            inputTokens: try row.decode(column: "input_tokens", as: Int.self), outputTokens: try row.decode(column: "output_tokens", as: Int.self),
            totalSteps: try row.decode(column: "total_steps", as: Int.self), toolsUsed: tools,
            createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self),
            startedAt: try row.decode(column: "started_at", as: Date?.self), completedAt: try row.decode(column: "completed_at", as: Date?.self),
            agentID: try row.decode(column: "agent_id", as: String?.self), agentVersion: try row.decode(column: "agent_version", as: Int?.self))
    }

    // MARK: events

    func appendEvents(_ events: [WorkflowEvent], tenantID: String, on db: any SQLDatabase) async throws {
        guard !events.isEmpty else { return }
        var sql: SQLQueryString = "INSERT INTO workflow_events (workflow_id, seq, tenant_id, type, data, created_at) VALUES "
        for (i, e) in events.enumerated() {
            if i > 0 { sql += ", " }
            sql += "(\(bind: e.workflowID), \(bind: e.seq), \(bind: tenantID), \(bind: e.type), \(bind: JSONValue.object(e.fields).serialized()), \(bind: e.timestamp))"
        }
        try await db.raw(sql).run()
    }

    func events(tenantID: String, workflowID: String, after: Int, through: Int? = nil, limit: Int, on db: any SQLDatabase) async throws -> [WorkflowEvent] {
        var sql: SQLQueryString = "SELECT * FROM workflow_events WHERE tenant_id = \(bind: tenantID) AND workflow_id = \(bind: workflowID) AND seq > \(bind: after)"
        if let through { sql += " AND seq <= \(bind: through)" }
        sql += " ORDER BY seq LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map { row in
            let data = (try? JSONValue.parse(try row.decode(column: "data", as: String.self)))?.objectValue ?? [:]
            return WorkflowEvent(workflowID: try row.decode(column: "workflow_id", as: String.self), seq: try row.decode(column: "seq", as: Int.self),
                                 type: try row.decode(column: "type", as: String.self), timestamp: try row.decode(column: "created_at", as: Date.self),
                                 fields: data)
        }
    }

    /// The newest event's seq and type in one query (0 and nil when there is none).
    func lastEvent(workflowID: String, on db: any SQLDatabase) async throws -> (seq: Int, type: String?) {
        guard let row = try await db.raw("SELECT seq, type FROM workflow_events WHERE workflow_id = \(bind: workflowID) ORDER BY seq DESC LIMIT 1").first() else {
            return (0, nil)
        }
        return (try row.decode(column: "seq", as: Int.self), try row.decode(column: "type", as: String.self))
    }

    func lastSeq(workflowID: String, on db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT MAX(seq) AS m FROM workflow_events WHERE workflow_id = \(bind: workflowID)").first()?.decode(column: "m", as: Int?.self) ?? 0
    }

    // MARK: approvals

    func insertApproval(_ a: Approval, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO workflow_approvals (id, tenant_id, workflow_id, call_id, tool, input, reason, status, created_at)
            VALUES (\(bind: a.id), \(bind: a.tenantID), \(bind: a.workflowID), \(bind: a.callID), \(bind: a.tool), \(bind: a.input.serialized()),
                    \(bind: a.reason), \(bind: a.status.rawValue), \(bind: a.createdAt))
            """).run()
    }

    func approvals(tenantID: String, workflowID: String, on db: any SQLDatabase) async throws -> [Approval] {
        try await db.raw("SELECT * FROM workflow_approvals WHERE tenant_id = \(bind: tenantID) AND workflow_id = \(bind: workflowID) ORDER BY id")
            .all().map(Self.decodeApproval)
    }

    /// Records a decision only on a pending approval; returns the updated row, or nil if it was
    /// already decided.
    func decide(tenantID: String, id: String, status: ApprovalStatus, comment: String?, by actor: String, at: Date, on db: any SQLDatabase) async throws -> Approval? {
        try await db.raw("""
            UPDATE workflow_approvals SET status = \(bind: status.rawValue), comment = \(bind: comment), decided_by = \(bind: actor), decided_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) AND status = 'pending' RETURNING *
            """).first().map(Self.decodeApproval)
    }

    /// A cancelled run's open approvals are closed, so nobody is asked to decide them.
    func closePendingApprovals(tenantID: String, workflowID: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE workflow_approvals SET status = 'cancelled', decided_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND workflow_id = \(bind: workflowID) AND status = 'pending'
            """).run()
    }

    static func decodeApproval(_ row: any SQLRow) throws -> Approval {
        Approval(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            workflowID: try row.decode(column: "workflow_id", as: String.self), callID: try row.decode(column: "call_id", as: String.self),
            tool: try row.decode(column: "tool", as: String.self),
            input: (try? JSONValue.parse(try row.decode(column: "input", as: String.self))) ?? .null,
            reason: try row.decode(column: "reason", as: String.self),
            status: ApprovalStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .pending,
            comment: try row.decode(column: "comment", as: String?.self), decidedBy: try row.decode(column: "decided_by", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), decidedAt: try row.decode(column: "decided_at", as: Date?.self))
    }

    // MARK: tool policies

    func policies(tenantID: String, on db: any SQLDatabase) async throws -> [String: ToolPolicyMode] {
        var out: [String: ToolPolicyMode] = [:]
        for row in try await db.raw("SELECT tool, mode FROM tool_policies WHERE tenant_id = \(bind: tenantID)").all() {
            if let mode = ToolPolicyMode(rawValue: try row.decode(column: "mode", as: String.self)) {
                out[try row.decode(column: "tool", as: String.self)] = mode
            }
        }
        return out
    }

    func setPolicy(tenantID: String, tool: String, mode: ToolPolicyMode, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO tool_policies (tenant_id, tool, mode, updated_at) VALUES (\(bind: tenantID), \(bind: tool), \(bind: mode.rawValue), \(bind: at))
            ON CONFLICT (tenant_id, tool) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at
            """).run()
    }
}

/// How a tenant lets the agent use a tool.
public enum ToolPolicyMode: String, Sendable, Codable, CaseIterable {
    /// Run without asking.
    case auto
    /// Pause the run until someone with the operate permission approves.
    case requireApproval = "require_approval"
    /// Never run; the model is told the tool is disabled.
    case disabled

    /// Side effects need approval unless the tenant says otherwise.
    public static func `default`(for tool: Tool) -> ToolPolicyMode { tool.defaultPolicy ?? (tool.hasSideEffects ? .requireApproval : .auto) }
}
