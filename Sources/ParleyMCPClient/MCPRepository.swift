import Foundation
import ParleyAgent
import ParleyCore
import ParleyStorage
import SQLKit

/// The SQL of the MCP registry and its executions; every query is scoped to the tenant.
struct MCPRepository: Sendable {
    static let columns = """
        id, tenant_id, name, transport, config, secrets_sealed, enabled, timeout_ms, max_output_bytes, tool_policies, tools,
        discovered_at, health_status, health_error, health_checked_at, created_at, updated_at
        """

    func insert(_ s: MCPServer, sealed: String?, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO mcp_servers (\(unsafeRaw: Self.columns))
            VALUES (\(bind: s.id), \(bind: s.tenantID), \(bind: s.name), \(bind: s.transport.rawValue), \(bind: Self.encode(s.config)), \(bind: sealed),
                    \(bind: s.enabled), \(bind: s.timeoutMilliseconds), \(bind: s.maxOutputBytes), \(bind: Self.encode(s.toolPolicies)),
                    \(bind: s.tools.map(Self.encode)), \(bind: s.discoveredAt), \(bind: s.health.rawValue), \(bind: s.healthError),
                    \(bind: s.healthCheckedAt), \(bind: s.createdAt), \(bind: s.updatedAt))
            """).run()
    }

    /// Writes everything but the identity (and the secrets, unless `sealed` is given).
    func update(_ s: MCPServer, sealed: String??, on db: any SQLDatabase) async throws {
        if let sealed {
            try await db.raw("UPDATE mcp_servers SET secrets_sealed = \(bind: sealed) WHERE tenant_id = \(bind: s.tenantID) AND id = \(bind: s.id)").run()
        }
        try await db.raw("""
            UPDATE mcp_servers SET name = \(bind: s.name), config = \(bind: Self.encode(s.config)), enabled = \(bind: s.enabled),
                timeout_ms = \(bind: s.timeoutMilliseconds), max_output_bytes = \(bind: s.maxOutputBytes),
                tool_policies = \(bind: Self.encode(s.toolPolicies)), tools = \(bind: s.tools.map(Self.encode)), discovered_at = \(bind: s.discoveredAt),
                health_status = \(bind: s.health.rawValue), health_error = \(bind: s.healthError), health_checked_at = \(bind: s.healthCheckedAt),
                updated_at = \(bind: s.updatedAt)
            WHERE tenant_id = \(bind: s.tenantID) AND id = \(bind: s.id)
            """).run()
    }

    func delete(tenantID: String, id: String, on db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM mcp_servers WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    func find(tenantID: String, id: String, on db: any SQLDatabase) async throws -> (MCPServer, sealed: String?)? {
        try await db.raw("SELECT \(unsafeRaw: Self.columns) FROM mcp_servers WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)")
            .first().map(Self.decode)
    }

    func find(tenantID: String, name: String, on db: any SQLDatabase) async throws -> (MCPServer, sealed: String?)? {
        try await db.raw("SELECT \(unsafeRaw: Self.columns) FROM mcp_servers WHERE tenant_id = \(bind: tenantID) AND name = \(bind: name)")
            .first().map(Self.decode)
    }

    /// Alphabetical by name, after `after`.
    func list(tenantID: String, after: String?, limit: Int, on db: any SQLDatabase) async throws -> [MCPServer] {
        try await db.raw("""
            SELECT \(unsafeRaw: Self.columns) FROM mcp_servers WHERE tenant_id = \(bind: tenantID) AND name > \(bind: after ?? "")
            ORDER BY name LIMIT \(bind: limit)
            """).all().map { try Self.decode($0).0 }
    }

    func insertExecution(_ e: MCPExecution, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO mcp_executions (id, tenant_id, server_id, server_name, tool, input, output, output_truncated, outcome, duration_ms,
                                        actor, workflow_id, created_at)
            VALUES (\(bind: e.id), \(bind: e.tenantID), \(bind: e.serverID), \(bind: e.serverName), \(bind: e.tool), \(bind: e.input.serialized()),
                    \(bind: e.output), \(bind: e.outputTruncated), \(bind: e.outcome.rawValue), \(bind: e.durationMilliseconds), \(bind: e.actor),
                    \(bind: e.workflowID), \(bind: e.createdAt))
            """).run()
    }

    /// Newest first, before `before`; optionally one server's.
    func executions(tenantID: String, serverID: String?, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [MCPExecution] {
        var query = SQLQueryString("SELECT * FROM mcp_executions WHERE tenant_id = \(bind: tenantID)")
        if let serverID { query.appendInterpolation(unsafeRaw: " AND server_id = "); query.appendInterpolation(bind: serverID) }
        if let before { query.appendInterpolation(unsafeRaw: " AND id < "); query.appendInterpolation(bind: before) }
        query.appendInterpolation(unsafeRaw: " ORDER BY id DESC LIMIT \(max(1, limit))")
        return try await db.raw(query).all().map { row in
            MCPExecution(
                id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                serverID: try row.decode(column: "server_id", as: String.self), serverName: try row.decode(column: "server_name", as: String.self),
                tool: try row.decode(column: "tool", as: String.self),
                input: (try? JSONValue.parse(try row.decode(column: "input", as: String.self))) ?? .null,
                output: try row.decode(column: "output", as: String.self), outputTruncated: try row.decode(column: "output_truncated", as: Bool.self),
                outcome: MCPExecution.Outcome(rawValue: try row.decode(column: "outcome", as: String.self)) ?? .unavailable,
                durationMilliseconds: try row.decode(column: "duration_ms", as: Int.self), actor: try row.decode(column: "actor", as: String.self),
                workflowID: try row.decode(column: "workflow_id", as: String?.self), createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }

    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func decode(_ row: any SQLRow) throws -> (MCPServer, sealed: String?) {
        let decoder = JSONDecoder()
        func json<T: Decodable>(_ column: String, as: T.Type) throws -> T? {
            guard let text = try row.decode(column: column, as: String?.self) else { return nil }
            return try decoder.decode(T.self, from: Data(text.utf8))
        }
        let server = MCPServer(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            transport: MCPTransportKind(rawValue: try row.decode(column: "transport", as: String.self)) ?? .stdio,
            config: try json("config", as: MCPServerConfig.self) ?? MCPServerConfig(),
            enabled: try row.decode(column: "enabled", as: Bool.self), timeoutMilliseconds: try row.decode(column: "timeout_ms", as: Int.self),
            maxOutputBytes: try row.decode(column: "max_output_bytes", as: Int.self),
            toolPolicies: try json("tool_policies", as: [String: ToolPolicyMode].self) ?? [:],
            tools: try json("tools", as: [MCPToolInfo].self), discoveredAt: try row.decode(column: "discovered_at", as: Date?.self),
            health: MCPHealth(rawValue: try row.decode(column: "health_status", as: String.self)) ?? .unknown,
            healthError: try row.decode(column: "health_error", as: String?.self),
            healthCheckedAt: try row.decode(column: "health_checked_at", as: Date?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self))
        return (server, try row.decode(column: "secrets_sealed", as: String?.self))
    }
}

extension MCPRepository {
    /// Every server of the tenant (a registry is small).
    func all(tenantID: String, on db: any SQLDatabase) async throws -> [(MCPServer, sealed: String?)] {
        try await db.raw("SELECT \(unsafeRaw: Self.columns) FROM mcp_servers WHERE tenant_id = \(bind: tenantID) ORDER BY name LIMIT 1000")
            .all().map(Self.decode)
    }
}
