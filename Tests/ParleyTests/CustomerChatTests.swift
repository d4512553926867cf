import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ParleyAgent
import ParleyCore
import ParleyPlatform
@testable import ParleyServer
import ParleyStorage
import Testing

private let widgetKeyHeader = HTTPField.Name("X-Parley-Widget-Key")!
private let filenameHeader = HTTPField.Name("X-Filename")!
private let shop = "https://shop.example"

/// What a failed request answered: its status and the envelope's code.
private struct Refusal: Equatable {
    var status: HTTPResponse.Status
    var code: String?
}

private func refusal(_ r: TestResponse) -> Refusal {
    let body = try? JSONValue.parse(String(buffer: r.body))
    return Refusal(status: r.status, code: body?["error"]?["code"]?.stringValue)
}

extension TestClientProtocol {
    /// Switches the tenant's chat page on with `shop` allowed; returns the public key.
    fileprivate func enableChat(_ adminKey: String, origins: [String] = [shop]) async throws -> String {
        let body: JSONValue = ["enabled": true, "allowed_origins": .array(origins.map { .string($0) }), "title": "Acme help", "greeting": "Hello! Ask me anything."]
        let settings = try await putJSON(adminKey, "/v1/tenant/widget", body)
        return try #require(settings["public_key"]?.stringValue)
    }

    /// Starts a visitor's conversation; returns its token.
    fileprivate func visitor(_ widgetKey: String, slug: String = "acme", origin: String? = nil) async throws -> String {
        var headers: HTTPFields = [widgetKeyHeader: widgetKey]
        if let origin { headers[.origin] = origin }
        return try await execute(uri: "/c/\(slug)/api/sessions", method: .post, headers: headers) { r in
            #expect(r.status == .created, "\(String(buffer: r.body))")
            let body = try JSONValue.parse(String(buffer: r.body))
            #expect(body["session_id"]?.stringValue != nil)
            return try #require(body["visitor_token"]?.stringValue)
        }
    }

    fileprivate func say(_ token: String, _ text: String, slug: String = "acme") async throws -> (Refusal, JSONValue?) {
        let body = JSONValue.object(["text": .string(text)]).serialized()
        return try await execute(uri: "/c/\(slug)/api/messages", method: .post,
                                 headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: body)) { r in
            (refusal(r), try? JSONValue.parse(String(buffer: r.body)))
        }
    }

    /// The visitor's stream of one run, read to its end.
    fileprivate func stream(_ token: String, workflowID: String?, lastEventID: Int? = nil, slug: String = "acme") async throws -> (HTTPResponse.Status, [StreamedEvent]) {
        var headers: HTTPFields = [.authorization: "Bearer \(token)"]
        if let lastEventID { headers[HTTPField.Name("Last-Event-ID")!] = String(lastEventID) }
        let query = workflowID.map { "?workflow_id=\($0)" } ?? ""
        return try await execute(uri: "/c/\(slug)/api/stream\(query)", method: .get, headers: headers) { r in
            (r.status, r.status == .ok ? parseSSE(String(buffer: r.body)) : [])
        }
    }
}

@Suite struct CustomerChatTests {
    @Test(arguments: TestEnv.kinds)
    func widgetSettingsAreAdminOnlyValidatedAuditedAndRotatable(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let unset = try await client.getJSON(seeded.adminKey, "/v1/tenant/widget")
            #expect(unset["enabled"] == false && unset["public_key"] == .null && unset["page_path"] == "/c/acme")
            // The page does not exist until it is switched on.
            try await client.execute(uri: "/c/acme", method: .get) { #expect(refusal($0) == Refusal(status: .notFound, code: "chat_not_found")) }

            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            try await client.execute(uri: "/v1/tenant/widget", method: .put, headers: auth(viewer, json: true), body: ByteBuffer(string: #"{"enabled":true}"#)) {
                #expect(refusal($0) == Refusal(status: .forbidden, code: "forbidden"))
            }
            for bad in [#"{"allowed_origins":["https://shop.example/path"]}"#, #"{"allowed_origins":["*"]}"#, #"{"allowed_origins":"https://a.example"}"#,
                        #"{"allowed_origins":["ftp://shop.example"]}"#] {
                try await client.execute(uri: "/v1/tenant/widget", method: .put, headers: auth(seeded.adminKey, json: true), body: ByteBuffer(string: bad)) {
                    #expect(refusal($0) == Refusal(status: .badRequest, code: "invalid_allowed_origins"), "\(bad)")
                }
            }
            try await client.execute(uri: "/v1/tenant/widget", method: .put, headers: auth(seeded.adminKey, json: true), body: ByteBuffer(string: #"{"enable":true}"#)) {
                #expect(refusal($0) == Refusal(status: .badRequest, code: "unknown_field"))
            }

            let key = try await client.enableChat(seeded.adminKey, origins: ["HTTPS://Shop.Example/", "http://localhost:3000"])
            #expect(key.hasPrefix("pk_") && key.count == 35)
            let saved = try await client.getJSON(seeded.adminKey, "/v1/tenant/widget")
            #expect(saved["allowed_origins"] == [.string(shop), "http://localhost:3000"])
            #expect(saved["public_key"]?.stringValue == key)

            let rotated = try await client.postJSON(seeded.adminKey, "/v1/tenant/widget/rotate-key", [:])
            let newKey = try #require(rotated["public_key"]?.stringValue)
            #expect(newKey != key && newKey.hasPrefix("pk_"))
            // The old key no longer starts conversations; the new one does.
            try await client.execute(uri: "/c/acme/api/sessions", method: .post, headers: [widgetKeyHeader: key]) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "invalid_widget_key"))
            }
            _ = try await client.visitor(newKey)

            let audit = try await client.getJSON(seeded.adminKey, "/v1/audit-log")
            let actions = audit["data"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? []
            #expect(actions.contains("widget.update") && actions.contains("widget.rotate_key"))

            // Switched off again: every public route is gone.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/widget", ["enabled": false])
            try await client.execute(uri: "/c/acme/api/sessions", method: .post, headers: [widgetKeyHeader: newKey]) {
                #expect(refusal($0) == Refusal(status: .notFound, code: "chat_not_found"))
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theWidgetKeyAndTheOriginAreChecked(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_PUBLIC_URL": "http://parley.test:8080"]) { client, seeded, _, _ in
            let key = try await client.enableChat(seeded.adminKey)
            try await client.execute(uri: "/c/acme/api/sessions", method: .post) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "widget_key_required"))
            }
            try await client.execute(uri: "/c/acme/api/sessions", method: .post, headers: [widgetKeyHeader: "pk_wrong"]) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "invalid_widget_key"))
            }
            try await client.execute(uri: "/c/nobody/api/sessions", method: .post, headers: [widgetKeyHeader: key]) {
                #expect(refusal($0) == Refusal(status: .notFound, code: "chat_not_found"))
            }
            // A page on a site the business did not list: refused, and the browser may read why.
            try await client.execute(uri: "/c/acme/api/sessions", method: .post, headers: [widgetKeyHeader: key, .origin: "https://evil.example"]) { r in
                #expect(refusal(r) == Refusal(status: .forbidden, code: "origin_not_allowed"))
                #expect(r.headers[.accessControlAllowOrigin] == "https://evil.example")
            }
            try await client.execute(uri: "/c/acme/api/sessions", method: .options,
                                     headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"]) {
                #expect(refusal($0) == Refusal(status: .forbidden, code: "origin_not_allowed"))
            }
            // The listed site: preflight and request pass, with CORS headers for it.
            try await client.execute(uri: "/c/acme/api/messages", method: .options, headers: [.origin: shop, .accessControlRequestMethod: "POST"]) { r in
                #expect(r.status == .noContent)
                #expect(r.headers[.accessControlAllowOrigin] == shop)
                #expect(r.headers[.accessControlAllowHeaders]?.contains("X-Parley-Widget-Key") == true)
            }
            let token = try await client.visitor(key, origin: shop)
            #expect(token.hasPrefix("pv_"))
            // The page Parley serves itself is always allowed.
            try await client.execute(uri: "/c/acme/api/sessions", method: .post,
                                     headers: [widgetKeyHeader: key, .origin: "http://parley.test:8080"]) { r in
                #expect(r.status == .created)
            }
            // The visitor's token is refused on the API's other routes from an unlisted site too.
            try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer \(token)", .origin: "https://evil.example"]) {
                #expect(refusal($0) == Refusal(status: .forbidden, code: "origin_not_allowed"))
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aVisitorSeesOnlyItsOwnConversation(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = try await client.enableChat(seeded.adminKey)
            let alice = try await client.visitor(key)
            let bob = try await client.visitor(key)
            let (sent, run) = try await client.say(alice, "What are your opening hours? My order number is 4411.")
            #expect(sent.status == .accepted)
            let workflowID = try #require(run?["workflow_id"]?.stringValue)
            let (status, events) = try await client.stream(alice, workflowID: workflowID)
            #expect(status == .ok && events.last?.event == "workflow_completed")

            // Bob cannot follow, list or guess his way into Alice's conversation.
            let (bobStatus, bobEvents) = try await client.stream(bob, workflowID: workflowID)
            #expect(bobStatus == .notFound && bobEvents.isEmpty)
            try await client.execute(uri: "/c/acme/api/stream", method: .get, headers: [.authorization: "Bearer \(bob)"]) {
                #expect(refusal($0) == Refusal(status: .notFound, code: "workflow_not_found"))
            }
            try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer \(bob)"]) { r in
                #expect(r.status == .ok)
                #expect(!String(buffer: r.body).contains("4411"))
            }
            try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer \(alice)"]) { r in
                #expect(String(buffer: r.body).contains("4411"))
            }
            // A token is good for its own tenant only, and never as an API key.
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            let otherKey = try await client.enableChat(other.adminKey)
            _ = otherKey
            try await client.execute(uri: "/c/globex/api/messages", method: .get, headers: [.authorization: "Bearer \(alice)"]) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "invalid_visitor_token"))
            }
            try await client.execute(uri: "/v1/sessions", method: .get, headers: [.authorization: "Bearer \(alice)"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/c/acme/api/messages", method: .get) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "visitor_token_required"))
            }
            try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer pv_made_up"]) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "invalid_visitor_token"))
            }
            // Expired tokens stop working.
            clock.advance(by: 8 * 86_400)
            try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer \(alice)"]) {
                #expect(refusal($0) == Refusal(status: .unauthorized, code: "invalid_visitor_token"))
            }
            // Only the hash of a token is stored.
            let stored = try await store.read { db in
                try await db.raw("SELECT token_hash FROM chat_visitors").all().map { try $0.decode(column: "token_hash", as: String.self) }
            }
            #expect(stored.count == 2 && !stored.contains(alice) && stored.contains(APIKeySecret.hash(alice)))
        }
    }

    @Test(arguments: TestEnv.kinds)
    func ratesAreLimitedPerVisitorAndPerAddressWithRetryAfter(_ kind: DatabaseKind) async throws {
        let env = ["PARLEY_CHAT_MESSAGES_PER_MINUTE": "2", "PARLEY_CHAT_SESSIONS_PER_HOUR": "3"]
        try await withAgentServer(kind, env: env) { client, seeded, _, clock in
            let key = try await client.enableChat(seeded.adminKey)
            let token = try await client.visitor(key)
            for _ in 0..<2 {
                let (r, run) = try await client.say(token, "hello")
                #expect(r.status == .accepted)
                _ = try await client.stream(token, workflowID: run?["workflow_id"]?.stringValue)
            }
            try await client.execute(uri: "/c/acme/api/messages", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                     body: ByteBuffer(string: #"{"text":"one more"}"#)) { r in
                #expect(refusal(r) == Refusal(status: .tooManyRequests, code: "rate_limited"))
                let wait = try #require(r.headers[.retryAfter].flatMap(Int.init))
                #expect((1...30).contains(wait))
            }
            // Another visitor has its own allowance.
            let other = try await client.visitor(key)
            let (r, run) = try await client.say(other, "hello")
            #expect(r.status == .accepted)
            _ = try await client.stream(other, workflowID: run?["workflow_id"]?.stringValue)
            // Time refills the bucket.
            clock.advance(by: 30)
            let (again, againRun) = try await client.say(token, "hello again")
            #expect(again.status == .accepted)
            _ = try await client.stream(token, workflowID: againRun?["workflow_id"]?.stringValue)
            // New conversations per address per hour: two used above, one left.
            _ = try await client.visitor(key)
            try await client.execute(uri: "/c/acme/api/sessions", method: .post, headers: [widgetKeyHeader: key]) { r in
                #expect(refusal(r) == Refusal(status: .tooManyRequests, code: "rate_limited"))
                #expect(r.headers[.retryAfter] != nil)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func attachmentsAreSizeLimitedConvertedAndGoWithTheNextMessage(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_CHAT_ATTACHMENT_MAX_BYTES": "1kb", "PARLEY_CHAT_ATTACHMENT_TEXT_CHARS": "200"]) { client, seeded, _, _ in
            let key = try await client.enableChat(seeded.adminKey)
            let token = try await client.visitor(key)
            func upload(_ body: String, name: String?, type: String = "text/markdown") async throws -> (Refusal, JSONValue?) {
                var headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: type]
                if let name { headers[filenameHeader] = name }
                return try await client.execute(uri: "/c/acme/api/attachments", method: .post, headers: headers, body: ByteBuffer(string: body)) { r in
                    (refusal(r), try? JSONValue.parse(String(buffer: r.body)))
                }
            }
            #expect(try await upload(String(repeating: "x", count: 2000), name: "big.txt").0 == Refusal(status: .contentTooLarge, code: "attachment_too_large"))
            #expect(try await upload("# Hi", name: nil).0 == Refusal(status: .badRequest, code: "invalid_filename"))
            #expect(try await upload("", name: "empty.md").0 == Refusal(status: .badRequest, code: "empty_attachment"))
            let long = "# Order 7781\n\nThe blender arrived broken.\n\n" + String(repeating: "More words here. ", count: 30)
            let (ok, attached) = try await upload(long, name: "..%2F..%2Fnotes%20on%20order.md")
            #expect(ok.status == .created)
            #expect(attached?["filename"] == "notes on order.md")
            #expect(attached?["truncated"] == true && attached?["characters"] == 200)

            let (sent, run) = try await client.say(token, "Please read my notes.")
            #expect(sent.status == .accepted)
            _ = try await client.stream(token, workflowID: run?["workflow_id"]?.stringValue)
            let history = try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                try JSONValue.parse(String(buffer: r.body))
            }
            let first = history["data"]?.arrayValue?.first?["content"]?.stringValue ?? ""
            #expect(first.hasPrefix("Please read my notes.") && first.contains("notes on order.md") && first.contains("The blender arrived broken."))
            // Used once: the next message goes alone.
            let (_, next) = try await client.say(token, "Thanks")
            _ = try await client.stream(token, workflowID: next?["workflow_id"]?.stringValue)
            let after = try await client.execute(uri: "/c/acme/api/messages", method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                try JSONValue.parse(String(buffer: r.body))
            }
            #expect(after["data"]?.arrayValue?.contains { $0["content"] == "Thanks" } == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aConversationStreamsOverSSEWithTheOfflinePlannerAndResumes(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, _ in
            let key = try await client.enableChat(seeded.adminKey)
            let token = try await client.visitor(key)
            let (sent, run) = try await client.say(token, "Hello, can you help me?")
            #expect(sent.status == .accepted)
            let workflowID = try #require(run?["workflow_id"]?.stringValue)
            let (status, events) = try await client.stream(token, workflowID: workflowID)
            #expect(status == .ok)
            #expect(events.first?.event == "workflow_started" && events.last?.event == "workflow_completed")
            #expect(events.contains { $0.event == "text_delta" })
            // A customer sees no reasoning, no tool inputs or outputs, not even its own prompt echoed.
            #expect(!events.contains { ["reasoning_step", "tool_end", "agent_thinking"].contains($0.event) })
            #expect(events.first?.data["initial_prompt"] == nil)
            let answer = events.filter { $0.event == "text_delta" }.compactMap { $0.data["text"]?.stringValue }.joined()
            #expect(!answer.isEmpty)
            let final = try #require(events.last?.data["final_response"]?.stringValue)
            #expect(!final.isEmpty && answer.contains(final))
            // Resuming after an event replays only what came after it.
            let ids = events.compactMap(\.id)
            let mid = try #require(ids.first)
            let (_, resumed) = try await client.stream(token, workflowID: workflowID, lastEventID: mid)
            #expect(resumed.compactMap(\.id) == ids.filter { $0 > mid })
            // Without a workflow id the stream is the conversation's latest run.
            let (_, latest) = try await client.stream(token, workflowID: nil)
            #expect(latest.last?.data["workflow_id"]?.stringValue == workflowID)
            // Staff see the conversation, titled as a visitor's.
            let sessions = try await client.getJSON(seeded.adminKey, "/v1/sessions")
            #expect(sessions["data"]?.arrayValue?.first?["title"] == "Chat page visitor")
            // The run is the customer's: role customer, actor visitor:<id>.
            let owner = try await store.read { db in
                try await db.raw("SELECT role, actor FROM workflows WHERE id = \(bind: workflowID)").first()
            }
            #expect(try owner?.decode(column: "role", as: String.self) == "customer")
            #expect(try owner?.decode(column: "actor", as: String.self).hasPrefix("visitor:") == true)
            // Strict input.
            try await client.execute(uri: "/c/acme/api/messages", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                     body: ByteBuffer(string: #"{"message":"hi"}"#)) { #expect(refusal($0) == Refusal(status: .badRequest, code: "unknown_field")) }
            try await client.execute(uri: "/c/acme/api/messages", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                     body: ByteBuffer(string: #"{"text":"   "}"#)) { #expect(refusal($0) == Refusal(status: .badRequest, code: "empty_message")) }
            try await client.execute(uri: "/c/acme/api/messages", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                     body: ByteBuffer(string: String(repeating: "a", count: 70_000))) { #expect($0.status == .contentTooLarge) }
            try await client.execute(uri: "/c/acme/api/stream?workflow_id=\(workflowID)", method: .get,
                                     headers: [.authorization: "Bearer \(token)", HTTPField.Name("Last-Event-ID")!: "-4"]) {
                #expect(refusal($0) == Refusal(status: .badRequest, code: "invalid_last_event_id"))
            }
        }
    }

    /// The hand-off events (docs/events.md) reach the customer without what was written for staff.
    @Test func aCustomersStreamLeavesOutStaffFieldsReasoningAndToolDetails() async {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        func event(_ seq: Int, _ type: String, _ fields: [String: JSONValue]) -> StreamItem {
            .event(WorkflowEvent(workflowID: "w", seq: seq, type: type, timestamp: at, fields: fields))
        }
        let (source, input) = AsyncStream.makeStream(of: StreamItem.self)
        for item in [
            event(1, "workflow_started", ["initial_prompt": "my order 4411", "session_id": "s"]),
            event(2, "reasoning_step", ["thought": "look up the order"]),
            event(3, "tool_start", ["tool": "search_knowledge", "input": ["query": "refund policy"], "step_id": "x"]),
            event(4, "tool_end", ["tool": "search_knowledge", "output": "internal"]),
            event(5, "handoff", ["handoff_id": "h", "reason": "frustration", "trigger": "frustration", "summary": "angry customer",
                                 "message": "A person will reply here."]),
            event(6, "human_message", ["handoff_id": "h", "actor": "api_key:k", "name": "Sam", "text": "Hi, I'm Sam."]),
            event(7, "handback", ["handoff_id": "h", "actor": "api_key:k", "note": "offer a voucher"]),
            .heartbeat(workflowID: "w", lastSeq: 7, at: at),
            event(8, "text_delta", ["text": "Done."]),
            event(9, "workflow_completed", ["final_response": "Done."]),
        ] { input.yield(item) }
        input.finish()
        var seen: [WorkflowEvent] = []
        var heartbeats = 0
        for await item in CustomerChatService.customerView(source) {
            if case .event(let e) = item { seen.append(e) } else { heartbeats += 1 }
        }
        #expect(seen.map(\.seq) == [1, 3, 5, 6, 7, 8, 9] && heartbeats == 1)
        #expect(seen[0].fields == ["session_id": "s"])
        #expect(seen[1].fields == ["tool": "search_knowledge"])
        #expect(seen[2].fields == ["handoff_id": "h", "message": "A person will reply here."])
        #expect(seen[3].fields == ["handoff_id": "h", "name": "Sam", "text": "Hi, I'm Sam."])
        #expect(seen[4].fields == ["handoff_id": "h"])
    }

    /// A customer's run is offered only tools declared safe for customers (`.converse`).
    @Test func customersAreOfferedOnlyConverseTools() {
        var registry = ToolRegistry()
        registry.register(Tool(name: "lookup", description: "Reads public answers.", inputSchema: ["type": "object"], permission: .converse) { _, _ in .null })
        registry.register(Tool(name: "refund", description: "Changes an order.", inputSchema: ["type": "object"]) { _, _ in .null })
        registry.register(Tool(name: "find_client", description: "Reads the business's data.", inputSchema: ["type": "object"], permission: .readTenant) { _, _ in .null })
        #expect(registry.available(to: .customer).map(\.name) == ["lookup"])
        #expect(registry.available(to: .operator).map(\.name) == ["lookup", "refund", "find_client"])
    }
}

@Suite struct CustomerChatPageTests {
    @Test func thePageAndItsFilesAreServedWithTheTenantsValuesAndAStrictPolicy() async throws {
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            let key = try await client.enableChat(seeded.adminKey)
            try await client.execute(uri: "/c/acme", method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "text/html; charset=utf-8")
                let csp = try #require(r.headers[.contentSecurityPolicy])
                #expect(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'self' \(shop)") && csp.contains("default-src 'none'"))
                let html = String(buffer: r.body)
                #expect(html.contains(key) && html.contains("Acme help") && html.contains("/c/acme/chat.js") && !html.contains("__PARLEY_"))
            }
            // Text the business typed is escaped in the page.
            _ = try await client.putJSON(seeded.adminKey, "/v1/tenant/widget", ["title": "<script>alert(1)</script>"])
            try await client.execute(uri: "/c/acme", method: .get) { r in
                #expect(!String(buffer: r.body).contains("<script>alert") && String(buffer: r.body).contains("&lt;script&gt;"))
            }
            try await client.execute(uri: "/c/acme/widget.js", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(r.headers[.crossOriginResourcePolicy] == "cross-origin")
            }
            try await client.execute(uri: "/c/acme/index.html", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/c/acme/nothing.js", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/c/nobody/widget.js", method: .get) { #expect(refusal($0) == Refusal(status: .notFound, code: "chat_not_found")) }
        }
    }

    @Test func everyPageFileIsServedByteForByte() async throws {
        let dir = TestEnv.packageRoot.appendingPathComponent("Public/chat")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
        #expect(names.contains("index.html") && names.contains("chat.js") && names.contains("widget.js"))
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            _ = try await client.enableChat(seeded.adminKey)
            for name in names where name != "index.html" {
                let file = try Data(contentsOf: dir.appendingPathComponent(name))
                let etag = "\"" + String(SHA256.hash(data: file).map { String(format: "%02x", $0) }.joined().prefix(20)) + "\""
                try await client.execute(uri: "/c/acme/\(name)", method: .get) { r in
                    #expect(Data(buffer: r.body) == file, "Public/chat/\(name) changed: run scripts/sync-console")
                    #expect(r.headers[.eTag] == etag, "Public/chat/\(name) changed: run scripts/sync-console")
                }
            }
        }
        let generated = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("Sources/ParleyServer/ChatAssets.swift"), encoding: .utf8)
        let served = generated.split(separator: "\n").filter { $0.hasPrefix("        \"") }.map { $0.dropFirst(9).prefix { $0 != "\"" } }.map(String.init)
        #expect(served.sorted() == names, "run scripts/sync-console")
    }
}
