import Foundation
import HTTPTypes
@testable import ParleyAgent
import ParleyCore
@testable import ParleyLegal
import ParleyStorage
import SQLKit
import Testing

/// How well the offline planner reads a labelled set: the intent, and the intent with every key entity.
struct PhrasingScore {
    var total = 0
    var intents = 0
    var entities = 0
    var failures: [String] = []
    var intentAccuracy: Double { total == 0 ? 0 : Double(intents) / Double(total) }
    var entityAccuracy: Double { total == 0 ? 0 : Double(entities) / Double(total) }
    var summary: String {
        String(format: "%d utterances: intent accuracy %.1f%% (%d), intent+entities accuracy %.1f%% (%d)",
               total, intentAccuracy * 100, intents, entityAccuracy * 100, entities)
    }

    static let planner = OfflinePlanner(intents: LegalIntents.all)

    /// The intent the planner acts on ("none" for help, capabilities or nothing) and its entities.
    static func read(_ l: LabelledUtterance) -> (intent: String, entities: [String: String]) {
        guard let (intent, m) = planner.best(for: Utterance(l.text, history: l.history)) else { return ("none", [:]) }
        let name = m.entities["intent"] ?? intent.name
        return (["help", "capabilities", "select_case"].contains(name) ? "none" : name, m.entities)
    }

    static func normal(_ s: String) -> String {
        s.replacingOccurrences(of: "\u{1F}", with: "|").replacingOccurrences(of: "’", with: "'").lowercased()
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func score(_ set: [LabelledUtterance]) -> PhrasingScore {
        var s = PhrasingScore()
        for l in set {
            s.total += 1
            let (intent, entities) = read(l)
            guard intent == l.intent else {
                s.failures.append("\(l) read as \(intent) \(entities.sorted { $0.key < $1.key })")
                continue
            }
            s.intents += 1
            var ok = l.entities.allSatisfy { key, value in entities[key].map(normal) == normal(value) }
            // No name or case the label does not have: words are never echoed back as a name.
            for key in ["client_name", "case_number"] where l.entities[key] == nil && entities[key] != nil { ok = false }
            if ok { s.entities += 1 } else { s.failures.append("\(l) entities \(entities.sorted { $0.key < $1.key })") }
        }
        return s
    }
}

@Suite struct LegalPhrasingTests {
    @Test func theLabelledSetIsLargeAndCoversEveryIntent() {
        let all = LegalTuningUtterances.all + LegalHeldOutUtterances.all
        #expect(all.count >= 200)
        let intents = Set(all.map(\.intent))
        for intent in ["find_case", "missing_documents", "create_case", "update_document", "send_reminder", "draft_reminder", "pending_reminders",
                       "list_cases", "close_case", "upload_link", "none"] {
            #expect(intents.contains(intent), "\(intent)")
            #expect(LegalHeldOutUtterances.all.contains { $0.intent == intent }, "held-out has \(intent)")
        }
        #expect(Set(LegalTuningUtterances.all.map { $0.text + "\($0.history.map(\.text))" })
            .isDisjoint(with: LegalHeldOutUtterances.all.map { $0.text + "\($0.history.map(\.text))" }))
    }

    @Test func tuningSetAccuracy() {
        let s = PhrasingScore.score(LegalTuningUtterances.all)
        print("legal phrasing, tuning: \(s.summary)")
        for f in s.failures { print("  tuning miss: \(f)") }
        #expect(s.intentAccuracy >= 0.97, "\(s.summary)")
        #expect(s.entityAccuracy >= 0.93, "\(s.summary)")
    }

    /// Never tuned on: its misses are not printed, so they cannot be fixed one by one.
    @Test func heldOutSetAccuracy() {
        let s = PhrasingScore.score(LegalHeldOutUtterances.all)
        print("legal phrasing, held-out: \(s.summary)")
        #expect(s.intentAccuracy >= HeldOutFloor.intents, "\(s.summary)")
        #expect(s.entityAccuracy >= HeldOutFloor.entities, "\(s.summary)")
    }

    @Test(arguments: ["how many open cases do we have?", "show me all cases missing documents", "what's the status of the case for Robert",
                      "list open cases", "what cases do we have", "find the case for cases do we have", "close the case", "what time is it in Tokyo"])
    func noWordsOfTheRequestAreTakenAsAName(_ text: String) {
        let (_, entities) = PhrasingScore.read(LabelledUtterance(text, "any"))
        #expect(entities["client_name"] == nil || entities["client_name"] == "Robert", "\(entities)")
    }

    @Test(arguments: [
        ("how many open cases do we have", nil), ("Jane Doe's W2", "Jane Doe"), ("find Smith, John's case", "Smith, John"),
        ("look up josé garcía please", "josé garcía"), ("what's going on with Seán O'Brien's case", "Seán O'Brien"),
        ("Email Jane a reminder about her W2", "Jane"), ("the W2 from Bob Smith is unreadable, reject it", "Bob Smith"),
        ("mark the W2 as received", nil), ("send her a reminder", nil), ("Where are we with Mary-Kate Olsen?", "Mary-Kate Olsen"),
    ] as [(String, String?)])
    func namesAreMadeOfNameWordsOnly(_ text: String, _ expected: String?) {
        #expect(LegalLanguage.name(in: text) == expected)
    }
}

/// The held-out floor: set once from the first honest measurement, a little under it, never raised
/// by tuning on the held-out set.
enum HeldOutFloor {
    // First measurement, before any look at its misses: 90 of 92 (97.8%) for both.
    static let intents = 0.95
    static let entities = 0.95
}

/// The issue's phrasings, end to end: the agent with the offline planner over `parley seed legal`'s firm.
@Suite struct LegalPhrasingAgentTests {
    static func demoFirm(_ store: any Store, clock: TestClock, tenantID: String) async throws {
        _ = try await LegalDemo.seed(store: store, clock: clock, tenantID: tenantID, count: 300)
    }

    static func count(_ store: any Store, tenantID: String, outstandingOnly: Bool) async throws -> Int {
        try await store.read { db in
            var sql: SQLQueryString = "SELECT COUNT(*) AS n FROM cases c WHERE c.tenant_id = \(bind: tenantID) AND c.status = 'OPEN'"
            if outstandingOnly {
                sql += " AND EXISTS (SELECT 1 FROM requested_documents d WHERE d.case_id = c.id AND d.status IN ('requested', 'rejected'))"
            }
            return try await db.raw(sql).first()?.decode(column: "n", as: Int.self) ?? -1
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theIssuesPhrasingsWorkOnTheDemoFirm(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            try await Self.demoFirm(store, clock: clock, tenantID: seeded.tenant.id)
            func answer(_ text: String, session: String? = nil, status: HTTPResponse.Status = .ok) async throws -> String {
                try await client.ask(key, text, session: session, status: status)["final_response"]?.stringValue ?? ""
            }
            let capabilities = "I can only handle these requests"

            let open = try await Self.count(store, tenantID: seeded.tenant.id, outstandingOnly: false)
            let howMany = try await answer("how many open cases do we have?")
            #expect(howMany.hasPrefix("You have \(open) open cases."), "\(howMany)")
            #expect(!howMany.contains("I found no open case for"))

            let missing = try await Self.count(store, tenantID: seeded.tenant.id, outstandingOnly: true)
            let missingAnswer = try await answer("show me all cases missing documents")
            #expect(missingAnswer.hasPrefix("You have \(missing) open cases still missing documents."), "\(missingAnswer)")
            #expect(missingAnswer.contains("outstanding)"))

            // Several Roberts: the agent asks, and the answer continues the question.
            let session = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let status = try await answer("what's the status of the case for Robert", session: session)
            #expect(!status.contains(capabilities) && status.contains("Which one do you mean?") && status.contains("#DEMO-00001 Robert Smith"), "\(status)")
            let robert = try await answer("Robert Smith", session: session)
            #expect(robert.hasPrefix("Case #DEMO-00001 Robert Smith"), "\(robert)")

            // Jane Doe's Photo ID, whatever the demo firm says of it, becomes received.
            let marked = try await answer("mark Jane Doe's Photo ID as received")
            let jane = try await client.postJSON(key, "/v1/cases/search", ["client_name": "Jane Doe"])["cases"]?[0]
            let janeID = try #require(jane?["case_id"]?.stringValue)
            let detail = try await client.getJSON(key, "/v1/cases/\(janeID)")
            // The demo firm still waits for Jane Doe's (#DEMO-00002) Photo ID only; her lease agreement is in.
            let photo = detail["requested_documents"]?.arrayValue?.first { $0["document_name"] == "Photo ID" }
            #expect(marked == "Marked Photo ID as received on case #DEMO-00002 (Jane Doe). Nothing else is outstanding.", "\(marked)")
            #expect(photo?["status"] == "received")
            let rejected = try await answer("reject Jane Doe's Photo ID: the scan is cut off")
            #expect(rejected.contains("Marked Photo ID as rejected") && rejected.contains("Noted: \"the scan is cut off\""), "\(rejected)")
            let notes = try await client.getJSON(key, "/v1/cases/\(janeID)")["requested_documents"]?.arrayValue?.first { $0["document_name"] == "Photo ID" }
            #expect(notes?["notes"] == "the scan is cut off" && notes?["status"] == "rejected")
            // A draft is shown, not sent; "send it" sends that draft's type, for approval.
            let s3 = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            _ = try await client.createCase(key, "Tomás Ruiz", email: "tomas@example.com", documents: ["W2", "Pay stubs"])
            let draft = try await answer("draft an urgent reminder for Tomás Ruiz", session: s3)
            #expect(draft.hasPrefix("Draft of the urgent reminder for case #") && draft.contains("To: tomas@example.com")
                    && draft.contains("Subject: URGENT: documents overdue") && draft.contains("- Pay stubs"), "\(draft)")
            let sendIt = try await client.ask(key, "ok send it", session: s3, status: .accepted)
            #expect(sendIt["approvals"]?[0]?["input"]?["email_type"] == "urgent_reminder" && sendIt["approvals"]?[0]?["input"]?["recipient_email"] == "tomas@example.com")

            // An unknown document is asked about, and the answer continues the change.
            let s2 = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let unknown = try await answer("mark Jane Doe's divorce decree as received", session: s2)
            #expect(unknown.contains("has no document called \"divorce decree\"; it requests: Photo ID, Lease agreement. Which document do you mean?"), "\(unknown)")
            let picked = try await answer("the photo id", session: s2)
            #expect(picked.hasPrefix("Marked Photo ID as received on case #DEMO-00002 (Jane Doe)."), "\(picked)")

            // Closing asks for approval, then closes.
            _ = try await client.createCase(key, "Maria Garcia", email: "maria@example.com", documents: ["W2"])
            let close = try await client.ask(key, "close the case for Maria Garcia", status: .accepted)
            let approval = try #require(close["approvals"]?[0])
            #expect(approval["tool"] == "close_case")
            let workflow = try #require(close["workflow_id"]?.stringValue)
            _ = try await client.postJSON(key, "/v1/workflows/\(workflow)/approvals/\(approval["approval_id"]?.stringValue ?? "")", ["decision": "approve"])
            let events = try await client.finish(key, workflow: workflow)
            let closed = events.last?.data["final_response"]?.stringValue ?? ""
            #expect(closed.hasPrefix("Closed case #") && closed.contains("(Maria Garcia)"), "\(closed)")
            let maria = try await client.postJSON(key, "/v1/cases/search", ["client_name": "Maria Garcia", "status": "CLOSED"])
            #expect(maria["cases"]?[0]?["status"] == "CLOSED", "\(maria)")

            // No name: a question, never the words of the request.
            let noName = try await answer("find the case for cases do we have")
            #expect(noName.contains(LegalIntents.askForClient) && !noName.contains("cases do we have"), "\(noName)")
        }
    }

    /// "Email Jane a reminder about her W2" → which Jane? → "Jane Doe" → the reminder, for approval.
    @Test(arguments: TestEnv.kinds)
    func theRequestContinuesAfterWhichClient(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            try await Self.demoFirm(store, clock: clock, tenantID: seeded.tenant.id)
            _ = try await client.createCase(key, "Jane Okafor", email: "jane.okafor@example.com", documents: ["W2"])
            let session = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let question = try await client.ask(key, "Email Jane a reminder about her W2", session: session)["final_response"]?.stringValue ?? ""
            #expect(question.contains("Which one do you mean?") && question.contains("Jane Doe") && question.contains("Jane Okafor"), "\(question)")

            let jane = try await client.postJSON(key, "/v1/cases/search", ["client_name": "Jane Doe"])["cases"]?[0]
            #expect(jane?["outstanding_documents"]?.intValue == 1)
            let reply = try await client.ask(key, "Jane Doe", session: session, status: .accepted)
            #expect(reply["status"] == "WAITING_APPROVAL")
            let approval = try #require(reply["approvals"]?[0])
            #expect(approval["tool"] == "send_email" && approval["input"]?["case_id"] == jane?["case_id"])
            let workflow = try #require(reply["workflow_id"]?.stringValue)
            _ = try await client.postJSON(key, "/v1/workflows/\(workflow)/approvals/\(approval["approval_id"]?.stringValue ?? "")", ["decision": "approve"])
            let final = try await client.finish(key, workflow: workflow).last?.data["final_response"]?.stringValue ?? ""
            #expect(final.contains("to Jane Doe at jane.doe@example.com for case #DEMO-00002"), "\(final)")

            // A missing name is asked for, and the answer continues the request.
            let s2 = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let ask = try await client.ask(key, "how many documents is she missing?", session: s2)["final_response"]?.stringValue ?? ""
            #expect(ask.contains(LegalIntents.askForClient), "\(ask)")
            let told = try await client.ask(key, "Jane Okafor", session: s2)["final_response"]?.stringValue ?? ""
            #expect(told.contains("Jane Okafor") && told.contains("still has to provide 1 document"), "\(told)")
        }
    }

    /// Inside quiet hours the reminder is queued until they end, and the agent says so.
    @Test(arguments: TestEnv.kinds)
    func aReminderHeldByQuietHoursIsNotCalledSent(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            // 08:00 UTC on a January day is 02:00 in Chicago: inside the firm's quiet hours (21:00–08:00).
            try await store.transaction { db in
                try await db.raw("UPDATE tenants SET time_zone = 'America/Chicago' WHERE id = \(bind: seeded.tenant.id)").run()
            }
            _ = try await client.createCase(key, "Maria Garcia", email: "maria@example.com", documents: ["W2"])
            let paused = try await client.ask(key, "send Maria Garcia a reminder", status: .accepted)
            let approval = try #require(paused["approvals"]?[0])
            let workflow = try #require(paused["workflow_id"]?.stringValue)
            _ = try await client.postJSON(key, "/v1/workflows/\(workflow)/approvals/\(approval["approval_id"]?.stringValue ?? "")", ["decision": "approve"])
            let events = try await client.finish(key, workflow: workflow)
            let final = events.last?.data["final_response"]?.stringValue ?? ""
            #expect(final.hasPrefix("Queued, not sent yet") && final.contains("goes out at 08:00 the firm's time (America/Chicago), outside quiet hours"), "\(final)")
            #expect(!final.contains("Sent "))
            let output = try #require(events.first { $0.event == "tool_end" && $0.data["tool"] == "send_email" }?.data["output"])
            let result = try JSONValue.parse(output.stringValue ?? output.serialized())
            #expect(result["status"] == "held_for_quiet_hours" && result["scheduled_local_time"] == "08:00" && result["time_zone"] == "America/Chicago")
            #expect(result["scheduled_for"]?.stringValue?.hasPrefix("2027-01-15T14:00:00") == true, "\(result)")
        }
    }
}

/// The tools the planner gained: counts per tenant and filter, a close that checks the case it was
/// shown, an upload link only for roles that may act.
@Suite struct LegalCaseToolTests {
    @Test(arguments: TestEnv.kinds)
    func listCloseAndUploadLinkTools(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let env = LegalEnvironment(keyring: .random(), publicBaseURL: "https://parley.example")
            let service = CaseService(store: store, clock: clock, environment: env)
            func context(_ tenantID: String, _ role: Role) -> ToolContext {
                ToolContext(action: ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: role, actor: "test"), requestID: nil),
                            workflowID: "wf", store: store, clock: clock, services: ToolServices([env]))
            }
            let ctx = context(seeded.tenant.id, .admin)
            let ann = try await service.create(ctx.action, try CaseInput.newCase(["client_name": "Ann Lee", "client_email": "ann@example.com", "requested_documents": "W2"]))
            let bo = try await service.create(ctx.action, try CaseInput.newCase(["client_name": "Bo Chan", "client_email": "bo@example.com", "requested_documents": "Photo ID"]))
            _ = try await service.updateDocument(ctx.action, id: try #require(bo.documents.first?.id), .init(status: .accepted))

            #expect(try await LegalPack.listCases.handler(["status": "OPEN"], ctx)["total"]?.intValue == 2)
            let missing = try await LegalPack.listCases.handler(["missing_documents": true], ctx)
            #expect(missing["total"]?.intValue == 1 && missing["cases"]?[0]?["client_name"] == "Ann Lee")
            #expect(missing["cases"]?[0]?["outstanding_documents"]?.intValue == 1)
            await #expect(throws: ParleyError.self) { try await service.overview(ctx.action.principal, status: nil, outstandingOnly: false, limit: 0) }
            let other = try await Seeded.make(store, clock: clock, slug: "other")
            #expect(try await LegalPack.listCases.handler(["status": "ANY"], context(other.tenant.id, .admin))["total"]?.intValue == 0)

            // A case id that is not the number the agent showed closes nothing.
            await #expect(throws: ToolError.self) {
                try await LegalPack.closeCase.handler(["case_id": .string(ann.legalCase.id), "case_number": .string(bo.legalCase.caseNumber)], ctx)
            }
            #expect(try await service.get(ctx.action.principal, id: ann.legalCase.id).legalCase.status == .open)
            let closed = try await LegalPack.closeCase.handler(["case_id": .string(ann.legalCase.id), "case_number": .string(ann.legalCase.caseNumber)], ctx)
            #expect(closed["status"] == "CLOSED")
            #expect(try await LegalPack.listCases.handler(["status": "CLOSED"], ctx)["total"]?.intValue == 1)
            await #expect(throws: ParleyError.self) { try await LegalPack.closeCase.handler(["case_id": .string(ann.legalCase.id)], context(other.tenant.id, .admin)) }

            let link = try await LegalPack.uploadLink.handler(["case_id": .string(bo.legalCase.id)], ctx)
            #expect(link["url"]?.stringValue?.hasPrefix("https://parley.example/upload/") == true && link["case_number"]?.stringValue == bo.legalCase.caseNumber)
            await #expect(throws: ParleyError.self) { try await LegalPack.uploadLink.handler(["case_id": .string(bo.legalCase.id)], context(seeded.tenant.id, .viewer)) }
        }
    }
}
