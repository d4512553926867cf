import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyStorage
import SQLKit
import Testing

/// Signed provider webhooks, each signed here the way the provider signs: Twilio HMAC-SHA1,
/// SendGrid ECDSA P-256, Resend (Svix) HMAC-SHA256.
@Suite struct WebhookTests {
    static let base = "https://parley.example"
    static let twilioToken = "twilio-auth-token-for-tests"
    // Immutable once made; swift-crypto does not mark its key types Sendable.
    nonisolated(unsafe) static let sendGridKey = P256.Signing.PrivateKey()
    static let svixKey = Data((0..<24).map { UInt8($0 * 7 + 3) })

    static var env: [String: String] {
        ["PARLEY_PUBLIC_URL": base, "PARLEY_SERVE_WORKER": "false", "TWILIO_AUTH_TOKEN": twilioToken,
         "PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY": sendGridKey.publicKey.derRepresentation.base64EncodedString(),
         "PARLEY_RESEND_WEBHOOK_SECRET": "whsec_" + svixKey.base64EncodedString()]
    }

    // MARK: Signing as the providers do

    static func form(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }

    static func twilioSignature(token: String = twilioToken, url: String, _ fields: [(String, String)]) -> String {
        let payload = fields.sorted { $0.0 < $1.0 }.reduce(url) { $0 + $1.0 + $1.1 }
        return Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(payload.utf8), using: SymmetricKey(data: Data(token.utf8)))).base64EncodedString()
    }

    static func sendGridSignature(_ body: String, timestamp: String, key: P256.Signing.PrivateKey = sendGridKey) throws -> String {
        try key.signature(for: Data(timestamp.utf8) + Data(body.utf8)).derRepresentation.base64EncodedString()
    }

    static func svixSignature(_ body: String, id: String, timestamp: String, key: Data = svixKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    static func unix(_ clock: TestClock, offset: TimeInterval = 0) -> String { String(Int(clock.now().timeIntervalSince1970 + offset)) }

    // MARK: Requests

    static func postTwilio(_ client: some TestClientProtocol, _ path: String, _ fields: [(String, String)], signature: String?,
                           tenant: String = "acme") async throws -> (HTTPResponse.Status, String) {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let signature { headers[HTTPField.Name("X-Twilio-Signature")!] = signature }
        return try await client.execute(uri: "/webhooks/\(tenant)/twilio/\(path)", method: .post, headers: headers,
                                        body: ByteBuffer(string: form(fields))) { ($0.status, String(buffer: $0.body)) }
    }

    /// A correctly signed Twilio request.
    static func twilio(_ client: some TestClientProtocol, _ path: String, _ fields: [(String, String)], tenant: String = "acme")
        async throws -> (HTTPResponse.Status, String) {
        try await postTwilio(client, path, fields, signature: twilioSignature(url: "\(base)/webhooks/\(tenant)/twilio/\(path)", fields), tenant: tenant)
    }

    static func postJSON(_ client: some TestClientProtocol, _ uri: String, _ body: String, _ extra: [String: String]) async throws
        -> (HTTPResponse.Status, JSONValue?) {
        var headers: HTTPFields = [.contentType: "application/json"]
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) {
            ($0.status, try? JSONValue.parse(String(buffer: $0.body)))
        }
    }

    static func sendGrid(_ client: some TestClientProtocol, _ body: String, clock: TestClock, tenant: String = "acme") async throws
        -> (HTTPResponse.Status, JSONValue?) {
        let ts = unix(clock)
        return try await postJSON(client, "/webhooks/\(tenant)/sendgrid/events", body, [
            "X-Twilio-Email-Event-Webhook-Signature": try sendGridSignature(body, timestamp: ts), "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        ])
    }

    static func resend(_ client: some TestClientProtocol, _ body: String, id: String, clock: TestClock) async throws -> (HTTPResponse.Status, JSONValue?) {
        let ts = unix(clock)
        return try await postJSON(client, "/webhooks/acme/resend/events", body, [
            "svix-id": id, "svix-timestamp": ts, "svix-signature": svixSignature(body, id: id, timestamp: ts),
        ])
    }

    /// A message as a provider accepted it (what the worker records after a send).
    static func sentMessage(_ client: some TestClientProtocol, _ key: String, store: any Store, channel: String, to: String,
                            provider: String, providerID: String) async throws -> String {
        var body: [String: JSONValue] = ["channel": .string(channel), "to": .string(to), "text": "Hello"]
        if channel == "email" { body["subject"] = "Hi" }
        let id = try #require(try await client.postJSON(key, "/v1/messages", .object(body), status: .accepted)["message_id"]?.stringValue)
        try await store.transaction { db in
            try await db.raw("UPDATE messages SET status = 'sent', provider = \(bind: provider), provider_message_id = \(bind: providerID) WHERE id = \(bind: id)").run()
        }
        return id
    }

    static func deliveryStatus(_ client: some TestClientProtocol, _ key: String, _ id: String) async throws -> String? {
        try await client.getJSON(key, "/v1/messages/\(id)")["delivery_status"]?.stringValue
    }

    static func consent(_ client: some TestClientProtocol, _ key: String, _ channel: String, _ to: String) async throws -> JSONValue {
        try await client.getJSON(key, "/v1/consent/\(channel)/\(to)")
    }

    // MARK: Twilio

    @Test(arguments: TestEnv.kinds)
    func twilioStatusCallbacksMoveForwardOnlyAndPermanentErrorsSuppress(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.env) { client, seeded, store, clock in
            let key = seeded.adminKey
            let sms = try await Self.sentMessage(client, key, store: store, channel: "sms", to: "+14155550100", provider: "twilio", providerID: "SM100")
            let sent = [("MessageSid", "SM100"), ("MessageStatus", "sent"), ("AccountSid", "AC1")]
            let (status, body) = try await Self.twilio(client, "status", sent)
            #expect(status == .ok && body.contains("<Response/>"))
            #expect(try await Self.deliveryStatus(client, key, sms) == "sent")

            clock.advance(by: 5)
            let delivered = [("MessageSid", "SM100"), ("MessageStatus", "delivered")]
            #expect(try await Self.twilio(client, "status", delivered).0 == .ok)
            let first = try await client.getJSON(key, "/v1/messages/\(sms)")
            #expect(first["delivery_status"] == "delivered")
            // The same callback again, and a late `sent`: nothing moves, not even the time.
            clock.advance(by: 5)
            #expect(try await Self.twilio(client, "status", delivered).0 == .ok)
            #expect(try await Self.twilio(client, "status", sent).0 == .ok)
            let after = try await client.getJSON(key, "/v1/messages/\(sms)")
            #expect(after["delivery_status"] == "delivered" && after["delivery_status_at"] == first["delivery_status_at"])

            // Bad or missing signatures, and a tampered body, are refused and change nothing.
            let failed = [("MessageSid", "SM100"), ("MessageStatus", "failed"), ("ErrorCode", "21211")]
            let url = "\(Self.base)/webhooks/acme/twilio/status"
            for signature in [nil, "", "not base64!", Self.twilioSignature(token: "another-token", url: url, failed),
                              Self.twilioSignature(url: url, failed.map { $0.0 == "ErrorCode" ? ($0.0, "30007") : $0 }),
                              Self.twilioSignature(url: "http://127.0.0.1:8080/webhooks/acme/twilio/status", failed)] {
                try await client.execute(uri: "/webhooks/acme/twilio/status", method: .post,
                                         headers: signature.map { [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("X-Twilio-Signature")!: $0] }
                                             ?? [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: Self.form(failed))) { r in
                    #expect(r.status == .unauthorized && r.errorCode == "invalid_signature")
                    #expect(!String(buffer: r.body).contains(Self.twilioToken))
                }
            }
            #expect(try await Self.deliveryStatus(client, key, sms) == "delivered")

            // A permanent error code suppresses the number once, with the webhook as the source.
            let bad = try await Self.sentMessage(client, key, store: store, channel: "sms", to: "+14155550101", provider: "twilio", providerID: "SM101")
            let invalid = [("MessageSid", "SM101"), ("MessageStatus", "undelivered"), ("ErrorCode", "21211")]
            for _ in 0..<2 { #expect(try await Self.twilio(client, "status", invalid).0 == .ok) }
            #expect(try await Self.deliveryStatus(client, key, bad) == "undelivered")
            let suppressed = try await Self.consent(client, key, "sms", "+14155550101")
            #expect(suppressed["current"]?["status"] == "suppressed" && suppressed["current"]?["source"] == "webhook:twilio")
            #expect(suppressed["history"]?.arrayValue?.count == 1)

            // 21610: the recipient replied STOP to the carrier: an opt-out, not a suppression.
            _ = try await Self.sentMessage(client, key, store: store, channel: "sms", to: "+14155550102", provider: "twilio", providerID: "SM102")
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM102"), ("MessageStatus", "failed"), ("ErrorCode", "21610")]).0 == .ok)
            #expect(try await Self.consent(client, key, "sms", "+14155550102")["current"]?["status"] == "opted_out")

            // An error about the content (30007, carrier filtering) blames nobody.
            let filtered = try await Self.sentMessage(client, key, store: store, channel: "sms", to: "+14155550103", provider: "twilio", providerID: "SM103")
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM103"), ("MessageStatus", "undelivered"), ("ErrorCode", "30007")]).0 == .ok)
            #expect(try await Self.deliveryStatus(client, key, filtered) == "undelivered")
            #expect(try await Self.consent(client, key, "sms", "+14155550103")["current"] == .null)

            // Unknown ids and statuses are accepted (Twilio would retry an error) and change nothing.
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SMunknown"), ("MessageStatus", "delivered")]).0 == .ok)
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM103"), ("MessageStatus", "teleported")]).0 == .ok)

            // Malformed input: 400, 415, 404, 413.
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM100")]).0 == .badRequest)
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM100"), ("MessageSid", "SM101"), ("MessageStatus", "sent")]).0 == .badRequest)
            try await client.execute(uri: "/webhooks/acme/twilio/status", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: "{}")) { #expect($0.status == .unsupportedMediaType) }
            let (unknownTenant, text) = try await Self.twilio(client, "status", sent, tenant: "nobody")
            #expect(unknownTenant == .notFound && text.contains("tenant_not_found"))
            try await client.execute(uri: "/webhooks/acme/twilio/status", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                     body: ByteBuffer(string: "Body=" + String(repeating: "a", count: 3 << 20))) { #expect($0.status == .contentTooLarge) }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aTenantsWebhookCannotTouchAnotherTenantsMessages(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.env) { client, seeded, store, clock in
            let other = try await Seeded.make(store, clock: clock, slug: "globex")
            let theirs = try await Self.sentMessage(client, other.adminKey, store: store, channel: "sms", to: "+14155550100", provider: "twilio", providerID: "SM900")
            let email = try await Self.sentMessage(client, other.adminKey, store: store, channel: "email", to: "eve@example.com", provider: "sendgrid", providerID: "sg900")
            // Correctly signed, sent to acme's URL, naming globex's messages.
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM900"), ("MessageStatus", "failed"), ("ErrorCode", "21211")]).0 == .ok)
            let (status, outcome) = try await Self.sendGrid(client, #"[{"event":"bounce","type":"bounce","sg_message_id":"sg900.filter1","email":"eve@example.com"}]"#, clock: clock)
            #expect(status == .ok && outcome?["received"] == 1 && outcome?["applied"] == 0)
            #expect(try await Self.deliveryStatus(client, other.adminKey, theirs) == nil)
            #expect(try await Self.deliveryStatus(client, other.adminKey, email) == nil)
            #expect(try await Self.consent(client, other.adminKey, "sms", "+14155550100")["current"] == .null)
            #expect(try await Self.consent(client, seeded.adminKey, "email", "eve@example.com")["current"] == .null)
            // Posted to globex's own URL, the same event applies there.
            #expect(try await Self.twilio(client, "status", [("MessageSid", "SM900"), ("MessageStatus", "delivered")], tenant: "globex").0 == .ok)
            #expect(try await Self.deliveryStatus(client, other.adminKey, theirs) == "delivered")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func inboundSMSKeywordsChangeConsentOncePerMessage(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.env) { client, seeded, _, _ in
            let from = "+14155550100"
            let start = [("MessageSid", "SMin1"), ("From", from), ("To", "+14155559999"), ("Body", "Start")]
            var (status, body) = try await Self.twilio(client, "inbound", start)
            #expect(status == .ok && body.hasSuffix("<Response/>"))
            (status, body) = try await Self.twilio(client, "inbound", [("MessageSid", "SMin2"), ("From", from), ("Body", " stop ")])
            #expect(status == .ok && body.hasSuffix("<Response/>"))
            // The first message replayed (same MessageSid, valid signature): the STOP stands.
            #expect(try await Self.twilio(client, "inbound", start).0 == .ok)
            let consent = try await Self.consent(client, seeded.adminKey, "sms", from)
            #expect(consent["current"]?["status"] == "opted_out" && consent["current"]?["source"] == "webhook:twilio")
            #expect(consent["history"]?.arrayValue?.map { $0["status"]?.stringValue ?? "" } == ["opted_in", "opted_out"])

            (status, body) = try await Self.twilio(client, "inbound", [("MessageSid", "SMin3"), ("From", from), ("Body", "HELP")])
            #expect(status == .ok && body.contains("<Message>Acme acme: reply STOP to unsubscribe"))
            (status, body) = try await Self.twilio(client, "inbound", [("MessageSid", "SMin4"), ("From", from), ("Body", "When is my car ready?")])
            #expect(status == .ok && body.hasSuffix("<Response/>"))

            #expect(try await Self.postTwilio(client, "inbound", [("MessageSid", "SMin5"), ("From", from), ("Body", "START")], signature: nil).0 == .unauthorized)
            #expect(try await Self.twilio(client, "inbound", [("MessageSid", "SMin6"), ("Body", "START")]).0 == .badRequest)
            #expect(try await Self.twilio(client, "inbound", [("MessageSid", "SMin7"), ("From", "12"), ("Body", "START")]).0 == .badRequest)
            #expect(try await Self.consent(client, seeded.adminKey, "sms", from)["current"]?["status"] == "opted_out")
        }
    }

    // MARK: SendGrid

    @Test(arguments: TestEnv.kinds)
    func sendGridEventsAreVerifiedAndApplied(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.env) { client, seeded, store, clock in
            let key = seeded.adminKey
            let ok = try await Self.sentMessage(client, key, store: store, channel: "email", to: "ada@example.com", provider: "sendgrid", providerID: "msgA")
            let bounced = try await Self.sentMessage(client, key, store: store, channel: "email", to: "bob@example.com", provider: "sendgrid", providerID: "msgB")
            let blocked = try await Self.sentMessage(client, key, store: store, channel: "email", to: "cy@example.com", provider: "sendgrid", providerID: "msgC")
            let spam = try await Self.sentMessage(client, key, store: store, channel: "email", to: "dee@example.com", provider: "sendgrid", providerID: "msgD")
            let batch = """
                [{"email":"ada@example.com","timestamp":1800000000,"event":"processed","sg_event_id":"e1","sg_message_id":"msgA.filter0001.16648.5515E0B88.0"},
                 {"email":"ada@example.com","timestamp":1800000001,"event":"delivered","sg_event_id":"e2","sg_message_id":"msgA.filter0001.16648.5515E0B88.0","response":"250 OK"},
                 {"email":"bob@example.com","timestamp":1800000001,"event":"bounce","type":"bounce","reason":"550 5.1.1 no such user","sg_event_id":"e3","sg_message_id":"msgB.f.1"},
                 {"email":"cy@example.com","timestamp":1800000001,"event":"bounce","type":"blocked","reason":"IP listed","sg_event_id":"e4","sg_message_id":"msgC.f.1"},
                 {"email":"dee@example.com","timestamp":1800000001,"event":"delivered","sg_event_id":"e5","sg_message_id":"msgD.f.1"},
                 {"email":"dee@example.com","timestamp":1800000002,"event":"spamreport","sg_event_id":"e6","sg_message_id":"msgD.f.1"},
                 {"email":"ada@example.com","timestamp":1800000003,"event":"open","sg_event_id":"e7","sg_message_id":"msgA.f.1"},
                 {"email":"x@example.com","timestamp":1800000003,"event":"delivered","sg_event_id":"e8","sg_message_id":"unknown.f.1"},
                 {"event":"group_resubscribe","sg_event_id":"e9"}]
                """
            let (status, outcome) = try await Self.sendGrid(client, batch, clock: clock)
            #expect(status == .ok && outcome?["received"] == 7 && outcome?["applied"] == 6)
            #expect(try await Self.deliveryStatus(client, key, ok) == "delivered")
            #expect(try await Self.deliveryStatus(client, key, bounced) == "bounced")
            #expect(try await Self.deliveryStatus(client, key, blocked) == "undelivered")
            #expect(try await Self.deliveryStatus(client, key, spam) == "complained")
            let bob = try await Self.consent(client, key, "email", "bob@example.com")
            #expect(bob["current"]?["status"] == "suppressed" && bob["current"]?["source"] == "webhook:sendgrid")
            #expect(bob["current"]?["reason"]?.stringValue?.contains("550 5.1.1") == true)
            #expect(try await Self.consent(client, key, "email", "cy@example.com")["current"] == .null)
            #expect(try await Self.consent(client, key, "email", "dee@example.com")["current"]?["status"] == "opted_out")
            // A suppressed address is refused from now on.
            let refused = try await client.postJSON(key, "/v1/messages", ["channel": "email", "to": "bob@example.com", "subject": "Hi", "text": "Again"],
                                                    status: .conflict)
            #expect(refused["error"]?["code"] == "recipient_suppressed")

            // SendGrid delivers the same batch again (freshly signed): nothing more changes.
            clock.advance(by: 60)
            let (again, repeated) = try await Self.sendGrid(client, batch, clock: clock)
            #expect(again == .ok && repeated?["applied"] == 0)
            #expect(try await Self.consent(client, key, "email", "bob@example.com")["history"]?.arrayValue?.count == 1)

            // An unsubscribe without a status change is an opt-out, once.
            let unsubscribe = #"[{"event":"unsubscribe","sg_event_id":"u1","sg_message_id":"msgA.f.1"}]"#
            #expect(try await Self.sendGrid(client, unsubscribe, clock: clock).1?["applied"] == 1)
            #expect(try await Self.consent(client, key, "email", "ada@example.com")["current"]?["status"] == "opted_out")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func sendGridRefusesBadSignaturesStaleTimestampsAndMalformedBodies(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.env) { client, seeded, store, clock in
            let id = try await Self.sentMessage(client, seeded.adminKey, store: store, channel: "email", to: "bob@example.com", provider: "sendgrid", providerID: "msgB")
            let body = #"[{"event":"bounce","type":"bounce","sg_event_id":"e1","sg_message_id":"msgB.f.1"}]"#
            let now = Self.unix(clock)
            let stale = Self.unix(clock, offset: -301)
            let cases: [(String, [String: String])] = [
                ("no headers", [:]),
                ("no timestamp", ["X-Twilio-Email-Event-Webhook-Signature": try Self.sendGridSignature(body, timestamp: now)]),
                ("no signature", ["X-Twilio-Email-Event-Webhook-Timestamp": now]),
                ("stale", ["X-Twilio-Email-Event-Webhook-Signature": try Self.sendGridSignature(body, timestamp: stale),
                           "X-Twilio-Email-Event-Webhook-Timestamp": stale]),
                ("other key", ["X-Twilio-Email-Event-Webhook-Signature": try Self.sendGridSignature(body, timestamp: now, key: P256.Signing.PrivateKey()),
                               "X-Twilio-Email-Event-Webhook-Timestamp": now]),
                ("other timestamp", ["X-Twilio-Email-Event-Webhook-Signature": try Self.sendGridSignature(body, timestamp: now),
                                     "X-Twilio-Email-Event-Webhook-Timestamp": Self.unix(clock, offset: 1)]),
                ("garbage", ["X-Twilio-Email-Event-Webhook-Signature": "AAAA", "X-Twilio-Email-Event-Webhook-Timestamp": now]),
            ]
            for (name, headers) in cases {
                let (status, error) = try await Self.postJSON(client, "/webhooks/acme/sendgrid/events", body, headers)
                #expect(status == .unauthorized && error?["error"]?["code"] == "invalid_signature", "\(name)")
            }
            // Signed for one body, sent with another.
            let tampered = body.replacingOccurrences(of: "msgB", with: "msgX")
            let (status, _) = try await Self.postJSON(client, "/webhooks/acme/sendgrid/events", tampered, [
                "X-Twilio-Email-Event-Webhook-Signature": try Self.sendGridSignature(body, timestamp: now), "X-Twilio-Email-Event-Webhook-Timestamp": now,
            ])
            #expect(status == .unauthorized)
            #expect(try await Self.deliveryStatus(client, seeded.adminKey, id) == nil)
            #expect(try await Self.consent(client, seeded.adminKey, "email", "bob@example.com")["current"] == .null)

            for malformed in ["{not json", #"{"event":"bounce"}"#, #"[{"sg_message_id":"msgB.f"}]"#, "[1]", ""] {
                let (status, error) = try await Self.sendGrid(client, malformed, clock: clock)
                #expect(status == .badRequest && error?["error"]?["code"] == "invalid_webhook", "\(malformed)")
            }
            #expect(try await Self.sendGrid(client, "[]", clock: clock).0 == .ok)
        }
    }

    // MARK: Resend

    @Test(arguments: TestEnv.kinds)
    func resendEventsAreVerifiedWithSvixAndApplied(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.env) { client, seeded, store, clock in
            let key = seeded.adminKey
            let ok = try await Self.sentMessage(client, key, store: store, channel: "email", to: "ada@example.com", provider: "resend", providerID: "re-ok")
            let bounced = try await Self.sentMessage(client, key, store: store, channel: "email", to: "bob@example.com", provider: "resend", providerID: "re-bounce")
            _ = try await Self.sentMessage(client, key, store: store, channel: "email", to: "dee@example.com", provider: "resend", providerID: "re-spam")
            func event(_ type: String, _ id: String, extra: String = "") -> String {
                #"{"type":"\#(type)","created_at":"2027-01-15T08:00:00.000Z","data":{"email_id":"\#(id)","to":["someone@example.com"]\#(extra)}}"#
            }
            #expect(try await Self.resend(client, event("email.delivered", "re-ok"), id: "msg_1", clock: clock).1?["applied"] == 1)
            #expect(try await Self.resend(client, event("email.delivery_delayed", "re-ok"), id: "msg_2", clock: clock).1?["applied"] == 0)
            #expect(try await Self.deliveryStatus(client, key, ok) == "delivered")

            let bounce = event("email.bounced", "re-bounce", extra: #","bounce":{"type":"Permanent","message":"mailbox does not exist"}"#)
            #expect(try await Self.resend(client, bounce, id: "msg_3", clock: clock).1?["applied"] == 1)
            #expect(try await Self.deliveryStatus(client, key, bounced) == "bounced")
            let bob = try await Self.consent(client, key, "email", "bob@example.com")
            #expect(bob["current"]?["status"] == "suppressed" && bob["current"]?["source"] == "webhook:resend")
            // Svix retries with the same id: recorded once.
            #expect(try await Self.resend(client, bounce, id: "msg_3", clock: clock).1?["applied"] == 0)

            #expect(try await Self.resend(client, event("email.complained", "re-spam"), id: "msg_4", clock: clock).1?["applied"] == 1)
            #expect(try await Self.consent(client, key, "email", "dee@example.com")["current"]?["status"] == "opted_out")
            // Events that are not about our email, or not about delivery, are accepted and ignored.
            #expect(try await Self.resend(client, event("email.opened", "re-ok"), id: "msg_5", clock: clock).0 == .ok)
            #expect(try await Self.resend(client, #"{"type":"domain.updated","data":{"id":"d1"}}"#, id: "msg_6", clock: clock).0 == .ok)
            #expect(try await Self.resend(client, event("email.delivered", "someone-elses"), id: "msg_7", clock: clock).1?["applied"] == 0)

            // Several signatures (secret rotation): any valid one will do.
            let body = event("email.delivered", "re-ok")
            let ts = Self.unix(clock)
            let rotated = "v1,\(Data(repeating: 1, count: 32).base64EncodedString()) " + Self.svixSignature(body, id: "msg_8", timestamp: ts)
            #expect(try await Self.postJSON(client, "/webhooks/acme/resend/events", body, ["svix-id": "msg_8", "svix-timestamp": ts, "svix-signature": rotated]).0 == .ok)

            let stale = Self.unix(clock, offset: -400)
            let refusals: [(String, [String: String])] = [
                ("stale", ["svix-id": "msg_9", "svix-timestamp": stale, "svix-signature": Self.svixSignature(body, id: "msg_9", timestamp: stale)]),
                ("future", ["svix-id": "msg_9", "svix-timestamp": Self.unix(clock, offset: 400),
                            "svix-signature": Self.svixSignature(body, id: "msg_9", timestamp: Self.unix(clock, offset: 400))]),
                ("wrong secret", ["svix-id": "msg_9", "svix-timestamp": ts, "svix-signature": Self.svixSignature(body, id: "msg_9", timestamp: ts, key: Data("other".utf8))]),
                ("id swapped", ["svix-id": "msg_10", "svix-timestamp": ts, "svix-signature": Self.svixSignature(body, id: "msg_9", timestamp: ts)]),
                ("no id", ["svix-timestamp": ts, "svix-signature": Self.svixSignature(body, id: "", timestamp: ts)]),
                ("no signature", ["svix-id": "msg_9", "svix-timestamp": ts]),
                ("other version", ["svix-id": "msg_9", "svix-timestamp": ts,
                                   "svix-signature": Self.svixSignature(body, id: "msg_9", timestamp: ts).replacingOccurrences(of: "v1,", with: "v1a,")]),
            ]
            for (name, headers) in refusals {
                let (status, error) = try await Self.postJSON(client, "/webhooks/acme/resend/events", body, headers)
                #expect(status == .unauthorized && error?["error"]?["code"] == "invalid_signature", "\(name)")
            }
            let (status, error) = try await Self.resend(client, "[]", id: "msg_11", clock: clock)
            #expect(status == .badRequest && error?["error"]?["code"] == "invalid_webhook")
        }
    }

    // MARK: Configuration

    @Test func webhooksWithoutASecretAreNotAccepted() async throws {
        try await withAgentServer(.sqlite, env: ["PARLEY_SERVE_WORKER": "false"]) { client, _, _, clock in
            for path in ["twilio/status", "twilio/inbound"] {
                try await client.execute(uri: "/webhooks/acme/\(path)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "MessageSid=SM1&MessageStatus=delivered")) { r in
                    #expect(r.status == .notFound && r.errorCode == "webhook_not_configured")
                }
            }
            #expect(try await Self.sendGrid(client, "[]", clock: clock).1?["error"]?["code"] == "webhook_not_configured")
            #expect(try await Self.resend(client, "{}", id: "m", clock: clock).1?["error"]?["code"] == "webhook_not_configured")
        }
    }

    @Test func malformedWebhookSettingsStopStartUp() throws {
        for (name, value) in [("PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY", "not-a-key"),
                              ("PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY", Data(repeating: 4, count: 91).base64EncodedString()),
                              ("PARLEY_RESEND_WEBHOOK_SECRET", "secret"), ("PARLEY_RESEND_WEBHOOK_SECRET", "whsec_!!")] {
            #expect(throws: ConfigError.self, "\(name)=\(value)") { try ParleyConfig.load(ConfigSources(environment: [name: value])) }
        }
        let config = try ParleyConfig.load(ConfigSources(environment: Self.env))
        #expect(config.jobs.providerSettings["PARLEY_RESEND_WEBHOOK_SECRET"]?.hasPrefix("whsec_") == true)
    }
}
