import Foundation
import ParleyAgent
import ParleyCore

/// The client name and version Parley announces to MCP servers in `initialize`.
public enum MCPClientInfo {
    public static let name = "parley"
    public static let version = ParleyVersion.current
    /// The protocol revisions Parley speaks, newest first; it asks for the first.
    public static let protocolVersions = ["2025-11-25", "2025-06-18"]
    /// What separates a server's name from its tool's in an agent tool name: `time__get_current_time`.
    public static let separator = "__"
}

/// How Parley reaches an MCP server.
public enum MCPTransportKind: String, Sendable, Codable, CaseIterable {
    /// A local command Parley starts (no shell), speaking JSON-RPC on its standard input and output.
    case stdio
    /// Streamable HTTP: JSON-RPC POSTed to a URL, answered with JSON or an event stream.
    case http
    /// A server inside Parley (given at assembly by name).
    case builtin
}

/// Whether the last health check reached the server.
public enum MCPHealth: String, Sendable, Codable {
    case unknown, up, down
}

/// A tool a server listed at discovery.
public struct MCPToolInfo: Sendable, Equatable, Codable {
    public var name: String
    public var description: String
    public var inputSchema: JSONValue
    /// The server says the tool changes nothing (`annotations.readOnlyHint`).
    public var readOnly: Bool

    enum CodingKeys: String, CodingKey { case name, description, inputSchema = "input_schema", readOnly = "read_only" }

    public init(name: String, description: String, inputSchema: JSONValue, readOnly: Bool) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.readOnly = readOnly
    }
}

/// What a server's row keeps in clear (its secrets are sealed apart).
public struct MCPServerConfig: Sendable, Equatable, Codable {
    public var command: String?
    public var args: [String]?
    public var url: String?
    public var builtin: String?
    /// The names of the environment variables and headers (their values are secret).
    public var envNames: [String]?
    public var headerNames: [String]?

    enum CodingKeys: String, CodingKey {
        case command, args, url, builtin, envNames = "env_names", headerNames = "header_names"
    }

    public init(command: String? = nil, args: [String]? = nil, url: String? = nil, builtin: String? = nil,
                envNames: [String]? = nil, headerNames: [String]? = nil) {
        self.command = command
        self.args = args
        self.url = url
        self.builtin = builtin
        self.envNames = envNames
        self.headerNames = headerNames
    }
}

/// The secret part of a server: its environment (stdio) and headers (http).
public struct MCPServerSecrets: Sendable, Equatable, Codable {
    public var env: [String: String]
    public var headers: [String: String]

    public init(env: [String: String] = [:], headers: [String: String] = [:]) {
        self.env = env
        self.headers = headers
    }

    public var values: [String] { Array(env.values) + Array(headers.values) }
}

/// One MCP server of a tenant's registry.
public struct MCPServer: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var transport: MCPTransportKind
    public var config: MCPServerConfig
    public var enabled: Bool
    public var timeoutMilliseconds: Int
    public var maxOutputBytes: Int
    /// Per-tool approval policies (tool name as the server calls it), over the default.
    public var toolPolicies: [String: ToolPolicyMode]
    /// What the last discovery found (nil: never discovered).
    public var tools: [MCPToolInfo]?
    public var discoveredAt: Date?
    public var health: MCPHealth
    public var healthError: String?
    public var healthCheckedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    /// The agent tool name of one of this server's tools.
    public func agentToolName(_ tool: String) -> String { name + MCPClientInfo.separator + tool }

    /// The JSON view (never a secret: only the names of the environment variables and headers).
    public var json: JSONValue {
        func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        func date(_ d: Date?) -> JSONValue { d.map { .string(Timestamps.format($0)) } ?? .null }
        var o: [String: JSONValue] = [
            "id": .string(id), "name": .string(name), "transport": .string(transport.rawValue), "enabled": .bool(enabled),
            "timeout_ms": .number(Double(timeoutMilliseconds)), "max_output_bytes": .number(Double(maxOutputBytes)),
            "tool_policies": .object(toolPolicies.mapValues { .string($0.rawValue) }),
            "health": ["status": .string(health.rawValue), "error": text(healthError), "checked_at": date(healthCheckedAt)],
            "discovered_at": date(discoveredAt),
            "tools": tools.map { list in .array(list.map { t in
                ["name": .string(t.name), "agent_tool": .string(agentToolName(t.name)), "description": .string(t.description),
                 "input_schema": t.inputSchema, "read_only": .bool(t.readOnly)]
            }) } ?? .null,
            "created_at": date(createdAt), "updated_at": date(updatedAt),
        ]
        switch transport {
        case .stdio:
            o["command"] = text(config.command)
            o["args"] = .array((config.args ?? []).map { .string($0) })
            o["env"] = .array((config.envNames ?? []).sorted().map { .string($0) })
        case .http:
            o["url"] = text(config.url)
            o["headers"] = .array((config.headerNames ?? []).sorted().map { .string($0) })
        case .builtin:
            o["builtin"] = text(config.builtin)
        }
        return .object(o)
    }
}

/// One recorded call to a tool of an MCP server.
public struct MCPExecution: Sendable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        case success
        /// The server answered with `isError`.
        case toolError = "tool_error"
        case timeout
        /// The server could not be reached or broke the protocol.
        case unavailable
        /// Parley refused before calling (server disabled or down, bad input).
        case refused
    }

    public var id: String
    public var tenantID: String
    public var serverID: String
    public var serverName: String
    public var tool: String
    public var input: JSONValue
    public var output: String
    public var outputTruncated: Bool
    public var outcome: Outcome
    public var durationMilliseconds: Int
    public var actor: String
    public var workflowID: String?
    public var createdAt: Date

    public var json: JSONValue {
        ["id": .string(id), "server_id": .string(serverID), "server": .string(serverName), "tool": .string(tool),
         "input": input, "output": .string(output), "output_truncated": .bool(outputTruncated), "outcome": .string(outcome.rawValue),
         "duration_ms": .number(Double(durationMilliseconds)), "actor": .string(actor),
         "workflow_id": workflowID.map { .string($0) } ?? .null, "created_at": .string(Timestamps.format(createdAt))]
    }
}
