import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyServer
import ParleyStorage
import SQLKit
import Testing

/// Templates fixed for these tests: an SMS reminder and an email with an HTML part.
enum PersonalizationFixtures {
    static let smsTemplate: JSONValue = [
        "channel": "sms", "purpose": "transactional",
        "text": "Hi {{first_name}}, your {{service}} appointment at Smith Garage is on {{appointment_date}} at {{appointment_time}}. Reply C to confirm.",
        "required_variables": ["first_name", "appointment_date", "appointment_time"],
        "personalize": true, "personalization_prompt": "Warm and brief; say we look forward to seeing them.",
    ]
    static let smsVariables: JSONValue = ["first_name": "Ada", "service": "oil change", "appointment_date": "Tuesday 3 March", "appointment_time": "10:30"]
    static let smsPlain = "Hi Ada, your oil change appointment at Smith Garage is on Tuesday 3 March at 10:30. Reply C to confirm."
    static let smsRewrite = "Hello Ada! We look forward to seeing you on Tuesday 3 March at 10:30 for your oil change at Smith Garage. Reply C to confirm."

    static let emailTemplate: JSONValue = [
        "channel": "email", "purpose": "transactional", "subject": "Documents for {{matter}}",
        "text": "Dear {{client_name}},\n\nplease upload your documents for {{matter}} by {{due_date}}: {{upload_url}}\n\nSmith & Partners",
        "html": "<p>Dear {{client_name}},</p><p>Please upload your documents for {{matter}} by {{due_date}}: <a href=\"{{upload_url}}\">upload</a></p>",
        "required_variables": ["client_name", "matter", "due_date", "upload_url"], "personalize": true,
    ]
    static let emailVariables: JSONValue = ["client_name": "Ada", "matter": "Smith v. Jones", "due_date": "12 May 2027",
                                            "upload_url": "https://files.example/u/abc123"]
    static let emailRewrite = """
        Dear Ada,

        We're nearly there on Smith v. Jones! Could you upload your documents by 12 May 2027 here: https://files.example/u/abc123.
        Thank you.

        Smith & Partners
        """

    static func env(_ baseURL: String, _ extra: [String: String] = [:]) -> [String: String] {
        // A deadline no loaded test machine reaches, unless a test sets its own.
        ["OPENAI_BASE_URL": baseURL + "/v1", "OPENAI_API_KEY": "sk-test-0123456789", "PARLEY_PERSONALIZE_TIMEOUT_MS": "60000"].merging(extra) { $1 }
    }

    static func sms(key: String? = nil) -> JSONValue {
        var body: [String: JSONValue] = ["channel": "sms", "to": "+33612345678", "template": "visit_reminder", "variables": smsVariables]
        if let key { body["idempotency_key"] = .string(key) }
        return .object(body)
    }
}

@Suite struct PersonalizationCheckTests {
    let template = MessageTemplate(name: "t", channel: "sms", purpose: .transactional, text: "x",
                                   requiredVariables: ["first_name", "appointment_date", "appointment_time", "visits"])
    let variables: [String: JSONValue] = ["first_name": "Ada", "appointment_date": "Tuesday 3 March", "appointment_time": "10:30", "visits": 2]
    let plain = RenderedMessage(subject: nil, text: "Hi Ada, see you on Tuesday 3 March at 10:30 (visit 2). Details: https://g.example/a?b=1", html: nil)

    func check(_ text: String, channel: ParleyComms.Channel = .sms, plain: RenderedMessage? = nil) -> String? {
        Personalization.check(text, plain: plain ?? self.plain, template: template, variables: variables, channel: channel, settings: PersonalizationSettings())
    }

    @Test func aRewriteKeepsEveryFactAndInventsNone() {
        #expect(check("  Ada, we'll see you Tuesday 3 March at 10:30 — visit 2! https://g.example/a?b=1\n") ==
                "Ada, we'll see you Tuesday 3 March at 10:30 — visit 2! https://g.example/a?b=1")
        // Whitespace inside a fact may change.
        #expect(check("Ada: Tuesday\n3 March, 10:30, visit 2, https://g.example/a?b=1.") != nil)
        #expect(check("Ada, see you Tuesday 3 March (visit 2).") == nil, "the time is lost")
        #expect(check("See you Tuesday 3 March at 10:30, visit 2.") == nil, "the name is lost")
        #expect(check("Ada, see you Tuesday 3 March at 10:30, visit 2, or call 0612345678.") == nil, "a phone number is invented")
        #expect(check("Ada, Tuesday 3 March at 10:30, visit 2: 20% off!") == nil, "a discount is invented")
        #expect(check("Ada, Tuesday 3 March at 10:30, visit 2, see https://evil.example/x") == nil, "a link is invented")
        #expect(check("Ada, Tuesday 3 March at 10:30, visit 2, write to help@evil.example") == nil, "an address is invented")
        #expect(check(" \n ") == nil && check("") == nil)
    }

    @Test func sizesAreBoundedPerChannel() {
        let base = "Ada, Tuesday 3 March at 10:30, visit 2. "
        #expect(check(base + String(repeating: "a", count: 1600 - base.count)) != nil)
        #expect(check(base + String(repeating: "a", count: 1601 - base.count)) == nil)
        // Email: three times the plain text and a little more, at most.
        let limit = plain.text.count * 3 + 400
        #expect(check(base + String(repeating: "b", count: limit - base.count), channel: .email) != nil)
        #expect(check(base + String(repeating: "b", count: limit + 1 - base.count), channel: .email) == nil)
    }

    @Test func theHTMLOfARewriteIsEscapedParagraphsWithTheTemplatesLinks() {
        let html = Personalization.html("Dear <Ada> & co,\n\nupload here: https://f.example/u?a=1&b=2.\nThanks\n\n\nSmith",
                                        links: ["https://f.example/u?a=1&b=2"])
        #expect(html == """
            <p>Dear &lt;Ada&gt; &amp; co,</p>
            <p>upload here: <a href="https://f.example/u?a=1&amp;b=2">https://f.example/u?a=1&amp;b=2</a>.<br>
            Thanks</p>
            <p>Smith</p>
            """)
        #expect(!Personalization.html("see javascript:alert(1)", links: ["javascript:alert(1)"]).contains("<a "))
    }

    @Test func theModelRequestCarriesTheTextTheGuidanceAndTheFactsOnly() throws {
        var t = template
        t.personalizationPrompt = "Cheerful."
        var vars = variables
        vars["secret_note"] = "VIP, owes 300"
        let request = ModelPersonalizer.request(plain, template: t, variables: vars, channel: .sms)
        #expect(request.tools.isEmpty && request.system.contains("Keep every fact exactly as written"))
        guard case .text(let prompt) = try #require(request.messages.first?.content.first) else { throw TestFailure("no prompt") }
        #expect(prompt.contains("Sender's guidance: Cheerful.") && prompt.contains(plain.text))
        #expect(prompt.contains(#"Facts to copy exactly: "Ada", "Tuesday 3 March", "10:30", "2""#))
        #expect(!prompt.contains("VIP"))
        #expect(ModelPersonalizer.clean("```\nHello Ada\n```") == "Hello Ada")
        #expect(ModelPersonalizer.clean("\"Hello Ada\"") == "Hello Ada")
        #expect(ModelPersonalizer.clean("<message>\nHello Ada\n</message>") == "Hello Ada")
    }
}

@Suite struct PersonalizationAPITests {
    typealias F = PersonalizationFixtures

    @Test(arguments: TestEnv.kinds)
    func aPersonalisedSMSIsSentOnceAndItsReplayAsksTheModelNoMore(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(ScriptedTurn.answer(F.smsRewrite)) { baseURL, server in
            try await withAgentServer(kind, env: F.env(baseURL)) { client, seeded, _, _ in
                let saved = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", F.smsTemplate)
                #expect(saved["personalize"] == true && saved["personalization_prompt"] == F.smsTemplate["personalization_prompt"])

                let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(key: "visit-42"), status: .accepted)
                #expect(sent["text"]?.stringValue == F.smsRewrite)
                #expect(sent["content_source"] == "ai" && sent["personalization"] == "ai")
                let id = try #require(sent["message_id"]?.stringValue)
                let shown = try await client.getJSON(seeded.adminKey, "/v1/messages/\(id)")
                #expect(shown["text"]?.stringValue == F.smsRewrite && shown["content_source"] == "ai")

                // What the model was asked: one request, no tools, the guidance and the rendering.
                let request = try server.onlyRequest()
                let body = try #require(request.json)
                #expect(body["tools"] == nil)
                let prompt = body["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
                #expect(prompt.contains("say we look forward to seeing them") && prompt.contains(F.smsPlain))
                #expect(body["messages"]?.arrayValue?.first?["content"]?.stringValue?.contains("Add no facts") == true)

                // A replay of the key answers the first message, without a second model call.
                let again = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(key: "visit-42"), status: .ok)
                #expect(again["message_id"]?.stringValue == id && again["text"]?.stringValue == F.smsRewrite)
                #expect(server.requests.count == 1)

                let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
                #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("parley_comms_personalizations_total") && $0.contains(#"outcome="ai""#)
                    && $0.contains(#"channel="sms""#) && $0.hasSuffix(" 1") })
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aPersonalisedEmailKeepsItsSubjectAndGetsHTMLFromTheRewrite(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(ScriptedTurn.answer(F.emailRewrite)) { baseURL, _ in
            try await withAgentServer(kind, env: F.env(baseURL)) { client, seeded, _, _ in
                _ = try await client.putJSON(seeded.adminKey, "/v1/templates/documents", F.emailTemplate)
                let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                    "channel": "email", "to": "ada@example.com", "template": "documents", "variables": F.emailVariables,
                ], status: .accepted)
                #expect(sent["content_source"] == "ai")
                #expect(sent["subject"] == "Documents for Smith v. Jones")
                #expect(sent["text"]?.stringValue == F.emailRewrite)
                #expect(sent["html"]?.stringValue == """
                    <p>Dear Ada,</p>
                    <p>We&#39;re nearly there on Smith v. Jones! Could you upload your documents by 12 May 2027 here: \
                    <a href="https://files.example/u/abc123">https://files.example/u/abc123</a>.<br>
                    Thank you.</p>
                    <p>Smith &amp; Partners</p>
                    """)
            }
        }
    }

    /// Each way the model can fail, and the template's plain rendering that goes out instead.
    static let failures: [(name: String, response: ReplayResponse, outcome: String)] = [
        ("slow", ReplayResponse(steps: [.stall]), "fallback_timeout"),
        ("error", .error(500, body: #"{"error":{"message":"upstream exploded"}}"#), "fallback_error"),
        ("drops the time", ScriptedTurn.answer("Hello Ada! See you on Tuesday 3 March for your oil change. Reply C to confirm."), "fallback_validation"),
        ("too long", ScriptedTurn.answer(F.smsRewrite + String(repeating: " We can't wait to see you.", count: 60)), "fallback_validation"),
        ("empty", ScriptedTurn.answer("   "), "fallback_validation"),
    ]

    @Test(arguments: TestEnv.kinds, failures.indices)
    func aFailedPersonalisationSendsTheTemplate(_ kind: DatabaseKind, _ index: Int) async throws {
        let failure = Self.failures[index]
        try await ProviderTestServer.with(failure.response) { baseURL, server in
            // Only the stalled model meets the deadline; the others answer well within it, however loaded the machine.
            let timeout = failure.outcome == "fallback_timeout" ? "300" : "60000"
            try await withAgentServer(kind, env: F.env(baseURL, ["PARLEY_PERSONALIZE_TIMEOUT_MS": timeout])) { client, seeded, _, _ in
                _ = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", F.smsTemplate)
                let started = ContinuousClock.now
                let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(), status: .accepted)
                #expect(sent["text"]?.stringValue == F.smsPlain, "\(failure.name)")
                #expect(sent["content_source"] == "template" && sent["personalization"]?.stringValue == failure.outcome, "\(failure.name)")
                if failure.outcome == "fallback_timeout" {
                    #expect(ContinuousClock.now - started < .seconds(10), "the deadline holds")
                }
                #expect(server.requests.count == 1)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aModelThatKeepsFailingIsSkippedUntilItsCircuitCoolsDown(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(.error(503, body: #"{"error":{"message":"down"}}"#)) { baseURL, server in
            try await withAgentServer(kind, env: F.env(baseURL)) { client, seeded, _, clock in
                _ = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", F.smsTemplate)
                for expectedCalls in [1, 2, 3, 3, 3] {
                    let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(), status: .accepted)
                    #expect(sent["text"]?.stringValue == F.smsPlain && sent["personalization"] == "fallback_error")
                    #expect(server.requests.count == expectedCalls)
                }
                // After the cool-down one trial call goes through again.
                clock.advance(by: 31)
                _ = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(), status: .accepted)
                #expect(server.requests.count == 4)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func withoutAModelOrWhenSwitchedOffTheTemplateIsSentAndNothingIsAsked(_ kind: DatabaseKind) async throws {
        // No provider configured: the offline planner is not a writer.
        try await withAgentServer(kind) { client, seeded, _, _ in
            _ = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", F.smsTemplate)
            let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(), status: .accepted)
            #expect(sent["text"]?.stringValue == F.smsPlain && sent["content_source"] == "template" && sent["personalization"] == .null)
            // A message with its own text has no content source.
            let own = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "sms", "to": "+33612345678", "text": "Hi"], status: .accepted)
            #expect(own["content_source"] == .null)
        }
        try await ProviderTestServer.with(ScriptedTurn.answer(F.smsRewrite)) { baseURL, server in
            try await withAgentServer(kind, env: F.env(baseURL, ["PARLEY_PERSONALIZE": "off"])) { client, seeded, _, _ in
                _ = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", F.smsTemplate)
                let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(), status: .accepted)
                #expect(sent["text"]?.stringValue == F.smsPlain && sent["content_source"] == "template")
                #expect(server.requests.isEmpty)
            }
        }
        // A template that does not ask for it is not personalised.
        try await ProviderTestServer.with(ScriptedTurn.answer(F.smsRewrite)) { baseURL, server in
            try await withAgentServer(kind, env: F.env(baseURL)) { client, seeded, _, _ in
                var body = F.smsTemplate
                if case .object(var fields) = body { fields["personalize"] = false; body = .object(fields) }
                _ = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", body)
                let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", F.sms(), status: .accepted)
                #expect(sent["text"]?.stringValue == F.smsPlain && sent["content_source"] == "template" && sent["personalization"] == .null)
                #expect(server.requests.isEmpty)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func templatesStorePersonalisationPerVersionAndPreviewCanTryIt(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(ScriptedTurn.answer(F.smsRewrite)) { baseURL, server in
            try await withAgentServer(kind, env: F.env(baseURL)) { client, seeded, store, clock in
                _ = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", F.smsTemplate)
                var off = F.smsTemplate
                if case .object(var fields) = off { fields["personalize"] = nil; fields["personalization_prompt"] = nil; off = .object(fields) }
                let second = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", off)
                #expect(second["personalize"] == false && second["personalization_prompt"] == .null && second["version"] == 2)
                let versions = try await client.getJSON(seeded.adminKey, "/v1/templates/visit_reminder/versions")["data"]?.arrayValue ?? []
                #expect(versions.map { $0["personalize"] } == [false, true])
                #expect(versions.last?["personalization_prompt"] == F.smsTemplate["personalization_prompt"])
                // The columns are what counts.
                let stored = try await store.read { db in
                    try await db.raw("SELECT personalize, personalization_prompt FROM message_templates ORDER BY version").all().map {
                        (try $0.decode(column: "personalize", as: Bool.self), try $0.decode(column: "personalization_prompt", as: String?.self))
                    }
                }
                #expect(stored.map(\.0) == [true, false] && stored[0].1 != nil && stored[1].1 == nil)

                // Bad input.
                var long = F.smsTemplate
                if case .object(var fields) = long { fields["personalization_prompt"] = .string(String(repeating: "x", count: 2001)); long = .object(fields) }
                let tooLong = try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", long, status: .badRequest)
                #expect(tooLong["error"]?["code"] == "invalid_template")
                var blank = F.smsTemplate
                if case .object(var fields) = blank { fields["personalization_prompt"] = " \n"; blank = .object(fields) }
                #expect(try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", blank, status: .badRequest)["error"]?["code"] == "invalid_template")
                var notBool = F.smsTemplate
                if case .object(var fields) = notBool { fields["personalize"] = "yes"; notBool = .object(fields) }
                #expect(try await client.putJSON(seeded.adminKey, "/v1/templates/visit_reminder", notBool, status: .badRequest)["error"] != nil)

                // Preview: the plain rendering; with try_personalization, the model's too.
                let plain = try await client.postJSON(seeded.adminKey, "/v1/templates/visit_reminder/preview", ["variables": F.smsVariables])
                #expect(plain["text"]?.stringValue == F.smsPlain && plain["personalize"] == false && plain["personalized"] == .null)
                #expect(server.requests.isEmpty)
                let tried = try await client.postJSON(seeded.adminKey, "/v1/templates/visit_reminder/preview",
                                                      ["variables": F.smsVariables, "template": F.smsTemplate, "try_personalization": true])
                #expect(tried["personalize"] == true && tried["text"]?.stringValue == F.smsPlain)
                #expect(tried["personalized"]?["text"]?.stringValue == F.smsRewrite && tried["personalized"]?["personalization"] == "ai")
                let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
                _ = try await client.postJSON(viewer, "/v1/templates/visit_reminder/preview",
                                              ["variables": F.smsVariables, "try_personalization": true], status: .forbidden)
                #expect(server.requests.count == 1)
            }
        }
    }
}

@Suite struct PersonalizationDeliveryTests {
    func admin(_ s: Seeded) -> ActionContext {
        ActionContext(principal: Principal(tenantID: s.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
    }

    @Test(arguments: TestEnv.kinds)
    func theWorkerDeliversTheStoredRewriteAndARetrySendsTheSameText(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(ScriptedTurn.answer(PersonalizationFixtures.smsRewrite)) { baseURL, server in
            let clock = TestClock()
            try await TestDatabases.withStore(kind, clock: clock) { store in
                let seeded = try await Seeded.make(store, clock: clock)
                let queue = JobQueue(store: store, clock: clock)
                let templates = TemplateService(store: store, clock: clock)
                _ = try await templates.save(admin(seeded), MessageTemplate(
                    name: "visit_reminder", channel: "sms", purpose: .transactional,
                    text: "Hi {{first_name}}, see you on {{appointment_date}} at {{appointment_time}}. Reply C to confirm.",
                    requiredVariables: ["first_name", "appointment_date", "appointment_time"], personalize: true))
                let messages = MessageService(queue: queue, templates: templates,
                                              personalizer: ModelPersonalizer(provider: ScriptedTurn.provider(baseURL)),
                                              personalization: PersonalizationSettings(timeout: .seconds(60)))
                let request = MessageRequest(channel: .sms, to: "+33612345678", template: "visit_reminder",
                                             variables: ["first_name": "Ada", "appointment_date": "Tuesday 3 March", "appointment_time": "10:30"],
                                             idempotencyKey: "visit-7")
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let worker = CommsWorker(queue: queue, channel: OutboxChannel(), settings: WorkerSettings(), logger: logger)

                // The scripted rewrite names a garage and a service this template lacks: new words pass, new numbers would not.
                let first = try await messages.send(admin(seeded), request)
                #expect(first.message.contentSource == .ai && first.message.bodyText == PersonalizationFixtures.smsRewrite)
                #expect(try await worker.runDueJobs() == 1)
                // The job's success was lost: it runs again and sends nothing new; the replay asks nothing.
                try await store.transaction { db in
                    try await db.raw("UPDATE communication_jobs SET state = 'retrying', finished_at = NULL WHERE id = \(bind: first.message.jobID)").run()
                }
                #expect(try await worker.runDueJobs() == 1)
                let again = try await messages.send(admin(seeded), request)
                #expect(!again.created && again.message.bodyText == PersonalizationFixtures.smsRewrite)
                let outbox = try await messages.outbox(admin(seeded).principal, before: nil, limit: 10)
                #expect(outbox.count == 1 && outbox.first?.content == PersonalizationFixtures.smsRewrite)
                #expect(server.requests.count == 1)

                // Inside a caller's transaction no model is asked: the template goes out.
                var other = request
                other.idempotencyKey = "visit-8"
                let eight = other
                let joined = try await store.transaction { db in try await messages.send(self.admin(seeded), eight, on: db) }
                #expect(joined.message.contentSource == .template && joined.message.personalization == nil)
                // Prepared first, it is personalised and then joins the transaction.
                other.idempotencyKey = "visit-9"
                let prepared = try await messages.prepare(admin(seeded), other)
                let joinedPersonalised = try await store.transaction { db in try await messages.send(self.admin(seeded), prepared, on: db) }
                #expect(joinedPersonalised.message.contentSource == .ai)
                #expect(server.requests.count == 2)
            }
        }
    }
}

@Suite struct PersonalizationConfigTests {
    @Test func settingsHaveDefaultsAndBadValuesStopStartUpNamingThem() throws {
        let defaults = try ParleyConfig.load(ConfigSources())
        #expect(defaults.models.personalize && defaults.models.personalizeTimeoutMilliseconds == 4000)
        #expect(PersonalizationAssembly.settings(defaults.models).timeout == .milliseconds(4000))
        let off = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_PERSONALIZE": "OFF", "PARLEY_PERSONALIZE_TIMEOUT_MS": "1500"]))
        #expect(!off.models.personalize && off.models.personalizeTimeoutMilliseconds == 1500)
        for (key, value) in [("PARLEY_PERSONALIZE", "maybe"), ("PARLEY_PERSONALIZE_TIMEOUT_MS", "10"), ("PARLEY_PERSONALIZE_TIMEOUT_MS", "4s")] {
            #expect { try ParleyConfig.load(ConfigSources(environment: [key: value])) } throws: { error in
                (error as? ConfigError)?.description.contains(key) == true
            }
        }
        // No language model configured: nothing to personalise with, whatever the setting.
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        #expect(PersonalizationAssembly.personalizer(defaults.models, clock: SystemClock(), logger: logger) == nil)
        let configured = try ParleyConfig.load(ConfigSources(environment: ["OPENAI_BASE_URL": "http://127.0.0.1:9/v1"]))
        #expect(PersonalizationAssembly.personalizer(configured.models, clock: SystemClock(), logger: logger) != nil)
        let switchedOff = try ParleyConfig.load(ConfigSources(environment: ["OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "PARLEY_PERSONALIZE": "off"]))
        #expect(PersonalizationAssembly.personalizer(switchedOff.models, clock: SystemClock(), logger: logger) == nil)
    }
}
