import Foundation
import Logging
import ParleyCore
import ParleyStorage
import SQLKit

extension CommsSchema {
    /// Events already applied, by the provider's id for them, so a replayed or retried webhook
    /// changes nothing the second time.
    static let webhookReceiptsMigration = Migration("0014_webhook_receipts", [
        """
        CREATE TABLE webhook_receipts (
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            provider TEXT NOT NULL,
            event_id TEXT NOT NULL,
            received_at %TIMESTAMP% NOT NULL,
            PRIMARY KEY (tenant_id, provider, event_id)
        )
        """,
    ])
}

/// What a provider last said about a message, in one vocabulary for every provider. A status
/// only ever moves up the ranking, so a late `sent` never overwrites `delivered`.
public enum DeliveryStatus: String, Sendable, CaseIterable {
    case queued, sending, sent, delayed, delivered, undelivered, failed, bounced, dropped, complained

    var rank: Int {
        switch self {
        case .queued: 0
        case .sending: 1
        case .sent: 2
        case .delayed: 3
        case .delivered: 4
        case .undelivered, .failed, .bounced, .dropped: 5
        case .complained: 6
        }
    }
}

/// One fact from a provider's webhook about a message it carried.
public struct DeliveryEvent: Sendable, Equatable {
    public enum Consequence: Sendable, Equatable {
        case none
        /// The channel can never reach the recipient (hard bounce, invalid number).
        case suppress(reason: String)
        /// The recipient asked for no more (STOP via the carrier, spam report, unsubscribe).
        case optOut(reason: String)
    }

    /// The id we stored when the provider accepted the message.
    public var providerMessageID: String
    public var status: DeliveryStatus?
    public var consequence: Consequence
    /// The provider's id for this event, when it has one: a repeat is skipped.
    public var eventID: String?

    public init(providerMessageID: String, status: DeliveryStatus?, consequence: Consequence = .none, eventID: String? = nil) {
        self.providerMessageID = providerMessageID
        self.status = status
        self.consequence = consequence
        self.eventID = eventID
    }
}

/// Receives the providers' webhooks: checks the signature with the tenant's secret, reads the
/// events and applies them to the tenant's messages and consent in one transaction.
///
/// Providers retry whatever does not answer 2xx, so an event about a message this tenant does
/// not have is accepted and ignored, and applying the same event twice changes nothing: a status
/// only moves forward, a consent change follows only the status change that caused it, and
/// events with ids are recorded in `webhook_receipts`.
public struct WebhookService: Sendable {
    let store: any Store
    let clock: any Clock
    let secrets: WebhookSecretLookup
    let logger: Logger

    public init(store: any Store, clock: any Clock, secrets: @escaping WebhookSecretLookup, logger: Logger = Logger(label: "parley.webhooks")) {
        self.store = store
        self.clock = clock
        self.secrets = secrets
        self.logger = logger
    }

    /// How many events a request carried and how many changed something.
    public struct Outcome: Sendable, Equatable {
        public var received: Int
        public var applied: Int
    }

    // MARK: Twilio

    /// Twilio's status callback: form fields `MessageSid`, `MessageStatus`, `ErrorCode`.
    public func twilioStatus(tenantID: String, url: String, body: Data, signature: String?) async throws -> Outcome {
        let secret = try await secret(tenantID, .twilio)
        guard case .twilioAuthToken(let token) = secret else { throw Self.notConfigured(.twilio) }
        let params = try FormBody.parse(body)
        try check(tenantID, .twilio) { () throws(WebhookSignatures.Failure) in
            try WebhookSignatures.verifyTwilio(authToken: token, url: url, params: params, signature: signature)
        }
        return try await apply(tenantID: tenantID, provider: .twilio, events: [try TwilioEvents.status(params)].compactMap { $0 })
    }

    /// An inbound SMS (`From`, `Body`, `MessageSid`): STOP/START keywords change consent. Returns
    /// what was asked for; a repeat of the same `MessageSid` is answered alike but records nothing.
    public func twilioInbound(tenantID: String, url: String, body: Data, signature: String?) async throws -> ConsentService.InboundAction {
        let secret = try await secret(tenantID, .twilio)
        guard case .twilioAuthToken(let token) = secret else { throw Self.notConfigured(.twilio) }
        let params = try FormBody.parse(body)
        try check(tenantID, .twilio) { () throws(WebhookSignatures.Failure) in
            try WebhookSignatures.verifyTwilio(authToken: token, url: url, params: params, signature: signature)
        }
        guard let rawFrom = params["From"], let text = params["Body"] else {
            throw ParleyError.badRequest("an inbound SMS needs From and Body", code: "invalid_webhook")
        }
        let from = try ConsentService.normalize(.sms, rawFrom)
        let eventID = params["MessageSid"] ?? params["SmsSid"]
        let consent = ConsentService(store: store, clock: clock)
        let now = clock.now()
        return try await store.transaction { db in
            if let eventID, !(try await Self.claim(tenantID: tenantID, provider: .twilio, eventID: "inbound:" + eventID, at: now, on: db)) {
                return ConsentService.classify(text).0
            }
            return try await consent.inboundSMS(tenantID: tenantID, from: from, body: text, source: WebhookProvider.twilio.consentSource, on: db)
        }
    }

    // MARK: SendGrid

    /// SendGrid's Event Webhook: a JSON array of events, signed with ECDSA.
    public func sendGridEvents(tenantID: String, body: Data, signature: String?, timestamp: String?) async throws -> Outcome {
        let secret = try await secret(tenantID, .sendgrid)
        guard case .sendGridPublicKey(let key) = secret else { throw Self.notConfigured(.sendgrid) }
        let now = clock.now()
        try check(tenantID, .sendgrid) { () throws(WebhookSignatures.Failure) in
            try WebhookSignatures.verifySendGrid(key: key, body: body, signature: signature, timestamp: timestamp, now: now)
        }
        return try await apply(tenantID: tenantID, provider: .sendgrid, events: try SendGridEvents.parse(body))
    }

    // MARK: Resend

    /// Resend's webhook (one event per request), signed through Svix.
    public func resendEvent(tenantID: String, body: Data, id: String?, timestamp: String?, signature: String?) async throws -> Outcome {
        let secret = try await secret(tenantID, .resend)
        guard case .svix(let key) = secret else { throw Self.notConfigured(.resend) }
        let now = clock.now()
        try check(tenantID, .resend) { () throws(WebhookSignatures.Failure) in
            try WebhookSignatures.verifySvix(key: key, body: body, id: id, timestamp: timestamp, signature: signature, now: now)
        }
        var event = try ResendEvents.parse(body)
        event?.eventID = id
        return try await apply(tenantID: tenantID, provider: .resend, events: [event].compactMap { $0 })
    }

    // MARK: Applying

    /// Applies `events` in one transaction; tenant-scoped throughout.
    public func apply(tenantID: String, provider: WebhookProvider, events: [DeliveryEvent]) async throws -> Outcome {
        guard !events.isEmpty else { return Outcome(received: 0, applied: 0) }
        let now = clock.now()
        let consent = ConsentService(store: store, clock: clock)
        let applied = try await store.transaction { db -> Int in
            var applied = 0
            for event in events {
                if let id = event.eventID, !(try await Self.claim(tenantID: tenantID, provider: provider, eventID: id, at: now, on: db)) { continue }
                guard let message = try await db.raw("""
                    SELECT id, channel, recipient FROM messages
                    WHERE tenant_id = \(bind: tenantID) AND provider = \(bind: provider.rawValue) AND provider_message_id = \(bind: event.providerMessageID)
                    """).first() else { continue }
                let id = try message.decode(column: "id", as: String.self)
                var changed = false
                if let status = event.status {
                    changed = try await Self.advance(tenantID: tenantID, messageID: id, to: status, at: now, on: db)
                }
                // A consent change rides on the status change that caused it, so a repeated
                // bounce cannot undo an operator's later correction.
                if event.status == nil || changed {
                    guard let channel = Channel(rawValue: try message.decode(column: "channel", as: String.self)) else { continue }
                    let recipient = try message.decode(column: "recipient", as: String.self)
                    if try await Self.consequence(event.consequence, consent: consent, tenantID: tenantID, channel: channel, recipient: recipient,
                                                  source: provider.consentSource, on: db) { changed = true }
                }
                if changed { applied += 1 }
            }
            return applied
        }
        return Outcome(received: events.count, applied: applied)
    }

    /// Moves the message's delivery status forward; false when it already says as much or more.
    static func advance(tenantID: String, messageID: String, to status: DeliveryStatus, at now: Date, on db: any SQLDatabase) async throws -> Bool {
        let lower = DeliveryStatus.allCases.filter { $0.rank < status.rank }.map(\.rawValue)
        var sql: SQLQueryString = """
            UPDATE messages SET delivery_status = \(bind: status.rawValue), delivery_status_at = \(bind: now), updated_at = \(bind: now)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: messageID) AND (delivery_status IS NULL
            """
        if !lower.isEmpty { sql += " OR delivery_status IN (\(binds: lower))" }
        sql += ") RETURNING id"
        return !(try await db.raw(sql).all()).isEmpty
    }

    /// Records the consent change an event implies, unless consent already says as much: an
    /// opt-out stays an opt-out, and a suppression is already stronger than one.
    static func consequence(_ consequence: DeliveryEvent.Consequence, consent: ConsentService, tenantID: String, channel: Channel, recipient: String,
                            source: String, on db: any SQLDatabase) async throws -> Bool {
        let (status, reason): (ConsentStatus, String)
        switch consequence {
        case .none: return false
        case .suppress(let why): (status, reason) = (.suppressed, why)
        case .optOut(let why): (status, reason) = (.optedOut, why)
        }
        return try await consent.block(tenantID: tenantID, channel: channel, recipient: recipient, status: status, source: source, reason: reason, on: db)
    }

    /// Records an event id; false when it was already there.
    static func claim(tenantID: String, provider: WebhookProvider, eventID: String, at now: Date, on db: any SQLDatabase) async throws -> Bool {
        !(try await db.raw("""
            INSERT INTO webhook_receipts (tenant_id, provider, event_id, received_at)
            VALUES (\(bind: tenantID), \(bind: provider.rawValue), \(bind: String(eventID.prefix(256))), \(bind: now))
            ON CONFLICT (tenant_id, provider, event_id) DO NOTHING RETURNING event_id
            """).all()).isEmpty
    }

    // MARK: Helpers

    private func secret(_ tenantID: String, _ provider: WebhookProvider) async throws -> WebhookSecret {
        guard let secret = try await secrets(tenantID, provider) else { throw Self.notConfigured(provider) }
        return secret
    }

    private func check(_ tenantID: String, _ provider: WebhookProvider, _ verify: () throws(WebhookSignatures.Failure) -> Void) throws {
        do {
            try verify()
        } catch {
            // Which check failed, never the signature or secret.
            logger.notice("webhook refused", metadata: ["tenant_id": "\(tenantID)", "provider": "\(provider.rawValue)", "reason": "\(error)"])
            throw ParleyError(.unauthorized, code: "invalid_signature", error.description)
        }
    }

    static func notConfigured(_ provider: WebhookProvider) -> ParleyError {
        ParleyError.notFound("\(provider.rawValue) webhooks are not configured for this tenant", code: "webhook_not_configured")
    }
}

// MARK: - Providers' formats

enum TwilioEvents {
    /// The status callback as an event; nil for statuses that say nothing about delivery.
    static func status(_ params: [String: String]) throws -> DeliveryEvent? {
        guard let sid = params["MessageSid"] ?? params["SmsSid"], !sid.isEmpty, let raw = params["MessageStatus"] ?? params["SmsStatus"] else {
            throw ParleyError.badRequest("a status callback needs MessageSid and MessageStatus", code: "invalid_webhook")
        }
        let status: DeliveryStatus? = switch raw.lowercased() {
        case "accepted", "scheduled", "queued": .queued
        case "sending": .sending
        case "sent": .sent
        case "delivered", "read": .delivered
        case "undelivered": .undelivered
        case "failed": .failed
        default: nil
        }
        guard let status else { return nil }
        var consequence = DeliveryEvent.Consequence.none
        // The same codes that make a send fail for good: the recipient, not the message, is the problem.
        if status == .undelivered || status == .failed, let code = params["ErrorCode"].flatMap({ Int($0) }),
           TwilioClient.recipientErrorCodes.contains(code) {
            consequence = code == 21610 ? .optOut(reason: "Twilio error 21610: the recipient replied STOP")
                                        : .suppress(reason: "Twilio error \(code): the number cannot receive SMS")
        }
        return DeliveryEvent(providerMessageID: sid, status: status, consequence: consequence)
    }
}

enum SendGridEvents {
    private struct Item: Decodable {
        var event: String
        var sgMessageID: String?
        var sgEventID: String?
        var type: String?
        var reason: String?

        enum CodingKeys: String, CodingKey {
            case event, type, reason, sgMessageID = "sg_message_id", sgEventID = "sg_event_id"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            event = try c.decode(String.self, forKey: .event)
            // Optional text fields are read leniently: a number or null where a string was expected is no reason to refuse the batch.
            sgMessageID = try? c.decode(String.self, forKey: .sgMessageID)
            sgEventID = try? c.decode(String.self, forKey: .sgEventID)
            type = try? c.decode(String.self, forKey: .type)
            reason = try? c.decode(String.self, forKey: .reason)
        }
    }

    static func parse(_ body: Data) throws -> [DeliveryEvent] {
        let items: [Item]
        do { items = try JSONDecoder().decode([Item].self, from: body) } catch {
            throw ParleyError.badRequest("the body must be a JSON array of SendGrid events, each with an 'event'", code: "invalid_webhook")
        }
        return items.compactMap { item in
            // `sg_message_id` is the X-Message-Id we stored, then '.' and SendGrid's routing suffix.
            guard let full = item.sgMessageID, let id = full.split(separator: ".", maxSplits: 1).first.map(String.init), !id.isEmpty else { return nil }
            let reason = item.reason.map { CommsHTTP.oneLine($0) }
            let (status, consequence): (DeliveryStatus?, DeliveryEvent.Consequence) = switch item.event {
            case "processed": (.sent, .none)
            case "deferred": (.delayed, .none)
            case "delivered": (.delivered, .none)
            // A block is the receiving server refusing for now (reputation, content), not the address.
            case "bounce" where item.type == "blocked": (.undelivered, .none)
            case "bounce": (.bounced, .suppress(reason: "SendGrid bounce" + (reason.map { ": " + $0 } ?? "")))
            case "dropped": (.dropped, .none)
            case "spamreport": (.complained, .optOut(reason: "SendGrid spam report"))
            case "unsubscribe", "group_unsubscribe": (nil, .optOut(reason: "SendGrid \(item.event)"))
            default: (nil, .none)
            }
            guard status != nil || consequence != .none else { return nil }
            return DeliveryEvent(providerMessageID: id, status: status, consequence: consequence, eventID: item.sgEventID)
        }
    }
}

enum ResendEvents {
    private struct Payload: Decodable {
        struct Bounce: Decodable {
            var type: String?
            var message: String?
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                type = try? c.decode(String.self, forKey: .type)
                message = try? c.decode(String.self, forKey: .message)
            }
            enum CodingKeys: String, CodingKey { case type, message }
        }
        struct Email: Decodable {
            var emailID: String?
            var bounce: Bounce?
            enum CodingKeys: String, CodingKey { case emailID = "email_id", bounce }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                emailID = try? c.decode(String.self, forKey: .emailID)
                bounce = try? c.decode(Bounce.self, forKey: .bounce)
            }
        }
        var type: String
        var data: Email?
    }

    static func parse(_ body: Data) throws -> DeliveryEvent? {
        let payload: Payload
        do { payload = try JSONDecoder().decode(Payload.self, from: body) } catch {
            throw ParleyError.badRequest("the body must be a Resend event: a JSON object with 'type' and 'data'", code: "invalid_webhook")
        }
        guard let id = payload.data?.emailID, !id.isEmpty else { return nil }
        let bounce = payload.data?.bounce
        let (status, consequence): (DeliveryStatus?, DeliveryEvent.Consequence) = switch payload.type {
        case "email.sent": (.sent, .none)
        case "email.delivery_delayed": (.delayed, .none)
        case "email.delivered": (.delivered, .none)
        // Resend sends email.bounced for permanent rejections; a bounce it types as transient suppresses no one.
        case "email.bounced" where bounce?.type?.lowercased() == "transient": (.bounced, .none)
        case "email.bounced": (.bounced, .suppress(reason: "Resend bounce" + (bounce?.message.map { ": " + CommsHTTP.oneLine($0) } ?? "")))
        case "email.complained": (.complained, .optOut(reason: "Resend spam complaint"))
        case "email.failed": (.failed, .none)
        default: (nil, .none)
        }
        guard status != nil || consequence != .none else { return nil }
        return DeliveryEvent(providerMessageID: id, status: status, consequence: consequence)
    }
}

/// `application/x-www-form-urlencoded` as Twilio posts it.
enum FormBody {
    static func parse(_ body: Data) throws -> [String: String] {
        guard let text = String(data: body, encoding: .utf8) else {
            throw ParleyError.badRequest("the form body is not UTF-8", code: "invalid_webhook")
        }
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : ""), !name.isEmpty else {
                throw ParleyError.badRequest("the form body is malformed", code: "invalid_webhook")
            }
            // Stored text is what was acknowledged: PostgreSQL refuses NUL and SQLite cuts at it.
            guard !name.contains("\u{0}"), !value.contains("\u{0}") else {
                throw ParleyError.badRequest("the form field '\(name.replacingOccurrences(of: "\u{0}", with: "").prefix(64))' contains a NUL character",
                                             code: "invalid_text")
            }
            // Twilio never repeats a field here; a repeat would make the signed set ambiguous.
            guard out.updateValue(value, forKey: name) == nil else {
                throw ParleyError.badRequest("the form field '\(name.prefix(64))' appears twice", code: "invalid_webhook")
            }
        }
        return out
    }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
