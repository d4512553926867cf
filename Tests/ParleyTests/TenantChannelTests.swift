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

@Suite struct TenantChannelTests {
    @Test(arguments: TestEnv.kinds)
    func eachTenantSendsThroughItsOwnProviderWithCredentialsSealedAtRest(_ kind: DatabaseKind) async throws {
        let keyring = Keyring.random()
        try await CommsFakeProviderServer.with(SendGridClientTests.accepted) { baseURL, sendgrid in
            try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false", "PARLEY_OUTBOUND_ALLOW": "127.0.0.1"], keyring: keyring) { client, seeded, store, clock in
                let other = try await Seeded.make(store, clock: clock, slug: "globex")
                let apiKey = "SG.acme-own-key.abcdefghijklmnop"
                let set = try await client.putJSON(seeded.adminKey, "/v1/channels/email", [
                    "provider": "sendgrid", "from": "Acme <hello@acme.example>", "api_key": .string(apiKey), "base_url": .string(baseURL),
                ])
                #expect(set["source"] == "tenant" && set["secrets"]?["api_key"] == "••••mnop")
                let listed = try await client.getJSON(seeded.adminKey, "/v1/channels")
                #expect(listed.serialized().contains("sendgrid") && !listed.serialized().contains(apiKey))
                #expect(try await client.getJSON(other.adminKey, "/v1/channels")["data"]?[0]?["source"] == "installation")
                let row = try await store.read { db in
                    try await db.raw("SELECT settings_sealed FROM tenant_channels").first()?.decode(column: "settings_sealed", as: String.self)
                }
                #expect(row.map { !$0.contains("acme-own-key") } == true, "the key is not stored in clear")

                for key in [seeded.adminKey, other.adminKey] {
                    _ = try await client.postJSON(key, "/v1/messages", ["channel": "email", "to": "ada@example.com", "subject": "Hi", "text": "Hello"],
                                                  status: .accepted)
                }
                let queue = JobQueue(store: store, clock: clock)
                let worker = CommsWorker(queue: queue, router: CommsAssembly.router(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_OUTBOUND_ALLOW": "127.0.0.1"])).jobs, keyring: keyring),
                                         settings: WorkerSettings(), logger: Logger(label: "t"))
                #expect(try await worker.runDueJobs() == 2)
                let request = try sendgrid.onlyRequest()
                #expect(request.headers["authorization"] == "Bearer \(apiKey)", "acme's own key")
                #expect(try await client.getJSON(seeded.adminKey, "/v1/outbox")["data"]?.arrayValue?.isEmpty == true)
                #expect(try await client.getJSON(other.adminKey, "/v1/outbox")["data"]?.arrayValue?.count == 1, "globex uses the installation's outbox")

                // Back to the installation's settings.
                try await client.execute(uri: "/v1/channels/email", method: .delete, headers: auth(seeded.adminKey)) { #expect($0.status == .noContent) }
                try await client.execute(uri: "/v1/channels/email", method: .delete, headers: auth(seeded.adminKey)) { #expect($0.status == .notFound) }
                #expect(try await client.getJSON(seeded.adminKey, "/v1/channels")["data"]?[0]?["source"] == "installation")
            }
        }
    }

    @Test func badChannelSettingsAndNonAdminsAreRefused() async throws {
        try await withAgentServer(.sqlite) { client, seeded, store, clock in
            let cases: [(String, JSONValue, String)] = [
                ("email", ["provider": "twilio", "account_sid": "AC1", "auth_token": "t", "from": "+1555"], "invalid_channel_settings"),
                ("sms", ["provider": "sendgrid", "api_key": "k", "from": "a@b.c"], "invalid_channel_settings"),
                ("email", ["provider": "sendgrid", "from": "a@b.c"], "invalid_channel_settings"),
                ("email", ["provider": "smtp", "smtp_url": "http://x", "from": "a@b.c"], "invalid_channel_settings"),
                ("email", ["provider": "resend", "api_key": "k", "from": "not an address"], "invalid_channel_settings"),
                ("sms", ["provider": "twilio", "account_sid": "AC1", "auth_token": "t"], "invalid_channel_settings"),
                ("email", ["provider": "sendgrid", "api_key": "k", "from": "a@b.c", "base_url": "ftp://x"], "invalid_channel_settings"),
            ]
            for (channel, body, code) in cases {
                let answer = try await client.putJSON(seeded.adminKey, "/v1/channels/\(channel)", body, status: .badRequest)
                #expect(answer["error"]?["code"]?.stringValue == code, "\(body.serialized())")
            }
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/fax", ["provider": "outbox"], status: .notFound)
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email", ["from": "x"], status: .badRequest)
            let operatorKey = try #require(try await seeded.key(store, clock: clock, role: .operator).secret)
            _ = try await client.putJSON(operatorKey, "/v1/channels/sms",
                                         ["provider": "twilio", "account_sid": "AC1", "auth_token": "t", "from": "+15550100"], status: .forbidden)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func settingsSealedUnderAnotherKeyAreRetriedNotSentElsewhere(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, store, clock in
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email", ["provider": "resend", "api_key": "re_123456789", "from": "a@acme.example"])
            _ = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "email", "to": "ada@example.com", "subject": "Hi", "text": "Hello"],
                                          status: .accepted)
            // A worker with a different key cannot read the tenant's settings: the job waits for a retry.
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), router: CommsAssembly.router(
                try ParleyConfig.load(ConfigSources(environment: [:])).jobs, keyring: .random()), settings: WorkerSettings(), logger: Logger(label: "t"))
            #expect(try await worker.runDueJobs() == 1)
            let jobs = try await client.getJSON(seeded.adminKey, "/v1/jobs")
            #expect(jobs["data"]?[0]?["state"] == "retrying")
            #expect(try await client.getJSON(seeded.adminKey, "/v1/outbox")["data"]?.arrayValue?.isEmpty == true)
        }
    }
}

@Suite struct NotifyCustomerTests {
    @Test(arguments: TestEnv.kinds)
    func theChannelFollowsThePreferenceAndConsent(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, store, clock in
            let customer: [String: JSONValue] = ["channel": "auto", "email": "ada@example.com", "phone": "+14155550100",
                                                 "subject": "Your car is ready", "text": "Your car is ready for pickup."]
            let first = try await client.postJSON(seeded.adminKey, "/v1/messages", .object(customer.merging(["idempotency_key": "ready-1"]) { $1 }),
                                                  status: .accepted)
            #expect(first["channel"] == "sms" && first["fallback_email"] == "ada@example.com")
            #expect(first["channel_reason"]?.stringValue?.contains("preferred") == true)
            let jobs = try await client.getJSON(seeded.adminKey, "/v1/jobs")
            #expect(jobs["data"]?[0]?["type"] == "notify_customer")

            // The customer texts STOP: the next notification goes by email, and says why.
            _ = try await client.postJSON(seeded.adminKey, "/v1/inbound/sms", ["from": "+14155550100", "body": "STOP"])
            let second = try await client.postJSON(seeded.adminKey, "/v1/messages", .object(customer), status: .accepted)
            #expect(second["channel"] == "email" && second["to"] == "ada@example.com")
            #expect(second["channel_reason"]?.stringValue?.contains("opted out") == true)
            // A replay answers with the first choice.
            let replay = try await client.postJSON(seeded.adminKey, "/v1/messages", .object(customer.merging(["idempotency_key": "ready-1"]) { $1 }))
            #expect(replay["message_id"] == first["message_id"] && replay["channel"] == "sms")
            // Preferring email, with only a phone the SMS route is refused: nothing may reach them.
            let nowhere = try await client.postJSON(seeded.adminKey, "/v1/messages", [
                "channel": "auto", "phone": "+14155550100", "prefer": "email", "text": "hi",
            ], status: .conflict)
            #expect(nowhere["error"]?["code"] == "no_channel_allowed")
        }
    }

    @Test func badNotificationsAreRefused() async throws {
        try await withAgentServer(.sqlite, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, _, _ in
            let cases: [(JSONValue, String)] = [
                (["channel": "auto", "text": "hi"], "missing_recipient"),
                (["channel": "auto", "email": "ada@example.com", "prefer": "fax", "subject": "s", "text": "hi"], "invalid_channel"),
                (["channel": "auto", "email": "ada@example.com", "to": "ada@example.com", "subject": "s", "text": "hi"], "invalid_content"),
                (["channel": "auto", "email": "ada@example.com", "templates": ["fax": "x"]], "invalid_content"),
                (["channel": "auto", "email": "not-an-email", "subject": "s", "text": "hi"], "invalid_email"),
                (["channel": "auto", "phone": "+1415", "text": "hi"], "invalid_phone"),
                (["channel": "auto", "email": "ada@example.com", "templates": ["sms": "appointment_reminder"]], "missing_template"),
            ]
            for (body, code) in cases {
                let answer = try await client.postJSON(seeded.adminKey, "/v1/messages", body, status: .badRequest)
                #expect(answer["error"]?["code"]?.stringValue == code, "\(body.serialized())")
            }
        }
    }
}

@Suite struct SuppressionListTests {
    @Test(arguments: TestEnv.kinds)
    func theSuppressionListPagesAndStaysInTheTenant(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            for (i, status) in ["suppressed", "opted_out", "suppressed", "opted_in", "suppressed"].enumerated() {
                _ = try await client.putJSON(seeded.adminKey, "/v1/consent/email/user\(i)@example.com", ["status": .string(status), "reason": "test"])
            }
            _ = try await client.postJSON(seeded.adminKey, "/v1/inbound/sms", ["from": "+14155550100", "body": "STOP"])
            let first = try await client.getJSON(seeded.adminKey, "/v1/consent?status=suppressed&limit=2")
            #expect(first["data"]?.arrayValue?.map { $0["recipient"]?.stringValue ?? "" } == ["user0@example.com", "user2@example.com"])
            let cursor = try #require(first["next_cursor"]?.stringValue)
            let second = try await client.getJSON(seeded.adminKey, "/v1/consent?status=suppressed&limit=2&after=\(cursor)")
            #expect(second["data"]?.arrayValue?.map { $0["recipient"]?.stringValue ?? "" } == ["user4@example.com"] && second["next_cursor"] == .null)
            let optedOut = try await client.getJSON(seeded.adminKey, "/v1/consent?status=opted_out")
            #expect(optedOut["data"]?.arrayValue?.map { $0["channel"]?.stringValue ?? "" } == ["email", "sms"])
            #expect(try await client.getJSON(other.adminKey, "/v1/consent")["data"]?.arrayValue?.isEmpty == true)
            _ = try await client.getJSON(seeded.adminKey, "/v1/consent?status=gone", status: .badRequest)
            _ = try await client.getJSON(seeded.adminKey, "/v1/consent?after=nonsense", status: .badRequest)
            _ = try await client.getJSON(seeded.adminKey, "/v1/consent?limit=0", status: .badRequest)
        }
    }
}

@Suite struct TenantWebhookSecretTests {
    /// A tenant with its own Resend account verifies its webhooks with its own secret, even when
    /// the installation has none; the installation's secret does not open another tenant's.
    @Test(arguments: TestEnv.kinds)
    func aTenantsOwnProviderSignsItsWebhooks(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false", "PARLEY_PUBLIC_URL": "https://parley.example"]) { client, seeded, store, clock in
            let own = Data((0..<24).map { UInt8($0 * 5 + 1) })
            let body = #"{"type":"email.delivered","created_at":"2026-01-01T00:00:00.000Z","data":{"email_id":"re_unknown"}}"#
            let ts = WebhookTests.unix(clock)
            let headers = ["svix-id": "msg_1", "svix-timestamp": ts, "svix-signature": WebhookTests.svixSignature(body, id: "msg_1", timestamp: ts, key: own)]
            let (before, _) = try await WebhookTests.postJSON(client, "/webhooks/acme/resend/events", body, headers)
            #expect(before == .notFound, "no secret anywhere yet: no webhook")
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email", [
                "provider": "resend", "api_key": "re_123456789", "from": "a@acme.example", "webhook_secret": .string("whsec_" + own.base64EncodedString()),
            ])
            let (after, answer) = try await WebhookTests.postJSON(client, "/webhooks/acme/resend/events", body, headers)
            #expect(after == .ok, "\(answer?.serialized() ?? "")")
            let forged = ["svix-id": "msg_2", "svix-timestamp": ts,
                          "svix-signature": WebhookTests.svixSignature(body, id: "msg_2", timestamp: ts, key: Data(repeating: 9, count: 24))]
            let (bad, _) = try await WebhookTests.postJSON(client, "/webhooks/acme/resend/events", body, forged)
            #expect(bad == .unauthorized)
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email", [
                "provider": "resend", "api_key": "re_123456789", "from": "a@acme.example", "webhook_secret": "not-a-secret",
            ], status: .badRequest)
        }
    }
}

@Suite struct TwilioStatusCallbackTests {
    /// Without an explicit status callback, Twilio is told to report to the tenant's own signed
    /// webhook, so delivery statuses arrive with no further set-up.
    @Test(arguments: TestEnv.kinds)
    func smsAskTwilioToReportToTheTenantsWebhook(_ kind: DatabaseKind) async throws {
        let keyring = Keyring.random()
        try await CommsFakeProviderServer.with(.json(201, TwilioClientTests.created)) { baseURL, twilio in
            try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false", "PARLEY_OUTBOUND_ALLOW": "127.0.0.1"], keyring: keyring) { client, seeded, store, clock in
                _ = try await client.putJSON(seeded.adminKey, "/v1/channels/sms", [
                    "provider": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok_secret_value",
                    "from": "+15557122661", "base_url": .string(baseURL),
                ])
                _ = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "sms", "to": "+14155550100", "text": "Hi"], status: .accepted)
                let worker = CommsWorker(queue: JobQueue(store: store, clock: clock),
                                         router: CommsAssembly.router(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_OUTBOUND_ALLOW": "127.0.0.1"])).jobs, keyring: keyring,
                                                                      baseURL: "https://parley.example"),
                                         settings: WorkerSettings(), logger: Logger(label: "t"))
                #expect(try await worker.runDueJobs() == 1)
                #expect(try twilio.onlyRequest().form["StatusCallback"] == "https://parley.example/webhooks/acme/twilio/status")
                let sent = try await client.getJSON(seeded.adminKey, "/v1/jobs")
                #expect(sent["data"]?[0]?["state"] == "succeeded")
            }
        }
    }
}
