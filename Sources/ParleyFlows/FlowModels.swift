import Foundation
import ParleyAgent
import ParleyCore
import SQLKit

public struct Flow: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var version: Int
    public var spec: FlowSpec
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?

    public var json: JSONValue {
        var o = spec.json.objectValue ?? [:]
        o["id"] = .string(id)
        o["description"] = o["description"] ?? .null
        o["input_schema"] = o["input_schema"] ?? .null
        o["version"] = .number(Double(version))
        o["created_at"] = .string(Timestamps.format(createdAt))
        o["updated_at"] = .string(Timestamps.format(updatedAt))
        o["deleted_at"] = deletedAt.map { .string(Timestamps.format($0)) } ?? .null
        return .object(o)
    }
}

public struct FlowVersion: Sendable, Equatable {
    public var flowID: String
    public var version: Int
    public var definition: JSONValue
    public var createdBy: String
    public var createdAt: Date

    public var json: JSONValue {
        ["flow_id": .string(flowID), "version": .number(Double(version)), "definition": definition, "created_by": .string(createdBy),
         "created_at": .string(Timestamps.format(createdAt))]
    }
}

public enum FlowExecutionStatus: String, Sendable, CaseIterable {
    case running, waiting, completed, failed, cancelled
    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
}

public enum FlowStepStatus: String, Sendable {
    case pending, running, waiting, retrying, completed, failed, skipped, cancelled
    public var isFinal: Bool { self == .completed || self == .failed || self == .skipped || self == .cancelled }
}

public struct FlowExecution: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var flowID: String
    public var flowVersion: Int
    public var status: FlowExecutionStatus
    public var input: JSONValue
    public var output: JSONValue?
    public var error: String?
    /// Who started it: steps run with this caller's role and tenant.
    public var principal: Principal
    public var parentExecutionID: String?
    public var parentStep: String?
    public var rootID: String
    public var depth: Int
    public var lastSeq: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
}

public struct FlowStepRun: Sendable, Equatable {
    public var executionID: String
    public var stepID: String
    public var type: String
    public var status: FlowStepStatus
    public var input: JSONValue?
    public var output: JSONValue?
    public var error: String?
    public var attempts: Int
    /// `pending`, `approved` or `rejected` while a person decides (approval and `ask` tool steps).
    public var approval: String?
    /// What an interrupted step resumes with: an agent run's id, a sub-flow's execution id.
    public var handle: String?
    public var waitUntil: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var updatedAt: Date

    public var json: JSONValue {
        func date(_ d: Date?) -> JSONValue { d.map { .string(Timestamps.format($0)) } ?? .null }
        var duration: JSONValue = .null
        if let s = startedAt, let f = finishedAt { duration = .number((f.timeIntervalSince(s) * 1000).rounded()) }
        return ["id": .string(stepID), "type": .string(type), "status": .string(status.rawValue), "input": input ?? .null, "output": output ?? .null,
                "error": error.map { .string($0) } ?? .null, "attempts": .number(Double(attempts)), "approval": approval.map { .string($0) } ?? .null,
                "handle": handle.map { .string($0) } ?? .null, "wait_until": date(waitUntil), "started_at": date(startedAt),
                "finished_at": date(finishedAt), "duration_ms": duration]
    }
}

public struct FlowEvent: Sendable, Equatable {
    public var executionID: String
    public var seq: Int
    public var type: String
    public var stepID: String?
    public var data: JSONValue
    public var createdAt: Date

    public static let terminal: Set<String> = ["execution_completed", "execution_failed", "execution_cancelled"]

    public var json: JSONValue {
        var o = data.objectValue ?? [:]
        o["type"] = .string(type)
        o["execution_id"] = .string(executionID)
        o["seq"] = .number(Double(seq))
        o["step_id"] = stepID.map { .string($0) } ?? .null
        o["timestamp"] = .string(Timestamps.format(createdAt))
        return .object(o)
    }
}

extension FlowExecution {
    public var json: JSONValue {
        func date(_ d: Date?) -> JSONValue { d.map { .string(Timestamps.format($0)) } ?? .null }
        return ["id": .string(id), "flow_id": .string(flowID), "flow_version": .number(Double(flowVersion)), "status": .string(status.rawValue),
                "input": input, "output": output ?? .null, "error": error.map { .string($0) } ?? .null,
                "parent_execution_id": parentExecutionID.map { .string($0) } ?? .null, "parent_step": parentStep.map { .string($0) } ?? .null,
                "created_at": date(createdAt), "updated_at": date(updatedAt), "finished_at": date(finishedAt)]
    }
}

/// Rows in and out; every query is scoped to the tenant.
struct FlowRepository: Sendable {
    private static var selectFlow: SQLQueryString { """
        SELECT f.id, f.tenant_id, f.current_version, f.created_at, f.updated_at, f.deleted_at, v.definition
        FROM flows f JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.current_version
        """ }

    let tools: Set<String>

    func flow(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Flow? {
        var sql = Self.selectFlow
        sql += " WHERE f.tenant_id = \(bind: tenantID) AND f.id = \(bind: id)"
        return try await db.raw(sql).first().map(decodeFlow)
    }

    func flow(tenantID: String, name: String, on db: any SQLDatabase) async throws -> Flow? {
        var sql = Self.selectFlow
        sql += " WHERE f.tenant_id = \(bind: tenantID) AND f.name = \(bind: name) AND f.deleted_at IS NULL"
        return try await db.raw(sql).first().map(decodeFlow)
    }

    func flows(tenantID: String, includeDeleted: Bool, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [Flow] {
        var sql = Self.selectFlow
        sql += " WHERE f.tenant_id = \(bind: tenantID)"
        if !includeDeleted { sql += " AND f.deleted_at IS NULL" }
        if let before { sql += " AND f.id < \(bind: before)" }
        sql += " ORDER BY f.id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(decodeFlow)
    }

    func insert(_ f: Flow, by actor: String, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO flows (id, tenant_id, name, current_version, created_at, updated_at)
            VALUES (\(bind: f.id), \(bind: f.tenantID), \(bind: f.spec.name), \(bind: f.version), \(bind: f.createdAt), \(bind: f.updatedAt))
            """).run()
        try await insertVersion(f, by: actor, on: db)
    }

    func update(_ f: Flow, by actor: String, on db: any SQLDatabase) async throws {
        try await insertVersion(f, by: actor, on: db)
        try await db.raw("""
            UPDATE flows SET name = \(bind: f.spec.name), current_version = \(bind: f.version), updated_at = \(bind: f.updatedAt)
            WHERE tenant_id = \(bind: f.tenantID) AND id = \(bind: f.id)
            """).run()
    }

    private func insertVersion(_ f: Flow, by actor: String, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO flow_versions (flow_id, version, tenant_id, definition, created_by, created_at)
            VALUES (\(bind: f.id), \(bind: f.version), \(bind: f.tenantID), \(bind: f.spec.json.serialized()), \(bind: actor), \(bind: f.updatedAt))
            """).run()
    }

    func setDeleted(tenantID: String, id: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE flows SET deleted_at = \(bind: at), updated_at = \(bind: at) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    func versions(tenantID: String, flowID: String, before: Int?, limit: Int, on db: any SQLDatabase) async throws -> [FlowVersion] {
        var sql: SQLQueryString = "SELECT * FROM flow_versions WHERE tenant_id = \(bind: tenantID) AND flow_id = \(bind: flowID)"
        if let before { sql += " AND version < \(bind: before)" }
        sql += " ORDER BY version DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map { row in
            FlowVersion(flowID: try row.decode(column: "flow_id", as: String.self), version: try row.decode(column: "version", as: Int.self),
                        definition: try JSONValue.parse(try row.decode(column: "definition", as: String.self)),
                        createdBy: try row.decode(column: "created_by", as: String.self), createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }

    /// The definition an execution runs (its pinned version).
    func spec(tenantID: String, flowID: String, version: Int, on db: any SQLDatabase) async throws -> FlowSpec? {
        guard let text = try await db.raw("""
            SELECT definition FROM flow_versions WHERE tenant_id = \(bind: tenantID) AND flow_id = \(bind: flowID) AND version = \(bind: version)
            """).first()?.decode(column: "definition", as: String.self) else { return nil }
        return try FlowSpec.parse(try JSONValue.parse(text), tools: nil)
    }

    func decodeFlow(_ row: any SQLRow) throws -> Flow {
        Flow(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
             version: try row.decode(column: "current_version", as: Int.self),
             spec: try FlowSpec.parse(try JSONValue.parse(try row.decode(column: "definition", as: String.self)), tools: nil),
             createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self),
             deletedAt: try row.decode(column: "deleted_at", as: Date?.self))
    }

    // MARK: executions

    func insert(_ e: FlowExecution, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO flow_executions (id, tenant_id, flow_id, flow_version, status, input, principal, parent_execution_id, parent_step, root_id,
                                         depth, last_seq, created_at, updated_at)
            VALUES (\(bind: e.id), \(bind: e.tenantID), \(bind: e.flowID), \(bind: e.flowVersion), \(bind: e.status.rawValue), \(bind: e.input.serialized()),
                    \(bind: Self.encode(e.principal)), \(bind: e.parentExecutionID), \(bind: e.parentStep), \(bind: e.rootID), \(bind: e.depth), 0,
                    \(bind: e.createdAt), \(bind: e.updatedAt))
            """).run()
    }

    func execution(tenantID: String, id: String, on db: any SQLDatabase) async throws -> FlowExecution? {
        try await db.raw("SELECT * FROM flow_executions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decodeExecution)
    }

    func executions(tenantID: String, flowID: String?, status: FlowExecutionStatus?, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [FlowExecution] {
        var sql: SQLQueryString = "SELECT * FROM flow_executions WHERE tenant_id = \(bind: tenantID)"
        if let flowID { sql += " AND flow_id = \(bind: flowID)" }
        if let status { sql += " AND status = \(bind: status.rawValue)" }
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decodeExecution)
    }

    func children(tenantID: String, of id: String, on db: any SQLDatabase) async throws -> [FlowExecution] {
        try await db.raw("SELECT * FROM flow_executions WHERE tenant_id = \(bind: tenantID) AND parent_execution_id = \(bind: id)").all().map(Self.decodeExecution)
    }

    func setStatus(_ e: FlowExecution, _ status: FlowExecutionStatus, output: JSONValue? = nil, error: String? = nil, at now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE flow_executions SET status = \(bind: status.rawValue), output = \(bind: output?.serialized()), error = \(bind: error),
                   updated_at = \(bind: now), finished_at = \(bind: status.isTerminal ? now : nil)
            WHERE tenant_id = \(bind: e.tenantID) AND id = \(bind: e.id)
            """).run()
    }

    func steps(tenantID: String, executionID: String, on db: any SQLDatabase) async throws -> [FlowStepRun] {
        try await db.raw("""
            SELECT * FROM flow_steps WHERE tenant_id = \(bind: tenantID) AND execution_id = \(bind: executionID) ORDER BY started_at, updated_at, step_id
            """).all().map(Self.decodeStep)
    }

    func step(tenantID: String, executionID: String, stepID: String, on db: any SQLDatabase) async throws -> FlowStepRun? {
        try await db.raw("""
            SELECT * FROM flow_steps WHERE tenant_id = \(bind: tenantID) AND execution_id = \(bind: executionID) AND step_id = \(bind: stepID)
            """).first().map(Self.decodeStep)
    }

    /// Writes the step's row whole (inserted the first time).
    func save(_ s: FlowStepRun, tenantID: String, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO flow_steps (execution_id, step_id, tenant_id, type, status, input, output, error, attempts, approval, handle, wait_until,
                                    started_at, finished_at, updated_at)
            VALUES (\(bind: s.executionID), \(bind: s.stepID), \(bind: tenantID), \(bind: s.type), \(bind: s.status.rawValue), \(bind: s.input?.serialized()),
                    \(bind: s.output?.serialized()), \(bind: s.error), \(bind: s.attempts), \(bind: s.approval), \(bind: s.handle), \(bind: s.waitUntil),
                    \(bind: s.startedAt), \(bind: s.finishedAt), \(bind: s.updatedAt))
            ON CONFLICT (execution_id, step_id) DO UPDATE SET
                status = excluded.status, input = excluded.input, output = excluded.output, error = excluded.error, attempts = excluded.attempts,
                approval = excluded.approval, handle = excluded.handle, wait_until = excluded.wait_until, started_at = excluded.started_at,
                finished_at = excluded.finished_at, updated_at = excluded.updated_at
            """).run()
    }

    /// Appends an event with the execution's next sequence number.
    @discardableResult
    func event(_ e: FlowExecution, _ type: String, step: String?, data: JSONValue, at now: Date, on db: any SQLDatabase) async throws -> Int {
        let seq = try await db.raw("""
            UPDATE flow_executions SET last_seq = last_seq + 1 WHERE tenant_id = \(bind: e.tenantID) AND id = \(bind: e.id) RETURNING last_seq
            """).first()?.decode(column: "last_seq", as: Int.self) ?? 0
        try await db.raw("""
            INSERT INTO flow_events (execution_id, seq, tenant_id, type, step_id, data, created_at)
            VALUES (\(bind: e.id), \(bind: seq), \(bind: e.tenantID), \(bind: type), \(bind: step), \(bind: data.serialized()), \(bind: now))
            """).run()
        return seq
    }

    func events(tenantID: String, executionID: String, after: Int, limit: Int, on db: any SQLDatabase) async throws -> [FlowEvent] {
        try await db.raw("""
            SELECT * FROM flow_events WHERE tenant_id = \(bind: tenantID) AND execution_id = \(bind: executionID) AND seq > \(bind: after)
            ORDER BY seq LIMIT \(literal: limit)
            """).all().map { row in
            FlowEvent(executionID: try row.decode(column: "execution_id", as: String.self), seq: try row.decode(column: "seq", as: Int.self),
                      type: try row.decode(column: "type", as: String.self), stepID: try row.decode(column: "step_id", as: String?.self),
                      data: try JSONValue.parse(try row.decode(column: "data", as: String.self)), createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }

    static func encode(_ p: Principal) -> String {
        var o: [String: JSONValue] = ["tenant_id": .string(p.tenantID), "role": .string(p.role.rawValue), "actor": .string(p.actor)]
        if let k = p.keyID { o["key_id"] = .string(k) }
        if let u = p.userID { o["user_id"] = .string(u) }
        return JSONValue.object(o).serialized()
    }

    static func decodePrincipal(_ text: String) throws -> Principal {
        let o = try JSONValue.parse(text)
        guard let tenant = o["tenant_id"]?.stringValue, let role = o["role"]?.stringValue.flatMap(Role.init(rawValue:)), let actor = o["actor"]?.stringValue else {
            throw ParleyError(.internalError, code: "internal_error", "an execution's caller is unreadable")
        }
        var p = Principal(tenantID: tenant, keyID: o["key_id"]?.stringValue, role: role, actor: actor)
        p.userID = o["user_id"]?.stringValue
        return p
    }

    static func decodeExecution(_ row: any SQLRow) throws -> FlowExecution {
        FlowExecution(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            flowID: try row.decode(column: "flow_id", as: String.self), flowVersion: try row.decode(column: "flow_version", as: Int.self),
            status: FlowExecutionStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            input: try JSONValue.parse(try row.decode(column: "input", as: String.self)),
            output: try row.decode(column: "output", as: String?.self).map { try JSONValue.parse($0) },
            error: try row.decode(column: "error", as: String?.self),
            principal: try decodePrincipal(try row.decode(column: "principal", as: String.self)),
            parentExecutionID: try row.decode(column: "parent_execution_id", as: String?.self), parentStep: try row.decode(column: "parent_step", as: String?.self),
            rootID: try row.decode(column: "root_id", as: String.self), depth: try row.decode(column: "depth", as: Int.self),
            lastSeq: try row.decode(column: "last_seq", as: Int.self), createdAt: try row.decode(column: "created_at", as: Date.self),
            updatedAt: try row.decode(column: "updated_at", as: Date.self), finishedAt: try row.decode(column: "finished_at", as: Date?.self))
    }

    static func decodeStep(_ row: any SQLRow) throws -> FlowStepRun {
        FlowStepRun(
            executionID: try row.decode(column: "execution_id", as: String.self), stepID: try row.decode(column: "step_id", as: String.self),
            type: try row.decode(column: "type", as: String.self),
            status: FlowStepStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            input: try row.decode(column: "input", as: String?.self).map { try JSONValue.parse($0) },
            output: try row.decode(column: "output", as: String?.self).map { try JSONValue.parse($0) },
            error: try row.decode(column: "error", as: String?.self), attempts: try row.decode(column: "attempts", as: Int.self),
            approval: try row.decode(column: "approval", as: String?.self), handle: try row.decode(column: "handle", as: String?.self),
            waitUntil: try row.decode(column: "wait_until", as: Date?.self), startedAt: try row.decode(column: "started_at", as: Date?.self),
            finishedAt: try row.decode(column: "finished_at", as: Date?.self), updatedAt: try row.decode(column: "updated_at", as: Date.self))
    }
}
