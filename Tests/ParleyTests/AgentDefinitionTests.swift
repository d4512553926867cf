import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ParleyAgent
import ParleyCore
import ParleyServer
import ParleyStorage
import Testing

extension TestClientProtocol {
    func patchJSON(_ key: String, _ uri: String, _ body: JSONValue, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        try await execute(uri: uri, method: .patch, headers: auth(key, json: true), body: ByteBuffer(string: body.serialized())) { r in
            #expect(r.status == status, "PATCH \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }

    func deleteJSON(_ key: String, _ uri: String, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        try await execute(uri: uri, method: .delete, headers: auth(key)) { r in
            #expect(r.status == status, "DELETE \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }

    /// Runs an agent through `/v1/agents/{id}/execute` and returns the whole stream (the run must end).
    func runAgent(_ agent: String, _ key: String, _ message: String) async throws -> [StreamedEvent] {
        try await chat(key, message, path: "/v1/agents/\(agent)/execute")
    }
}

/// Agents as data (issue 13): definitions with versions, and the runtime honouring them.
@Suite struct AgentDefinitionTests {
    static let echoAgent: JSONValue = [
        "name": "echo-bot", "description": "Repeats things", "system_prompt": "You only ever echo.", "tools": ["echo"],
        "limits": ["max_tokens": 321, "max_iterations": 4],
    ]

    @Test(arguments: TestEnv.kinds)
    func createPatchAndVersionsWithBadInputsRefused(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let created = try await client.postJSON(key, "/v1/agents", Self.echoAgent, status: .created)
            let id = try #require(created["id"]?.stringValue)
            #expect(created["version"] == 1 && created["tools"] == ["echo"] && created["limits"]?["max_tokens"] == 321)
            #expect(created["limits"]?["max_execution_seconds"] == .null && created["is_default"] == false)

            // Every change is a new version; absent fields stay, null resets.
            let patched = try await client.patchJSON(key, "/v1/agents/\(id)", ["system_prompt": "Echo, politely.", "limits": ["max_iterations": 2]])
            #expect(patched["version"] == 2 && patched["system_prompt"] == "Echo, politely.")
            #expect(patched["limits"]?["max_tokens"] == 321 && patched["limits"]?["max_iterations"] == 2 && patched["tools"] == ["echo"])
            let byName = try await client.getJSON(key, "/v1/agents/echo-bot")
            #expect(byName["id"]?.stringValue == id && byName["version"] == 2)
            let versions = try await client.getJSON(key, "/v1/agents/\(id)/versions?limit=1")
            #expect(versions["data"]?[0]?["version"] == 2 && versions["next_cursor"] == "2")
            let older = try await client.getJSON(key, "/v1/agents/\(id)/versions?before=2")
            #expect(older["data"]?.arrayValue?.count == 1 && older["data"]?[0]?["definition"]?["system_prompt"] == "You only ever echo.")

            // The built-in assistant is an agent too, listed with the others.
            let list = try await client.getJSON(key, "/v1/agents")
            let names = list["data"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(names == ["echo-bot", "assistant"])
            #expect(list["data"]?[1]?["is_default"] == true && list["data"]?[1]?["system_prompt"] == .null)

            // Bad inputs: each a 400/404/409 naming what to change; nothing written.
            let unknownTool = try await client.postJSON(key, "/v1/agents", ["name": "x", "tools": ["echo", "teleport"]], status: .badRequest)
            #expect(unknownTool["error"]?["code"] == "unknown_tool" && unknownTool["error"]?["message"]?.stringValue?.contains("'teleport'") == true)
            let unknownOverride = try await client.patchJSON(key, "/v1/agents/\(id)", ["approval_overrides": ["nuke": "auto"]], status: .badRequest)
            #expect(unknownOverride["error"]?["code"] == "unknown_tool" && unknownOverride["error"]?["message"]?.stringValue?.contains("'nuke'") == true)
            let badMode = try await client.patchJSON(key, "/v1/agents/\(id)", ["approval_overrides": ["echo": "sometimes"]], status: .badRequest)
            #expect(badMode["error"]?["code"] == "invalid_agent")
            let duplicate = try await client.postJSON(key, "/v1/agents", ["name": "echo-bot"], status: .conflict)
            #expect(duplicate["error"]?["code"] == "agent_name_taken")
            for bad: JSONValue in [
                [:], ["name": "has space"], ["name": "ok", "limits": ["max_iterations": 0]], ["name": "ok", "limits": ["max_tokens": "many"]],
                ["name": "ok", "limits": ["max_turns": 3]], ["name": "ok", "model": ["provider": "skynet"]], ["name": "ok", "model": "gpt"],
                ["name": "ok", "system_prompt": "   "], ["name": "ok", "tools": "echo"], ["name": "ok", "knowledge_collections": [42]],
                ["name": "ok", "model": ["provider": "anthropic"]],
            ] {
                let e = try await client.postJSON(key, "/v1/agents", bad, status: .badRequest)
                #expect(e["error"]?["code"]?.stringValue != nil && e["error"]?["message"]?.stringValue?.isEmpty == false, "\(bad.serialized())")
            }
            let unknownField = try await client.postJSON(key, "/v1/agents", ["name": "ok", "prompt": "hi"], status: .badRequest)
            #expect(unknownField["error"]?["code"] == "unknown_field")
            _ = try await client.patchJSON(key, "/v1/agents/nobody", ["description": "x"], status: .notFound)
            _ = try await client.getJSON(key, "/v1/agents?include_deleted=maybe", status: .badRequest)
            _ = try await client.getJSON(key, "/v1/agents/\(id)/versions?before=soon", status: .badRequest)
            let unchanged = try await client.getJSON(key, "/v1/agents/\(id)")
            #expect(unchanged["version"] == 2)

            // A viewer reads but cannot create or change; another tenant sees nothing.
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.getJSON(viewer, "/v1/agents/\(id)")
            _ = try await client.postJSON(viewer, "/v1/agents", ["name": "mine"], status: .forbidden)
            _ = try await client.patchJSON(viewer, "/v1/agents/\(id)", ["description": "x"], status: .forbidden)
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            _ = try await client.getJSON(other.adminKey, "/v1/agents/\(id)", status: .notFound)
            let audit = try await client.getJSON(key, "/v1/audit-log?action=agent.update")
            #expect(audit["data"]?.arrayValue?.count == 1)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theRuntimeHonoursPromptAllowListAndMaxTokensAndARunRecordsItsVersion(_ kind: DatabaseKind) async throws {
        // The model asks for a tool outside the agent's allow-list and one inside it.
        try await ProviderTestServer.with(script: [
            ScriptedTurn.toolCalls([("c1", "explode", "{}"), ("c2", "echo", #"{"text":"hi"}"#)]), ScriptedTurn.answer("Echoed."),
        ]) { baseURL, server in
            try await withAgentServer(kind, provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                let created = try await client.postJSON(seeded.adminKey, "/v1/agents", Self.echoAgent, status: .created)
                let id = try #require(created["id"]?.stringValue)
                let events = try await client.runAgent(id, seeded.adminKey, "say hi")
                #expect(events.first?.event == "workflow_started" && events.first?.data["agent_id"]?.stringValue == id)
                #expect(events.last?.event == "workflow_completed" && events.last?.data["final_response"] == "Echoed.")
                let ends = Dictionary(uniqueKeysWithValues: events.filter { $0.event == "tool_end" }.map { ($0.data["call_id"]?.stringValue ?? "", $0.data) })
                #expect(ends["c1"]?["status"] == "denied" && ends["c1"]?["success"] == false)
                #expect(ends["c1"]?["output"]?.stringValue?.contains("not among this agent's tools") == true)
                #expect(ends["c2"]?["status"] == "success")
                // Only the allowed tool was offered, with the agent's prompt and token limit.
                let first = try #require(server.requests.first?.json)
                #expect(first["tools"]?.arrayValue?.compactMap { $0["function"]?["name"]?.stringValue } == ["echo"])
                #expect(first["messages"]?[0]?["role"] == "system" && first["messages"]?[0]?["content"] == "You only ever echo.")
                #expect(first["max_tokens"] == 321)
                // The run shows the agent and version it used.
                let workflowID = try #require(events.first?.data["workflow_id"]?.stringValue)
                let run = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(workflowID)")
                #expect(run["agent_id"]?.stringValue == id && run["agent_version"] == 1)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func maxIterationsStopsARunAndANewVersionIsUsedByTheNextRun(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(script: [ScriptedTurn.toolCalls([("c1", "echo", #"{"text":"again"}"#)])]) { baseURL, server in
            try await withAgentServer(kind, provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                _ = try await client.postJSON(seeded.adminKey, "/v1/agents", Self.echoAgent, status: .created)
                _ = try await client.patchJSON(seeded.adminKey, "/v1/agents/echo-bot", ["limits": ["max_iterations": 2]])
                let events = try await client.runAgent("echo-bot", seeded.adminKey, "loop")
                #expect(server.requests.count == 2)
                let error = try #require(events.last)
                #expect(error.event == "workflow_error" && error.data["error_type"] == "iteration_limit")
                #expect(error.data["error_message"]?.stringValue?.contains("2 model turns") == true)
                #expect(events.first?.data["agent_version"] == 2)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anApprovalOverrideOnTheDefaultAgentAsksBeforeTheToolRuns(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(script: [
            ScriptedTurn.toolCalls([("c1", "echo", #"{"text":"hi"}"#)]), ScriptedTurn.answer("Done."),
        ]) { baseURL, _ in
            try await withAgentServer(kind, provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                // The built-in assistant is edited like any agent; its override comes before the
                // tenant's policy, which disables echo.
                _ = try await client.putJSON(seeded.adminKey, "/v1/tools/echo/policy", ["mode": "disabled"])
                let edited = try await client.patchJSON(seeded.adminKey, "/v1/agents/assistant", ["approval_overrides": ["echo": "ask"]])
                #expect(edited["is_default"] == true && edited["version"] == 2)
                let run = try await client.ask(seeded.adminKey, "echo hi", status: .accepted)
                #expect(run["status"] == "WAITING_APPROVAL" && run["agent_version"] == 2 && run["agent_id"] == edited["id"])
                let approval = try #require(run["approvals"]?[0])
                #expect(approval["tool"] == "echo")
                let workflowID = try #require(run["workflow_id"]?.stringValue)
                _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approval["approval_id"]?.stringValue ?? "")",
                                              ["decision": "approve"])
                let events = try await client.execute(uri: "/v1/workflows/\(workflowID)/events", method: .get, headers: auth(seeded.adminKey)) {
                    parseSSE(String(buffer: $0.body))
                }
                #expect(events.contains { $0.event == "tool_end" && $0.data["status"] == "success" })
                #expect(events.last?.event == "workflow_completed")
                // The default agent cannot be deleted (it answers /v1/chat).
                let refused = try await client.deleteJSON(seeded.adminKey, "/v1/agents/assistant", status: .conflict)
                #expect(refused["error"]?["code"] == "default_agent")
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aDeletedAgentIsHiddenCannotRunAndCanBeRestored(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let created = try await client.postJSON(key, "/v1/agents", ["name": "overview", "model": ["provider": "offline"]], status: .created)
            let id = try #require(created["id"]?.stringValue)
            let deleted = try await client.deleteJSON(key, "/v1/agents/\(id)")
            #expect(deleted["deleted_at"]?.stringValue != nil)
            let visible = try await client.getJSON(key, "/v1/agents")
            #expect(visible["data"]?.arrayValue?.contains { $0["id"]?.stringValue == id } == false)
            let all = try await client.getJSON(key, "/v1/agents?include_deleted=true")
            #expect(all["data"]?.arrayValue?.contains { $0["id"]?.stringValue == id } == true)
            try await client.execute(uri: "/v1/agents/\(id)/execute", method: .post, headers: auth(key, json: true),
                                     body: ByteBuffer(string: #"{"message":"Give me an account overview"}"#)) { r in
                #expect(r.status == .notFound)
                let error = try JSONValue.parse(String(buffer: r.body))["error"]
                #expect(error?["code"] == "agent_deleted" && error?["message"]?.stringValue?.contains("/restore") == true)
            }
            _ = try await client.patchJSON(key, "/v1/agents/\(id)", ["description": "x"], status: .notFound)
            // Its name is free again; restoring while another agent holds it is a conflict.
            _ = try await client.postJSON(key, "/v1/agents", ["name": "overview"], status: .created)
            let clash = try await client.postJSON(key, "/v1/agents/\(id)/restore", [:], status: .conflict)
            #expect(clash["error"]?["code"] == "agent_name_taken")
            _ = try await client.deleteJSON(key, "/v1/agents/overview")
            let restored = try await client.postJSON(key, "/v1/agents/\(id)/restore", [:])
            #expect(restored["deleted_at"] == .null)
            let events = try await client.runAgent(id, key, "Give me an account overview")
            #expect(events.last?.event == "workflow_completed" && events.last?.data["provider"] == "offline")
            // A viewer may not run agents or delete them.
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            try await client.execute(uri: "/v1/agents/\(id)/execute", method: .post, headers: auth(viewer, json: true),
                                     body: ByteBuffer(string: #"{"message":"hi"}"#)) { #expect($0.status == .forbidden) }
            _ = try await client.deleteJSON(viewer, "/v1/agents/\(id)", status: .forbidden)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func chatUsesTheDefaultAgentAndConversationsShowMessagesAndToolExecutions(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let run = try await client.ask(key, "Give me an account overview")
            let sessionID = try #require(run["session_id"]?.stringValue)
            let assistant = try await client.getJSON(key, "/v1/agents/assistant")
            #expect(run["agent_id"] == assistant["id"] && run["agent_version"] == 1)

            let list = try await client.getJSON(key, "/v1/conversations")
            #expect(list["data"]?[0]?["id"]?.stringValue == sessionID && list["next_cursor"] == .null)
            let detail = try await client.getJSON(key, "/v1/conversations/\(sessionID)")
            #expect(detail["messages"]?.arrayValue?.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant"])
            let tools = try #require(detail["tool_executions"]?.arrayValue)
            #expect(Set(tools.compactMap { $0["tool"]?.stringValue }) == ["get_workspace", "list_api_keys", "list_recent_runs"])
            #expect(tools.allSatisfy { $0["status"] == "success" && $0["output"] != .null && $0["workflow_id"] == run["workflow_id"] })

            // Bad ids and a viewer deleting are refused; another tenant sees nothing.
            _ = try await client.getJSON(key, "/v1/conversations/not-an-id", status: .badRequest)
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.deleteJSON(viewer, "/v1/conversations/\(sessionID)", status: .forbidden)
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            _ = try await client.getJSON(other.adminKey, "/v1/conversations/\(sessionID)", status: .notFound)

            // Soft delete: hidden, not continued, listed with include_deleted, restorable.
            let deleted = try await client.deleteJSON(key, "/v1/conversations/\(sessionID)")
            #expect(deleted["deleted_at"]?.stringValue != nil)
            let none = try await client.getJSON(key, "/v1/conversations")
            #expect(none["data"]?.arrayValue?.isEmpty == true)
            _ = try await client.getJSON(key, "/v1/conversations/\(sessionID)", status: .notFound)
            _ = try await client.ask(key, "hello again", session: sessionID, status: .notFound)
            let kept = try await client.getJSON(key, "/v1/conversations/\(sessionID)?include_deleted=true")
            #expect(kept["messages"]?.arrayValue?.count == 2)
            _ = try await client.postJSON(key, "/v1/conversations/\(sessionID)/restore", [:])
            let back = try await client.getJSON(key, "/v1/conversations")
            #expect(back["data"]?.arrayValue?.count == 1)
        }
    }
}
