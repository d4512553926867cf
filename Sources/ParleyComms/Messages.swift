import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

extension CommsSchema {
    static let messagesMigration = Migration("0004_messages_outbox", [
        """
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            idempotency_key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            subject TEXT,
            body_text TEXT NOT NULL,
            status TEXT NOT NULL,
            send_at %TIMESTAMP% NOT NULL,
            job_id TEXT NOT NULL,
            provider TEXT,
            error TEXT,
            created_at %TIMESTAMP% NOT NULL,
            updated_at %TIMESTAMP% NOT NULL,
            sent_at %TIMESTAMP%,
            UNIQUE (tenant_id, idempotency_key)
        )
        """,
        "CREATE INDEX messages_tenant ON messages (tenant_id, id)",
        """
        CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            message_id TEXT NOT NULL UNIQUE REFERENCES messages(id),
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at %TIMESTAMP% NOT NULL
        )
        """,
        "CREATE INDEX outbox_tenant ON outbox (tenant_id, id)",
    ])
}

public enum Channel: String, Sendable, Codable, CaseIterable {
    case email, sms
}

public enum MessageStatus: String, Sendable, Codable {
    /// `sending`: handed to an external provider; the outcome is being recorded.
    case queued, sending, sent, failed, cancelled
}

public struct Message: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var idempotencyKey: String
    public var channel: Channel
    public var recipient: String
    public var subject: String?
    public var bodyText: String
    /// Email only: the HTML alternative (sent as multipart/alternative with the text).
    public var bodyHTML: String?
    public var purpose: TemplatePurpose = .transactional
    /// From the template: sent even inside quiet hours.
    public var quietHoursExempt: Bool = false
    /// SMS only: where to send the text by email if the SMS cannot be delivered.
    public var fallbackEmail: String?
    public var fallbackSubject: String?
    /// The SMS this email replaces, when it is a fallback.
    public var fallbackOf: String?
    public var status: MessageStatus
    public var sendAt: Date
    public var jobID: String
    public var provider: String?
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var sentAt: Date?
    /// The provider's id for it, and the last delivery status its webhooks reported.
    public var providerMessageID: String?
    public var deliveryStatus: String?
    public var deliveryStatusAt: Date?
    /// Not stored: the worker sets it on marketing email just before sending (RFC 8058 headers).
    public var listUnsubscribeURL: String?
    /// `template` or `ai` for a message from a template; nil when the caller wrote the text.
    public var contentSource: ContentSource?
    /// How personalisation ended, when the template asked for it and a model was configured.
    public var personalization: PersonalizationOutcome?
}

/// What a caller asks to send.
public struct MessageRequest: Sendable, Equatable {
    public var channel: Channel
    public var to: String
    public var subject: String?
    /// The content, or empty when `template` is given.
    public var text: String
    /// Email only: an HTML alternative of `text`.
    public var html: String?
    /// A template name: its rendering with `variables` becomes the subject and text.
    public var template: String?
    public var variables: [String: JSONValue]
    public var sendAt: Date?
    public var idempotencyKey: String?
    /// Marketing needs the recipient's opt-in; a template's purpose wins over this.
    public var purpose: TemplatePurpose
    /// SMS only: an email address (and subject) to fall back to when the SMS fails for good.
    public var fallbackEmail: String?
    public var fallbackSubject: String?

    public init(channel: Channel, to: String, subject: String? = nil, text: String = "", html: String? = nil, template: String? = nil,
                variables: [String: JSONValue] = [:], sendAt: Date? = nil, idempotencyKey: String? = nil,
                purpose: TemplatePurpose = .transactional, fallbackEmail: String? = nil, fallbackSubject: String? = nil) {
        self.html = html
        self.purpose = purpose
        self.fallbackEmail = fallbackEmail
        self.fallbackSubject = fallbackSubject
        self.channel = channel
        self.to = to
        self.subject = subject
        self.text = text
        self.template = template
        self.variables = variables
        self.sendAt = sendAt
        self.idempotencyKey = idempotencyKey
    }

    /// Identifies the request's content, so a reused idempotency key with a different message is caught.
    var fingerprint: String {
        let vars = (try? JSONEncoder.sorted.encode(variables)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return APIKeySecret.hash([channel.rawValue, to, subject ?? "", text, html ?? "", template ?? "", vars, purpose.rawValue, fallbackEmail ?? "",
                                  sendAt.map { String($0.timeIntervalSince1970) } ?? ""].joined(separator: "\u{1F}"))
    }
}

/// A message for a customer on whichever channel suits them (see `MessageService.notify`).
public struct NotifyRequest: Sendable {
    public var email: String?
    public var phone: String?
    /// The customer's preference; SMS when they have a phone, otherwise email.
    public var prefer: Channel?
    public var subject: String?
    public var text: String
    /// A template per channel, instead of `text`.
    public var templates: [Channel: String]
    public var variables: [String: JSONValue]
    public var sendAt: Date?
    public var idempotencyKey: String?
    public var purpose: TemplatePurpose

    public init(email: String?, phone: String?, prefer: Channel? = nil, subject: String? = nil, text: String = "",
                templates: [Channel: String] = [:], variables: [String: JSONValue] = [:], sendAt: Date? = nil,
                idempotencyKey: String? = nil, purpose: TemplatePurpose = .transactional) {
        self.email = email
        self.phone = phone
        self.prefer = prefer
        self.subject = subject
        self.text = text
        self.templates = templates
        self.variables = variables
        self.sendAt = sendAt
        self.idempotencyKey = idempotencyKey
        self.purpose = purpose
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}

/// One rendered message as a channel delivered it.
public struct OutboxEntry: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var messageID: String
    public var channel: Channel
    public var recipient: String
    public var content: String
    public var createdAt: Date
}

struct MessageRepository: Sendable {
    func insert(_ m: Message, requestHash: String, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO messages (id, tenant_id, idempotency_key, request_hash, channel, recipient, subject, body_text, body_html, purpose, quiet_hours_exempt,
                                  fallback_email, fallback_subject, fallback_of, status, send_at, job_id, created_at, updated_at, content_source, personalization)
            VALUES (\(bind: m.id), \(bind: m.tenantID), \(bind: m.idempotencyKey), \(bind: requestHash), \(bind: m.channel.rawValue), \(bind: m.recipient),
                    \(bind: m.subject), \(bind: m.bodyText), \(bind: m.bodyHTML), \(bind: m.purpose.rawValue), \(bind: m.quietHoursExempt),
                    \(bind: m.fallbackEmail), \(bind: m.fallbackSubject), \(bind: m.fallbackOf), \(bind: m.status.rawValue), \(bind: m.sendAt), \(bind: m.jobID),
                    \(bind: m.createdAt), \(bind: m.updatedAt), \(bind: m.contentSource?.rawValue), \(bind: m.personalization?.rawValue))
            """).run()
    }

    func find(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Message? {
        try await db.raw("SELECT * FROM messages WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decode)
    }

    func find(tenantID: String, idempotencyKey: String, on db: any SQLDatabase) async throws -> (Message, String)? {
        guard let row = try await db.raw("SELECT * FROM messages WHERE tenant_id = \(bind: tenantID) AND idempotency_key = \(bind: idempotencyKey)").first() else { return nil }
        return (try Self.decode(row), try row.decode(column: "request_hash", as: String.self))
    }

    func markSent(id: String, provider: String, providerMessageID: String? = nil, at: Date, note: String? = nil, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE messages SET status = 'sent', provider = \(bind: provider), provider_message_id = \(bind: providerMessageID), sent_at = \(bind: at),
                updated_at = \(bind: at), error = \(bind: note)
            WHERE id = \(bind: id)
            """).run()
    }

    /// Claims a queued message for an external send; false when another worker got there first.
    func markSending(id: String, provider: String, at: Date, on db: any SQLDatabase) async throws -> Bool {
        !(try await db.raw("""
            UPDATE messages SET status = 'sending', provider = \(bind: provider), updated_at = \(bind: at)
            WHERE id = \(bind: id) AND status = 'queued' RETURNING id
            """).all()).isEmpty
    }

    /// Marks a queued message sent by a local channel; false when it was not queued any more.
    func markDelivered(id: String, provider: String, at: Date, on db: any SQLDatabase) async throws -> Bool {
        !(try await db.raw("""
            UPDATE messages SET status = 'sent', provider = \(bind: provider), sent_at = \(bind: at), updated_at = \(bind: at), error = NULL
            WHERE id = \(bind: id) AND status = 'queued' RETURNING id
            """).all()).isEmpty
    }

    func backToQueued(id: String, error: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE messages SET status = 'queued', error = \(bind: error), updated_at = \(bind: at) WHERE id = \(bind: id) AND status = 'sending'").run()
    }

    /// Queues the email that replaces a failed SMS, once (its idempotency key derives from the
    /// SMS's), if the address may receive it. Returns the new message, if any.
    func queueFallback(for sms: Message, queue: JobQueue, maxAttempts: Int, at now: Date, on db: any SQLDatabase) async throws -> Message? {
        guard sms.channel == .sms, let email = sms.fallbackEmail else { return nil }
        let consent = ConsentService(store: queue.store, clock: queue.clock)
        guard try await consent.refusal(tenantID: sms.tenantID, channel: .email, recipient: email, purpose: sms.purpose, on: db) == nil else { return nil }
        let key = sms.idempotencyKey + ":email-fallback"
        if try await find(tenantID: sms.tenantID, idempotencyKey: key, on: db) != nil { return nil }
        let id = UUIDv7.make(at: now)
        let job = try await queue.enqueue(NewJob(tenantID: sms.tenantID, type: "send_email", payload: JobPayload(messageID: id).encoded,
                                                 runAt: now, maxAttempts: maxAttempts), on: db)
        var message = Message(id: id, tenantID: sms.tenantID, idempotencyKey: key, channel: .email, recipient: email,
                              subject: sms.fallbackSubject ?? "Message", bodyText: sms.bodyText, purpose: sms.purpose, quietHoursExempt: sms.quietHoursExempt,
                              status: .queued, sendAt: now, jobID: job.id, provider: nil, error: nil, createdAt: now, updatedAt: now, sentAt: nil)
        message.fallbackOf = sms.id
        message.contentSource = sms.contentSource
        message.personalization = sms.personalization
        try await insert(message, requestHash: "fallback", on: db)
        return message
    }

    func markFailed(id: String, error: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE messages SET status = 'failed', error = \(bind: error), updated_at = \(bind: at) WHERE id = \(bind: id)").run()
    }

    func noteError(id: String, error: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE messages SET error = \(bind: error), updated_at = \(bind: at) WHERE id = \(bind: id)").run()
    }

    func outbox(tenantID: String, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [OutboxEntry] {
        var sql: SQLQueryString = "SELECT * FROM outbox WHERE tenant_id = \(bind: tenantID)"
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map { row in
            OutboxEntry(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                        messageID: try row.decode(column: "message_id", as: String.self),
                        channel: Channel(rawValue: try row.decode(column: "channel", as: String.self)) ?? .email,
                        recipient: try row.decode(column: "recipient", as: String.self), content: try row.decode(column: "content", as: String.self),
                        createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }

    static func decode(_ row: any SQLRow) throws -> Message {
        Message(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                idempotencyKey: try row.decode(column: "idempotency_key", as: String.self),
                channel: Channel(rawValue: try row.decode(column: "channel", as: String.self)) ?? .email,
                recipient: try row.decode(column: "recipient", as: String.self), subject: try row.decode(column: "subject", as: String?.self),
                bodyText: try row.decode(column: "body_text", as: String.self),
                bodyHTML: try row.decode(column: "body_html", as: String?.self),
                purpose: TemplatePurpose(rawValue: try row.decode(column: "purpose", as: String.self)) ?? .transactional,
                quietHoursExempt: try row.decode(column: "quiet_hours_exempt", as: Bool.self),
                fallbackEmail: try row.decode(column: "fallback_email", as: String?.self),
                fallbackSubject: try row.decode(column: "fallback_subject", as: String?.self),
                fallbackOf: try row.decode(column: "fallback_of", as: String?.self),
                status: MessageStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
                sendAt: try row.decode(column: "send_at", as: Date.self), jobID: try row.decode(column: "job_id", as: String.self),
                provider: try row.decode(column: "provider", as: String?.self), error: try row.decode(column: "error", as: String?.self),
                createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self),
                sentAt: try row.decode(column: "sent_at", as: Date?.self),
                providerMessageID: try row.decode(column: "provider_message_id", as: String?.self),
                deliveryStatus: try row.decode(column: "delivery_status", as: String?.self),
                deliveryStatusAt: try row.decode(column: "delivery_status_at", as: Date?.self),
                contentSource: try row.decode(column: "content_source", as: String?.self).flatMap(ContentSource.init(rawValue:)),
                personalization: try row.decode(column: "personalization", as: String?.self).flatMap(PersonalizationOutcome.init(rawValue:)))
    }
}

/// Accepts messages: validates, dedupes by idempotency key, records the message and its job in
/// one transaction.
///
/// A template with `personalize` is rewritten by the `personalizer` (when there is one) once,
/// here, before the message row is written: retries and replays send the stored text, so the
/// recipient never gets two versions and an idempotent replay never asks the model again.
public struct MessageService: Sendable {
    /// How far ahead `send_at` may be: a message planned further out is almost always a typo.
    public static let sendAtHorizon: TimeInterval = 366 * 86_400
    let queue: JobQueue
    let repo = MessageRepository()
    /// Called after a job is committed, so a worker in this process starts at once.
    let wake: @Sendable () -> Void
    let maxAttempts: Int
    let quietHours: QuietHours
    let templates: TemplateService
    let personalizer: (any MessagePersonalizer)?
    let personalization: PersonalizationSettings
    let metrics: (any CommsMetrics)?

    public init(queue: JobQueue, maxAttempts: Int = 4, quietHours: QuietHours = .default, templates: TemplateService? = nil,
                personalizer: (any MessagePersonalizer)? = nil, personalization: PersonalizationSettings = PersonalizationSettings(),
                metrics: (any CommsMetrics)? = nil, wake: @escaping @Sendable () -> Void = {}) {
        self.queue = queue
        self.maxAttempts = maxAttempts
        self.quietHours = quietHours
        self.templates = templates ?? TemplateService(store: queue.store, clock: queue.clock)
        self.personalizer = personalizer
        self.personalization = personalization
        self.metrics = metrics
        self.wake = wake
    }

    public struct Accepted: Sendable, Equatable {
        public var message: Message
        /// False when the idempotency key matched an earlier request (nothing new was queued).
        public var created: Bool
    }

    public func send(_ ctx: ActionContext, _ request: MessageRequest) async throws -> Accepted {
        let p = try await prepare(ctx, request)
        let store = queue.store
        do {
            let result = try await store.transaction { db in try await self.accept(ctx, p, on: db) }
            if result.created { wake() }
            return result
        } catch StoreError.uniqueViolation {
            // The same key arrived twice at once and the other request won: answer as a replay.
            return try await store.transaction { db in try await self.accept(ctx, p, on: db) }
        }
    }

    /// Joins the caller's transaction, so a caller's own rows (a case's communication log, say)
    /// and the message with its job commit together or not at all. Call `wakeWorkers()` after
    /// the commit so a worker in this process starts at once instead of at its next poll.
    ///
    /// A model call must not hold a transaction open, so this sends the plain rendering of a
    /// personalised template; to personalise, `prepare` before the transaction and pass its result.
    public func send(_ ctx: ActionContext, _ request: MessageRequest, on db: any SQLDatabase) async throws -> Accepted {
        try await accept(ctx, try await prepare(ctx, request, personalizing: false), on: db)
    }

    /// Sends a message `prepare` made (outside the transaction), in the caller's transaction.
    public func send(_ ctx: ActionContext, _ prepared: PreparedMessage, on db: any SQLDatabase) async throws -> Accepted {
        try await accept(ctx, prepared, on: db)
    }

    public func wakeWorkers() { wake() }

    /// Notifies a customer on the channel that suits them: their preferred one when it has an
    /// address and consent allows, otherwise the other. An SMS carries the email as its fallback
    /// when email is allowed too. The job is a `notify_customer` job.
    public func notify(_ ctx: ActionContext, _ request: NotifyRequest) async throws -> (accepted: Accepted, reason: String) {
        try ctx.principal.require(.act)
        let addresses: [Channel: String] = [.email: request.email, .sms: request.phone].compactMapValues { $0 }
        guard !addresses.isEmpty else {
            throw ParleyError.badRequest("give the customer's email, phone, or both", code: "missing_recipient")
        }
        let preferred = request.prefer ?? (addresses[.sms] != nil ? .sms : .email)
        let order = [preferred, preferred == .sms ? .email : .sms].filter { addresses[$0] != nil }
        let tenantID = ctx.principal.tenantID
        let repo = self.repo
        // A replay answers with the first choice, even if consent has changed since.
        if let key = request.idempotencyKey,
           let (existing, _) = try await queue.store.read({ db in try await repo.find(tenantID: tenantID, idempotencyKey: key, on: db) }) {
            return (Accepted(message: existing, created: false), "\(existing.channel.rawValue): chosen when first requested")
        }
        let consent = ConsentService(store: queue.store, clock: queue.clock)
        var allowed: [Channel] = []
        var refusals: [String] = []
        for channel in order {
            guard let raw = addresses[channel] else { continue }
            let recipient: String
            do { recipient = channel == .email ? try Recipients.normalizeEmail(raw) : try Recipients.normalizePhone(raw) } catch {
                throw ParleyError.badRequest(error.description, code: channel == .email ? "invalid_email" : "invalid_phone")
            }
            let purpose = request.purpose
            if let refusal = try await queue.store.read({ db in
                try await consent.refusal(tenantID: tenantID, channel: channel, recipient: recipient, purpose: purpose, on: db)
            }) {
                refusals.append("\(channel.rawValue): \(refusal.message)")
            } else {
                allowed.append(channel)
            }
        }
        guard let chosen = allowed.first, let to = addresses[chosen] else {
            throw ParleyError(.conflict, code: "no_channel_allowed", "no channel may reach this customer (\(refusals.joined(separator: "; ")))")
        }
        let template = request.templates[chosen]
        if !request.templates.isEmpty && template == nil {
            throw ParleyError.badRequest("give a template for \(chosen.rawValue), the channel chosen for this customer", code: "missing_template")
        }
        var message = MessageRequest(channel: chosen, to: to, subject: request.subject, text: template == nil ? request.text : "",
                                     template: template, variables: request.variables, sendAt: request.sendAt,
                                     idempotencyKey: request.idempotencyKey, purpose: request.purpose)
        if chosen == .sms, allowed.contains(.email), let email = addresses[.email] {
            message.fallbackEmail = email
            message.fallbackSubject = request.subject
        }
        var p = try await prepare(ctx, message)
        p.jobType = "notify_customer"
        let prepared = p
        let accepted = try await queue.store.transaction { db in try await self.accept(ctx, prepared, on: db) }
        if accepted.created { wake() }
        let reason = chosen == preferred ? "\(chosen.rawValue): the customer's preferred channel"
            : "\(chosen.rawValue): \(refusals.first ?? "no \(preferred.rawValue) address")"
        return (accepted, reason)
    }

    /// A validated request: template rendered (and personalised), recipient normalised, key and
    /// fingerprint fixed. Made by `prepare`, consumed by `send(_:_:on:)`.
    public struct PreparedMessage: Sendable {
        var content: MessageRequest
        var recipient: String
        var key: String
        var fingerprint: String
        var exempt: Bool
        var now: Date
        var contentSource: ContentSource?
        var personalization: PersonalizationOutcome?
        /// `send_email` / `send_sms`, or `notify_customer` when Parley chose the channel.
        var jobType: String? = nil
    }

    /// Validates and renders `request` and, if its template asks for it, personalises it (which
    /// may take up to the personalisation timeout). Call it outside any transaction.
    public func prepare(_ ctx: ActionContext, _ request: MessageRequest) async throws -> PreparedMessage {
        try await prepare(ctx, request, personalizing: true)
    }

    private func prepare(_ ctx: ActionContext, _ request: MessageRequest, personalizing: Bool) async throws -> PreparedMessage {
        try ctx.principal.require(.act)
        let now = queue.clock.now()
        let resolved = try await resolve(ctx.principal.tenantID, request)
        var content = resolved.request
        let recipient = try Self.validate(content)
        if let fallback = content.fallbackEmail {
            guard content.channel == .sms else {
                throw ParleyError.badRequest("an email fallback applies to SMS only", code: "invalid_fallback")
            }
            do { content.fallbackEmail = try Recipients.normalizeEmail(fallback) } catch {
                throw ParleyError.badRequest(error.description, code: "invalid_email")
            }
        }
        let key = request.idempotencyKey ?? UUIDv7.make(at: now)
        guard (1...200).contains(key.count), !key.contains(where: { $0.isNewline }) else {
            throw ParleyError.badRequest("the idempotency key must be 1 to 200 characters on one line", code: "invalid_idempotency_key")
        }
        var normalized = request
        normalized.to = recipient
        var prepared = PreparedMessage(content: content, recipient: recipient, key: key, fingerprint: normalized.fingerprint,
                                       exempt: resolved.exempt, now: now, contentSource: resolved.template == nil ? nil : .template)
        if personalizing, let template = resolved.template, template.personalize, let personalizer,
           try await worthPersonalizing(ctx.principal.tenantID, prepared) {
            let plain = RenderedMessage(subject: content.subject, text: content.text, html: content.html)
            let result = await Personalization.run(personalizer, plain: plain, template: template, variables: request.variables,
                                                   channel: request.channel, settings: personalization)
            metrics?.personalized(channel: request.channel.rawValue, outcome: result.outcome.rawValue)
            prepared.content.text = result.rendered.text
            prepared.content.html = result.rendered.html
            prepared.contentSource = result.source
            prepared.personalization = result.outcome
        }
        return prepared
    }

    /// False when `accept` will not write a new message anyway (a replay of the key, a send_at
    /// in the past, a refused recipient): no model call is spent on it.
    private func worthPersonalizing(_ tenantID: String, _ p: PreparedMessage) async throws -> Bool {
        let repo = self.repo
        let consent = ConsentService(store: queue.store, clock: queue.clock)
        return try await queue.store.read { db in
            if try await repo.find(tenantID: tenantID, idempotencyKey: p.key, on: db) != nil { return false }
            if let sendAt = p.content.sendAt, sendAt < p.now.addingTimeInterval(-60) { return false }
            return try await consent.refusal(tenantID: tenantID, channel: p.content.channel, recipient: p.recipient,
                                             purpose: p.content.purpose, on: db) == nil
        }
    }

    /// The request with its template rendered into subject and text; whether quiet hours apply.
    private func resolve(_ tenantID: String, _ request: MessageRequest) async throws
        -> (request: MessageRequest, exempt: Bool, template: MessageTemplate?) {
        guard let name = request.template else { return (request, false, nil) }
        let template = try await templates.template(tenantID: tenantID, name: name)
        guard template.channel == request.channel.rawValue else {
            throw ParleyError.badRequest("template '\(name)' is for \(template.channel), not \(request.channel.rawValue)", code: "template_channel_mismatch")
        }
        let rendered: RenderedMessage
        do {
            rendered = try TemplateRenderer.render(template, variables: request.variables)
        } catch {
            throw ParleyError.badRequest(error.description, code: TemplateService.code(error))
        }
        var out = request
        out.subject = rendered.subject ?? request.subject
        out.text = rendered.text
        out.html = request.channel == .email ? rendered.html : nil
        out.purpose = template.purpose
        return (out, template.exemptFromQuietHours, template)
    }

    private func accept(_ ctx: ActionContext, _ p: PreparedMessage, on db: any SQLDatabase) async throws -> Accepted {
        let tenantID = ctx.principal.tenantID
        let (request, recipient, key, fingerprint, exempt, now) = (p.content, p.recipient, p.key, p.fingerprint, p.exempt, p.now)
        // A replay gets the first answer, even once its send_at has passed.
        if let (existing, hash) = try await repo.find(tenantID: tenantID, idempotencyKey: key, on: db) {
            guard hash == fingerprint else {
                throw ParleyError.conflict("idempotency key '\(key)' was used for a different message", code: "idempotency_key_reused")
            }
            return Accepted(message: existing, created: false)
        }
        if let sendAt = request.sendAt, sendAt < now.addingTimeInterval(-60) {
            throw ParleyError.badRequest("send_at is in the past; omit it to send now", code: "send_at_in_past")
        }
        if let sendAt = request.sendAt, sendAt > now.addingTimeInterval(Self.sendAtHorizon) {
            throw ParleyError.badRequest("send_at may be at most 366 days ahead; schedule a later message closer to its date",
                                         code: "send_at_too_far")
        }
        if let refusal = try await ConsentService(store: queue.store, clock: queue.clock)
            .refusal(tenantID: tenantID, channel: request.channel, recipient: recipient, purpose: request.purpose, on: db) {
            throw ParleyError(.conflict, code: refusal.code, refusal.message)
        }
        let id = UUIDv7.make(at: now)
        // A message due inside the tenant's quiet hours waits for their end (in its zone).
        let due = max(request.sendAt ?? now, now)
        let zone = try await QuietHours.zone(ofTenant: tenantID, on: db)
        let sendAt = exempt ? due : quietHours.deferral(for: due, in: zone) ?? due
        let job = try await queue.enqueue(NewJob(tenantID: tenantID, type: p.jobType ?? (request.channel == .sms ? "send_sms" : "send_email"),
                                                 payload: JobPayload(messageID: id).encoded, runAt: sendAt, maxAttempts: maxAttempts), on: db)
        var message = Message(id: id, tenantID: tenantID, idempotencyKey: key, channel: request.channel, recipient: recipient,
                              subject: request.subject, bodyText: request.text, bodyHTML: request.channel == .email ? request.html : nil,
                              purpose: request.purpose, quietHoursExempt: exempt,
                              fallbackEmail: request.fallbackEmail, fallbackSubject: request.fallbackSubject, status: .queued, sendAt: sendAt, jobID: job.id, provider: nil, error: nil, createdAt: now, updatedAt: now, sentAt: nil)
        message.contentSource = p.contentSource
        message.personalization = p.personalization
        try await repo.insert(message, requestHash: fingerprint, on: db)
        return Accepted(message: message, created: true)
    }

    public func message(_ principal: Principal, id: String) async throws -> (Message, Job?) {
        try principal.require(.readTenant)
        let repo = self.repo
        let find = { @Sendable () async throws -> Message? in
            try await self.queue.store.read { db in try await repo.find(tenantID: principal.tenantID, id: id, on: db) }
        }
        guard var m = try await find() else {
            throw ParleyError.notFound("message \(id) not found", code: "message_not_found")
        }
        let job = try await queue.job(tenantID: principal.tenantID, id: m.jobID)
        // The worker closes a message and its job in one transaction, but the two reads above are
        // separate: a job seen finished means the message read before it is stale, so read it again.
        if let job, job.state.isFinal, m.status == .queued || m.status == .sending, let again = try await find() { m = again }
        return (m, job)
    }

    public func outbox(_ principal: Principal, before: String?, limit: Int) async throws -> [OutboxEntry] {
        try principal.require(.readTenant)
        let repo = self.repo
        return try await queue.store.read { db in try await repo.outbox(tenantID: principal.tenantID, before: before, limit: limit, on: db) }
    }

    static func validate(_ request: MessageRequest) throws -> String {
        guard !request.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ParleyError.badRequest("the message text is empty", code: "empty_message")
        }
        do {
            switch request.channel {
            case .email:
                guard let subject = request.subject, !subject.trimmingCharacters(in: .whitespaces).isEmpty,
                      !subject.contains(where: { $0.isNewline }) else {
                    throw ParleyError.badRequest("an email needs a one-line subject", code: "invalid_subject")
                }
                return try Recipients.normalizeEmail(request.to)
            case .sms:
                guard request.text.count <= 1600 else {
                    throw ParleyError.badRequest("an SMS is at most 1600 characters", code: "message_too_long")
                }
                return try Recipients.normalizePhone(request.to)
            }
        } catch let e as RecipientError {
            throw ParleyError.badRequest(e.description, code: request.channel == .email ? "invalid_email" : "invalid_phone")
        }
    }
}

/// What a send job carries: only the message id; the message row is the source of truth.
struct JobPayload: Codable {
    var messageID: String
    var encoded: String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self) }
    static func decode(_ text: String) -> JobPayload? { try? JSONDecoder().decode(JobPayload.self, from: Data(text.utf8)) }
}
