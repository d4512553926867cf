import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyAgent
import ParleyApp
import ParleyCore
import ParleyLegal
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import Synchronization
import Testing

/// The agent over HTTP with no model configured: the offline planner drives the real tools.
@Suite struct OfflineAgentTests {
    @Test(arguments: TestEnv.kinds)
    func chatStreamsToolStepsAndAnAnswerAndTheRunCanBeReadBack(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let events = try await client.chat(seeded.adminKey, "Give me an account overview", path: "/chat")
            #expect(events.map(\.event) == [
                "workflow_started", "agent_thinking", "reasoning_step", "reasoning_step", "reasoning_step",
                "tool_start", "tool_start", "tool_start", "tool_end", "tool_end", "tool_end", "text_delta", "workflow_completed",
            ])
            // SSE ids are the contiguous sequence numbers, repeated in the data.
            #expect(events.map(\.id) == Array(1...13))
            #expect(events.map(\.seq) == Array(1...13))
            let workflowID = try #require(events[0].data["workflow_id"]?.stringValue)
            #expect(events.allSatisfy { $0.data["workflow_id"]?.stringValue == workflowID && $0.data["timestamp"] != nil })
            #expect(events[0].data["initial_prompt"] == "Give me an account overview")
            #expect(Set(events[2...4].compactMap { $0.data["action"]?.stringValue }) == ["get_workspace", "list_api_keys", "list_recent_runs"])
            #expect(events[8...10].allSatisfy { $0.data["success"] == true && $0.data["duration_ms"] != nil })
            let done = events[12].data
            let answer = try #require(done["final_response"]?.stringValue)
            #expect(answer.contains("Workspace Acme acme") && answer.contains("1 active API key: admin"))
            #expect(done["total_steps"] == 3 && done["provider"] == "offline")
            #expect(done["tools_used"]?.arrayValue?.count == 3)

            let stored = try await client.getJSON(seeded.adminKey, "/api/workflows/\(workflowID)")
            #expect(stored["status"] == "COMPLETED" && stored["final_response"]?.stringValue == answer)
            let chain = try #require(stored["reasoning_chain"]?.arrayValue)
            #expect(chain.count == 3 && chain.allSatisfy { $0["action_output"] != nil && $0["success"] == true })
            let status = try await client.getJSON(seeded.adminKey, "/api/workflows/\(workflowID)/status")
            #expect(status["has_final_response"] == true && status["status"] == "COMPLETED")

            // The next overview sees the first run.
            let second = try await client.chat(seeded.adminKey, "workspace summary")
            #expect(second.last?.data["final_response"]?.stringValue?.contains("Last 1 run: 1 completed") == true)
            let list = try await client.getJSON(seeded.adminKey, "/v1/workflows?status=COMPLETED&limit=1")
            #expect(list["data"]?.arrayValue?.count == 1 && list["next_cursor"]?.stringValue != nil)
        }
    }

    @Test func outsideItsIntentsThePlannerSaysWhatItCanDoAndHowToConfigureAModel() async throws {
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            // With the support pack on, questions go to the knowledge base; off, nothing matches.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/packs", ["packs": ["support": false]])
            let events = try await client.chat(seeded.adminKey, "What is the capital of Peru?")
            let answer = try #require(events.last?.data["final_response"]?.stringValue)
            #expect(answer.contains("without an AI model") && answer.contains("ANTHROPIC_API_KEY") && answer.contains("OPENAI_BASE_URL"))
            #expect(answer.contains("Revoke an API key"))
            let help = try await client.chat(seeded.adminKey, "help")
            #expect(help.last?.data["final_response"]?.stringValue?.hasPrefix("Here is what I can do") == true)
            let tools = try await client.chat(seeded.adminKey, "which tools can you use?")
            #expect(tools.last?.data["final_response"]?.stringValue?.contains("revoke_api_key") == true)
        }
    }

    /// A chat-page visitor is offered only customer-safe tools: the planner's fallback lists only
    /// the requests those tools serve and never mentions the server's settings.
    @Test func aCustomerIsNotToldAboutStaffRequestsOrServerSettings() async throws {
        let planner = OfflinePlanner(intents: LegalPack.pack.plannerIntents)
        func answer(_ audience: ModelRequest.Audience, tools: [ToolDefinition]) async throws -> String {
            var text = ""
            for try await event in planner.stream(ModelRequest(messages: [.user("What is the capital of Peru?")], tools: tools, audience: audience)) {
                if case .textDelta(let t) = event { text += t }
            }
            return text
        }
        let customer = try await answer(.customer, tools: [CoreTools.escalateToHuman.definition])
        #expect(!customer.contains("API_KEY") && !customer.contains("without an AI model"))
        #expect(!LegalPack.pack.intents.contains { customer.contains($0.summary) }, "no staff request is offered to a customer")
        #expect(customer.contains("ask for a person"))
        let staff = try await answer(.staff, tools: LegalPack.pack.tools.map(\.definition))
        #expect(staff.contains("ANTHROPIC_API_KEY") && LegalPack.pack.intents.contains { staff.contains($0.summary) })
    }

    @Test func aViewerOnlySeesToolsItsRoleAllows() async throws {
        try await withAgentServer(.sqlite) { client, seeded, store, clock in
            let service = try #require(try await seeded.key(store, clock: clock, role: .service).secret)
            let events = try await client.chat(service, "revoke the api key named admin")
            #expect(!events.contains { $0.event == "tool_start" })
            #expect(events.last?.data["final_response"]?.stringValue?.contains("your role may not use") == true)
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            try await client.execute(uri: "/v1/chat", method: .post, headers: auth(viewer, json: true), body: ByteBuffer(string: #"{"message":"hi"}"#)) { r in
                #expect(r.status == .forbidden)
            }
        }
    }
}

@Suite struct ApprovalTests {
    /// The done-when scenario: a run waiting for approval outlives its server and completes after.
    @Test(arguments: TestEnv.kinds)
    func aPausedRunSurvivesARestartAndCompletesAfterApproval(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let ciKey = try await APIKeyService(store: store, clock: clock).create(
                ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil),
                name: "ci-bot", role: .service, expiresAt: nil)
            let ciSecret = try #require(ciKey.secret)
            let paused = try await agentApp(store: store, clock: clock).test(.router) { client in
                let run = try await client.ask(seeded.adminKey, "please revoke the api key named ci-bot", status: .accepted)
                #expect(run["status"] == "WAITING_APPROVAL")
                let approval = try #require(run["approvals"]?.arrayValue?.first)
                #expect(approval["tool"] == "revoke_api_key" && approval["input"]?["key_id"]?.stringValue == ciKey.id)
                #expect(approval["reason"]?.stringValue?.contains("requires approval") == true)
                // Nothing was revoked yet.
                try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(ciSecret)) { #expect($0.status == .ok) }
                return (try #require(run["workflow_id"]?.stringValue), try #require(approval["approval_id"]?.stringValue))
            }
            // A new application on the same database: the "restarted" server.
            try await agentApp(store: store, clock: clock).test(.router) { client in
                let (workflowID, approvalID) = paused
                let waiting = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(workflowID)")
                #expect(waiting["status"] == "WAITING_APPROVAL")
                let decided = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approvalID)",
                                                        ["decision": "approve", "comment": "rotating it"])
                #expect(decided["status"] == "approved" && decided["comment"] == "rotating it")
                // Approving twice is a conflict, not a second revocation.
                let again = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approvalID)",
                                                      ["decision": "approve"], status: .conflict)
                #expect(again["error"]?["code"] == "approval_already_resolved")
                // The stream from the start replays the whole run and ends with the answer.
                let events = try await client.execute(uri: "/v1/workflows/\(workflowID)/events", method: .get, headers: auth(seeded.adminKey)) {
                    parseSSE(String(buffer: $0.body))
                }
                #expect(events.map(\.seq) == Array(1...events.count))
                #expect(events.contains { $0.event == "approval_required" } && events.contains { $0.event == "approval_resolved" })
                #expect(events.last?.event == "workflow_completed")
                #expect(events.last?.data["final_response"]?.stringValue == "Revoked the API key ci-bot; it no longer works.")
                try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(ciSecret)) { #expect($0.status == .unauthorized) }
                let audit = try await client.getJSON(seeded.adminKey, "/v1/audit-log?action=approval.approve")
                #expect(audit["data"]?.arrayValue?.count == 1)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func runsAStoppedServerLeftRunningAreMarkedInterruptedAtStart(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let stale = "01a1fc0b-0000-7000-8000-00000000abcd"
            let tenantID = seeded.tenant.id
            let long = clock.now().addingTimeInterval(-3600)
            try await store.transaction { db in
                try await db.raw("""
                    INSERT INTO workflows (id, tenant_id, status, initial_prompt, agent_type, actor, role, created_at, updated_at)
                    VALUES (\(bind: stale), \(bind: tenantID), 'PROCESSING', 'hello', 'ParleyAgent', 'test', 'admin', \(bind: long), \(bind: long))
                    """).run()
            }
            try await agentApp(store: store, clock: clock).test(.router) { client in
                let run = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(stale)")
                #expect(run["status"] == "FAILED" && run["error_type"] == "interrupted")
                let events = try await client.execute(uri: "/v1/workflows/\(stale)/events", method: .get, headers: auth(seeded.adminKey)) {
                    parseSSE(String(buffer: $0.body))
                }
                #expect(events.map(\.event) == ["workflow_error"] && events.first?.data["recovery_suggestion"] == "Please send the request again")
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aDeniedActionIsNotPerformedAndOtherTenantsCannotDecide(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            let run = try await client.ask(seeded.adminKey, "revoke the api key named admin", status: .accepted)
            let workflowID = try #require(run["workflow_id"]?.stringValue)
            let approvalID = try #require(run["approvals"]?[0]?["approval_id"]?.stringValue)
            // Another tenant sees neither the run nor its approval.
            let foreign = try await client.postJSON(other.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approvalID)", ["decision": "approve"], status: .notFound)
            #expect(foreign["error"]?["code"] == "workflow_not_found")
            _ = try await client.getJSON(other.adminKey, "/api/workflows/\(workflowID)", status: .notFound)
            // A viewer of the same tenant may not decide.
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.postJSON(viewer, "/v1/workflows/\(workflowID)/approvals/\(approvalID)", ["decision": "approve"], status: .forbidden)
            let bad = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approvalID)", ["decision": "maybe"], status: .badRequest)
            #expect(bad["error"]?["code"] == "invalid_decision")

            _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approvalID)", ["decision": "deny", "comment": "not this one"])
            let events = try await client.execute(uri: "/v1/workflows/\(workflowID)/events", method: .get, headers: auth(seeded.adminKey)) {
                parseSSE(String(buffer: $0.body))
            }
            let denied = try #require(events.first { $0.event == "tool_end" && $0.data["tool"] == "revoke_api_key" })
            #expect(denied.data["success"] == false && denied.data["status"] == "denied")
            #expect(events.last?.data["final_response"]?.stringValue?.contains("was not revoked") == true)
            // The admin key still works.
            _ = try await client.getJSON(seeded.adminKey, "/v1/tenant")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func cancellingAPausedRunEndsItAndAFinishedRunCannotBeCancelled(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let run = try await client.ask(seeded.adminKey, "revoke the api key named admin", status: .accepted)
            let workflowID = try #require(run["workflow_id"]?.stringValue)
            let cancelled = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/cancel", [:])
            #expect(cancelled["status"] == "CANCELLED" && cancelled["error_type"] == "cancelled")
            let events = try await client.execute(uri: "/v1/workflows/\(workflowID)/events", method: .get, headers: auth(seeded.adminKey)) {
                parseSSE(String(buffer: $0.body))
            }
            #expect(events.last?.event == "workflow_error" && events.last?.data["error_type"] == "cancelled")
            let again = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/cancel", [:], status: .conflict)
            #expect(again["error"]?["code"] == "workflow_finished")
            let approvalID = try #require(run["approvals"]?[0]?["approval_id"]?.stringValue)
            // Its open approval was closed with it.
            let late = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals/\(approvalID)", ["decision": "approve"], status: .conflict)
            #expect(late["error"]?["code"] == "approval_already_resolved")
            let approvals = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/approvals")
            #expect(approvals["data"]?[0]?["status"] == "cancelled")
        }
    }

    @Test func aTenantPolicyCanLetAToolRunWithoutApprovalOrDisableIt() async throws {
        try await withAgentServer(.sqlite) { client, seeded, store, clock in
            let tools = try await client.getJSON(seeded.adminKey, "/v1/tools")
            #expect(tools["data"]?.arrayValue?.first { $0["name"] == "revoke_api_key" }?["mode"] == "require_approval")
            try await client.execute(uri: "/v1/tools/revoke_api_key/policy", method: .put, headers: auth(seeded.adminKey, json: true),
                                     body: ByteBuffer(string: #"{"mode":"auto"}"#)) { #expect($0.status == .ok) }
            _ = try await seeded.key(store, clock: clock, role: .viewer)
            let run = try await client.ask(seeded.adminKey, "revoke the api key named viewer key")
            #expect(run["status"] == "COMPLETED" && run["final_response"]?.stringValue?.contains("Revoked") == true)
            try await client.execute(uri: "/v1/tools/revoke_api_key/policy", method: .put, headers: auth(seeded.adminKey, json: true),
                                     body: ByteBuffer(string: #"{"mode":"sometimes"}"#)) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/tools/nope/policy", method: .put, headers: auth(seeded.adminKey, json: true),
                                     body: ByteBuffer(string: #"{"mode":"auto"}"#)) { #expect($0.status == .notFound) }
        }
    }
}

@Suite struct StreamResumeTests {
    /// The done-when scenario: the client's connection drops mid-run; it reconnects with the last
    /// id it saw and receives the rest exactly once.
    @Test(arguments: TestEnv.kinds)
    func aDroppedStreamResumesWithoutGapsOrDuplicates(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, testing: .live) { client, seeded, _, _ in
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var first = try await LiveSSE.open(base + "/chat", key: seeded.adminKey, client: http, method: .POST,
                                               body: #"{"message":"revoke the api key named admin"}"#)
            let seen = try await first.until("approval_required")
            try await http.shutdown()  // the forced disconnect
            let workflowID = try #require(seen[0].data["workflow_id"]?.stringValue)
            let approvalID = try #require(seen.last?.data["approval_id"]?.stringValue)
            let lastID = try #require(seen.last?.id)

            // The run goes on while nobody watches.
            var decision = HTTPClientRequest(url: base + "/v1/workflows/\(workflowID)/approvals/\(approvalID)")
            decision.method = .POST
            decision.headers.add(name: "Authorization", value: "Bearer \(seeded.adminKey)")
            decision.headers.add(name: "Content-Type", value: "application/json")
            decision.body = .bytes(ByteBuffer(string: #"{"decision":"deny"}"#))
            #expect(try await HTTPClient.shared.execute(decision, timeout: .seconds(10)).status == .ok)

            var resumed = try await LiveSSE.open(base + "/v1/workflows/\(workflowID)/events", key: seeded.adminKey, lastEventID: lastID)
            let rest = try await resumed.until("workflow_completed")
            #expect(try await resumed.next() == nil, "the stream ends after the terminal event")
            let all = (seen + rest).compactMap(\.id)
            #expect(all == Array(1...all.count))
            #expect(rest.first?.event == "approval_resolved")
        }
    }

    @Test func badAndFutureCursorsAreRejectedAndAnOldOneReplays() async throws {
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            let events = try await client.chat(seeded.adminKey, "list the api keys")
            let id = try #require(events.first?.data["workflow_id"]?.stringValue)
            let replay = try await client.execute(uri: "/v1/workflows/\(id)/events?after=3", method: .get, headers: auth(seeded.adminKey)) {
                parseSSE(String(buffer: $0.body))
            }
            #expect(replay.map(\.seq) == Array(4...events.count))
            let asJSON = try await client.execute(uri: "/v1/workflows/\(id)/events", method: .get,
                                                  headers: [.authorization: "Bearer \(seeded.adminKey)", .accept: "application/json"]) {
                try JSONValue.parse(String(buffer: $0.body))
            }
            #expect(asJSON["data"]?.arrayValue?.count == events.count)
            for (cursor, code) in [("999", "invalid_last_event_id"), ("-1", "invalid_last_event_id"), ("abc", "invalid_last_event_id")] {
                try await client.execute(uri: "/v1/workflows/\(id)/events", method: .get,
                                         headers: [.authorization: "Bearer \(seeded.adminKey)", HTTPField.Name("Last-Event-ID")!: cursor]) { r in
                    #expect(r.status == .badRequest)
                    #expect(r.errorCode == code)
                }
            }
        }
    }

    @Test func quietStreamsBeatAndAReconnectAfterTheEndClosesAtOnce() async throws {
        try await withAgentServer(.sqlite, env: ["PARLEY_HEARTBEAT_SECONDS": "1"], testing: .live) { client, seeded, _, _ in
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let run = try await client.ask(seeded.adminKey, "revoke the api key named admin", status: .accepted)
            let workflowID = try #require(run["workflow_id"]?.stringValue)
            // A paused run's stream stays open and beats, carrying the last seq but no SSE id.
            var stream = try await LiveSSE.open(base + "/v1/workflows/\(workflowID)/events", key: seeded.adminKey)
            var seen: [StreamedEvent] = []
            while let event = try await stream.nextIncludingHeartbeats() {
                seen.append(event)
                if event.event == "heartbeat" { break }
            }
            let beat = try #require(seen.last)
            #expect(beat.event == "heartbeat" && beat.id == nil && beat.data["seq"]?.intValue == seen.compactMap(\.id).max())
            // A client that already has the terminal event gets an immediately finished stream.
            _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflowID)/cancel", [:])
            try await client.execute(uri: "/v1/workflows/\(workflowID)/events", method: .get,
                                     headers: [.authorization: "Bearer \(seeded.adminKey)", .accept: "application/json"]) { r in
                let events = try JSONValue.parse(String(buffer: r.body))["data"]?.arrayValue ?? []
                let lastSeq = events.last?["seq"]?.intValue ?? 0
                var resumed = try await LiveSSE.open(base + "/v1/workflows/\(workflowID)/events", key: seeded.adminKey, lastEventID: lastSeq)
                #expect(try await resumed.next() == nil)
            }
            // Plain GET /ws is not a WebSocket handshake.
            try await client.execute(uri: "/ws", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .badRequest && r.errorCode == "upgrade_required")
            }
            // A session can be created with no body at all.
            try await client.execute(uri: "/v1/sessions", method: .post, headers: auth(seeded.adminKey)) { #expect($0.status == .created) }
        }
    }

    @Test func theWebSocketCarriesTheSameEventsAndTakesCancelAndApprove() async throws {
        try await withAgentServer(.sqlite, testing: .live) { client, seeded, _, _ in
            let port = try #require(client.port)
            let received = ReceivedFrames()
            let ws = WebSocketClient(url: "ws://127.0.0.1:\(port)/ws", configuration: .init(additionalHeaders: [.authorization: "Bearer \(seeded.adminKey)"]),
                                     logger: Logger(label: "ws")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"type":"message","content":"revoke the api key named admin"}"#))
                var approved = false
                for try await frame in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = frame, let json = try? JSONValue.parse(text) else { continue }
                    received.add(json)
                    if json["type"] == "approval_required", !approved {
                        approved = true
                        try await outbound.write(.text(#"{"type":"approve","decision":"deny","approval_id":"\#(json["approval_id"]?.stringValue ?? "")"}"#))
                    }
                    if json["type"] == "workflow_completed" {
                        try await outbound.write(.text(#"{"type":"nonsense"}"#))
                    }
                    if json["type"] == "error" { break }
                }
            }
            try await ws.run()
            let frames = received.all
            #expect(frames.first?["type"] == "workflow_started")
            #expect(frames.contains { $0["type"] == "approval_resolved" && $0["decision"] == "deny" })
            #expect(frames.contains { $0["type"] == "workflow_completed" })
            #expect(frames.last?["type"] == "error" && frames.last?["code"] == "unknown_type")
        }
    }
}

final class ReceivedFrames: Sendable {
    private let frames = Mutex<[JSONValue]>([])
    func add(_ v: JSONValue) { frames.withLock { $0.append(v) } }
    var all: [JSONValue] { frames.withLock { $0 } }
}

@Suite struct AgentBadInputTests {
    @Test(arguments: TestEnv.kinds)
    func badMessagesSessionsAndOtherTenantsGetTypedErrors(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_MAX_MESSAGE_CHARS": "32000"]) { client, seeded, store, clock in
            func post(_ body: String, path: String = "/v1/chat") async throws -> String {
                try await client.execute(uri: path, method: .post, headers: auth(seeded.adminKey, json: true), body: ByteBuffer(string: body)) {
                    "\($0.status.code) \($0.errorCode)"
                }
            }
            #expect(try await post(#"{"message":"   "}"#) == "400 empty_message")
            #expect(try await post(#"{"nothing":1}"#).hasPrefix("400"))
            #expect(try await post("{not json").hasPrefix("400"))
            let huge = JSONValue.object(["message": .string(String(repeating: "a", count: 1_000_000))]).serialized()
            #expect(try await post(huge) == "400 message_too_long")
            #expect(try await post(#"{"message":"hi","session_id":"not-an-id"}"#) == "400 invalid_session_id")
            #expect(try await post(#"{"message":"hi","session_id":"01a1fc0b-0000-7000-8000-000000000000"}"#) == "404 session_not_found")
            _ = try await client.getJSON(seeded.adminKey, "/v1/workflows/not-an-id", status: .badRequest)
            _ = try await client.getJSON(seeded.adminKey, "/v1/workflows?status=SLEEPING", status: .badRequest)
            _ = try await client.getJSON(seeded.adminKey, "/v1/workflows?created_after=yesterday", status: .badRequest)

            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            let session = try await client.postJSON(seeded.adminKey, "/v1/sessions", ["title": "Support"], status: .created)
            let sessionID = try #require(session["session_id"]?.stringValue)
            _ = try await client.getJSON(other.adminKey, "/v1/sessions/\(sessionID)", status: .notFound)
            _ = try await client.postJSON(other.adminKey, "/v1/sessions/\(sessionID)/messages", ["content": "hi"], status: .notFound)
            let events = try await client.chat(seeded.adminKey, "help")
            let workflowID = try #require(events.first?.data["workflow_id"]?.stringValue)
            _ = try await client.getJSON(other.adminKey, "/v1/workflows/\(workflowID)", status: .notFound)
            try await client.execute(uri: "/v1/workflows/\(workflowID)/events", method: .get, headers: auth(other.adminKey)) { #expect($0.status == .notFound) }
            _ = try await client.postJSON(other.adminKey, "/v1/workflows/\(workflowID)/cancel", [:], status: .notFound)
            let otherList = try await client.getJSON(other.adminKey, "/v1/workflows")
            #expect(otherList["data"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func sessionsKeepMultiTurnMemoryWithinTheTokenBudget() async throws {
        try await ProviderTestServer.with(script: [ScriptedTurn.answer("Nice to meet you, Ada.")]) { baseURL, server in
            try await withAgentServer(.sqlite, env: ["PARLEY_AGENT_CONTEXT_TOKENS": "100"], provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                let session = try await client.postJSON(seeded.adminKey, "/v1/sessions", [:], status: .created)
                let sessionID = try #require(session["session_id"]?.stringValue)
                _ = try await client.ask(seeded.adminKey, "My name is Ada. " + String(repeating: "x", count: 600), session: sessionID)
                _ = try await client.ask(seeded.adminKey, "I like tea.", session: sessionID)
                let third = try await client.ask(seeded.adminKey, "What is my name?", session: sessionID)
                #expect(third["final_response"] == "Nice to meet you, Ada." && third["provider"] == "openai")
                let sent = try #require(server.requests.last?.json?["messages"]?.arrayValue)
                let texts = sent.compactMap { $0["content"]?.stringValue }
                // The system prompt and the recent turns are kept; the long first turn is trimmed.
                #expect(sent.first?["role"] == "system")
                #expect(texts.contains("I like tea.") && texts.last == "What is my name?")
                #expect(!texts.contains { $0.hasPrefix("My name is Ada.") })
                let messages = try await client.getJSON(seeded.adminKey, "/v1/sessions/\(sessionID)/messages")
                #expect(messages["data"]?.arrayValue?.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "user", "assistant", "user", "assistant"])
            }
        }
    }
}

/// A model (speaking the Chat Completions wire format from a local server) that misbehaves.
@Suite struct ModelMisbehaviourTests {
    func run(_ script: [ReplayResponse], env: [String: String] = [:], timeout: Duration = .seconds(10),
             _ check: @escaping @Sendable ([StreamedEvent], ProviderTestServer, any TestClientProtocol, Seeded) async throws -> Void) async throws {
        try await ProviderTestServer.with(script: script) { baseURL, server in
            try await withAgentServer(.sqlite, env: env, provider: ScriptedTurn.provider(baseURL, timeout: timeout)) { client, seeded, _, _ in
                try await check(try await client.chat(seeded.adminKey, "do the thing"), server, client, seeded)
            }
        }
    }

    @Test func unknownToolsInvalidArgumentsAndSchemaViolationsBecomeToolErrorsTheModelSees() async throws {
        try await run([
            ScriptedTurn.toolCalls([("c1", "teleport", "{}"), ("c2", "echo", "{not json"), ("c3", "echo", #"{"text":42}"#),
                                    ("c4", "echo", #"{"text":"hello"}"#)]),
            ScriptedTurn.answer("Done, partly."),
        ]) { events, server, _, _ in
            let ends = events.filter { $0.event == "tool_end" }
            let byCall = Dictionary(uniqueKeysWithValues: ends.map { ($0.data["call_id"]?.stringValue ?? "", $0.data) })
            #expect(byCall["c1"]?["status"] == "unknown_tool" && byCall["c2"]?["status"] == "invalid_input")
            #expect(byCall["c3"]?["status"] == "invalid_input" && byCall["c3"]?["output"]?.stringValue?.contains("/text") == true)
            #expect(byCall["c4"]?["status"] == "success" && byCall["c4"]?["output"]?["text"] == "hello")
            #expect(events.last?.event == "workflow_completed" && events.last?.data["final_response"] == "Done, partly.")
            // The second model call carries every result, errors flagged, in call order.
            let results = try #require(server.requests.last?.json?["messages"]?.arrayValue).filter { $0["role"] == "tool" }
            #expect(results.map { $0["tool_call_id"]?.stringValue ?? "" } == ["c1", "c2", "c3", "c4"])
        }
    }

    @Test func failingAndHangingToolsAreReportedWithoutLeakingDetails() async throws {
        try await run([ScriptedTurn.toolCalls([("c1", "explode", "{}"), ("c2", "hang", "{}")]), ScriptedTurn.answer("Sorry.")]) { events, _, _, _ in
            let ends = events.filter { $0.event == "tool_end" }
            let explode = try #require(ends.first { $0.data["tool"] == "explode" }?.data)
            #expect(explode["success"] == false && explode["status"] == "error")
            #expect(explode["output"]?.stringValue?.contains("hunter2") == false && explode["output"]?.stringValue?.contains("db.internal") == false)
            #expect(ends.first { $0.data["tool"] == "hang" }?.data["status"] == "timeout")
            #expect(events.last?.event == "workflow_completed")
        }
    }

    @Test func aModelThatLoopsStopsAtTheIterationLimit() async throws {
        try await run([ScriptedTurn.toolCalls([("c1", "echo", #"{"text":"again"}"#)])], env: ["PARLEY_AGENT_MAX_ITERATIONS": "3"]) { events, server, client, seeded in
            #expect(server.requests.count == 3)
            let error = try #require(events.last)
            #expect(error.event == "workflow_error" && error.data["error_type"] == "iteration_limit")
            #expect(error.data["recovery_suggestion"]?.stringValue != nil)
            let id = try #require(error.data["workflow_id"]?.stringValue)
            let stored = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(id)")
            #expect(stored["status"] == "FAILED" && stored["total_steps"] == 3)
        }
    }

    @Test func anOverloadedProviderBecomesAClassifiedErrorWithoutProviderDetails() async throws {
        try await run([.error(529, body: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded at gpu-7.internal"}}"#)]) { events, _, _, _ in
            let error = try #require(events.last?.data)
            #expect(error["type"] == "workflow_error" && error["error_type"] == "overloaded")
            #expect(error["error_message"] == "The AI service is currently overloaded")
            #expect(error["recovery_suggestion"] == "Please try again in a few moments")
            #expect(!error.serialized().contains("gpu-7"))
        }
    }

    @Test func garbageAndTimeoutsFromTheProviderAreClassified() async throws {
        try await run([.stream("data: {\"choices\": [ this is not json\n\n")]) { events, _, _, _ in
            #expect(events.last?.data["error_type"] == "provider_unavailable")
        }
        try await run([ReplayResponse(steps: [.stall])], timeout: .milliseconds(300)) { events, _, _, _ in
            #expect(events.last?.data["error_type"] == "timeout")
            #expect(events.last?.data["error_message"] == "Request timed out")
        }
    }

    @Test func aRunPastItsDeadlineStopsAndARunningRunCanBeCancelled() async throws {
        try await run([ReplayResponse(steps: [.stall])], env: ["PARLEY_AGENT_TIMEOUT_SECONDS": "1"]) { events, _, _, _ in
            let error = try #require(events.last?.data)
            #expect(error["error_type"] == "timeout" && error["error_message"] == "The request took too long and was stopped")
            #expect(error["status"] == "FAILED")
        }
        try await ProviderTestServer.with(ReplayResponse(steps: [.stall])) { baseURL, _ in
            try await withAgentServer(.sqlite, provider: ScriptedTurn.provider(baseURL), testing: .live) { client, seeded, _, _ in
                let base = "http://127.0.0.1:\(try #require(client.port))"
                var stream = try await LiveSSE.open(base + "/chat", key: seeded.adminKey, method: .POST, body: #"{"message":"think hard"}"#)
                let started = try #require(try await stream.next())
                let id = try #require(started.data["workflow_id"]?.stringValue)
                let cancelled = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(id)/cancel", [:])
                #expect(cancelled["status"] == "CANCELLED")
                let last = try await stream.until("workflow_error")
                #expect(last.last?.data["error_type"] == "cancelled")
                #expect(try await stream.next() == nil)
            }
        }
    }

    @Test func failoverToTheOfflinePlannerIsRecordedOnTheRun() async throws {
        try await ProviderTestServer.with(.error(529, body: #"{"error":{"type":"overloaded_error","message":"busy"}}"#)) { baseURL, _ in
            let chain = FailoverProvider(providers: [ScriptedTurn.provider(baseURL), OfflinePlanner(intents: WorkspacePack.pack.intents)],
                                         retry: RetryPolicy(maxAttempts: 1))
            try await withAgentServer(.sqlite, provider: chain) { client, seeded, _, _ in
                let events = try await client.chat(seeded.adminKey, "list the api keys")
                #expect(events.last?.data["provider"] == "offline")
                let id = try #require(events.last?.data["workflow_id"]?.stringValue)
                #expect(try await client.getJSON(seeded.adminKey, "/v1/workflows/\(id)")["provider"] == "offline")
                let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
                #expect(metrics.contains(#"parley_agent_workflows_total{status="COMPLETED"} 1"#))
                #expect(metrics.contains(#"parley_agent_tool_executions_total{tool="list_api_keys",outcome="success"} 1"#))
                #expect(metrics.contains("parley_agent_model_calls_total"))
                try await Promtool.check(metrics)
            }
        }
    }
}
