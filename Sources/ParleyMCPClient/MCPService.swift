import Foundation
import Logging
import MCP
import ParleyAgent
import ParleyCore
import ParleyOutbound
import ParleyPlatform
import ParleyStorage
import SQLKit

/// A server inside Parley that a tenant may list in its registry (transport `builtin`): given at
/// assembly by name, it opens an in-process `MCP.Transport` (e.g. one end of
/// `InMemoryTransport.createConnectedPair()` with an `MCP.Server` on the other).
public struct MCPBuiltinServer: Sendable {
    public var name: String
    public var description: String
    public var connect: @Sendable (_ tenantID: String) async throws -> any MCP.Transport

    public init(name: String, description: String, connect: @escaping @Sendable (_ tenantID: String) async throws -> any MCP.Transport) {
        self.name = name
        self.description = description
        self.connect = connect
    }
}

/// A create or PATCH body of `/v1/mcp/servers` (unknown fields are refused by name).
public struct MCPServerInput: Decodable, Sendable {
    public var name: String?
    public var transport: String?
    public var command: String?
    public var args: [String]?
    public var env: [String: String]?
    public var url: String?
    public var headers: [String: String]?
    public var builtin: String?
    public var enabled: Bool?
    public var timeoutMs: Int?
    public var maxOutputBytes: Int?
    public var toolPolicies: [String: String]?

    enum CodingKeys: String, CodingKey {
        case name, transport, command, args, env, url, headers, builtin, enabled
        case timeoutMs = "timeout_ms", maxOutputBytes = "max_output_bytes", toolPolicies = "tool_policies"
    }

    public init(name: String? = nil, transport: String? = nil, command: String? = nil, args: [String]? = nil, env: [String: String]? = nil,
                url: String? = nil, headers: [String: String]? = nil, builtin: String? = nil, enabled: Bool? = nil, timeoutMs: Int? = nil,
                maxOutputBytes: Int? = nil, toolPolicies: [String: String]? = nil) {
        self.name = name; self.transport = transport; self.command = command; self.args = args; self.env = env; self.url = url
        self.headers = headers; self.builtin = builtin; self.enabled = enabled; self.timeoutMs = timeoutMs
        self.maxOutputBytes = maxOutputBytes; self.toolPolicies = toolPolicies
    }
}

/// Parley as an MCP client: each tenant's registry of MCP servers, discovery, health, calls (each
/// one recorded), and the discovered tools offered to the tenant's agents as `server__tool`.
public final class MCPService: Sendable {
    let store: any Store
    let clock: any Clock
    let keyring: Keyring
    let settings: MCPClientSettings
    let outbound: OutboundGuard
    let builtins: [String: MCPBuiltinServer]
    let logger: Logger
    let repo = MCPRepository()
    let connections: MCPConnections

    public static let timeoutRange = 100...600_000
    public static let outputRange = 100...10_000_000
    /// How much of a call's output the executions log keeps.
    public static let recordedOutputBytes = 65_536

    public init(store: any Store, clock: any Clock, keyring: Keyring, settings: MCPClientSettings, outbound: OutboundGuard,
                builtins: [MCPBuiltinServer] = [], logger: Logger) {
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.settings = settings
        self.outbound = outbound
        self.builtins = Dictionary(builtins.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.logger = logger
        self.connections = MCPConnections(logger: logger)
    }

    /// Stops every server process this service started (SIGTERM, then SIGKILL).
    public func shutdown() async { await connections.closeAll() }

    // MARK: registry

    public func create(_ ctx: ActionContext, _ input: MCPServerInput) async throws -> MCPServer {
        try ctx.principal.require(.manageKeys, toDo: "register MCP servers")
        guard let name = input.name else {
            throw ParleyError.badRequest("'name' is required: lower-case letters, digits and _, e.g. {\"name\": \"time\", ...}", code: "invalid_mcp_server")
        }
        guard let kindText = input.transport else {
            throw ParleyError.badRequest("'transport' is required: stdio, http or builtin", code: "invalid_mcp_server")
        }
        let now = clock.now()
        let tenantID = ctx.principal.tenantID
        var server = MCPServer(id: UUIDv7.make(at: now), tenantID: tenantID, name: name, transport: try Self.kind(kindText), config: MCPServerConfig(),
                               enabled: true, timeoutMilliseconds: settings.defaultTimeoutSeconds * 1000, maxOutputBytes: settings.defaultMaxOutputBytes,
                               toolPolicies: [:], tools: nil, discoveredAt: nil, health: .unknown, healthError: nil, healthCheckedAt: nil,
                               createdAt: now, updatedAt: now)
        var secrets = MCPServerSecrets()
        try await apply(input, to: &server, secrets: &secrets, creating: true)
        let sealed = try seal(secrets, server: server)
        let created = server
        do {
            try await store.transaction { [repo] db in
                if try await repo.find(tenantID: tenantID, name: name, on: db) != nil { throw Self.nameTaken(name) }
                try await repo.insert(created, sealed: sealed, on: db)
                try await AuditLog(clock: self.clock).record(ctx, action: "mcp_server.create", targetType: "mcp_server", targetID: created.id,
                                                              details: JSONValue.object(["name": .string(name), "transport": .string(created.transport.rawValue)]).serialized(), on: db)
            }
        } catch StoreError.uniqueViolation {
            throw Self.nameTaken(name)
        }
        return created
    }

    public func list(_ principal: Principal, after: String?, limit: Int) async throws -> [MCPServer] {
        try principal.require(.readTenant)
        return try await store.read { [repo] db in try await repo.list(tenantID: principal.tenantID, after: after, limit: limit, on: db) }
    }

    public func get(_ principal: Principal, id: String) async throws -> MCPServer {
        try principal.require(.readTenant)
        return try await find(tenantID: principal.tenantID, ref: id).0
    }

    public func update(_ ctx: ActionContext, id: String, _ input: MCPServerInput) async throws -> MCPServer {
        try ctx.principal.require(.manageKeys, toDo: "change MCP servers")
        let tenantID = ctx.principal.tenantID
        let (current, sealed) = try await find(tenantID: tenantID, ref: id)
        if let t = input.transport, t != current.transport.rawValue {
            throw ParleyError.badRequest("the transport of a server cannot change (it is \(current.transport.rawValue)); register a new server instead", code: "invalid_mcp_server")
        }
        var server = current
        var secrets = try open(sealed, server: current)
        try await apply(input, to: &server, secrets: &secrets, creating: false)
        server.updatedAt = clock.now()
        let changedSecrets = input.env != nil || input.headers != nil
        let newSealed: String?? = changedSecrets ? .some(try seal(secrets, server: server)) : .none
        let updated = server
        do {
            try await store.transaction { [repo] db in
                if updated.name != current.name, try await repo.find(tenantID: tenantID, name: updated.name, on: db) != nil { throw Self.nameTaken(updated.name) }
                try await repo.update(updated, sealed: newSealed, on: db)
                try await AuditLog(clock: self.clock).record(ctx, action: "mcp_server.update", targetType: "mcp_server", targetID: updated.id,
                                                              details: JSONValue.object(["name": .string(updated.name)]).serialized(), on: db)
            }
        } catch StoreError.uniqueViolation {
            throw Self.nameTaken(updated.name)
        }
        // The next call connects with the new settings (a stdio process is restarted).
        await connections.close(tenantID: tenantID, serverID: updated.id)
        return updated
    }

    public func delete(_ ctx: ActionContext, id: String) async throws -> MCPServer {
        try ctx.principal.require(.manageKeys, toDo: "remove MCP servers")
        let tenantID = ctx.principal.tenantID
        let (server, _) = try await find(tenantID: tenantID, ref: id)
        try await store.transaction { [repo] db in
            try await repo.delete(tenantID: tenantID, id: server.id, on: db)
            try await AuditLog(clock: self.clock).record(ctx, action: "mcp_server.delete", targetType: "mcp_server", targetID: server.id,
                                                          details: JSONValue.object(["name": .string(server.name)]).serialized(), on: db)
        }
        await connections.close(tenantID: tenantID, serverID: server.id)
        return server
    }

    /// Connects, lists the server's tools and stores them (they become the tenant's agent tools).
    public func discover(_ ctx: ActionContext, id: String) async throws -> MCPServer {
        try ctx.principal.require(.manageKeys, toDo: "discover MCP servers' tools")
        let (server, sealed) = try await find(tenantID: ctx.principal.tenantID, ref: id)
        guard server.enabled else { throw Self.disabled(server) }
        let connection = try await connection(server, sealed: sealed)
        var updated = server
        let now = clock.now()
        do {
            let tools = try await connection.listTools(timeout: .milliseconds(server.timeoutMilliseconds))
            updated.tools = try tools.map { t in
                MCPToolInfo(name: t.name, description: t.description ?? t.title ?? "", inputSchema: try Self.json(t.inputSchema),
                            readOnly: t.annotations.readOnlyHint == true)
            }.filter { Self.isToolName($0.name) }
            updated.discoveredAt = now
            updated.health = .up
            updated.healthError = nil
            updated.healthCheckedAt = now
        } catch {
            updated.health = .down
            updated.healthError = Self.message(error)
            updated.healthCheckedAt = now
            try await save(updated)
            await connections.close(tenantID: server.tenantID, serverID: server.id)
            throw ParleyError(.unavailable, code: "mcp_server_unavailable", "discovery failed: \(Self.message(error))")
        }
        try await save(updated)
        return updated
    }

    /// Pings the server and records whether it answered; a server found down has its tools taken
    /// from the agents and its connection closed (calls in flight end with an error).
    public func health(_ principal: Principal, id: String) async throws -> MCPServer {
        try principal.require(.readTenant)
        let (server, sealed) = try await find(tenantID: principal.tenantID, ref: id)
        guard server.enabled else { return server }
        var updated = server
        updated.healthCheckedAt = clock.now()
        do {
            let connection = try await connection(server, sealed: sealed)
            try await connection.ping(timeout: .milliseconds(server.timeoutMilliseconds))
            updated.health = .up
            updated.healthError = nil
        } catch {
            updated.health = .down
            updated.healthError = Self.message(error)
            await connections.close(tenantID: server.tenantID, serverID: server.id)
        }
        try await save(updated)
        return updated
    }

    private func save(_ server: MCPServer) async throws {
        try await store.transaction { [repo] db in try await repo.update(server, sealed: .none, on: db) }
    }

    // MARK: calls

    /// `POST /v1/mcp/execute`: calls one tool of a server (by name or id) and records the call.
    public func execute(_ ctx: ActionContext, server ref: String, tool: String, arguments: JSONValue) async throws -> MCPExecution {
        try ctx.principal.require(.act, toDo: "call MCP tools")
        guard arguments.objectValue != nil else {
            throw ParleyError.badRequest("'arguments' must be a JSON object of the tool's input", code: "invalid_arguments")
        }
        let (server, sealed) = try await find(tenantID: ctx.principal.tenantID, ref: ref)
        guard server.enabled else { throw Self.disabled(server) }
        if let known = server.tools {
            guard let info = known.first(where: { $0.name == tool }) else {
                throw ParleyError.notFound("the server \(server.name) has no tool named '\(tool.prefix(64))' (it has: \(known.map(\.name).joined(separator: ", ")))", code: "mcp_tool_not_found")
            }
            let violations = JSONSchemaValidator.validate(arguments, against: info.inputSchema)
            if !violations.isEmpty {
                throw ParleyError.badRequest("the arguments do not match the tool's input schema: " + violations.prefix(5).map(\.description).joined(separator: "; "), code: "invalid_arguments")
            }
        }
        return try await call(server, sealed: sealed, tool: tool, arguments: arguments, actor: ctx.principal.actor, workflowID: nil)
    }

    /// Calls a tool and records the call, whatever its outcome.
    func call(_ server: MCPServer, sealed: String?, tool: String, arguments: JSONValue, actor: String, workflowID: String?) async throws -> MCPExecution {
        let started = ContinuousClock.now
        var output: String
        var outcome: MCPExecution.Outcome
        var truncated = false
        do {
            let connection = try await connection(server, sealed: sealed)
            let args = try Self.values(arguments)
            let result = try await connection.callTool(tool, arguments: args, timeout: .milliseconds(server.timeoutMilliseconds))
            (output, truncated) = Self.cap(Self.text(of: result.content), limit: server.maxOutputBytes)
            outcome = result.isError == true ? .toolError : .success
        } catch let error as MCPCallError {
            output = error.description
            if case .timeout = error { outcome = .timeout } else { outcome = .unavailable }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as ParleyError {
            output = error.message
            outcome = .refused
        } catch {
            output = Self.message(error)
            outcome = .unavailable
        }
        let now = clock.now()
        let recorded = Self.cap(output, limit: Self.recordedOutputBytes)
        let execution = MCPExecution(id: UUIDv7.make(at: now), tenantID: server.tenantID, serverID: server.id, serverName: server.name, tool: tool,
                                     input: arguments, output: recorded.0, outputTruncated: truncated || recorded.1, outcome: outcome,
                                     durationMilliseconds: Self.milliseconds(ContinuousClock.now - started), actor: actor, workflowID: workflowID, createdAt: now)
        try await store.transaction { [repo] db in try await repo.insertExecution(execution, on: db) }
        var answered = execution
        answered.output = output
        return answered
    }

    public func executions(_ principal: Principal, serverID: String?, before: String?, limit: Int) async throws -> [MCPExecution] {
        try principal.require(.readTenant)
        let id = serverID == nil ? nil : try await find(tenantID: principal.tenantID, ref: serverID ?? "").0.id
        return try await store.read { [repo] db in
            try await repo.executions(tenantID: principal.tenantID, serverID: id, before: before, limit: limit, on: db)
        }
    }

    // MARK: agent tools

    /// The tenant's discovered tools as agent tools (`server__tool`), from enabled servers not
    /// found down by the last health check.
    public func agentTools(tenantID: String) async throws -> [ParleyAgent.Tool] {
        let rows = try await store.read { [repo] db in try await repo.all(tenantID: tenantID, on: db) }
        var out: [ParleyAgent.Tool] = []
        for (server, _) in rows where server.enabled && server.health != .down {
            for info in server.tools ?? [] {
                let serverID = server.id
                let toolName = info.name
                var tool = ParleyAgent.Tool(name: server.agentToolName(info.name), description: "[\(server.name)] " + info.description,
                                inputSchema: info.inputSchema, hasSideEffects: !info.readOnly, permission: .act,
                                timeout: .milliseconds(server.timeoutMilliseconds) + .seconds(2)) { [self] input, context in
                    // Read again: the server may have been changed, disabled or found down since the run began.
                    guard let found = try? await self.find(tenantID: context.tenantID, ref: serverID), found.0.enabled, found.0.health != .down else {
                        throw ParleyAgent.ToolError("the MCP server \(server.name) is not available now (disabled, removed or down); answer without it")
                    }
                    let execution = try await self.call(found.0, sealed: found.1, tool: toolName, arguments: input,
                                                        actor: context.action.principal.actor, workflowID: context.workflowID)
                    guard execution.outcome == .success else { throw ParleyAgent.ToolError(execution.output) }
                    return .string(execution.output)
                }
                tool.defaultPolicy = server.toolPolicies[info.name]
                out.append(tool)
            }
        }
        return out
    }

    /// Whether `name` is `server__tool` of one of the tenant's registered servers (discovered or not).
    public func isToolName(tenantID: String, name: String) async throws -> Bool {
        guard let range = name.range(of: MCPClientInfo.separator) else { return false }
        let server = String(name[..<range.lowerBound])
        let tool = String(name[range.upperBound...])
        guard Self.isServerName(server), Self.isToolName(tool) else { return false }
        return try await store.read { [repo] db in try await repo.find(tenantID: tenantID, name: server, on: db) } != nil
    }

    // MARK: helpers

    func find(tenantID: String, ref: String) async throws -> (MCPServer, String?) {
        let found = try await store.read { [repo] db in
            UUIDv7.isValid(ref) ? try await repo.find(tenantID: tenantID, id: ref, on: db) : try await repo.find(tenantID: tenantID, name: ref, on: db)
        }
        guard let found else { throw ParleyError.notFound("there is no MCP server '\(ref.prefix(64))'; GET /v1/mcp/servers lists them", code: "mcp_server_not_found") }
        return found
    }

    func connection(_ server: MCPServer, sealed: String?) async throws -> MCPConnection {
        let secrets = try open(sealed, server: server)
        let factory = try transportFactory(server, secrets: secrets)
        return await connections.connection(tenantID: server.tenantID, serverID: server.id, label: server.name,
                                            fingerprint: "\(server.updatedAt.timeIntervalSince1970)", factory: factory)
    }

    func transportFactory(_ server: MCPServer, secrets: MCPServerSecrets) throws -> TransportFactory {
        let logger = self.logger
        switch server.transport {
        case .stdio:
            guard let command = server.config.command, settings.stdioCommands.contains(command) else {
                throw ParleyError.badRequest(Self.commandRefusal(server.config.command ?? ""), code: "mcp_command_not_allowed")
            }
            var environment: [String: String] = [:]
            let parent = ProcessInfo.processInfo.environment
            for key in ["PATH", "HOME", "LANG", "LC_ALL", "TZ"] { environment[key] = parent[key] }
            environment.merge(secrets.env) { _, own in own }
            let args = server.config.args ?? []
            let childEnvironment = environment
            return { onDeath in
                StdioProcessTransport(command: command, arguments: args, environment: childEnvironment, logger: logger, onExit: { _ in onDeath() })
            }
        case .http:
            guard let url = server.config.url else { throw ParleyError.badRequest("the server has no url", code: "invalid_mcp_server") }
            let http = OutboundHTTP(.init(service: "MCP server \(server.name)", secrets: secrets.values,
                                          timeout: .milliseconds(server.timeoutMilliseconds) + .seconds(5), retry: .none,
                                          maxBodyBytes: server.maxOutputBytes * 4 + 1_048_576, outbound: outbound, endpointSetting: "url"))
            let headers = secrets.headers
            return { _ in StreamableHTTPTransport(url: url, headers: headers, http: http, logger: logger) }
        case .builtin:
            guard let name = server.config.builtin, let builtin = builtins[name] else {
                throw ParleyError.badRequest("this installation has no built-in MCP server '\(server.config.builtin ?? "")'", code: "invalid_mcp_server")
            }
            let tenantID = server.tenantID
            return { _ in try await builtin.connect(tenantID) }
        }
    }

    func seal(_ secrets: MCPServerSecrets, server: MCPServer) throws -> String? {
        guard !secrets.env.isEmpty || !secrets.headers.isEmpty else { return nil }
        return try keyring.seal("mcp_server", Data(MCPRepository.encode(secrets).utf8), context: server.tenantID + "/" + server.id)
    }

    func open(_ sealed: String?, server: MCPServer) throws -> MCPServerSecrets {
        guard let sealed else { return MCPServerSecrets() }
        do {
            let data = try keyring.open("mcp_server", sealed, context: server.tenantID + "/" + server.id)
            return try JSONDecoder().decode(MCPServerSecrets.self, from: data)
        } catch {
            throw ParleyError(.internalError, code: "mcp_secrets_unreadable",
                              "the MCP server \(server.name)'s secrets cannot be opened with this installation's key; set env or headers again")
        }
    }

    /// Checks and applies a body to a server (every bad value is a 400 naming the field).
    func apply(_ input: MCPServerInput, to server: inout MCPServer, secrets: inout MCPServerSecrets, creating: Bool) async throws {
        func bad(_ message: String) -> ParleyError { ParleyError.badRequest(message, code: "invalid_mcp_server") }
        if let name = input.name {
            guard Self.isServerName(name) else {
                throw bad("'name' must be 1 to 32 lower-case letters, digits or _ (not starting or ending with _, no __), e.g. 'time'; it prefixes the server's tools")
            }
            server.name = name
        }
        let kind = server.transport
        let misplaced: [(Bool, String, MCPTransportKind)] = [
            (input.command != nil, "command", .stdio), (input.args != nil, "args", .stdio), (input.env != nil, "env", .stdio),
            (input.url != nil, "url", .http), (input.headers != nil, "headers", .http), (input.builtin != nil, "builtin", .builtin),
        ]
        for (present, field, owner) in misplaced where present && owner != kind {
            throw bad("'\(field)' applies to \(owner.rawValue) servers; this one is \(kind.rawValue)")
        }
        switch kind {
        case .stdio:
            if let command = input.command {
                guard !command.isEmpty, command.count <= 4096 else { throw bad("'command' must be an executable's path or name") }
                guard settings.stdioCommands.contains(command) else {
                    throw ParleyError.badRequest(Self.commandRefusal(command), code: "mcp_command_not_allowed")
                }
                server.config.command = command
            } else if creating {
                throw bad("a stdio server needs 'command' (an executable this installation allows) and optionally 'args' and 'env'")
            }
            if let args = input.args {
                guard args.count <= 100, args.allSatisfy({ $0.utf8.count <= 4096 }) else { throw bad("'args' takes at most 100 arguments of at most 4096 bytes") }
                server.config.args = args
            }
            if let env = input.env {
                guard env.count <= 100 else { throw bad("'env' takes at most 100 variables") }
                for (key, value) in env {
                    guard key.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,127}$", options: .regularExpression) != nil else {
                        throw bad("'env' has an invalid variable name '\(key.prefix(64))': use letters, digits and _")
                    }
                    guard value.utf8.count <= 32_768 else { throw bad("'env' value of \(key) is longer than 32768 bytes") }
                }
                secrets.env = env
                server.config.envNames = env.keys.sorted()
            }
        case .http:
            if let url = input.url {
                guard let u = URLComponents(string: url), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme),
                      let host = u.host, !host.isEmpty, u.user == nil, u.password == nil else {
                    throw bad("'url' must be an absolute http(s) URL without credentials, e.g. https://tools.example.com/mcp")
                }
                do {
                    _ = try await outbound.check(host: host, what: "url")
                } catch {
                    throw ParleyError.badRequest(error.message, code: "outbound_address_refused")
                }
                server.config.url = url
            } else if creating {
                throw bad("an http server needs 'url' (its Streamable HTTP endpoint) and optionally 'headers'")
            }
            if let headers = input.headers {
                guard headers.count <= 50 else { throw bad("'headers' takes at most 50 headers") }
                for (name, value) in headers {
                    guard name.range(of: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$", options: .regularExpression) != nil else {
                        throw bad("'headers' has an invalid header name '\(name.prefix(64))'")
                    }
                    guard !["host", "content-length", "content-type", "accept", "mcp-session-id", "mcp-protocol-version", "transfer-encoding", "connection"].contains(name.lowercased()) else {
                        throw bad("'headers' may not set \(name); Parley sets it")
                    }
                    guard !value.contains(where: { $0 == "\r" || $0 == "\n" }), value.utf8.count <= 8192 else {
                        throw bad("'headers' value of \(name) must be one line of at most 8192 bytes")
                    }
                }
                secrets.headers = headers
                server.config.headerNames = headers.keys.sorted()
            }
        case .builtin:
            if let builtin = input.builtin {
                guard builtins[builtin] != nil else {
                    let known = builtins.keys.sorted()
                    throw bad("there is no built-in MCP server '\(builtin.prefix(64))'" + (known.isEmpty ? "; this installation has none" : " (built-in: \(known.joined(separator: ", ")))"))
                }
                server.config.builtin = builtin
            } else if creating {
                throw bad("a builtin server needs 'builtin', the name of one of the installation's built-in servers")
            }
        }
        if let enabled = input.enabled { server.enabled = enabled }
        if let timeout = input.timeoutMs {
            guard Self.timeoutRange.contains(timeout) else { throw bad("'timeout_ms' must be from \(Self.timeoutRange.lowerBound) to \(Self.timeoutRange.upperBound)") }
            server.timeoutMilliseconds = timeout
        }
        if let max = input.maxOutputBytes {
            guard Self.outputRange.contains(max) else { throw bad("'max_output_bytes' must be from \(Self.outputRange.lowerBound) to \(Self.outputRange.upperBound)") }
            server.maxOutputBytes = max
        }
        if let policies = input.toolPolicies {
            var out: [String: ToolPolicyMode] = [:]
            for (tool, mode) in policies {
                guard Self.isToolName(tool) else { throw bad("'tool_policies' has an invalid tool name '\(tool.prefix(64))'") }
                guard let m = ToolPolicyMode(rawValue: mode) else {
                    throw bad("'tool_policies.\(tool)' must be auto, require_approval or disabled")
                }
                out[tool] = m
            }
            server.toolPolicies = out
        }
    }

    static func kind(_ text: String) throws -> MCPTransportKind {
        guard let kind = MCPTransportKind(rawValue: text) else {
            throw ParleyError.badRequest("'transport' must be stdio, http or builtin", code: "invalid_mcp_server")
        }
        return kind
    }

    static func commandRefusal(_ command: String) -> String {
        "the command '\(command.prefix(200))' is not one this installation allows MCP servers to run; an administrator lists allowed executables in PARLEY_MCP_STDIO_COMMANDS"
    }

    static func nameTaken(_ name: String) -> ParleyError {
        ParleyError.conflict("an MCP server named '\(name)' already exists; choose another name", code: "mcp_server_name_taken")
    }

    static func disabled(_ server: MCPServer) -> ParleyError {
        ParleyError.conflict("the MCP server \(server.name) is disabled; PATCH it with {\"enabled\": true} first", code: "mcp_server_disabled")
    }

    public static func isServerName(_ name: String) -> Bool {
        name.range(of: "^[a-z0-9](?:[a-z0-9_]{0,30}[a-z0-9])?$", options: .regularExpression) != nil && !name.contains("__")
    }

    /// MCP tool names an agent tool may carry (what model providers accept after the prefix).
    static func isToolName(_ name: String) -> Bool {
        name.range(of: "^[A-Za-z0-9_.-]{1,64}$", options: .regularExpression) != nil
    }

    static func message(_ error: any Error) -> String {
        switch error {
        case let e as ParleyError: e.message
        case let e as MCPCallError: e.description
        default: String(describing: MCPConnection.describe(error, label: "server"))
        }
    }

    static func json(_ value: Value) throws -> JSONValue {
        try JSONValue.parse(try JSONEncoder().encode(value))
    }

    static func values(_ arguments: JSONValue) throws -> [String: Value] {
        try JSONDecoder().decode([String: Value].self, from: Data(arguments.serialized().utf8))
    }

    /// The text the model reads: text parts as they are, other parts described.
    static func text(of content: [MCP.Tool.Content]) -> String {
        content.map { part -> String in
            switch part {
            case .text(let text, _, _): text
            case .image(let data, let mime, _, _): "[image \(mime), \(data.utf8.count * 3 / 4) bytes, not shown]"
            case .audio(let data, let mime, _, _): "[audio \(mime), \(data.utf8.count * 3 / 4) bytes, not shown]"
            case .resource(let resource, _, _): resource.text ?? "[resource \(resource.uri)]"
            case .resourceLink(let uri, let name, _, _, _, _): "[resource \(name): \(uri)]"
            }
        }.joined(separator: "\n")
    }

    /// At most `limit` bytes of `text` (whole characters), with a note when cut.
    static func cap(_ text: String, limit: Int) -> (String, Bool) {
        guard text.utf8.count > limit else { return (text, false) }
        var cut = text.utf8.prefix(limit)
        while !cut.isEmpty, String(cut) == nil { cut = cut.dropLast() }
        return ((String(cut) ?? "") + "\n[output truncated: the tool returned \(text.utf8.count) bytes; the limit is \(limit)]", true)
    }

    static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }
}
