import Foundation
import Logging
import ParleyComms
import ParleyCore
import ParleyServer
import ParleyStorage
import SQLKit
import Testing

/// Email through the worker to a real SMTP server (aiosmtpd) on loopback.
@Suite(.enabled(Comment(rawValue: SMTPTestServer.skipReason)) { await SMTPTestServer.isAvailable })
struct CommsSMTPTests {
    @Test(arguments: TestEnv.kinds)
    func anEmailIsDeliveredOverSMTPOnceEvenAfterAnInterruptedAttempt(_ kind: DatabaseKind) async throws {
        try await SMTPTestServer.with { server in
            let clock = TestClock()
            try await TestDatabases.withStore(kind, clock: clock) { store in
                let seeded = try await Seeded.make(store, clock: clock)
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let quiet = logger
                let smtp = SMTPChannel(configuration: try #require(SMTPURL.parse("smtp+insecure://127.0.0.1:\(server.port)")),
                                       from: "Acme Law <no-reply@acme.example>", logger: quiet)
                let queue = JobQueue(store: store, clock: clock)
                let worker = CommsWorker(queue: queue, routes: { _ in .external(smtp) }, settings: WorkerSettings(), logger: quiet)
                let messages = MessageService(queue: queue)
                let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)

                let sent = try await messages.send(ctx, MessageRequest(channel: .email, to: "client@example.com", subject: "Documents für Ihren Fall",
                                                                       text: "Dear client,\n.\nplease upload."))
                #expect(try await worker.runDueJobs() == 1)
                let received = try server.onlyMessage()
                #expect(received.mailFrom == "no-reply@acme.example" && received.rcptTos == ["client@example.com"])
                #expect(received.subject == "Documents für Ihren Fall" && received.fromDisplayName == "Acme Law")
                #expect(received.text == "Dear client,\n.\nplease upload." || received.text == "Dear client,\n.\nplease upload.\n")
                let (message, job) = try await messages.message(ctx.principal, id: sent.message.id)
                #expect(message.status == .sent && message.provider == "smtp" && job?.state == .succeeded)

                // An attempt that died after handing a message to the server: SMTP cannot dedupe,
                // so the message is recorded as sent with a note, never sent twice.
                let second = try await messages.send(ctx, MessageRequest(channel: .email, to: "client@example.com", subject: "Second", text: "x"))
                try await store.transaction { db in
                    try await db.raw("UPDATE messages SET status = 'sending' WHERE id = \(bind: second.message.id)").run()
                }
                #expect(try await worker.runDueJobs() == 1)
                #expect(try server.messages().count == 1)
                let (interrupted, _) = try await messages.message(ctx.principal, id: second.message.id)
                #expect(interrupted.status == .sent && interrupted.error?.contains("not sent again") == true)
            }
        }
    }

    @Test func anUnreachableServerIsATransientFailureAndTheMessageWaitsToRetry() async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(.sqlite, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let quiet = logger
            // Port 1 on loopback: connection refused.
            var unreachable = try #require(SMTPURL.parse("smtp+insecure://127.0.0.1:1"))
            unreachable.timeout = .seconds(5)
            let config = unreachable
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock),
                                     routes: { _ in .external(SMTPChannel(configuration: config, from: "a@acme.example", logger: quiet)) },
                                     settings: WorkerSettings(), logger: quiet)
            let messages = MessageService(queue: JobQueue(store: store, clock: clock))
            let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            let m = try await messages.send(ctx, MessageRequest(channel: .email, to: "client@example.com", subject: "Hi", text: "x"))
            #expect(try await worker.runDueJobs() == 1)
            let (message, job) = try await messages.message(ctx.principal, id: m.message.id)
            #expect(job?.state == .retrying && message.status == .queued && message.error?.contains("SMTP") == true)
        }
    }
}

/// SMS through the Twilio channel as configured by the environment: queue → worker → a local
/// server speaking Twilio's Messages API; an unsubscribed recipient (21610) fails for good and is
/// suppressed.
@Suite struct CommsTwilioChannelTests {
    @Test(arguments: TestEnv.kinds)
    func configuredTwilioDeliversAndClassifiesItsAnswers(_ kind: DatabaseKind) async throws {
        try await CommsFakeProviderServer.with(.json(201, TwilioClientTests.created),
                                               .json(400, TwilioClientTests.error(code: 21610, message: "Attempt to send to unsubscribed recipient", status: 400)),
                                               body: { baseURL, server in
            let env = ["TWILIO_ACCOUNT_SID": TwilioClientTests.accountSID, "TWILIO_AUTH_TOKEN": TwilioClientTests.authToken,
                       "TWILIO_FROM": "+15557122661", "PARLEY_TWILIO_BASE_URL": baseURL]
            let config = try ParleyConfig.load(ConfigSources(environment: env))
            #expect(config.jobs.smsProvider == "twilio", "Twilio credentials select it")
            let clock = TestClock()
            try await TestDatabases.withStore(kind, clock: clock) { store in
                let seeded = try await Seeded.make(store, clock: clock)
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let queue = JobQueue(store: store, clock: clock)
                let worker = CommsWorker(queue: queue, routes: CommsAssembly.routes(config.jobs), settings: WorkerSettings(), logger: logger)
                let messages = MessageService(queue: queue)
                let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)

                let first = try await messages.send(ctx, MessageRequest(channel: .sms, to: "+15558675310", text: "Your car is ready"))
                #expect(try await worker.runDueJobs() == 1)
                #expect(try await messages.message(ctx.principal, id: first.message.id).0.status == .sent)
                let request = try #require(server.requests.first)
                #expect(request.form["To"] == "+15558675310" && request.form["Body"] == "Your car is ready" && request.form["From"] == "+15557122661")

                let second = try await messages.send(ctx, MessageRequest(channel: .sms, to: "+15558675311", text: "Hello"))
                #expect(try await worker.runDueJobs() == 1)
                let (failed, job) = try await messages.message(ctx.principal, id: second.message.id)
                #expect(failed.status == .failed && job?.state == .dead && job?.attempts == 1)
                let (consent, _) = try await ConsentService(store: store, clock: clock).get(ctx.principal, channel: .sms, recipient: "+15558675311")
                #expect(consent?.status == .suppressed && consent?.source == "delivery:twilio")
            }
        })
    }

    @Test func aProviderWithoutItsCredentialsStopsStartUp() throws {
        #expect(throws: ConfigError.self) { try ParleyConfig.load(ConfigSources(environment: ["PARLEY_SMS_PROVIDER": "twilio"])) }
        #expect(throws: ConfigError.self) { try ParleyConfig.load(ConfigSources(environment: ["PARLEY_EMAIL_PROVIDER": "resend", "RESEND_API_KEY": "re_x"])) }
        #expect(throws: ConfigError.self) { try ParleyConfig.load(ConfigSources(environment: ["PARLEY_EMAIL_PROVIDER": "carrier-pigeon"])) }
    }
}
