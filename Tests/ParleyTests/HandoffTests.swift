import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
@testable import ParleyAgent
import ParleyApp
import ParleyCore
import ParleyPackKit
import ParleyServer
import ParleyStorage
import Testing

/// A knowledge lookup that never finds anything (the shape `search_knowledge` answers with), and
/// offline intents to drive it and to recall what a person said.
enum HandoffTestPack {
    static let lookup = Tool(
        name: "lookup_faq", description: "Searches the FAQ.",
        inputSchema: ["type": "object", "properties": ["query": ["type": "string"]], "additionalProperties": false]
    ) { _, _ in ["no_relevant_results": true, "results": []] }

    struct FAQIntent: OfflineIntent {
        let name = "test_faq"
        let summary = "Search the FAQ"
        let examples = ["faq: returns"]
        func match(_ u: Utterance) -> IntentMatch? { u.has("faq") ? IntentMatch(score: 2) : nil }
        func next(_ turn: PlannerTurn) -> PlannerStep {
            turn.latest("lookup_faq") == nil ? .callTools(thought: "Search the FAQ", calls: [PlannedCall("lookup_faq", ["query": .string(turn.utterance)])])
                : .answer("I found nothing relevant.")
        }
    }

    /// Answers with the last thing said to the customer before this message (a person's reply
    /// shows the hand-back carried it into the agent's context).
    struct RecallIntent: OfflineIntent {
        let name = "test_recall"
        let summary = "Repeat what the customer was told"
        let examples = ["what did the person say"]
        func match(_ u: Utterance) -> IntentMatch? { u.contains("what did the person say") ? IntentMatch(score: 2) : nil }
        func next(_ turn: PlannerTurn) -> PlannerStep {
            .answer("You were told: " + (turn.history.last { $0.role == .assistant }?.text ?? "nothing"))
        }
    }

    static let pack = DomainPack(name: "handoff_test", tools: [lookup], intents: [FAQIntent(), RecallIntent()])
    static let packs = TestPack.packs + [pack]
}

func withHandoffServer(_ kind: DatabaseKind, env: [String: String] = [:], provider: (any ModelProvider)? = nil, testing: TestingSetup = .router,
                       _ body: @escaping @Sendable (any TestClientProtocol, Seeded, any Store, TestClock) async throws -> Void) async throws {
    let clock = TestClock()
    try await TestDatabases.withStore(kind, clock: clock) { store in
        let seeded = try await Seeded.make(store, clock: clock)
        let config = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "2mb"].merging(env) { $1 }))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try buildApplication(ServerDependencies(config: config, store: store, clock: clock, logger: logger, migrations: ParleySchema.migrations,
                                                          keyring: .random(), packs: HandoffTestPack.packs, provider: provider))
        try await app.test(testing) { client in try await body(client, seeded, store, clock) }
    }
}

extension TestClientProtocol {
    func newSession(_ key: String) async throws -> String {
        try #require(try await postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
    }

    /// Follows a run's stream until it ends and returns its events.
    func events(_ key: String, workflow id: String) async throws -> [StreamedEvent] {
        try await execute(uri: "/v1/workflows/\(id)/events", method: .get, headers: auth(key)) { parseSSE(String(buffer: $0.body)) }
    }

    func postRaw(_ key: String, _ uri: String, _ body: String) async throws -> (HTTPResponse.Status, String?) {
        try await execute(uri: uri, method: .post, headers: auth(key, json: true), body: ByteBuffer(string: body)) { ($0.status, $0.errorCode) }
    }
}

// MARK: - The rules, alone

@Suite struct EscalationRuleTests {
    let rules = EscalationRules.standard

    @Test(arguments: ["Can I talk to a human please?", "I want to speak to a person", "get me a REPRESENTATIVE", "Is there a live agent?",
                      "connect me to a human now", "I’d like to speak with someone"])
    func askingForAPersonEscalates(_ text: String) {
        #expect(rules.evaluate(text)?.trigger == "customer_request", "\(text)")
    }

    @Test(arguments: ["I will call my lawyer", "This is a GDPR request", "I'm filing a chargeback", "we will take legal action", "I'll sue you"])
    func legalMattersEscalate(_ text: String) {
        #expect(rules.evaluate(text)?.trigger == "legal", "\(text)")
    }

    @Test func frustrationNeedsTwoSignalsOrARepeat() {
        #expect(rules.evaluate("This is ridiculous and useless")?.trigger == "frustration")
        #expect(rules.evaluate("WHY IS MY ORDER NOT HERE YET")  == nil, "shouting alone is one signal")
        #expect(rules.evaluate("WHY IS MY ORDER NOT HERE YET!!!")?.trigger == "frustration", "shouting and !!!")
        #expect(rules.evaluate("this is ridiculous") == nil, "one word once is not enough")
        #expect(rules.evaluate("still ridiculous", earlier: ["where is my parcel", "this is useless"])?.reason.contains("repeated") == true)
    }

    @Test(arguments: ["Where is my order 4417?", "How do I reset my password?", "The agent said my parcel ships Monday",
                      "Thanks, that was helpful!", "Is the human-readable export available?", "What does your person-to-person transfer cost?"])
    func ordinaryQuestionsDoNotEscalate(_ text: String) {
        #expect(rules.evaluate(text) == nil, "\(text)")
    }

    @Test func rulesAreDataACallerCanReplace() {
        let custom = EscalationRules(rules: [.init(name: "vip", reason: "A VIP wrote", words: ["platinum"])],
                                     frustration: .init(name: "frustration", reason: "x"), noResultsLimit: 3)
        #expect(custom.evaluate("I'm a platinum member") == Escalation(trigger: "vip", reason: "A VIP wrote"))
        #expect(custom.evaluate("talk to a human") == nil)
    }

    @Test func noRelevantResultsIsCountedFromJSONObjectsOnly() {
        #expect(EscalationRules.noRelevantResults([#"{"no_relevant_results":true,"results":[]}"#, #"{"no_relevant_results":false}"#,
                                                    "no_relevant_results: true", #"{"results":[1]}"#, #"{"no_relevant_results":true}"#]) == 2)
    }
}

@Suite struct SessionMemoryTests {
    static func message(_ role: SessionMessage.Role, _ text: String, _ n: Int) -> SessionMessage {
        SessionMessage(id: String(format: "%08d", n), tenantID: "t", sessionID: "s", workflowID: nil, role: role, content: text,
                       createdAt: Date(timeIntervalSince1970: Double(n)))
    }

    @Test func theWindowKeepsTheNewestTurnsAndReturnsTheOlderOnes() {
        let history = (0..<10).map { Self.message($0 % 2 == 0 ? .user : .assistant, String(repeating: "x", count: 396), $0) }
        let (older, kept) = ContextWindow.split(history: history, budget: 300)
        #expect(kept.count == 2 && kept.first?.role == .user)
        #expect(older.map(\.id) == history.prefix(8).map(\.id))
        #expect(ContextWindow.split(history: history, budget: 100_000).older.isEmpty)
    }

    @Test func theExtractiveSummaryKeepsQuestionsFactsAndToolResults() {
        let summary = Memory.extractive(previous: "Customer asked: Do you ship to Norway?", messages: [
            Self.message(.user, "Hello there. My order number is 4417. Where is it?", 1),
            Self.message(.assistant, "It left the warehouse on Monday. It should arrive by 12 May. Anything else is fine.", 2),
            Self.message(.staff, "I have upgraded the shipping.", 3),
        ], toolResults: [(tool: "track_order", output: #"{"status":"in transit"}"#)])
        #expect(summary.contains("Do you ship to Norway?"))
        #expect(summary.contains("Customer asked: Where is it?"))
        #expect(summary.contains("Customer said: My order number is 4417."))
        #expect(summary.contains("Assistant said: It left the warehouse on Monday."))
        #expect(summary.contains("12 May"))
        #expect(summary.contains("Staff said: I have upgraded the shipping."))
        #expect(summary.contains("Tool track_order returned"))
        #expect(!summary.contains("Hello there"))
    }
}

// MARK: - Hand-off end to end

@Suite struct HandoffFlowTests {
    @Test(arguments: TestEnv.kinds)
    func theCustomersWordsHandTheSessionToAPersonAndTheAgentStaysQuiet(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            let session = try await client.newSession(key)
            let run = try await client.ask(key, "I want to talk to a human please", session: session, status: .accepted)
            #expect(run["status"] == "WAITING_HUMAN")
            let workflowID = try #require(run["workflow_id"]?.stringValue)

            let inbox = try await client.getJSON(key, "/v1/handoffs")
            let item = try #require(inbox["data"]?.arrayValue?.first)
            #expect(inbox["data"]?.arrayValue?.count == 1)
            #expect(item["state"] == "open" && item["trigger"] == "customer_request" && item["workflow_id"]?.stringValue == workflowID)
            #expect(item["session_id"]?.stringValue == session)
            #expect(item["summary"]?.stringValue?.contains("talk to a human") == true)
            #expect(try await client.getJSON(key, "/v1/sessions/\(session)")["state"] == "handed_off")

            // While handed off the customer's message is stored and streamed to staff, but nobody answers it.
            let second = try await client.ask(key, "hello? anyone there", session: session, status: .accepted)
            #expect(second["workflow_id"]?.stringValue == workflowID && second["status"] == "WAITING_HUMAN")
            let runs = try await client.getJSON(key, "/v1/workflows?session_id=\(session)")
            #expect(runs["data"]?.arrayValue?.count == 1, "no new run")
            let stored = try await client.getJSON(key, "/v1/sessions/\(session)/messages")["data"]?.arrayValue ?? []
            #expect(stored.map { $0["role"]?.stringValue ?? "" } == ["user", "user"])
            let id = try #require(item["handoff_id"]?.stringValue)
            let detail = try await client.getJSON(key, "/v1/handoffs/\(id)")
            let events = detail["runs"]?.arrayValue?.first?["events"]?.arrayValue ?? []
            #expect(events.map { $0["type"]?.stringValue ?? "" } == ["workflow_started", "handoff", "customer_message"])
            #expect(events.last?["text"] == "hello? anyone there")
            #expect(detail["messages"]?.arrayValue?.count == 2 && detail["session"]?["state"] == "handed_off")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func twoNoRelevantResultsInASessionHandItOff(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            let session = try await client.newSession(key)
            let first = try await client.ask(key, "faq: can I return a gift card", session: session)
            #expect(first["status"] == "COMPLETED" && first["final_response"] == "I found nothing relevant.")
            #expect(try await client.getJSON(key, "/v1/handoffs")["data"]?.arrayValue?.isEmpty == true)
            let second = try await client.ask(key, "faq: do gift cards expire", session: session, status: .accepted)
            #expect(second["status"] == "WAITING_HUMAN")
            let item = try #require(try await client.getJSON(key, "/v1/handoffs")["data"]?.arrayValue?.first)
            #expect(item["trigger"] == "no_relevant_results")
            #expect(item["reason"]?.stringValue?.contains("2 times") == true)
            // The conversation view shows the tool calls that found nothing.
            let detail = try await client.getJSON(key, "/v1/handoffs/\(item["handoff_id"]?.stringValue ?? "")")
            let types = detail["runs"]?.arrayValue?.flatMap { $0["events"]?.arrayValue ?? [] }.compactMap { $0["type"]?.stringValue } ?? []
            #expect(types.filter { $0 == "tool_end" }.count == 2)
        }
    }

    /// Staff reply; the customer asks meanwhile; the hand-back resumes the same run, which answers
    /// with the person's reply in its context (offline planner).
    @Test(arguments: TestEnv.kinds)
    func handingBackLetsTheAgentAnswerWithThePersonsMessagesInContext(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let staff = try #require(try await seeded.key(store, clock: clock, role: .operator).secret)
            let session = try await client.newSession(key)
            let run = try await client.ask(key, "can I speak to a person", session: session, status: .accepted)
            let workflowID = try #require(run["workflow_id"]?.stringValue)
            let id = try #require(try await client.getJSON(staff, "/v1/handoffs")["data"]?.arrayValue?.first?["handoff_id"]?.stringValue)

            let claimed = try await client.postJSON(staff, "/v1/handoffs/\(id)/claim", [:])
            #expect(claimed["state"] == "claimed" && claimed["claimed_by"]?.stringValue?.hasPrefix("api_key:") == true)
            let again = try await client.postJSON(staff, "/v1/handoffs/\(id)/claim", [:])
            #expect(again["claimed_at"] == claimed["claimed_at"], "taking it again changes nothing")
            let (status, code) = try await client.postRaw(key, "/v1/handoffs/\(id)/claim", "{}")
            #expect(status == .conflict && code == "handoff_claimed")

            let reply = try await client.postJSON(staff, "/v1/handoffs/\(id)/messages", ["text": "Your order 4417 ships on Monday."], status: .created)
            #expect(reply["event"]?["type"] == "human_message" && reply["event"]?["name"] == "operator key")
            _ = try await client.ask(key, "what did the person say?", session: session, status: .accepted)

            let back = try await client.postJSON(staff, "/v1/handoffs/\(id)/return", ["note": "Order checked, nothing else pending."])
            #expect(back["state"] == "returned" && back["note"] == "Order checked, nothing else pending.")
            let events = try await client.events(key, workflow: workflowID)
            let types = events.map(\.event)
            #expect(Array(types.suffix(3)) == ["handback", "text_delta", "workflow_completed"])
            #expect(events.last?.data["final_response"] == "You were told: [operator key, a person on the team, wrote:] Your order 4417 ships on Monday.")
            #expect(try await client.getJSON(key, "/v1/sessions/\(session)")["state"] == "agent")
            let roles = try await client.getJSON(key, "/v1/sessions/\(session)/messages")["data"]?.arrayValue?.compactMap { $0["role"]?.stringValue }
            #expect(roles == ["user", "staff", "user", "assistant"])
            #expect(try await client.getJSON(key, "/v1/handoffs")["data"]?.arrayValue?.isEmpty == true, "the inbox lists open hand-offs")
            #expect(try await client.getJSON(key, "/v1/handoffs?state=returned")["data"]?.arrayValue?.count == 1)

            // The session is the agent's again: the next message starts a new run that answers.
            let next = try await client.ask(key, "faq: thanks", session: session)
            #expect(next["status"] == "COMPLETED" && next["workflow_id"]?.stringValue != workflowID)

            let audit = try await client.getJSON(key, "/v1/audit-log")["data"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? []
            #expect(Set(["handoff.claim", "handoff.reply", "handoff.return"]).isSubset(of: Set(audit)))
        }
    }

    @Test(arguments: TestEnv.kinds)
    func handingBackWithNothingNewGivesTheAgentATurnToContinue(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            let run = try await client.ask(key, "This is unacceptable, I want a lawyer", status: .accepted)
            let workflowID = try #require(run["workflow_id"]?.stringValue)
            let id = try #require(try await client.getJSON(key, "/v1/handoffs")["data"]?.arrayValue?.first?["handoff_id"]?.stringValue)
            try await client.execute(uri: "/v1/handoffs/\(id)/return", method: .post, headers: auth(key)) { #expect($0.status == .ok) }
            let events = try await client.events(key, workflow: workflowID)
            #expect(events.first { $0.event == "handoff" }?.data["trigger"] == "legal")
            #expect(events.last?.data["final_response"]?.stringValue?.contains("I'm back") == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func cancellingAHandedOffRunClosesItsHandoff(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            let session = try await client.newSession(key)
            let run = try await client.ask(key, "talk to a human", session: session, status: .accepted)
            let workflowID = try #require(run["workflow_id"]?.stringValue)
            let cancelled = try await client.postJSON(key, "/v1/workflows/\(workflowID)/cancel", [:])
            #expect(cancelled["status"] == "CANCELLED")
            let returned = try #require(try await client.getJSON(key, "/v1/handoffs?state=returned")["data"]?.arrayValue?.first)
            #expect(returned["note"] == "the run was cancelled")
            #expect(try await client.getJSON(key, "/v1/sessions/\(session)")["state"] == "agent")
            #expect(try await client.ask(key, "faq: hello again", session: session)["status"] == "COMPLETED")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func badRequestsAreRefusedWithTheirCodes(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.ask(key, "talk to a human", status: .accepted)
            let id = try #require(try await client.getJSON(viewer, "/v1/handoffs")["data"]?.arrayValue?.first?["handoff_id"]?.stringValue)
            #expect(try await client.getJSON(viewer, "/v1/handoffs/\(id)")["handoff_id"]?.stringValue == id, "viewers read")
            for path in ["claim", "messages", "return"] {
                let (status, code) = try await client.postRaw(viewer, "/v1/handoffs/\(id)/\(path)", #"{"text":"hi"}"#)
                #expect(status == .forbidden && code == "forbidden", "\(path)")
            }
            let unknown = UUIDv7.make(at: clock.now())
            #expect(try await client.postRaw(key, "/v1/handoffs/\(unknown)/messages", #"{"text":"hi"}"#) == (.notFound, "handoff_not_found"))
            #expect(try await client.postRaw(key, "/v1/handoffs/nope/claim", "{}") == (.badRequest, "invalid_handoff_id"))
            _ = try await client.getJSON(key, "/v1/handoffs/\(unknown)", status: .notFound)
            #expect(try await client.postRaw(key, "/v1/handoffs/\(id)/messages", #"{"text":"   "}"#) == (.badRequest, "empty_message"))
            #expect(try await client.postRaw(key, "/v1/handoffs/\(id)/messages", #"{"text":"hi","txet":"x"}"#) == (.badRequest, "unknown_field"))
            #expect(try await client.postRaw(key, "/v1/handoffs/\(id)/messages", #"{}"#).0 == .badRequest)
            #expect(try await client.postRaw(key, "/v1/handoffs/\(id)/return", #"{"note":5}"#).0 == .badRequest)
            _ = try await client.getJSON(key, "/v1/handoffs?state=closed", status: .badRequest)
            _ = try await client.getJSON(key, "/v1/handoffs?status=open", status: .badRequest)

            // Another tenant sees nothing of it.
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            _ = try await client.getJSON(other.adminKey, "/v1/handoffs/\(id)", status: .notFound)
            #expect(try await client.getJSON(other.adminKey, "/v1/handoffs")["data"]?.arrayValue?.isEmpty == true)
            #expect(try await client.postRaw(other.adminKey, "/v1/handoffs/\(id)/return", "{}") == (.notFound, "handoff_not_found"))

            _ = try await client.postJSON(key, "/v1/handoffs/\(id)/return", [:])
            for (path, body) in [("messages", #"{"text":"too late"}"#), ("claim", "{}"), ("return", "{}")] {
                #expect(try await client.postRaw(key, "/v1/handoffs/\(id)/\(path)", body) == (.conflict, "handoff_not_open"), "\(path)")
            }
        }
    }
}

// MARK: - Staff notification

@Suite struct HandoffNotificationTests {
    static func queued(_ store: any Store, tenantID: String) async throws -> [(to: String, subject: String, text: String)] {
        try await store.read { db in
            try await db.raw("SELECT recipient, subject, body_text FROM messages WHERE tenant_id = \(bind: tenantID) ORDER BY id").all().map {
                (try $0.decode(column: "recipient", as: String.self), try $0.decode(column: "subject", as: String?.self) ?? "",
                 try $0.decode(column: "body_text", as: String.self))
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aNewHandoffQueuesAnEmailToTheTenantsStaffAddressAndNothingWithoutOne(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind) { client, seeded, store, _ in
            let key = seeded.adminKey
            _ = try await client.ask(key, "talk to a human", status: .accepted)
            #expect(try await Self.queued(store, tenantID: seeded.tenant.id).isEmpty, "no address: nothing is sent")

            let bad = try await client.execute(uri: "/v1/tenant", method: .patch, headers: auth(key, json: true),
                                               body: ByteBuffer(string: #"{"handoff_email":"not an address"}"#)) { ($0.status, $0.errorCode) }
            #expect(bad == (.badRequest, "invalid_handoff_email"))
            let set = try await client.execute(uri: "/v1/tenant", method: .patch, headers: auth(key, json: true),
                                               body: ByteBuffer(string: #"{"handoff_email":"support@example.com"}"#)) { try JSONValue.parse(String(buffer: $0.body)) }
            #expect(set["handoff_email"] == "support@example.com")
            #expect(try await client.getJSON(key, "/v1/tenant")["handoff_email"] == "support@example.com")

            let run = try await client.ask(key, "I will call my lawyer about this", status: .accepted)
            let handoffID = try #require(try await client.getJSON(key, "/v1/handoffs")["data"]?.arrayValue?.first?["handoff_id"]?.stringValue)
            #expect(run["status"] == "WAITING_HUMAN")
            let mails = try await Self.queued(store, tenantID: seeded.tenant.id)
            #expect(mails.count == 1)
            #expect(mails.first?.to == "support@example.com")
            #expect(mails.first?.subject.contains("a conversation needs a person") == true)
            #expect(mails.first?.text.contains(handoffID) == true && mails.first?.text.contains("legal") == true)

            let cleared = try await client.execute(uri: "/v1/tenant", method: .patch, headers: auth(key, json: true),
                                                   body: ByteBuffer(string: #"{"handoff_email":null}"#)) { try JSONValue.parse(String(buffer: $0.body)) }
            #expect(cleared["handoff_email"] == .null)
        }
    }
}

// MARK: - Live streams and a real model's wire format

@Suite struct HandoffStreamTests {
    /// The customer keeps their chat stream open: the person's reply, the hand-back and the
    /// agent's answer arrive in it in place.
    @Test(arguments: TestEnv.kinds)
    func theStaffReplyAppearsInTheCustomersStream(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind, testing: .live) { client, seeded, _, _ in
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let key = seeded.adminKey
            var customer = try await LiveSSE.open(base + "/v1/chat", key: key, method: .POST, body: #"{"message":"I need a real person"}"#)
            let opened = try await customer.until("handoff")
            #expect(opened.last?.data["message"]?.stringValue == HandoffText.notice)
            let id = try #require(opened.last?.data["handoff_id"]?.stringValue)

            var reply = HTTPClientRequest(url: base + "/v1/handoffs/\(id)/messages")
            reply.method = .POST
            reply.headers.add(name: "Authorization", value: "Bearer \(key)")
            reply.headers.add(name: "Content-Type", value: "application/json")
            reply.body = .bytes(ByteBuffer(string: #"{"text":"Hi, I'm Sam from support."}"#))
            #expect(try await HTTPClient.shared.execute(reply, timeout: .seconds(10)).status == .created)
            let human = try #require(try await customer.next())
            #expect(human.event == "human_message" && human.data["text"] == "Hi, I'm Sam from support.")

            var handBack = HTTPClientRequest(url: base + "/v1/handoffs/\(id)/return")
            handBack.method = .POST
            handBack.headers.add(name: "Authorization", value: "Bearer \(key)")
            #expect(try await HTTPClient.shared.execute(handBack, timeout: .seconds(10)).status == .ok)
            let rest = try await customer.until("workflow_completed")
            #expect(rest.first?.event == "handback")
            #expect(try await customer.next() == nil)
        }
    }

    /// The same over the WebSocket: the customer's second message goes to the person, whose
    /// reply and hand-back arrive on the socket.
    @Test func theWebSocketCarriesTheHandoffBothWays() async throws {
        try await withHandoffServer(.sqlite, testing: .live) { client, seeded, _, _ in
            let port = try #require(client.port)
            let key = seeded.adminKey
            let session = try await client.newSession(key)
            let received = ReceivedFrames()
            @Sendable func staff(_ path: String, _ body: String) async throws -> UInt {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(key)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
                return try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code
            }
            let ws = WebSocketClient(url: "ws://127.0.0.1:\(port)/ws", configuration: .init(additionalHeaders: [.authorization: "Bearer \(key)"]),
                                     logger: Logger(label: "ws")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"type":"message","session_id":"\#(session)","content":"can I speak to a person?"}"#))
                for try await frame in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = frame, let json = try? JSONValue.parse(text) else { continue }
                    received.add(json)
                    let id = json["handoff_id"]?.stringValue ?? ""
                    switch json["type"]?.stringValue {
                    case "handoff":
                        try await outbound.write(.text(#"{"type":"message","session_id":"\#(session)","content":"my order is 4417"}"#))
                    case "customer_message":
                        #expect(try await staff("/v1/handoffs/\(id)/messages", #"{"text":"Found it, 4417 ships today."}"#) == 201)
                    case "human_message":
                        #expect(try await staff("/v1/handoffs/\(id)/return", "{}") == 200)
                    case "workflow_completed":
                        return
                    default:
                        continue
                    }
                }
            }
            try await ws.run()
            let types = received.all.compactMap { $0["type"]?.stringValue }
            #expect(types.contains("handoff") && types.contains("customer_message") && types.contains("human_message") && types.contains("handback"))
            #expect(received.all.first { $0["type"] == "human_message" }?["text"] == "Found it, 4417 ships today.")
            #expect(types.last == "workflow_completed")
        }
    }

    /// With a language model: it asks for the person itself, and after the hand-back its prompt
    /// holds the person's reply, the customer's message meanwhile and the note.
    @Test(arguments: TestEnv.kinds)
    func aModelEscalatesAndSeesTheConversationAfterTheHandBack(_ kind: DatabaseKind) async throws {
        let script = [
            ScriptedTurn.toolCalls([(id: "call_1", name: "escalate_to_human", arguments: #"{"reason":"refund over limit","summary":"Wants a refund of 900 EUR"}"#)]),
            ScriptedTurn.answer("Glad that is sorted."),
        ]
        try await ProviderTestServer.with(script: script) { baseURL, server in
            try await withHandoffServer(kind, provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                let key = seeded.adminKey
                let session = try await client.newSession(key)
                let run = try await client.ask(key, "I want my 900 EUR back for the broken blender", session: session, status: .accepted)
                let workflowID = try #require(run["workflow_id"]?.stringValue)
                let item = try #require(try await client.getJSON(key, "/v1/handoffs")["data"]?.arrayValue?.first)
                #expect(item["trigger"] == "escalate_to_human" && item["reason"] == "refund over limit" && item["summary"] == "Wants a refund of 900 EUR")
                let id = try #require(item["handoff_id"]?.stringValue)
                _ = try await client.postJSON(key, "/v1/handoffs/\(id)/messages", ["text": "Refund of 900 EUR approved, reference R-77."], status: .created)
                _ = try await client.ask(key, "great, when will it arrive?", session: session, status: .accepted)
                _ = try await client.postJSON(key, "/v1/handoffs/\(id)/return", ["note": "Refund R-77 is done; arrives in 3 days."])
                let events = try await client.events(key, workflow: workflowID)
                #expect(events.last?.data["final_response"] == "Glad that is sorted.")

                #expect(server.requests.count == 2)
                let prompt = try #require(server.requests.last?.json)
                let messages = prompt["messages"]?.arrayValue ?? []
                let texts = messages.compactMap { $0["content"]?.stringValue }
                #expect(texts.contains { $0.contains("Refund of 900 EUR approved, reference R-77.") && $0.contains("a person on the team") })
                #expect(texts.last == "great, when will it arrive?")
                #expect(messages.first?["content"]?.stringValue?.contains("Refund R-77 is done; arrives in 3 days.") == true, "the note is in the system prompt")
                #expect(messages.contains { $0["role"] == "tool" }, "the escalation's tool result stays in context")
            }
        }
    }
}

// MARK: - Memory

@Suite struct HandoffMemoryTests {
    /// Past the history budget the older turns are summarised (extractively: no model is
    /// configured), stored on the session and shown by GET.
    @Test(arguments: TestEnv.kinds)
    func aSummaryReplacesTheTurnsPastTheBudget(_ kind: DatabaseKind) async throws {
        try await withHandoffServer(kind, env: ["PARLEY_AGENT_CONTEXT_TOKENS": "100"]) { client, seeded, _, _ in
            let key = seeded.adminKey
            let session = try await client.newSession(key)
            let padding = String(repeating: "more detail ", count: 20)
            // The offline planner's answer (its list of what it can do) is longer than the budget.
            _ = try await client.ask(key, "my order number is 4417. \(padding)", session: session)
            #expect(try await client.getJSON(key, "/v1/sessions/\(session)")["summary"] == .null, "nothing to summarise yet")
            _ = try await client.ask(key, "can I change the address?", session: session)
            let shown = try await client.getJSON(key, "/v1/sessions/\(session)")
            let summary = try #require(shown["summary"]?.stringValue)
            #expect(summary.contains("Customer said: my order number is 4417."))
            #expect(summary.contains("Assistant said: "))
        }
    }

    @Test func theSummaryIsInTheModelsSystemPrompt() async throws {
        try await ProviderTestServer.with(script: [ScriptedTurn.answer("one"), ScriptedTurn.answer("Short summary: order 4417."), ScriptedTurn.answer("two")]) { baseURL, server in
            try await withHandoffServer(.sqlite, env: ["PARLEY_AGENT_CONTEXT_TOKENS": "100"], provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                let key = seeded.adminKey
                let session = try await client.newSession(key)
                _ = try await client.ask(key, "my order number is 4417 " + String(repeating: "and more ", count: 50), session: session)
                _ = try await client.ask(key, "where is it?", session: session)
                #expect(try await client.getJSON(key, "/v1/sessions/\(session)")["summary"] == "Short summary: order 4417.")
                #expect(server.requests.count == 3)
                let summaryRequest = try #require(server.requests[1].json)
                #expect(summaryRequest["tools"] == nil || summaryRequest["tools"]?.arrayValue?.isEmpty == true)
                let last = try #require(server.requests[2].json?["messages"]?.arrayValue)
                #expect(last.first?["content"]?.stringValue?.contains("Short summary: order 4417.") == true)
                #expect(last.count == 2, "system and the new question: the summarised turns are not repeated")
            }
        }
    }
}
