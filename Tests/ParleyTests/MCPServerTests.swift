import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ParleyCore
import ParleyStorage
import Testing

/// One exchange with `/mcp`: the status, the headers and the JSON-RPC message (from JSON or an event stream).
struct MCPExchange {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var message: JSONValue?
    var text: String
}

extension TestClientProtocol {
    /// POSTs one JSON-RPC message (raw text) to `/mcp`.
    func mcp(_ key: String?, _ body: String, session: String? = nil, accept: String? = "application/json, text/event-stream",
             contentType: String = "application/json", extra: HTTPFields = [:]) async throws -> MCPExchange {
        var headers: HTTPFields = [.contentType: contentType]
        if let key { headers[.authorization] = "Bearer \(key)" }
        if let accept { headers[.accept] = accept }
        if let session { headers[HTTPField.Name("Mcp-Session-Id")!] = session }
        headers.append(contentsOf: extra)
        return try await execute(uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: body)) { r in
            let text = String(buffer: r.body)
            var payload = text
            if r.headers[.contentType]?.hasPrefix("text/event-stream") == true {
                payload = text.split(separator: "\n").first { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) } ?? ""
            }
            return MCPExchange(status: r.status, headers: r.headers, message: try? JSONValue.parse(payload), text: text)
        }
    }

    func mcpRequest(_ key: String, _ method: String, _ params: JSONValue = [:], session: String?, id: Int = 1) async throws -> MCPExchange {
        try await mcp(key, JSONValue.object(["jsonrpc": "2.0", "id": .number(Double(id)), "method": .string(method), "params": params]).serialized(),
                      session: session)
    }

    /// Initializes a session (and sends `notifications/initialized`); returns its id.
    func mcpSession(_ key: String, version: String = "2025-11-25") async throws -> String {
        let reply = try await mcpRequest(key, "initialize", ["protocolVersion": .string(version), "capabilities": [:],
                                                              "clientInfo": ["name": "tests", "version": "1"]], session: nil)
        #expect(reply.status == .ok, "\(reply.text)")
        let session = try #require(reply.headers[HTTPField.Name("Mcp-Session-Id")!], "\(reply.text)")
        let initialized = try await mcp(key, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: session)
        #expect(initialized.status == .accepted)
        return session
    }

    func callTool(_ key: String, _ name: String, _ arguments: JSONValue, session: String) async throws -> JSONValue {
        let reply = try await mcpRequest(key, "tools/call", ["name": .string(name), "arguments": arguments], session: session)
        #expect(reply.status == .ok, "\(reply.text)")
        return try #require(reply.message, "\(reply.text)")
    }
}

/// `/mcp` (docs/mcp.md, "Parley as an MCP server"): the official Python client against a live
/// server, and the protocol's rules and bad inputs through the router.
@Suite struct MCPServerTests {
    static let python = ProcessInfo.processInfo.environment["PARLEY_TEST_PYTHON"] ?? "python3"
    static let script = TestEnv.packageRoot.appendingPathComponent("Tests/clients/mcp_client_check.py")

    @Test(arguments: TestEnv.kinds)
    func theOfficialClientListsAndCallsToolsAndAnApprovedCallRunsTheTool(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, testing: .live) { client, seeded, store, clock in
            let port = try #require(client.port)
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            let target = try await seeded.key(store, clock: clock, role: .service)
            // The legal pack is switched off for this tenant: its tools are neither listed nor callable.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["legal": false]])
            let (status, output) = try await runCommand("/usr/bin/env", [Self.python, Self.script.path, "http://127.0.0.1:\(port)",
                                                                         seeded.adminKey, viewer, target.id, "lookup_case_by_name"])
            #expect(status == 0, "\(output)")
            let line = try #require(output.split(separator: "\n").last, "\(output)")
            let seen = try JSONValue.parse(String(line))

            // The client probed server/discover, fell back to initialize and got the newest version it speaks.
            #expect(seen["protocol_version"] == "2025-11-25", "\(seen)")
            #expect(seen["server_name"] == "parley", "\(seen)")
            let tools = try #require(seen["tools"]?.arrayValue, "\(seen)")
            #expect(tools.contains("get_workspace") && tools.contains("revoke_api_key") && tools.contains("echo"), "\(tools)")
            #expect(!tools.contains("lookup_case_by_name") && !tools.contains("escalate_to_human"), "\(tools)")
            #expect(seen["get_workspace"]?["schema"]?["type"] == "object" && seen["get_workspace"]?["read_only"] == true, "\(seen)")
            #expect(seen["revoke_api_key"]?["destructive"] == true && seen["revoke_api_key"]?["meta"]?["parley/approval"] == "required", "\(seen)")

            let read = try #require(seen["read"], "\(seen)")
            #expect(read["is_error"] == false && read["structured"]?["slug"] == "acme", "\(read)")
            let readRun = try #require(read["meta"]?["parley/workflow_id"]?.stringValue, "\(read)")
            #expect(try await client.getJSON(seeded.adminKey, "/v1/workflows/\(readRun)")["status"] == "COMPLETED")
            // Input is validated like a model's call: a tool error the caller can read.
            #expect(seen["invalid"]?["is_error"] == true && seen["invalid"]?["text"]?.stringValue?.contains("schema") == true, "\(seen)")

            // The call that needs approval names its run and approval instead of running.
            let approval = try #require(seen["approval"], "\(seen)")
            #expect(approval["is_error"] == false && approval["structured"]?["status"] == "approval_required", "\(approval)")
            #expect(approval["text"]?.stringValue?.contains("Approval needed") == true, "\(approval)")
            let run = try #require(approval["structured"]?["workflow_id"]?.stringValue, "\(approval)")
            let approvalID = try #require(approval["structured"]?["approval_id"]?.stringValue, "\(approval)")
            #expect(try await client.getJSON(seeded.adminKey, "/v1/workflows/\(run)")["status"] == "WAITING_APPROVAL")
            #expect(try await client.getJSON(target.secret ?? "", "/v1/tenant")["slug"] == "acme")
            _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(run)/approvals/\(approvalID)", ["decision": "approve"])
            let events = try await client.execute(uri: "/v1/workflows/\(run)/events", method: .get, headers: auth(seeded.adminKey)) {
                parseSSE(String(buffer: $0.body))
            }
            let ran = try #require(events.first { $0.event == "tool_end" }, "\(events.map(\.event))")
            #expect(ran.data["tool"] == "revoke_api_key" && ran.data["success"] == true, "\(ran.data)")
            #expect(events.last?.event == "workflow_completed")
            // The approved call ran: the key no longer works.
            _ = try await client.getJSON(target.secret ?? "", "/v1/tenant", status: .unauthorized)

            // A tool of a switched-off pack, an unknown one, a viewer's write: JSON-RPC errors naming the tool and why.
            #expect(seen["disabled"]?["code"] == -32602 && seen["disabled"]?["data"]?["code"] == "tool_unavailable", "\(seen)")
            #expect(seen["disabled"]?["message"]?.stringValue?.contains("lookup_case_by_name") == true, "\(seen)")
            #expect(seen["unknown"]?["code"] == -32602, "\(seen)")
            #expect(seen["ping"] == "pong", "\(seen)")
            let viewerTools = try #require(seen["viewer_tools"]?.arrayValue, "\(seen)")
            #expect(viewerTools.contains("get_workspace") && !viewerTools.contains("revoke_api_key") && !viewerTools.contains("echo"), "\(viewerTools)")
            #expect(seen["viewer_write"]?["code"] == -32602 && seen["viewer_write"]?["data"]?["code"] == "forbidden", "\(seen)")
            #expect(seen["viewer_read"]?["is_error"] == false, "\(seen)")
            // A bad key fails the connection (401).
            #expect(seen["bad_key"]?["raised"] == "MCPError", "\(seen)")

            // Every call is in the audit log.
            let audit = try await client.getJSON(seeded.adminKey, "/v1/audit-log?limit=100&action=tool.call")
            #expect(audit["data"]?.arrayValue?.contains { $0["action"] == "tool.call" && $0["target_id"] == "revoke_api_key" } == true, "\(audit)")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func sessionsAreIssuedOnInitializeRequiredAfterAndEndedByDelete(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            // An older version the server speaks is kept; an unknown one gets the newest.
            let old = try await client.mcpRequest(seeded.adminKey, "initialize", ["protocolVersion": "2025-06-18", "capabilities": [:]], session: nil)
            #expect(old.message?["result"]?["protocolVersion"] == "2025-06-18" && old.message?["result"]?["capabilities"]?["tools"] != nil)
            let odd = try await client.mcpRequest(seeded.adminKey, "initialize", ["protocolVersion": "1999-01-01"], session: nil)
            #expect(odd.message?["result"]?["protocolVersion"] == "2025-11-25")

            let session = try await client.mcpSession(seeded.adminKey)
            let ping = try await client.mcpRequest(seeded.adminKey, "ping", session: session, id: 7)
            #expect(ping.status == .ok && ping.message?["id"] == 7 && ping.message?["result"] == [:], "\(ping.text)")
            // Without a session: 400; with an unknown one: 404.
            let missing = try await client.mcpRequest(seeded.adminKey, "tools/list", session: nil)
            #expect(missing.status == .badRequest && missing.message?["error"]?["code"] == -32600, "\(missing.text)")
            let unknown = try await client.mcpRequest(seeded.adminKey, "tools/list", session: String(repeating: "ab", count: 32))
            #expect(unknown.status == .notFound, "\(unknown.text)")
            // Another key of the same tenant cannot use it.
            let other = try #require(try await seeded.key(store, clock: clock, role: .admin).secret)
            #expect(try await client.mcpRequest(other, "ping", session: session).status == .notFound)
            // The protocol version header must be the session's.
            let wrongVersion = try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, session: session,
                                                    extra: [HTTPField.Name("MCP-Protocol-Version")!: "2025-06-18"])
            #expect(wrongVersion.status == .badRequest, "\(wrongVersion.text)")
            let unsupported = try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, session: session,
                                                   extra: [HTTPField.Name("MCP-Protocol-Version")!: "2030-01-01"])
            #expect(unsupported.status == .badRequest && unsupported.message?["error"]?["message"]?.stringValue?.contains("unsupported") == true)

            // DELETE ends it, everywhere (the session lives in the database).
            let sessionHeader: HTTPFields = [.authorization: "Bearer \(seeded.adminKey)", HTTPField.Name("Mcp-Session-Id")!: session]
            try await client.execute(uri: "/mcp", method: .delete, headers: sessionHeader) { #expect($0.status == .noContent) }
            #expect(try await client.mcpRequest(seeded.adminKey, "ping", session: session).status == .notFound)
            try await client.execute(uri: "/mcp", method: .delete, headers: sessionHeader) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/mcp", method: .delete, headers: auth(seeded.adminKey)) { #expect($0.status == .badRequest) }
            // No server-initiated stream: GET is 405 with Allow.
            try await client.execute(uri: "/mcp", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .methodNotAllowed)
                #expect(r.headers[.allow]?.contains("POST") == true)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func badMessagesGetTheJSONRPCErrorCodes(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let session = try await client.mcpSession(seeded.adminKey)
            func expectError(_ body: String, status: HTTPResponse.Status, code: Int, _ comment: Comment) async throws {
                let reply = try await client.mcp(seeded.adminKey, body, session: session)
                #expect(reply.status == status, "\(comment): \(reply.text)")
                #expect(reply.message?["error"]?["code"]?.intValue == code, "\(comment): \(reply.text)")
                #expect(reply.message?["error"]?["message"]?.stringValue?.isEmpty == false, "\(comment)")
            }
            try await expectError("{not json", status: .badRequest, code: -32700, "malformed JSON")
            try await expectError(#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, status: .badRequest, code: -32600, "a batch")
            try await expectError(#"{"id":1,"method":"ping"}"#, status: .badRequest, code: -32600, "no jsonrpc member")
            try await expectError(#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, status: .badRequest, code: -32600, "a fractional id")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":42}"#, status: .badRequest, code: -32600, "a method that is not a string")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"a\u0000b"}}"#, status: .badRequest, code: -32600, "a NUL")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#, status: .ok, code: -32601, "an unknown method")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#, status: .ok, code: -32602, "no tool name")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":[1]}}"#, status: .ok, code: -32602,
                                  "arguments that are not an object")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#, status: .ok, code: -32602, "params not an object")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"next"}}"#, status: .ok, code: -32602, "a cursor never issued")
            try await expectError(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#, status: .ok, code: -32602, "initialize without a version")
            // server/discover (a newer client's probe) answers "method not found" without a session, so the client falls back.
            let probe = try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":"p","method":"server/discover","params":{}}"#,
                                             extra: [HTTPField.Name("MCP-Protocol-Version")!: "2026-07-28"])
            #expect(probe.status == .ok && probe.message?["error"]?["code"] == -32601 && probe.message?["id"] == "p", "\(probe.text)")
            // Notifications and responses are accepted without an answer.
            #expect(try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
                                         session: session).status == .accepted)
            #expect(try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":9,"result":{}}"#, session: session).status == .accepted)
            // Framing: an event stream for a client that accepts only that; 406 for one that accepts neither; 415 for a body that is not JSON.
            let streamed = try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, session: session, accept: "text/event-stream")
            #expect(streamed.headers[.contentType] == "text/event-stream" && streamed.text.hasPrefix("event: message\ndata: ") && streamed.message?["id"] == 3)
            #expect(try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, session: session, accept: "image/png").status
                    == .notAcceptable)
            #expect(try await client.mcp(seeded.adminKey, #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, session: session, contentType: "text/plain").status
                    == .unsupportedMediaType)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func authenticationOriginAndRateLimitsAreThoseOfTheAPI(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_RATE_LIMIT_KEY_PER_MINUTE": "3", "PARLEY_RATE_LIMIT_KEY_BURST": "3"]) { client, seeded, _, _ in
            let ping = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#
            #expect(try await client.mcp(nil, ping).status == .unauthorized)
            let bad = try await client.mcp("prk_wrong", ping)
            #expect(bad.status == .unauthorized && bad.message?["error"]?["code"] != nil, "\(bad.text)")
            // A page of another site (DNS rebinding) is refused before authentication; loopback pages are not.
            let foreign = try await client.mcp(seeded.adminKey, ping, extra: [.origin: "http://evil.example"])
            #expect(foreign.status == .forbidden && foreign.message?["error"]?["code"] == -32600 && foreign.message?["id"] == .null, "\(foreign.text)")
            let rebound = try await client.mcp(seeded.adminKey, ping, extra: [.origin: "http://evil.example:8080", HTTPField.Name("Host")!: "evil.example:8080"])
            #expect(rebound.status == .forbidden)
            #expect(try await client.mcp(seeded.adminKey, ping, extra: [.origin: "http://localhost:8080", HTTPField.Name("Host")!: "127.0.0.1:8080"]).status == .ok)
            // The key's bucket covers /mcp too.
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 { statuses.append(try await client.mcp(seeded.adminKey, ping).status) }
            #expect(statuses.contains(.tooManyRequests), "\(statuses)")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aPersonsAccessTokenWorksLikeAKeyWithTheirRole(_ kind: DatabaseKind) async throws {
        try await withAccounts(kind) { client, f in
            try await f.user("op@example.com", role: .operator)
            let token = try #require(try await client.login("op@example.com").json["access_token"]?.stringValue)
            let tenant: HTTPFields = [HTTPField.Name("X-Tenant")!: "acme"]
            let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#
            let opened = try await client.mcp(token, initialize, extra: tenant)
            let session = try #require(opened.headers[HTTPField.Name("Mcp-Session-Id")!], "\(opened.text)")
            let listed = try await client.mcp(token, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, session: session, extra: tenant)
            let names = listed.message?["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            // An operator may not manage keys: revoke_api_key is not theirs to call.
            #expect(names.contains("get_workspace") && !names.contains("revoke_api_key"), "\(names)")
            let called = try await client.mcp(token, #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_workspace"}}"#,
                                              session: session, extra: tenant)
            #expect(called.message?["result"]?["structuredContent"]?["slug"] == "acme", "\(called.text)")
            // A key of the same tenant cannot use the person's session.
            #expect(try await client.mcp(f.seeded.adminKey, #"{"jsonrpc":"2.0","id":4,"method":"ping"}"#, session: session).status == .notFound)
            #expect(try await client.mcp("eyJhbGciOiJFUzI1NiJ9.e30.bad", initialize).status == .unauthorized)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func toolsFollowTheTenantsPolicyAndPacks(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let session = try await client.mcpSession(seeded.adminKey)
            func listed() async throws -> [String] {
                let reply = try await client.mcpRequest(seeded.adminKey, "tools/list", session: session)
                return reply.message?["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            }
            #expect(try await listed().contains("echo"))
            let echoed = try await client.callTool(seeded.adminKey, "echo", ["text": "hello"], session: session)
            #expect(echoed["result"]?["isError"] == false && echoed["result"]?["structuredContent"]?["text"] == "hello", "\(echoed)")
            let failing = try await client.callTool(seeded.adminKey, "explode", [:], session: session)
            #expect(failing["result"]?["isError"] == true, "\(failing)")
            // The failure's details stay in the log.
            #expect(failing["result"]?["content"]?[0]?["text"]?.stringValue?.contains("hunter2") == false, "\(failing)")

            // Disabled by policy: gone from the list, and a call is refused by name.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tools/echo/policy", ["mode": "disabled"])
            #expect(try await !listed().contains("echo"))
            let disabled = try await client.mcpRequest(seeded.adminKey, "tools/call", ["name": "echo", "arguments": ["text": "x"]], session: session)
            #expect(disabled.message?["error"]?["code"] == -32602 && disabled.message?["error"]?["data"]?["code"] == "tool_disabled", "\(disabled.text)")
            // A read tool made to ask: the call waits, and a denial ends the run without running it.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tools/get_workspace/policy", ["mode": "require_approval"])
            let waiting = try await client.callTool(seeded.adminKey, "get_workspace", [:], session: session)
            let run = try #require(waiting["result"]?["structuredContent"]?["workflow_id"]?.stringValue, "\(waiting)")
            let approval = try #require(waiting["result"]?["structuredContent"]?["approval_id"]?.stringValue, "\(waiting)")
            _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(run)/approvals/\(approval)", ["decision": "deny"])
            let events = try await client.execute(uri: "/v1/workflows/\(run)/events", method: .get, headers: auth(seeded.adminKey)) {
                parseSSE(String(buffer: $0.body))
            }
            #expect(events.contains { $0.event == "tool_end" && $0.data["status"] == "denied" } && events.last?.event == "workflow_completed",
                    "\(events.map(\.event))")
            // A switched-off pack's tools go too.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["test": false]])
            #expect(try await !listed().contains("explode"))
            let off = try await client.mcpRequest(seeded.adminKey, "tools/call", ["name": "explode"], session: session)
            #expect(off.message?["error"]?["data"]?["code"] == "tool_unavailable", "\(off.text)")
        }
    }
}
