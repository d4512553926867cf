import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyStorage
import SQLKit
import Testing

@Suite struct CommsMessageTests {
    func withMessages(_ kind: DatabaseKind,
                      _ body: @escaping @Sendable (MessageService, CommsWorker, Seeded, any Store, TestClock) async throws -> Void) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let queue = JobQueue(store: store, clock: clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let worker = CommsWorker(queue: queue, channel: OutboxChannel(), settings: WorkerSettings(), logger: logger)
            try await body(MessageService(queue: queue), worker, seeded, store, clock)
        }
    }

    func admin(_ s: Seeded) -> ActionContext {
        ActionContext(principal: Principal(tenantID: s.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
    }

    @Test(arguments: TestEnv.kinds)
    func aMessageIsDeliveredOnceToTheOutboxHoweverOftenItIsRequestedOrRetried(_ kind: DatabaseKind) async throws {
        try await withMessages(kind) { messages, worker, seeded, store, _ in
            let request = MessageRequest(channel: .email, to: "Ada@Example.COM", subject: "Your case — documents needed",
                                         text: "Hello Ada,\nplease upload your ID.", idempotencyKey: "case-42-reminder-1")
            let first = try await messages.send(admin(seeded), request)
            #expect(first.created && first.message.status == .queued && first.message.recipient == "Ada@example.com")
            let again = try await messages.send(admin(seeded), request)
            #expect(!again.created && again.message.id == first.message.id)
            var changed = request
            changed.text = "something else"
            await #expect(throws: ParleyError.self) { try await messages.send(admin(seeded), changed) }

            #expect(try await worker.runDueJobs() == 1)
            let (sent, job) = try await messages.message(admin(seeded).principal, id: first.message.id)
            #expect(sent.status == .sent && sent.provider == "outbox" && job?.state == .succeeded)
            let outbox = try await messages.outbox(admin(seeded).principal, before: nil, limit: 10)
            #expect(outbox.count == 1)
            let content = try #require(outbox.first?.content)
            #expect(content.contains("To: Ada@example.com\r\n") && content.contains("Message-ID: <\(sent.id)@parley>"))
            #expect(content.contains("Subject: =?UTF-8?B?") && content.contains("\r\n\r\nHello Ada,\r\nplease upload your ID."))

            // The job's success was lost (a crash after the send): it runs again and sends nothing.
            try await store.transaction { db in
                try await db.raw("UPDATE communication_jobs SET state = 'retrying', finished_at = NULL WHERE id = \(bind: sent.jobID)").run()
            }
            #expect(try await worker.runDueJobs() == 1)
            #expect(try await messages.outbox(admin(seeded).principal, before: nil, limit: 10).count == 1)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aScheduledMessageWaitsForItsTime(_ kind: DatabaseKind) async throws {
        try await withMessages(kind) { messages, worker, seeded, _, clock in
            let later = clock.now().addingTimeInterval(3600)
            let sms = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+1 (415) 555-0100", text: "Your car is ready", sendAt: later))
            #expect(sms.message.recipient == "+14155550100" && sms.message.sendAt == later)
            #expect(try await worker.runDueJobs() == 0)
            clock.advance(by: 3600)
            #expect(try await worker.runDueJobs() == 1)
            #expect(try await messages.outbox(admin(seeded).principal, before: nil, limit: 10).first?.content == "Your car is ready")
        }
    }

    /// The seeded tenant is in Europe/Paris; the test clock starts at 2027-01-15 09:00 there.
    @Test(arguments: TestEnv.kinds)
    func quietHoursDeferAMessageAtEnqueueAndAgainAtSendTime(_ kind: DatabaseKind) async throws {
        try await withMessages(kind) { messages, worker, seeded, store, clock in
            let iso = Date.ISO8601FormatStyle()
            let evening = try iso.parse("2027-01-15T21:30:00+01:00")
            let deferred = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+33612345678", text: "Reminder", sendAt: evening))
            #expect(deferred.message.sendAt == (try iso.parse("2027-01-16T08:00:00+01:00")))

            // Due in the morning, but the worker only gets to it at 22:00: it waits again.
            let now = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+33612345678", text: "Now"))
            #expect(now.message.sendAt == clock.now())
            clock.advance(by: 13 * 3600)  // 22:00 in Paris
            #expect(try await worker.runDueJobs() == 1)
            let (waiting, job) = try await messages.message(admin(seeded).principal, id: now.message.id)
            #expect(waiting.status == .queued && job?.state == .queued && job?.attempts == 0)
            #expect(job?.runAt == (try iso.parse("2027-01-16T08:00:00+01:00")))
            // A template exempt from quiet hours goes out at 22:00, at enqueue and at send time.
            let templates = TemplateService(store: store, clock: clock)
            _ = try await templates.save(admin(seeded), MessageTemplate(name: "urgent", channel: "sms", purpose: .transactional,
                                                                        text: "Urgent: {{what}}", exemptFromQuietHours: true))
            let urgent = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+33612345678", template: "urgent", variables: ["what": "call us"]))
            #expect(urgent.message.sendAt == clock.now())
            #expect(try await worker.runDueJobs() == 1)
            #expect(try await messages.message(admin(seeded).principal, id: urgent.message.id).0.status == .sent)
            clock.advance(by: 10 * 3600)  // 08:00 the next morning
            #expect(try await worker.runDueJobs() == 2)
            #expect(try await messages.outbox(admin(seeded).principal, before: nil, limit: 10).count == 3)
        }
    }

    /// A channel that fails as told, to drive the worker's retry and dead-letter paths.
    struct FailingChannel: MessageChannel {
        let name = "failing"
        let error: DeliveryError
        func deliver(_ message: Message, on db: any SQLDatabase, clock: any Clock) async throws { throw error }
    }

    @Test(arguments: TestEnv.kinds)
    func failedMessagesDieAndARetriedJobSendsThemOnce(_ kind: DatabaseKind) async throws {
        try await withMessages(kind) { messages, _, seeded, store, clock in
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let queue = JobQueue(store: store, clock: clock)
            var settings = WorkerSettings()
            settings.backoff = RetryBackoff(base: .seconds(60), random: { 0 })
            let failing = CommsWorker(queue: queue, channel: FailingChannel(error: .transient("HTTP 503")), settings: settings, logger: logger)
            let permanent = CommsWorker(queue: queue, channel: FailingChannel(error: .permanent("21610 unsubscribed")), settings: settings, logger: logger)
            let m = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+14155550100", text: "Hi", idempotencyKey: "k1"))
            #expect(try await failing.runDueJobs() == 1)
            var (message, job) = try await messages.message(admin(seeded).principal, id: m.message.id)
            #expect(job?.state == .retrying && message.status == .queued && message.error == "HTTP 503")
            clock.advance(by: 60)
            #expect(try await permanent.runDueJobs() == 1)
            (message, job) = try await messages.message(admin(seeded).principal, id: m.message.id)
            #expect(job?.state == .dead && message.status == .failed && message.error == "21610 unsubscribed")

            // The permanent failure suppressed the number; an operator who knows better re-enables it
            // and redrives the job: queued again with fresh attempts, sent once by a healthy worker.
            _ = try await ConsentService(store: store, clock: clock).set(admin(seeded), channel: .sms, recipient: "+14155550100", status: .optedIn, reason: "number fixed")
            let retried = try await queue.retry(tenantID: seeded.tenant.id, id: m.message.jobID)
            #expect(retried.state == .queued && retried.attempts == 0)
            let healthy = CommsWorker(queue: queue, channel: OutboxChannel(), settings: settings, logger: logger)
            #expect(try await healthy.runDueJobs() == 1)
            #expect(try await messages.message(admin(seeded).principal, id: m.message.id).0.status == .sent)
            await #expect(throws: ParleyError.self) { try await queue.cancel(tenantID: seeded.tenant.id, id: m.message.jobID) }
            await #expect(throws: ParleyError.self) { try await queue.retry(tenantID: "someone-else", id: m.message.jobID) }

            // The same request replayed after its time has passed still gets the first answer.
            let scheduled = MessageRequest(channel: .sms, to: "+1 415 555 0100", text: "Later", sendAt: clock.now().addingTimeInterval(600), idempotencyKey: "k2")
            let first = try await messages.send(admin(seeded), scheduled)
            clock.advance(by: 3600)
            var sameNumberOtherSpelling = scheduled
            sameNumberOtherSpelling.to = "+14155550100"
            let replay = try await messages.send(admin(seeded), sameNumberOtherSpelling)
            #expect(!replay.created && replay.message.id == first.message.id)

            // A worker that dies on the last attempt: the job is dead and its message failed.
            let last = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+14155550100", text: "x", idempotencyKey: "k3"))
            try await store.transaction { db in
                try await db.raw("UPDATE communication_jobs SET max_attempts = 1 WHERE id = \(bind: last.message.jobID)").run()
            }
            _ = try await queue.claim(worker: "doomed", limit: 10, lease: .seconds(30))
            clock.advance(by: 31)
            #expect(try await queue.rescueExpired() >= 1)
            (message, job) = try await messages.message(admin(seeded).principal, id: last.message.id)
            #expect(job?.state == .dead && message.status == .failed)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anSMSThatCannotBeDeliveredFallsBackToEmailOnce(_ kind: DatabaseKind) async throws {
        try await withMessages(kind) { messages, _, seeded, store, clock in
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let queue = JobQueue(store: store, clock: clock)
            let failing = FailingChannel(error: .permanent("21614 not a mobile number"))
            let worker = CommsWorker(queue: queue, routes: { $0 == .sms ? .local(failing) : .local(OutboxChannel()) },
                                     settings: WorkerSettings(), logger: logger)
            let sms = try await messages.send(admin(seeded), MessageRequest(channel: .sms, to: "+14155550100", text: "Your documents are due Friday",
                                                                            fallbackEmail: "Client@Example.com", fallbackSubject: "Documents due"))
            #expect(sms.message.fallbackEmail == "Client@example.com")
            #expect(try await worker.runDueJobs() == 2, "the SMS, then its email fallback")
            let outbox = try await messages.outbox(admin(seeded).principal, before: nil, limit: 10)
            #expect(outbox.count == 1 && outbox.first?.channel == .email && outbox.first?.recipient == "Client@example.com")
            #expect(outbox.first?.content.contains("Subject: Documents due") == true)
            let email = try #require(outbox.first?.messageID)
            #expect(try await messages.message(admin(seeded).principal, id: email).0.fallbackOf == sms.message.id)
            #expect(try await messages.message(admin(seeded).principal, id: sms.message.id).0.status == .failed)

            await #expect(throws: ParleyError.self) {
                try await messages.send(admin(seeded), MessageRequest(channel: .email, to: "a@b.com", subject: "x", text: "y", fallbackEmail: "c@d.com"))
            }
        }
    }

    @Test func badRequestsGetTypedErrors() async throws {
        try await withMessages(.sqlite) { messages, _, seeded, _, clock in
            func code(_ r: MessageRequest) async -> String? {
                do { _ = try await messages.send(admin(seeded), r); return nil } catch let e as ParleyError { return e.code } catch { return "\(error)" }
            }
            #expect(await code(MessageRequest(channel: .email, to: "not-an-email", subject: "Hi", text: "x")) == "invalid_email")
            #expect(await code(MessageRequest(channel: .email, to: "a@b.com\r\nBcc: x@y.com", subject: "Hi", text: "x")) == "invalid_email")
            #expect(await code(MessageRequest(channel: .email, to: "a@b.com", subject: nil, text: "x")) == "invalid_subject")
            #expect(await code(MessageRequest(channel: .email, to: "a@b.com", subject: "Hi\r\nBcc: x@y.com", text: "x")) == "invalid_subject")
            #expect(await code(MessageRequest(channel: .sms, to: "4155550100", text: "x")) == "invalid_phone")
            #expect(await code(MessageRequest(channel: .sms, to: "+14155550100", text: " ")) == "empty_message")
            #expect(await code(MessageRequest(channel: .sms, to: "+14155550100", text: String(repeating: "x", count: 1601))) == "message_too_long")
            #expect(await code(MessageRequest(channel: .sms, to: "+14155550100", text: "x", sendAt: clock.now().addingTimeInterval(-3600))) == "send_at_in_past")
            #expect(await code(MessageRequest(channel: .sms, to: "+14155550100", text: "x", idempotencyKey: String(repeating: "k", count: 201))) == "invalid_idempotency_key")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theMessagesAPIHonoursIdempotencyKeysAndTenants(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            var headers = auth(seeded.adminKey, json: true)
            headers[HTTPField.Name("Idempotency-Key")!] = "welcome-ada"
            let body = ByteBuffer(string: #"{"channel":"email","to":"ada@example.com","subject":"Welcome","text":"Hi Ada"}"#)
            let first = try await client.execute(uri: "/v1/messages", method: .post, headers: headers, body: body) { r in
                #expect(r.status == .accepted)
                return try JSONValue.parse(String(buffer: r.body))
            }
            let again = try await client.execute(uri: "/v1/messages", method: .post, headers: headers, body: body) { r in
                #expect(r.status == .ok)
                return try JSONValue.parse(String(buffer: r.body))
            }
            let id = try #require(first["message_id"]?.stringValue)
            #expect(again["message_id"]?.stringValue == id && first["idempotency_key"] == "welcome-ada")
            let bad = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "fax", "to": "x", "text": "y"], status: .badRequest)
            #expect(bad["error"]?["code"] == "invalid_channel")
            _ = try await client.getJSON(other.adminKey, "/v1/messages/\(id)", status: .notFound)
            let mine = try await client.getJSON(seeded.adminKey, "/v1/messages/\(id)")
            #expect(mine["job"]?["max_attempts"] == 4)
            #expect(try await client.getJSON(other.adminKey, "/v1/outbox")["data"]?.arrayValue?.isEmpty == true)
            let jobs = try await client.getJSON(seeded.adminKey, "/v1/jobs")
            let jobID = try #require(jobs["data"]?[0]?["job_id"]?.stringValue)
            #expect(jobs["data"]?.arrayValue?.count == 1)
            _ = try await client.getJSON(seeded.adminKey, "/v1/jobs?state=sleeping", status: .badRequest)
            _ = try await client.postJSON(other.adminKey, "/v1/jobs/\(jobID)/cancel", [:], status: .notFound)
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            _ = try await client.postJSON(viewer, "/v1/jobs/\(jobID)/retry", [:], status: .forbidden)
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("parley_comms_jobs{state=\"queued\"}") && metrics.contains("parley_comms_oldest_due_job_age_seconds"))
            try await Promtool.check(metrics)
        }
    }
}

@Suite struct CommsTemplateAPITests {
    @Test(arguments: TestEnv.kinds)
    func templatesAreOverriddenPreviewedAndUsedByMessages(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let list = try await client.getJSON(seeded.adminKey, "/v1/templates")
            let names = list["data"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.contains("appointment_reminder") && names.contains("document_request"))

            // Preview reports every missing required variable at once.
            let missing = try await client.postJSON(seeded.adminKey, "/v1/templates/appointment_reminder/preview",
                                                    ["variables": ["first_name": "Ada"]], status: .badRequest)
            #expect(missing["error"]?["code"] == "missing_variables")
            #expect(missing["error"]?["message"]?.stringValue?.contains("appointment_time") == true)

            // A tenant override: a syntax error is refused, a good one becomes version 2.
            func put(_ key: String, _ body: JSONValue) async throws -> (HTTPResponse.Status, JSONValue) {
                try await client.execute(uri: "/v1/templates/appointment_reminder", method: .put, headers: auth(key, json: true),
                                         body: ByteBuffer(string: body.serialized())) { ($0.status, try JSONValue.parse(String(buffer: $0.body))) }
            }
            let broken = try await put(seeded.adminKey, ["channel": "sms", "purpose": "transactional", "text": "Hi {{#first_name}} &"])
            #expect(broken.0 == .badRequest && broken.1["error"]?["code"] == "template_syntax_error")
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            #expect(try await put(viewer, ["channel": "sms", "purpose": "transactional", "text": "Hi"]).0 == .forbidden)
            let saved = try await put(seeded.adminKey, ["channel": "sms", "purpose": "transactional", "text": "{{first_name}}: see you {{when}} at Smith & Sons",
                                                        "required_variables": ["first_name", "when"], "exempt_from_quiet_hours": true])
            #expect(saved.0 == .ok && saved.1["version"] == 2 && saved.1["overridden"] == true)

            // A message from the template: rendered as plain text, sent even in quiet hours (exempt).
            clock.advance(by: 13 * 3600)  // 22:00 in the tenant's zone
            let sent = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "sms", "to": "+33612345678", "template": "appointment_reminder",
                "variables": ["first_name": "Ada", "when": "tomorrow 9:00"],
            ], status: .accepted)
            #expect(sent["text"] == "Ada: see you tomorrow 9:00 at Smith & Sons")
            #expect(sent["send_at"]?.stringValue == Timestamps.format(clock.now()))
            let wrongChannel = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "email", "to": "ada@example.com", "template": "appointment_reminder", "variables": [:],
            ], status: .badRequest)
            #expect(wrongChannel["error"]?["code"] == "template_channel_mismatch")
            let both = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "sms", "to": "+33612345678", "text": "x", "template": "appointment_reminder",
            ], status: .badRequest)
            #expect(both["error"]?["code"] == "invalid_content")
            let unknown = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "sms", "to": "+33612345678", "template": "nope",
            ], status: .notFound)
            #expect(unknown["error"]?["code"] == "template_not_found")
        }
    }
}

@Suite struct CommsConsentTests {
    @Test(arguments: TestEnv.kinds)
    func stopWordsOptOutAndMarketingNeedsOptIn(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let phone = "+14155550100"
            // Marketing without opt-in is refused; transactional goes.
            let refused = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "sms", "to": .string(phone), "text": "20% off this week", "purpose": "marketing",
            ], status: .conflict)
            #expect(refused["error"]?["code"] == "marketing_consent_missing")
            _ = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "sms", "to": .string(phone), "text": "Your car is ready"], status: .accepted)

            for (body, action) in [("  stop ", "opted_out"), ("Hello there", "none"), ("HELP", "help"), ("Unstop", "opted_in"), ("opt out", "opted_out")] {
                let reply = try await client.postJSON(seeded.adminKey, "/v1/inbound/sms", ["from": "+1 415 555 0100", "body": .string(body)])
                #expect(reply["action"]?.stringValue == action, "\(body)")
            }
            let blocked = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "sms", "to": .string(phone), "text": "Ready"], status: .conflict)
            #expect(blocked["error"]?["code"] == "recipient_opted_out")

            // Every change is kept with its source.
            let consent = try await client.getJSON(seeded.adminKey, "/v1/consent/sms/\(phone)")
            #expect(consent["current"]?["status"] == "opted_out")
            #expect(consent["history"]?.arrayValue?.map { $0["status"]?.stringValue ?? "" } == ["opted_out", "opted_in", "opted_out"])
            #expect(consent["history"]?[0]?["source"] == "inbound_sms")
            // Every field is present, null when it has no value (the message routes' convention).
            #expect(consent["current"]?.objectValue?.keys.sorted() == ["channel", "reason", "recipient", "source", "status", "updated_at"])
            let unknown = try await client.getJSON(seeded.adminKey, "/v1/consent/sms/+14155550199")
            #expect(unknown == ["current": .null, "history": []], "\(unknown)")

            // An operator records an opt-in (e.g. from a signed form): marketing may go.
            var headers = auth(seeded.adminKey, json: true)
            headers[.contentType] = "application/json"
            try await client.execute(uri: "/v1/consent/sms/\(phone)", method: .put, headers: headers,
                                     body: ByteBuffer(string: #"{"status":"opted_in","reason":"signed form 2027-01-15"}"#)) { #expect($0.status == .ok) }
            _ = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "sms", "to": .string(phone), "text": "20% off this week", "purpose": "marketing",
            ], status: .accepted)
            try await client.execute(uri: "/v1/consent/fax/x", method: .get, headers: auth(seeded.adminKey)) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/consent/sms/12345", method: .get, headers: auth(seeded.adminKey)) { #expect($0.errorCode == "invalid_phone") }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aPermanentDeliveryFailureSuppressesTheRecipientAndAnOptOutStopsQueuedMessages(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let queue = JobQueue(store: store, clock: clock)
            let messages = MessageService(queue: queue)
            let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            let bouncing = CommsWorker(queue: queue, channel: CommsMessageTests.FailingChannel(error: .permanent("21211 invalid number")),
                                       settings: WorkerSettings(), logger: logger)
            _ = try await messages.send(ctx, MessageRequest(channel: .sms, to: "+14155550199", text: "Hi"))
            #expect(try await bouncing.runDueJobs() == 1)
            await #expect(throws: ParleyError.self) { try await messages.send(ctx, MessageRequest(channel: .sms, to: "+14155550199", text: "Hi again")) }

            // Accepted, then the recipient replies STOP before it goes out: it is not sent.
            let later = try await messages.send(ctx, MessageRequest(channel: .sms, to: "+14155550100", text: "Later", sendAt: clock.now().addingTimeInterval(600)))
            #expect(try await ConsentService(store: store, clock: clock).inboundSMS(tenantID: seeded.tenant.id, from: "+14155550100", body: "STOP") == .optedOut)
            clock.advance(by: 600)
            let healthy = CommsWorker(queue: queue, channel: OutboxChannel(), settings: WorkerSettings(), logger: logger)
            #expect(try await healthy.runDueJobs() == 1)
            let (message, job) = try await messages.message(ctx.principal, id: later.message.id)
            #expect(message.status == .failed && job?.state == .dead && message.error?.contains("opted out") == true)
            #expect(try await messages.outbox(ctx.principal, before: nil, limit: 10).isEmpty)
        }
    }
}

@Suite struct UnsubscribeTests {
    @Test(arguments: TestEnv.kinds)
    func marketingEmailCarriesAOneClickUnsubscribeThatWorks(_ kind: DatabaseKind) async throws {
        let keyring = Keyring.random()
        // The test drives the worker itself, with its own link base.
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"], keyring: keyring) { client, seeded, store, clock in
            let to = "ada@example.com"
            try await client.execute(uri: "/v1/consent/email/\(to)", method: .put, headers: auth(seeded.adminKey, json: true),
                                     body: ByteBuffer(string: #"{"status":"opted_in","reason":"newsletter form"}"#)) { #expect($0.status == .ok) }
            _ = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "email", "to": .string(to), "subject": "Spring offers", "text": "20% off", "html": "<p>20% <b>off</b></p>",
                "purpose": "marketing",
            ], status: .accepted)
            _ = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "email", "to": .string(to), "subject": "Your appointment", "text": "Tomorrow at 9",
            ], status: .accepted)
            var settings = WorkerSettings()
            settings.unsubscribe = UnsubscribeLinks(keyring: keyring, baseURL: "https://parley.example")
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: settings, logger: Logger(label: "t"))
            #expect(try await worker.runDueJobs() == 2)

            let outbox = try await client.getJSON(seeded.adminKey, "/v1/outbox")["data"]?.arrayValue ?? []
            let marketing = try #require(outbox.first { $0["content"]?.stringValue?.contains("Spring offers") == true }?["content"]?.stringValue)
            let transactional = try #require(outbox.first { $0["content"]?.stringValue?.contains("Your appointment") == true }?["content"]?.stringValue)
            #expect(marketing.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"))
            #expect(marketing.contains("multipart/alternative"))
            #expect(!transactional.contains("List-Unsubscribe"), "transactional mail has no unsubscribe link")
            let line = try #require(marketing.components(separatedBy: "\r\n").first { $0.hasPrefix("List-Unsubscribe: <https://parley.example/unsubscribe/") })
            let path = String(line.dropFirst("List-Unsubscribe: <https://parley.example".count).dropLast())

            // Looking at the link changes nothing; posting (the button, or a mail client's one-click) does.
            try await client.execute(uri: path, method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains("a•••@example.com"))
            }
            #expect(try await client.getJSON(seeded.adminKey, "/v1/consent/email/\(to)")["current"]?["status"] == "opted_in")
            for _ in 0..<2 {
                try await client.execute(uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "List-Unsubscribe=One-Click")) { #expect($0.status == .ok) }
            }
            let consent = try await client.getJSON(seeded.adminKey, "/v1/consent/email/\(to)")
            #expect(consent["current"]?["status"] == "opted_out")
            #expect(consent["history"]?.arrayValue?.filter { $0["source"] == "list_unsubscribe" }.count == 1, "one change, however often clicked")
            let refused = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "email", "to": .string(to), "subject": "More offers", "text": "30% off", "purpose": "marketing",
            ], status: .conflict)
            #expect(refused["error"]?["code"]?.stringValue?.isEmpty == false)

            // Edited, truncated or foreign links are refused.
            var tampered = Array(path)
            tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
            let otherKey = UnsubscribeLinks(keyring: .random(), baseURL: "https://parley.example").token(tenantID: seeded.tenant.id, recipient: "bob@example.com")
            for bad in [String(tampered), "/unsubscribe/abc", "/unsubscribe/\(otherKey)", "/unsubscribe/" + String(repeating: "a", count: 5000)] {
                try await client.execute(uri: bad, method: .post) { #expect($0.status == .notFound, "\(bad.prefix(40))") }
            }
        }
    }
}
