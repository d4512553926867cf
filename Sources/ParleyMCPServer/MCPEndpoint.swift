import Foundation
import Logging
import ParleyAgent
import ParleyCore
import ParleyPlatform

/// What `/mcp` needs of an HTTP request, whatever the framework.
public struct MCPRequestHead: Sendable {
    public var accept: String?
    public var contentType: String?
    public var sessionID: String?
    public var protocolVersion: String?

    public init(accept: String?, contentType: String?, sessionID: String?, protocolVersion: String?) {
        self.accept = accept
        self.contentType = contentType
        self.sessionID = sessionID
        self.protocolVersion = protocolVersion
    }
}

/// The HTTP answer `/mcp` gives: a status, headers, and a body (a JSON-RPC message as JSON or as
/// one server-sent event) or none.
public struct MCPReply: Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data?

    public init(status: Int, headers: [String: String] = [:], body: Data? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A JSON-RPC error: its code, message and optional data, and the HTTP status it goes out with.
struct RPCFailure: Error {
    var code: Int
    var message: String
    var data: JSONValue?
    var httpStatus = 200

    static func parse(_ message: String) -> Self { .init(code: -32700, message: message, httpStatus: 400) }
    static func invalidRequest(_ message: String, status: Int = 400) -> Self { .init(code: -32600, message: message, httpStatus: status) }
    static func methodNotFound(_ method: String) -> Self {
        .init(code: -32601, message: "Method not found: '\(method.prefix(100))' (this server offers initialize, ping, tools/list and tools/call)")
    }
    static func invalidParams(_ message: String, data: JSONValue? = nil) -> Self { .init(code: -32602, message: message, data: data) }
}

/// Parley as an MCP server over Streamable HTTP (protocol versions 2025-11-25 and 2025-06-18,
/// docs/mcp.md): JSON-RPC messages POSTed one at a time, answered as JSON or as an event stream,
/// sessions in the database, the caller's tools through `AgentService.callTool`.
public struct MCPEndpoint: Sendable {
    public static let protocolVersions = ["2025-11-25", "2025-06-18"]
    public static let sessionHeader = "Mcp-Session-Id"
    public static let protocolHeader = "MCP-Protocol-Version"

    let agent: AgentService
    let sessions: MCPSessionStore
    let logger: Logger

    public init(agent: AgentService, sessions: MCPSessionStore, logger: Logger) {
        self.agent = agent
        self.sessions = sessions
        self.logger = logger
    }

    // MARK: HTTP

    /// One POSTed JSON-RPC message (the caller is authenticated already).
    public func post(_ ctx: ActionContext, head: MCPRequestHead, body: Data) async -> MCPReply {
        let format: Format
        do {
            format = try Self.format(accept: head.accept)
        } catch {
            return Self.reply(error, id: .null, format: .json)
        }
        var id: JSONValue = .null
        do {
            try Self.checkContentType(head.contentType)
            let message = try Self.message(body)
            guard let method = message["method"]?.stringValue else {
                // A client's answer to a request of ours: this server sends none, so nothing waits for it.
                guard message["id"] != nil, message["result"] != nil || message["error"] != nil else {
                    throw RPCFailure.invalidRequest("a JSON-RPC message needs a 'method' (a request or notification) or an 'id' with 'result' or 'error' (a response)")
                }
                return MCPReply(status: 202)
            }
            guard let requestID = message["id"] else {
                // A notification: initialized, cancelled, progress... none needs an answer.
                _ = try await session(ctx.principal, head)
                return MCPReply(status: 202)
            }
            guard Self.isValidID(requestID) else {
                throw RPCFailure.invalidRequest("a request's 'id' must be a string or an integer")
            }
            id = requestID
            let params = message["params"] ?? .object([:])
            guard case .object = params else { throw RPCFailure.invalidParams("'params' must be a JSON object") }
            switch method {
            case "initialize":
                let (result, session) = try await initialize(ctx.principal, params: params)
                var reply = Self.reply(result: result, id: id, format: format)
                reply.headers[Self.sessionHeader] = session.id
                return reply
            case "server/discover":
                // A client of the stateless protocol revisions probes first; this answer sends it to `initialize`.
                throw RPCFailure(code: -32601, message: "Method not found: server/discover; this server speaks protocol versions \(Self.protocolVersions.joined(separator: " and ")): send initialize",
                                 data: ["supported": .array(Self.protocolVersions.map { .string($0) })])
            default:
                _ = try await session(ctx.principal, head)
                return Self.reply(result: try await handle(ctx, method: method, params: params), id: id, format: format)
            }
        } catch {
            if !(error is RPCFailure) {
                logger.error("mcp request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            return Self.reply(error, id: id, format: format)
        }
    }

    /// `DELETE /mcp`: ends the caller's session.
    public func delete(_ principal: Principal, head: MCPRequestHead) async -> MCPReply {
        do {
            guard let id = head.sessionID else {
                throw RPCFailure.invalidRequest("send the session to end in the \(Self.sessionHeader) header")
            }
            guard try await sessions.end(principal, id: id) else {
                throw RPCFailure.invalidRequest("there is no open session \(id.prefix(64)) for this caller (ended, expired or never opened)", status: 404)
            }
            return MCPReply(status: 204)
        } catch {
            if !(error is RPCFailure) { logger.error("mcp session end failed", metadata: ["error": "\(String(reflecting: error))"]) }
            return Self.reply(error, id: .null, format: .json)
        }
    }

    // MARK: methods

    private func initialize(_ principal: Principal, params: JSONValue) async throws -> (JSONValue, MCPSession) {
        guard let requested = params["protocolVersion"]?.stringValue else {
            throw RPCFailure.invalidParams("initialize needs 'protocolVersion' (this server speaks \(Self.protocolVersions.joined(separator: ", ")))")
        }
        if let info = params["clientInfo"], info.objectValue == nil { throw RPCFailure.invalidParams("'clientInfo' must be an object with 'name' and 'version'") }
        // The client's version when this server speaks it, else this server's newest (the client decides whether it can go on).
        let negotiated = Self.protocolVersions.contains(requested) ? requested : Self.protocolVersions[0]
        let session = try await sessions.open(principal, protocolVersion: negotiated, clientName: params["clientInfo"]?["name"]?.stringValue)
        let result: JSONValue = [
            "protocolVersion": .string(negotiated),
            "capabilities": ["tools": ["listChanged": false]],
            "serverInfo": ["name": "parley", "title": "Parley", "version": .string(ParleyVersion.current)],
            "instructions": """
                The tools of this Parley workspace that your key may use. A tool whose workspace policy requires approval does not \
                run at once: its result names the run that waits for a person's approval (structuredContent.workflow_id and \
                approval_id); once approved, the tool runs in that run (GET /v1/workflows/{workflow_id}).
                """,
        ]
        return (result, session)
    }

    private func handle(_ ctx: ActionContext, method: String, params: JSONValue) async throws -> JSONValue {
        switch method {
        case "ping":
            return .object([:])
        case "tools/list":
            if let cursor = params["cursor"], !cursor.isNull {
                throw RPCFailure.invalidParams("unknown cursor: this server lists every tool on one page, so there is no next page to ask for")
            }
            let tools = try await agent.callableTools(ctx.principal)
            return ["tools": .array(tools.map(Self.describe))]
        case "tools/call":
            guard let name = params["name"]?.stringValue, !name.isEmpty else { throw RPCFailure.invalidParams("tools/call needs the tool's 'name'") }
            let arguments = params["arguments"].flatMap { $0.isNull ? nil : $0 } ?? .object([:])
            guard case .object = arguments else { throw RPCFailure.invalidParams("'arguments' must be a JSON object") }
            let result: DirectCallResult
            do {
                result = try await agent.callTool(ctx, name: name, arguments: arguments)
            } catch let error as ParleyError where error.kind != .internalError && error.kind != .unavailable {
                throw RPCFailure.invalidParams(error.message, data: ["code": .string(error.code), "tool": .string(name)])
            }
            return Self.callResult(result, tool: name)
        default:
            throw RPCFailure.methodNotFound(method)
        }
    }

    /// The session the request names, which must be the caller's and open.
    private func session(_ principal: Principal, _ head: MCPRequestHead) async throws -> MCPSession {
        guard let id = head.sessionID else {
            throw RPCFailure.invalidRequest("send the \(Self.sessionHeader) header that initialize returned (initialize first if you have none)")
        }
        guard let session = try await sessions.find(principal, id: id) else {
            throw RPCFailure.invalidRequest("session \(id.prefix(64)) is not open for this caller (ended, expired or never opened): initialize a new one", status: 404)
        }
        if let version = head.protocolVersion, version != session.protocolVersion {
            throw RPCFailure.invalidRequest(Self.protocolVersions.contains(version)
                ? "\(Self.protocolHeader) \(version) differs from the version this session negotiated (\(session.protocolVersion))"
                : "unsupported \(Self.protocolHeader) '\(version.prefix(40))': this server speaks \(Self.protocolVersions.joined(separator: " and "))")
        }
        return session
    }

    /// A tool as `tools/list` shows it: its schema, hints derived from what it does, and Parley's
    /// own facts under `_meta` (the permission it needs, whether a call waits for approval).
    static func describe(_ tool: CallableTool) -> JSONValue {
        let readOnly = !tool.hasSideEffects && (tool.permission == .readTenant || tool.permission == .converse)
        var annotations: [String: JSONValue] = ["readOnlyHint": .bool(readOnly)]
        if !readOnly { annotations["destructiveHint"] = .bool(tool.hasSideEffects) }
        return [
            "name": .string(tool.name),
            "description": .string(tool.description),
            "inputSchema": tool.inputSchema,
            "annotations": .object(annotations),
            "_meta": [
                "parley/permission": .string(tool.permission.rawValue),
                "parley/side_effects": .bool(tool.hasSideEffects),
                "parley/approval": .string(tool.mode == .requireApproval ? "required" : "none"),
            ],
        ]
    }

    static func callResult(_ result: DirectCallResult, tool: String) -> JSONValue {
        switch result {
        case .finished(let workflowID, let success, let status, let output):
            var object: [String: JSONValue] = [
                "content": [["type": "text", "text": .string(output.stringValue ?? output.serialized())]],
                "isError": .bool(!success),
                "_meta": ["parley/workflow_id": .string(workflowID), "parley/status": .string(status)],
            ]
            if success, case .object = output { object["structuredContent"] = output }
            return .object(object)
        case .waitingApproval(let workflowID, let approvalID, let reason):
            let text = """
                Approval needed: \(reason). The call waits in run \(workflowID) for a person to approve it (approval \(approvalID)): \
                POST /v1/workflows/\(workflowID)/approvals/\(approvalID) with {"decision": "approve"} runs the tool in that run, \
                and GET /v1/workflows/\(workflowID) shows its result.
                """
            return [
                "content": [["type": "text", "text": .string(text)]],
                "structuredContent": ["status": "approval_required", "workflow_id": .string(workflowID), "approval_id": .string(approvalID),
                                      "tool": .string(tool), "reason": .string(reason)],
                "isError": false,
                "_meta": ["parley/workflow_id": .string(workflowID), "parley/status": "approval_required"],
            ]
        case .failed(let workflowID, let type, let message):
            return [
                "content": [["type": "text", "text": .string("Error: \(message)")]],
                "isError": true,
                "_meta": ["parley/workflow_id": .string(workflowID), "parley/status": .string(type)],
            ]
        }
    }

    // MARK: framing

    enum Format { case json, eventStream }

    /// JSON when the client accepts it (or says nothing), else an event stream; 406 when it accepts neither.
    static func format(accept: String?) throws -> Format {
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return .json }
        let types = accept.lowercased().split(separator: ",").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        if types.contains(where: { $0 == "application/json" || $0 == "application/*" || $0 == "*/*" }) { return .json }
        if types.contains("text/event-stream") || types.contains("text/*") { return .eventStream }
        throw RPCFailure.invalidRequest("Accept must include application/json or text/event-stream", status: 406)
    }

    static func checkContentType(_ contentType: String?) throws {
        let media = contentType?.lowercased().split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard media == "application/json" else {
            throw RPCFailure.invalidRequest("send the JSON-RPC message with 'Content-Type: application/json'", status: 415)
        }
    }

    /// The one JSON-RPC message in the body.
    static func message(_ body: Data) throws -> JSONValue {
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch { throw RPCFailure.parse("Parse error: the body is not valid JSON") }
        if case .array = value {
            throw RPCFailure.invalidRequest("send one JSON-RPC message per request: batches are not part of protocol versions 2025-06-18 and later")
        }
        guard case .object = value else { throw RPCFailure.invalidRequest("the body must be a JSON-RPC message (a JSON object)") }
        guard value["jsonrpc"] == "2.0" else { throw RPCFailure.invalidRequest("the message must carry \"jsonrpc\": \"2.0\"") }
        if let method = value["method"], method.stringValue == nil { throw RPCFailure.invalidRequest("'method' must be a string") }
        if containsNUL(value) { throw RPCFailure.invalidRequest("the message contains a NUL character (\\u0000); remove it") }
        return value
    }

    static func containsNUL(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): s.contains("\u{0}")
        case .array(let items): items.contains(where: containsNUL)
        case .object(let members): members.contains { $0.key.contains("\u{0}") || containsNUL($0.value) }
        default: false
        }
    }

    static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string: true
        case .number: id.intValue != nil
        default: false
        }
    }

    /// A refusal of the HTTP exchange before any message is read (a foreign Origin: 403), as a
    /// JSON-RPC error without an id.
    public static func refusal(status: Int, message: String) -> MCPReply {
        reply(RPCFailure.invalidRequest(message, status: status), id: .null, format: .json)
    }

    static func reply(result: JSONValue, id: JSONValue, format: Format) -> MCPReply {
        frame(["jsonrpc": "2.0", "id": id, "result": result], status: 200, format: format)
    }

    static func reply(_ error: any Error, id: JSONValue, format: Format) -> MCPReply {
        let failure = error as? RPCFailure ?? RPCFailure(code: -32603, message: "Internal error: the request could not be completed; try again")
        var object: [String: JSONValue] = ["code": .number(Double(failure.code)), "message": .string(failure.message)]
        if let data = failure.data { object["data"] = data }
        // An error about the HTTP exchange itself goes out as JSON, whatever the client prefers.
        return frame(["jsonrpc": "2.0", "id": id, "error": .object(object)], status: failure.httpStatus, format: failure.httpStatus == 200 ? format : .json)
    }

    static func frame(_ message: JSONValue, status: Int, format: Format) -> MCPReply {
        let text = message.serialized()
        switch format {
        case .json:
            return MCPReply(status: status, headers: ["Content-Type": "application/json"], body: Data(text.utf8))
        case .eventStream:
            return MCPReply(status: status, headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache"],
                            body: Data("event: message\ndata: \(text)\n\n".utf8))
        }
    }
}
