import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyLegal
import ParleyServer
import ParleyStorage
import Testing

/// Legal pack helpers: a case through the API, delivery of queued email, a finished run's events.
extension TestClientProtocol {
    func createCase(_ key: String, _ name: String, email: String, documents: JSONValue = ["W2", "1099"], phone: String? = nil) async throws -> JSONValue {
        var body: [String: JSONValue] = ["client_name": .string(name), "client_email": .string(email), "requested_documents": documents]
        if let phone { body["client_phone"] = .string(phone) }
        return try await postJSON(key, "/v1/cases", .object(body), status: .created)
    }

    func send(_ method: HTTPRequest.Method, _ key: String, _ uri: String, _ body: JSONValue, status: HTTPResponse.Status) async throws -> JSONValue {
        try await execute(uri: uri, method: method, headers: auth(key, json: true), body: ByteBuffer(string: body.serialized())) { r in
            #expect(r.status == status, "\(method) \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }

    func errorCode(_ method: HTTPRequest.Method, _ key: String, _ uri: String, _ body: JSONValue, status: HTTPResponse.Status) async throws -> String? {
        try await send(method, key, uri, body, status: status)["error"]?["code"]?.stringValue
    }

    /// Follows a run to its end and returns its events.
    func finish(_ key: String, workflow: String) async throws -> [StreamedEvent] {
        try await execute(uri: "/v1/workflows/\(workflow)/events", method: .get, headers: auth(key)) { parseSSE(String(buffer: $0.body)) }
    }

    /// Delivers what is queued (racing the application's own worker is fine: a job is sent once)
    /// and returns the outbox once it holds `count` entries.
    func outbox(_ key: String, count: Int, store: any Store, clock: TestClock) async throws -> [JSONValue] {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: WorkerSettings(), logger: logger)
        var entries: [JSONValue] = []
        for _ in 0..<300 {
            _ = try await worker.runDueJobs()
            entries = try await getJSON(key, "/v1/outbox")["data"]?.arrayValue ?? []
            if entries.count >= count { return entries }
            try await Task.sleep(for: .milliseconds(10))  // the app's worker holds the job: let it finish
        }
        return entries
    }
}

@Suite struct LegalAPITests {
    @Test(arguments: TestEnv.kinds)
    func creatingACaseValidatesAndNormalisesItsDocuments(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            let base: [String: JSONValue] = ["client_name": "Maria Garcia", "client_email": "maria@example.com"]
            func body(_ extra: [String: JSONValue]) -> JSONValue { .object(base.merging(extra) { $1 }) }
            #expect(try await client.errorCode(.post, key, "/v1/cases", body([:]), status: .badRequest) == "documents_required")
            #expect(try await client.errorCode(.post, key, "/v1/cases", body(["requested_documents": []]), status: .badRequest) == "documents_required")
            #expect(try await client.errorCode(.post, key, "/v1/cases", body(["requested_documents": " , ,"]), status: .badRequest) == "documents_required")
            #expect(try await client.errorCode(.post, key, "/v1/cases", body(["requested_documents": "W2", "client_name": "   "]), status: .badRequest) == "invalid_client_name")
            #expect(try await client.errorCode(.post, key, "/v1/cases", body(["requested_documents": "W2", "client_email": "not-an-email"]), status: .badRequest) == "invalid_email")
            #expect(try await client.errorCode(.post, key, "/v1/cases", body(["requested_documents": [42]]), status: .badRequest) == "invalid_documents")
            #expect(try await client.errorCode(.post, key, "/v1/cases", ["x"], status: .badRequest) == "invalid_json")
            #expect(try await client.getJSON(key, "/v1/cases")["data"]?.arrayValue?.isEmpty == true)

            let fromString = try await client.postJSON(key, "/v1/cases", body(["documents_requested": "W2, 2023 tax return and w2; Bank statements"]), status: .created)
            #expect(fromString["requested_documents"]?.arrayValue?.compactMap { $0["document_name"]?.stringValue } == ["W2", "2023 tax return", "Bank statements"])
            #expect(fromString["requested_documents"]?[0]?["status"] == "requested" && fromString["requested_documents"]?[0]?["is_completed"] == false)
            let fromObjects = try await client.postJSON(key, "/v1/cases", body(["requested_documents": [
                ["document_name": "W2", "description": "Required document: W2"], ["document_name": " Tax  Return "], "tax return",
            ]]), status: .created)
            #expect(fromObjects["requested_documents"]?.arrayValue?.compactMap { $0["document_name"]?.stringValue } == ["W2", "Tax Return"])
            #expect(fromObjects["case_number"] != fromString["case_number"] && fromObjects["status"] == "OPEN")
            #expect(fromObjects["communications"] == [] && fromObjects["uploads"] == [])
            let listed = try await client.getJSON(key, "/v1/cases?status=OPEN&limit=1")
            #expect(listed["data"]?.arrayValue?.count == 1 && listed["data"]?[0]?["outstanding_documents"] == 2)
            let next = try #require(listed["next_cursor"]?.stringValue)
            let page2 = try await client.getJSON(key, "/v1/cases?status=OPEN&limit=1&before=\(next)")
            #expect(page2["data"]?[0]?["case_id"] == fromString["case_id"] && page2["next_cursor"] == .null)
            _ = try await client.getJSON(key, "/v1/cases?status=SLEEPING", status: .badRequest)
            _ = try await client.getJSON(key, "/v1/cases?before=nope", status: .badRequest)
            #expect(try await client.getJSON(key, "/v1/audit-log?action=case.create")["data"]?.arrayValue?.count == 2)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func fuzzySearchFindsClientsDespiteTyposNicknamesOrderAndAccents(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            let robert = try await client.createCase(key, "Robert Smith", email: "robert@example.com")
            _ = try await client.createCase(key, "José Álvarez", email: "jose@example.com")
            let jane1 = try await client.createCase(key, "Jane Doe", email: "jane.doe@example.com", phone: "+1 555-111-2222")
            let jane2 = try await client.createCase(key, "Jane Doe", email: "jdoe@example.org", phone: "+1 (555) 333-4444")
            _ = try await client.createCase(key, "Margaret Thompson", email: "mt@example.com")
            func search(_ name: String, _ extra: [String: JSONValue] = [:]) async throws -> JSONValue {
                try await client.postJSON(key, "/v1/cases/search", .object(["client_name": .string(name)].merging(extra) { $1 }))
            }
            for query in ["Robert Smith", "Bob Smith", "Bob Smyth", "Smith, Robert", "robert smtih", "ROBERT SMITH"] {
                let found = try await search(query)
                #expect(found["cases"]?[0]?["case_id"] == robert["case_id"], "\(query): \(found)")
                #expect((found["cases"]?[0]?["match_score"]?.doubleValue ?? 0) > 0.6)
            }
            #expect(try await search("Jose Alvarez")["cases"]?[0]?["client_name"] == "José Álvarez")
            // Two clients with the same name: both come back, with what tells them apart.
            let janes = try await search("Jane Doe")
            #expect(Set(janes["cases"]?.arrayValue?.prefix(2).compactMap { $0["case_id"]?.stringValue } ?? []) ==
                    Set([jane1["case_id"]?.stringValue, jane2["case_id"]?.stringValue].compactMap { $0 }))
            #expect(janes["cases"]?[0]?["client_email"] != janes["cases"]?[1]?["client_email"])
            // Threshold and limit are honoured; exact mode needs every word.
            #expect(try await search("Jane Doe", ["limit": 1])["cases"]?.arrayValue?.count == 1)
            #expect(try await search("Jane Doe", ["limit": 1])["total_found"] == 2)
            #expect(try await search("Bob Smyth", ["fuzzy_threshold": 1])["cases"] == [])
            #expect(try await search("Bob Smyth", ["use_fuzzy_matching": false])["cases"] == [])
            #expect(try await search("smith robert", ["use_fuzzy_matching": false])["cases"]?[0]?["case_id"] == robert["case_id"])
            #expect(try await search("Zebediah Quux")["cases"] == [])
            // Closed cases only when asked for.
            _ = try await client.postJSON(key, "/v1/cases/\(robert["case_id"]?.stringValue ?? "")/close", [:])
            #expect(try await search("Robert Smith")["cases"] == [])
            #expect(try await search("Robert Smith", ["status": "CLOSED"])["cases"]?[0]?["status"] == "CLOSED")
            #expect(try await search("Robert Smith", ["status": "ALL"])["cases"]?.arrayValue?.count == 1)
            // Bad input: 400 with a code, never a crash.
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": "  "], status: .badRequest) == "invalid_client_name")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", [:], status: .badRequest) == "invalid_client_name")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": "x", "fuzzy_threshold": 1.5], status: .badRequest) == "invalid_threshold")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": "x", "fuzzy_threshold": -0.1], status: .badRequest) == "invalid_threshold")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": "x", "limit": 1_000_000_000], status: .badRequest) == "invalid_limit")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": "x", "limit": 0], status: .badRequest) == "invalid_limit")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": "x", "status": "NOPE"], status: .badRequest) == "invalid_status")
            #expect(try await client.errorCode(.post, key, "/v1/cases/search", ["client_name": .string(String(repeating: "a", count: 5000))], status: .badRequest) == "invalid_client_name")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anotherTenantsCasesAndDocumentsAreNotFound(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            let c = try await client.createCase(seeded.adminKey, "Robert Smith", email: "robert@example.com")
            let caseID = try #require(c["case_id"]?.stringValue)
            let docID = try #require(c["requested_documents"]?[0]?["requested_doc_id"]?.stringValue)
            _ = try await client.getJSON(other.adminKey, "/v1/cases/\(caseID)", status: .notFound)
            #expect(try await client.errorCode(.put, other.adminKey, "/v1/cases/documents/\(docID)", ["status": "accepted"], status: .notFound) == "document_not_found")
            #expect(try await client.errorCode(.patch, other.adminKey, "/v1/cases/\(caseID)", ["client_email": "x@example.com"], status: .notFound) == "case_not_found")
            _ = try await client.postJSON(other.adminKey, "/v1/cases/\(caseID)/close", [:], status: .notFound)
            _ = try await client.postJSON(other.adminKey, "/v1/cases/\(caseID)/upload-link", [:], status: .notFound)
            #expect(try await client.errorCode(.post, other.adminKey, "/v1/send-email", ["case_id": .string(caseID), "recipient_email": "robert@example.com",
                                                                                         "email_type": "initial_reminder", "subject": "s", "body": "b"], status: .notFound) == "case_not_found")
            #expect(try await client.postJSON(other.adminKey, "/v1/cases/search", ["client_name": "Robert Smith"])["cases"] == [])
            _ = try await client.getJSON(seeded.adminKey, "/v1/cases/not-an-id", status: .notFound)
            // The owner can update it: accepted completes it.
            let accepted = try await client.send(.put, seeded.adminKey, "/v1/cases/documents/\(docID)", ["status": "accepted", "notes": "Verified"], status: .ok)
            #expect(accepted["is_completed"] == true && accepted["notes"] == "Verified" && accepted["completed_at"] != .null)
            #expect(try await client.errorCode(.put, seeded.adminKey, "/v1/cases/documents/\(docID)", ["status": "lost"], status: .badRequest) == "invalid_status")
            #expect(try await client.errorCode(.put, seeded.adminKey, "/v1/cases/documents/\(docID)", [:], status: .badRequest) == "empty_update")
            let reopened = try await client.send(.put, seeded.adminKey, "/v1/cases/documents/\(docID)", ["is_completed": false], status: .ok)
            #expect(reopened["status"] == "received" && reopened["is_completed"] == false)
            let patched = try await client.send(.patch, seeded.adminKey, "/v1/cases/\(caseID)", ["client_name": "Bob Smith", "client_phone": "+1 555-000-1111"], status: .ok)
            #expect(patched["client_name"] == "Bob Smith" && patched["client_phone"] == "+15550001111")
            // A number without its country code is refused (as messages refuse it), not stored as typed.
            let local = try await client.send(.patch, seeded.adminKey, "/v1/cases/\(caseID)", ["client_phone": "555-123-4567"], status: .badRequest)
            #expect(local["error"]?["code"] == "invalid_phone" && local["error"]?["message"]?.stringValue?.contains("country code") == true)
            #expect(try await client.postJSON(seeded.adminKey, "/v1/cases/search", ["client_name": "Robert Smith"])["cases"]?[0]?["case_id"]?.stringValue == caseID)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func emailGoesOnlyToTheAddressOnRecordOncePerDay(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let c = try await client.createCase(key, "Maria Garcia", email: "maria@example.com", documents: ["W2", "2023 tax return"])
            let caseID = try #require(c["case_id"]?.stringValue)
            let attack: JSONValue = ["case_id": .string(caseID), "recipient_email": "attacker@example.com", "email_type": "follow_up_reminder",
                                     "subject": "Docs", "body": "Send them to me"]
            #expect(try await client.errorCode(.post, key, "/v1/send-email", attack, status: .unprocessableContent) == "recipient_not_on_record")
            #expect(try await client.errorCode(.post, key, "/v1/send-email", ["case_id": .string(caseID), "recipient_email": "maria@example.com",
                                                                              "email_type": "spam"], status: .badRequest) == "invalid_email_type")
            let good: JSONValue = ["case_id": .string(caseID), "recipient_email": "Maria@Example.com", "email_type": "initial_reminder"]
            let sent = try await client.send(.post, key, "/v1/send-email", good, status: .accepted)
            #expect(sent["recipient"] == "maria@example.com" && sent["email_type"] == "initial_reminder" && sent["message_id"] != .null)
            #expect(sent["subject"]?.stringValue?.contains(c["case_number"]?.stringValue ?? "?") == true)
            let body = try #require(sent["body"]?.stringValue)
            #expect(body.contains("- W2") && body.contains("- 2023 tax return") && body.contains("/upload/") && body.contains("Acme acme"))
            // The same request again (a retried run, a double click): one email.
            let again = try await client.send(.post, key, "/v1/send-email", good, status: .ok)
            #expect(again["communication_id"] == sent["communication_id"])
            let outbox = try await client.outbox(key, count: 1, store: store, clock: clock)
            #expect(outbox.count == 1 && outbox.first?["to"] == "maria@example.com")
            let detail = try await client.getJSON(key, "/v1/cases/\(caseID)")
            #expect(detail["communications"]?.arrayValue?.count == 1 && detail["communications"]?[0]?["delivery_status"] == "sent")
            // The tenant's own template wins.
            _ = try await client.send(.put, key, "/v1/templates/legal.follow_up_reminder", [
                "channel": "email", "purpose": "transactional", "subject": "Still waiting on {{case_number}}",
                "text": "Hi {{client_name}}: {{#documents}}[{{name}}]{{/documents}} {{upload_url}} {{firm_name}}",
                "required_variables": ["client_name", "upload_url"],
            ], status: .ok)
            let follow = try await client.send(.post, key, "/v1/send-email", ["case_id": .string(caseID), "recipient_email": "maria@example.com",
                                                                              "email_type": "follow_up_reminder"], status: .accepted)
            #expect(follow["subject"]?.stringValue?.hasPrefix("Still waiting on") == true && follow["body"]?.stringValue?.contains("[W2][2023 tax return]") == true)
            _ = try await client.postJSON(key, "/v1/cases/\(caseID)/close", [:])
            #expect(try await client.errorCode(.post, key, "/v1/send-email", ["case_id": .string(caseID), "recipient_email": "maria@example.com",
                                                                              "email_type": "urgent_reminder"], status: .conflict) == "case_closed")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func uploadLinksAreSignedExpiringAndSingleCase(_ kind: DatabaseKind) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-uploads-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await withAgentServer(kind, env: ["PARLEY_UPLOAD_DIR": dir.path, "PARLEY_UPLOAD_MAX_BYTES": "1kb",
                                              "PARLEY_PUBLIC_URL": "https://parley.example"]) { client, seeded, store, clock in
            let key = seeded.adminKey
            let mine = try await client.createCase(key, "Maria Garcia", email: "maria@example.com", documents: ["W2", "Photo ID"])
            let theirs = try await client.createCase(key, "Bob Smith", email: "bob@example.com", documents: ["1099"])
            let caseID = try #require(mine["case_id"]?.stringValue)
            let w2 = try #require(mine["requested_documents"]?[0]?["requested_doc_id"]?.stringValue)
            let foreignDoc = try #require(theirs["requested_documents"]?[0]?["requested_doc_id"]?.stringValue)
            let link = try await client.postJSON(key, "/v1/cases/\(caseID)/upload-link", [:])
            let url = try #require(link["url"]?.stringValue)
            #expect(url.hasPrefix("https://parley.example/upload/"))
            let path = String(url.dropFirst("https://parley.example".count))
            // The token is opaque: neither it nor its base64 decoding shows the tenant or the case.
            let token = String(path.dropFirst("/upload/".count))
            var padded = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while padded.count % 4 != 0 { padded += "=" }
            let decoded = String(decoding: try #require(Data(base64Encoded: padded)), as: UTF8.self)
            for secret in [caseID, seeded.tenant.id] {
                #expect(!token.contains(secret) && !decoded.contains(secret))
            }
            #expect(try await client.postJSON(key, "/v1/cases/\(caseID)/upload-link", [:])["url"]?.stringValue == url, "the same link all day")

            let page = try await client.execute(uri: path, method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
                return String(buffer: r.body)
            }
            #expect(page.contains("\"W2\"") && page.contains("Photo ID") && !page.contains("src=\"http"))

            func put(_ uri: String, name: String?, _ bytes: [UInt8]) async throws -> (HTTPResponse.Status, JSONValue) {
                var headers: HTTPFields = [.contentType: "application/pdf"]
                if let name { headers[HTTPField.Name("X-File-Name")!] = name }
                return try await client.execute(uri: uri, method: .put, headers: headers, body: ByteBuffer(bytes: bytes)) { r in
                    (r.status, (try? JSONValue.parse(String(buffer: r.body))) ?? .null)
                }
            }
            let pdf = Array("%PDF-1.7\n1 0 obj\n".utf8)
            // Another case's document through this link, a tampered link, bad files.
            #expect(try await put("\(path)/documents/\(foreignDoc)", name: "w2.pdf", pdf).0 == .notFound)
            var tampered = Array(path)
            tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
            let bad = try await put("\(String(tampered))/documents/\(w2)", name: "w2.pdf", pdf)
            #expect(bad.0 == .forbidden && bad.1["error"]?["code"] == "upload_link_invalid")
            _ = try await client.execute(uri: "/upload/garbage", method: .get) { #expect($0.status == .forbidden) }
            let big = try await put("\(path)/documents/\(w2)", name: "w2.pdf", pdf + Array(repeating: 0x20, count: 2000))
            #expect(big.0 == .contentTooLarge)
            let exe = try await put("\(path)/documents/\(w2)", name: "w2.exe", [0x4D, 0x5A, 0x90, 0x00])
            #expect(exe.0 == .unsupportedMediaType && exe.1["error"]?["code"] == "file_type_not_allowed")
            let fakePDF = try await put("\(path)/documents/\(w2)", name: "w2.pdf", [0x4D, 0x5A, 0x90, 0x00])
            #expect(fakePDF.0 == .unsupportedMediaType)
            #expect(try await put("\(path)/documents/\(w2)", name: nil, pdf).0 == .badRequest)

            let ok = try await put("\(path)/documents/\(w2)", name: "../../etc/w2%20scan.pdf", pdf)
            #expect(ok.0 == .created && ok.1["file_name"] == "w2 scan.pdf" && ok.1["size_bytes"] == .number(Double(pdf.count)))
            #expect(ok.1["sha256"]?.stringValue?.count == 64)
            let detail = try await client.getJSON(key, "/v1/cases/\(caseID)")
            #expect(detail["requested_documents"]?[0]?["status"] == "received")
            #expect(detail["uploads"]?.arrayValue?.count == 1 && detail["uploads"]?[0]?["requested_doc_id"]?.stringValue == w2)
            let stored = try FileManager.default.subpathsOfDirectory(atPath: dir.path).filter { !$0.hasSuffix(".part") }
            #expect(stored.contains { $0.hasPrefix("\(seeded.tenant.id)/\(caseID)/") })

            // Fifteen days later the link has expired.
            clock.advance(by: 15 * 86_400)
            let expired = try await put("\(path)/documents/\(w2)", name: "w2.pdf", pdf)
            #expect(expired.0 == .forbidden && expired.1["error"]?["code"] == "upload_link_expired")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func outstandingDocumentsAreChasedOnTheFirmsCadence(_ kind: DatabaseKind) async throws {
        // The test ticks its own scheduler and runs its own worker: the server's (which tick on
        // real time) would race it for the same occurrence.
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, store, clock in
            let key = seeded.adminKey
            let c = try await client.createCase(key, "Maria Garcia", email: "maria@example.com", documents: ["W2", "1099"])
            let caseID = try #require(c["case_id"]?.stringValue)
            let done = try await client.createCase(key, "Bob Smith", email: "bob@example.com", documents: ["W2"])
            _ = try await client.send(.put, key, "/v1/cases/documents/\(done["requested_documents"]?[0]?["requested_doc_id"]?.stringValue ?? "")",
                                      ["status": "accepted"], status: .ok)
            // Never contacted: an initial reminder is due; the complete case needs nothing.
            let pending = try await client.getJSON(key, "/v1/cases/pending-reminders")
            #expect(pending["cases"]?.arrayValue?.count == 1 && pending["cases"]?[0]?["suggested_email_type"] == "initial_reminder")
            _ = try await client.send(.post, key, "/v1/send-email", ["case_id": .string(caseID), "recipient_email": "maria@example.com",
                                                                     "email_type": "initial_reminder"], status: .accepted)
            #expect(try await client.getJSON(key, "/v1/cases/pending-reminders")["cases"] == [])
            // The literal route is GET only; `/v1/cases/{case_id}`'s PATCH is not offered here.
            try await client.execute(uri: "/v1/cases/pending-reminders", method: .patch, headers: auth(key)) { r in
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "GET")
            }

            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let runtime = LegalRuntime(store: store, clock: clock, environment: LegalEnvironment(keyring: .random(), publicBaseURL: "http://localhost"))
            let scheduler = Scheduler(store: store, clock: clock, definitions: [LegalReminders.definition(runtime)], logger: logger)
            #expect(try await scheduler.ensureDefaultTasks([LegalReminders.definition(runtime)]) >= 1)
            func types() async throws -> [String] {
                try await client.getJSON(key, "/v1/cases/\(caseID)")["communications"]?.arrayValue?.compactMap { $0["email_type"]?.stringValue } ?? []
            }
            clock.advance(by: 2 * 86_400 + 60)
            _ = try await scheduler.tick()
            #expect(try await types() == ["initial_reminder"])
            clock.advance(by: 2 * 86_400)  // four days without progress
            _ = try await scheduler.tick()
            #expect(try await types() == ["initial_reminder", "follow_up_reminder"])
            _ = try await scheduler.tick()  // same day again: nothing more
            #expect(try await types().count == 2)
            clock.advance(by: 4 * 86_400)  // eight days, last reminder four days ago
            _ = try await scheduler.tick()
            #expect(try await types() == ["initial_reminder", "follow_up_reminder", "urgent_reminder"])
            let outbox = try await client.outbox(key, count: 3, store: store, clock: clock)
            #expect(outbox.count == 3 && outbox.allSatisfy { $0["to"] == "maria@example.com" })
            #expect(outbox.contains { $0["content"]?.stringValue?.contains("URGENT: documents overdue") == true })
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theDemoFirmLoadsOnce(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let first = try await LegalDemo.seed(store: store, clock: clock, tenantID: seeded.tenant.id, count: 120)
            #expect(first.inserted == 120 && first.existing == 0)
            let again = try await LegalDemo.seed(store: store, clock: clock, tenantID: seeded.tenant.id, count: 120)
            #expect(again.inserted == 0 && again.existing == 120)
            let service = CaseService(store: store, clock: clock, environment: LegalEnvironment(keyring: .random(), publicBaseURL: "http://x"))
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let name = try #require(try await service.list(principal, status: nil, before: nil, limit: 1).cases.first?.legalCase.clientName)
            #expect(try await service.search(principal, CaseSearch(clientName: name, status: nil)).cases.contains { $0.legalCase.clientName == name })
            #expect(try await service.pendingReminders(principal).count > 0)
        }
    }
}

@Suite struct LegalAgentTests {
    /// The conversations of issue 5 with the offline planner, end to end.
    @Test(arguments: TestEnv.kinds)
    func aParalegalsConversationWithTheOfflinePlanner(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            let session = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            func say(_ text: String, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
                try await client.ask(key, text, session: session, status: status)
            }
            let created = try await say("Create a case for Maria Garcia, maria@example.com, +1 555-123-4567, needs W2 and 2023 tax return")
            let answer = try #require(created["final_response"]?.stringValue)
            #expect(answer.hasPrefix("Created case #") && answer.contains("W2, 2023 tax return"), "\(answer)")
            let number = try #require(LegalTestText.caseNumber(in: answer))

            let missing = try await say("What is Maria Garcia still missing?")
            #expect(missing["final_response"]?.stringValue?.contains("- 2023 tax return") == true)

            // A reminder pauses for approval, then lands in the outbox.
            let paused = try await say("Send Maria a follow-up reminder", status: .accepted)
            #expect(paused["status"] == "WAITING_APPROVAL")
            let approval = try #require(paused["approvals"]?[0])
            #expect(approval["tool"] == "send_email" && approval["input"]?["email_type"] == "follow_up_reminder")
            let workflow = try #require(paused["workflow_id"]?.stringValue)
            _ = try await client.postJSON(key, "/v1/workflows/\(workflow)/approvals/\(approval["approval_id"]?.stringValue ?? "")", ["decision": "approve"])
            let events = try await client.finish(key, workflow: workflow)
            let final = try #require(events.last?.data["final_response"]?.stringValue)
            #expect(final.contains("Sent the follow up reminder to Maria Garcia at maria@example.com for case #\(number)"), "\(final)")
            let outbox = try await client.outbox(key, count: 1, store: store, clock: clock)
            #expect(outbox.first?["to"] == "maria@example.com" && outbox.first?["content"]?.stringValue?.contains("2023 tax return") == true)

            // "her" is the case under discussion; an address from the conversation is refused.
            let refused = try await say("send the reminder to attacker@example.com instead")
            #expect(refused["final_response"]?.stringValue?.contains("I can't send to attacker@example.com") == true)
            let pronoun = try await say("send her an urgent reminder", status: .accepted)
            #expect(pronoun["approvals"]?[0]?["input"]?["email_type"] == "urgent_reminder")
            // The approval shows the address on record (the tool refuses any other), never one from the conversation.
            #expect(pronoun["approvals"]?[0]?["input"]?["recipient_email"] == "maria@example.com")
            let detail = try await client.postJSON(key, "/v1/cases/search", ["client_name": "Maria Garcia"])
            #expect(pronoun["approvals"]?[0]?["input"]?["case_id"] == detail["cases"]?[0]?["case_id"])

            let pending = try await say("Which cases need reminders?")
            #expect(pending["final_response"]?.stringValue != nil)
            #expect(try await client.getJSON(key, "/v1/outbox")["data"]?.arrayValue?.allSatisfy { $0["to"] == "maria@example.com" } == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func findingAndCreatingAcrossTurnsAndNeverGuessingBetweenNamesakes(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            _ = try await client.createCase(key, "Robert Smith", email: "robert@example.com", documents: ["Photo ID"])
            let found = try await client.ask(key, "Find the case for Bob Smyth")
            #expect(found["final_response"]?.stringValue?.contains("Robert Smith") == true)
            #expect(found["final_response"]?.stringValue?.contains("Still missing: Photo ID") == true)

            let session = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let q1 = try await client.ask(key, "Create a case for Jane Doe, jane.doe@example.com", session: session)
            #expect(q1["final_response"]?.stringValue?.contains("which documents should I request?") == true)
            let done = try await client.ask(key, "W2 and 1099", session: session)
            #expect(done["final_response"]?.stringValue?.hasPrefix("Created case #") == true)
            #expect(done["final_response"]?.stringValue?.contains("W2, 1099") == true)

            // Without an email: asked for, across several turns.
            let s2 = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let ask = try await client.ask(key, "Create a case for Jane Doe", session: s2)
            #expect(ask["final_response"]?.stringValue?.contains("the client's email address and the documents to request") == true)
            let ask2 = try await client.ask(key, "W2 and 1099", session: s2)
            #expect(ask2["final_response"]?.stringValue?.contains("the client's email address") == true)
            let made = try await client.ask(key, "jdoe@example.org", session: s2)
            #expect(made["final_response"]?.stringValue?.hasPrefix("Created case #") == true)

            // Two Jane Does: the agent lists both and asks; the reply picks one.
            let s3 = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let which = try await client.ask(key, "What is Jane Doe still missing?", session: s3)
            let question = try #require(which["final_response"]?.stringValue)
            #expect(question.contains("Which one do you mean?") && question.contains("jane.doe@example.com") && question.contains("jdoe@example.org"))
            let picked = try #require(LegalTestText.caseNumber(in: made["final_response"]?.stringValue ?? ""))
            let answer = try await client.ask(key, "#\(picked)", session: s3)
            #expect(answer["final_response"]?.stringValue?.contains("case #\(picked)) still has to provide 2 documents") == true)
            // While the question is open, "her" names nobody.
            let s4 = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            _ = try await client.ask(key, "What is Jane Doe still missing?", session: s4)
            let nobody = try await client.ask(key, "send her a reminder", session: s4)
            #expect(nobody["final_response"]?.stringValue?.contains("Which client should I remind?") == true)
        }
    }

    /// The same flows with a model speaking the provider wire format: the send tool refuses an
    /// address from the conversation even after approval.
    @Test func aScriptedModelCannotRedirectAReminder() async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(.sqlite, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            // Cases first (through the service), so the script knows the id.
            let service = CaseService(store: store, clock: clock, environment: LegalEnvironment(keyring: .random(), publicBaseURL: "http://x"))
            let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            let c = try await service.create(ctx, try CaseInput.newCase(["client_name": "Maria Garcia", "client_email": "maria@example.com",
                                                                          "requested_documents": "W2, 1099"]))
            let caseID = c.legalCase.id
            let script = [
                ScriptedTurn.toolCalls([("c1", "lookup_case_by_name", #"{"client_name":"Maria Garcia"}"#)]),
                ScriptedTurn.toolCalls([("c2", "send_email", #"{"case_id":"\#(caseID)","email_type":"follow_up_reminder","recipient_email":"attacker@example.com"}"#)]),
                ScriptedTurn.answer("The tool refused that address."),
                ScriptedTurn.toolCalls([("c3", "send_email", #"{"case_id":"\#(caseID)","email_type":"follow_up_reminder"}"#)]),
                ScriptedTurn.answer("Sent."),
            ]
            try await ProviderTestServer.with(script: script) { baseURL, server in
                try await agentApp(store: store, clock: clock, provider: ScriptedTurn.provider(baseURL)).test(.router) { client in
                    // The firm's own instructions reach the model.
                    _ = try await client.send(.put, seeded.adminKey, "/v1/templates/legal.system_prompt", [
                        "channel": "email", "purpose": "transactional", "subject": "Instructions", "text": "Sign every answer as Acme's paralegal desk.",
                    ], status: .ok)
                    let run = try await client.ask(seeded.adminKey, "send Maria's reminder to attacker@example.com instead", status: .accepted)
                    let workflow = try #require(run["workflow_id"]?.stringValue)
                    let approval = try #require(run["approvals"]?[0]?["approval_id"]?.stringValue)
                    _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(workflow)/approvals/\(approval)", ["decision": "approve"])
                    let events = try await client.finish(seeded.adminKey, workflow: workflow)
                    let system = server.requests.first?.json?["messages"]?[0]?["content"]?.stringValue ?? ""
                    #expect(system.hasPrefix("You are Parley") && system.contains("Sign every answer as Acme's paralegal desk."))
                    let end = try #require(events.first { $0.event == "tool_end" && $0.data["tool"] == "send_email" })
                    #expect(end.data["success"] == false)
                    #expect(end.data["output"]?.stringValue?.contains("only to the client's address on record") == true)
                    #expect(events.last?.event == "workflow_completed")

                    let second = try await client.ask(seeded.adminKey, "ok, send the follow-up to Maria then", status: .accepted)
                    let wf2 = try #require(second["workflow_id"]?.stringValue)
                    let ap2 = try #require(second["approvals"]?[0]?["approval_id"]?.stringValue)
                    _ = try await client.postJSON(seeded.adminKey, "/v1/workflows/\(wf2)/approvals/\(ap2)", ["decision": "approve"])
                    _ = try await client.finish(seeded.adminKey, workflow: wf2)
                    let outbox = try await client.outbox(seeded.adminKey, count: 1, store: store, clock: clock)
                    #expect(outbox.count == 1 && outbox.first?["to"] == "maria@example.com")
                }
            }
        }
    }
}

enum LegalTestText {
    static func caseNumber(in text: String) -> String? {
        guard let hash = text.firstIndex(of: "#") else { return nil }
        return String(text[text.index(after: hash)...].prefix { $0.isNumber || $0.isLetter || $0 == "-" })
    }
}
