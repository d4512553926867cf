import Foundation
import HTTPTypes
import Hummingbird
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyHTTP
import SQLKit

/// `POST /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/outbox`.
struct MessageController {
    let messages: MessageService
    let maxBodyBytes: Int

    struct SendBody: Decodable {
        var channel: String
        var to: String?
        var subject: String?
        var text: String?
        var html: String?
        var template: String?
        var variables: [String: JSONValue]?
        var sendAt: Date?
        var idempotencyKey: String?
        var purpose: String?
        var fallbackEmail: String?
        var fallbackSubject: String?
        // channel "auto" (notify a customer): their addresses, preference, and a template per channel.
        var email: String?
        var phone: String?
        var prefer: String?
        var templates: [String: String]?
        enum CodingKeys: String, CodingKey {
            case channel, to, subject, text, html, template, variables, purpose, sendAt = "send_at", idempotencyKey = "idempotency_key"
            case fallbackEmail = "fallback_email", fallbackSubject = "fallback_subject", email, phone, prefer, templates
        }
    }

    static func waitingFields(_ w: Waiting?) -> [String: JSONValue] {
        ["waiting_reason": AgentViews.text(w?.reason.rawValue), "not_before": AgentViews.date(w?.notBefore),
         "waiting_detail": AgentViews.text(w?.detail)]
    }

    static func view(_ m: Message, job: Job?, waiting: Waiting? = nil) -> JSONValue {
        var out: [String: JSONValue] = [
            "message_id": .string(m.id), "channel": .string(m.channel.rawValue), "to": .string(m.recipient),
            "subject": AgentViews.text(m.subject), "text": .string(m.bodyText), "html": AgentViews.text(m.bodyHTML),
            "status": .string(m.status.rawValue), "provider_message_id": AgentViews.text(m.providerMessageID),
            "delivery_status": AgentViews.text(m.deliveryStatus), "delivery_status_at": AgentViews.date(m.deliveryStatusAt),
            "idempotency_key": .string(m.idempotencyKey), "send_at": AgentViews.date(m.sendAt), "provider": AgentViews.text(m.provider),
            "error": AgentViews.text(m.error), "created_at": AgentViews.date(m.createdAt), "sent_at": AgentViews.date(m.sentAt),
            "job_id": .string(m.jobID), "purpose": .string(m.purpose.rawValue),
            "fallback_email": AgentViews.text(m.fallbackEmail), "fallback_of": AgentViews.text(m.fallbackOf),
            "content_source": AgentViews.text(m.contentSource?.rawValue), "personalization": AgentViews.text(m.personalization?.rawValue),
        ]
        out.merge(waitingFields(waiting)) { _, new in new }
        if let job {
            out["job"] = ["state": .string(job.state.rawValue), "attempts": .number(Double(job.attempts)),
                          "max_attempts": .number(Double(job.maxAttempts)), "last_error": AgentViews.text(job.lastError),
                          "run_at": AgentViews.date(job.runAt)]
        }
        return .object(out)
    }

    /// `channel: "auto"`: Parley picks email or SMS from the customer's preference and consent.
    func notify(_ body: SendBody, key: String?, purpose: TemplatePurpose, _ ctx: ParleyRequestContext) async throws -> RawJSON {
        guard body.to == nil, body.template == nil, body.html == nil, body.fallbackEmail == nil else {
            throw ParleyError.badRequest("with channel auto, give email and/or phone (not to), and templates per channel (not template)", code: "invalid_content")
        }
        guard (body.text == nil) != (body.templates == nil) else {
            throw ParleyError.badRequest("send either text or templates (with their variables), not both", code: "invalid_content")
        }
        let prefer = try body.prefer.map {
            guard let c = Channel(rawValue: $0) else { throw ParleyError.badRequest("prefer must be email or sms", code: "invalid_channel") }
            return c
        }
        var templates: [Channel: String] = [:]
        for (name, template) in body.templates ?? [:] {
            guard let c = Channel(rawValue: name) else { throw ParleyError.badRequest("templates are keyed by email and sms", code: "invalid_content") }
            templates[c] = template
        }
        let (accepted, reason) = try await messages.notify(try ctx.action(), NotifyRequest(
            email: body.email, phone: body.phone, prefer: prefer, subject: body.subject, text: body.text ?? "", templates: templates,
            variables: body.variables ?? [:], sendAt: body.sendAt, idempotencyKey: key, purpose: purpose))
        guard case .object(var view) = Self.view(accepted.message, job: nil) else { return RawJSON(value: Self.view(accepted.message, job: nil)) }
        view["channel_reason"] = .string(reason)
        return RawJSON(value: .object(view), status: accepted.created ? .accepted : .ok)
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/messages") { req, ctx in
            let body = try await req.decodeJSON(SendBody.self, limit: maxBodyBytes)
            let key = req.headers[.idempotencyKey] ?? body.idempotencyKey
            let purpose = try body.purpose.map {
                guard let p = TemplatePurpose(rawValue: $0) else {
                    throw ParleyError.badRequest("purpose must be transactional or marketing", code: "invalid_purpose")
                }
                return p
            } ?? .transactional
            if body.channel == "auto" { return try await notify(body, key: key, purpose: purpose, ctx) }
            guard let channel = Channel(rawValue: body.channel) else {
                throw ParleyError.badRequest("channel must be email, sms or auto", code: "invalid_channel")
            }
            guard (body.text == nil) != (body.template == nil) else {
                throw ParleyError.badRequest("send either text or a template (with its variables), not both", code: "invalid_content")
            }
            guard body.html == nil || (channel == .email && body.text != nil) else {
                throw ParleyError.badRequest("html goes with text, on email only", code: "invalid_content")
            }
            let accepted = try await messages.send(try ctx.action(), MessageRequest(
                channel: channel, to: body.to ?? "", subject: body.subject, text: body.text ?? "", html: body.html, template: body.template,
                variables: body.variables ?? [:], sendAt: body.sendAt, idempotencyKey: key, purpose: purpose,
                fallbackEmail: body.fallbackEmail, fallbackSubject: body.fallbackSubject))
            return RawJSON(value: Self.view(accepted.message, job: nil), status: accepted.created ? .accepted : .ok)
        }
        r.on(.get, "/messages/:id") { _, ctx in
            let (message, job) = try await messages.message(try ctx.caller(), id: try ctx.parameters.require("id"))
            return RawJSON(value: Self.view(message, job: job, waiting: try await messages.waiting(message, job: job)))
        }
        r.on(.get, "/outbox", query: Paging.parameters) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 500)
            let rows = try await messages.outbox(try ctx.caller(), before: query.cursor, limit: query.fetchLimit)
            return JSON(Page(rows: rows, query: query, cursor: \.id, view: OutboxEntryView.init))
        }
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
}

/// `GET /v1/jobs`, `POST /v1/jobs/{id}/retry`, `POST /v1/jobs/{id}/cancel`.
struct JobController {
    let queue: JobQueue
    let wake: @Sendable () -> Void

    static func view(_ j: Job, waiting: Waiting? = nil) -> JSONValue {
        var out: [String: JSONValue] = ["job_id": .string(j.id), "type": .string(j.type), "state": .string(j.state.rawValue), "priority": .number(Double(j.priority)),
         "run_at": AgentViews.date(j.runAt), "attempts": .number(Double(j.attempts)), "max_attempts": .number(Double(j.maxAttempts)),
         "last_error": AgentViews.text(j.lastError), "created_at": AgentViews.date(j.createdAt), "updated_at": AgentViews.date(j.updatedAt),
         "finished_at": AgentViews.date(j.finishedAt)]
        out.merge(MessageController.waitingFields(waiting)) { _, new in new }
        return .object(out)
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/jobs", query: Paging.parameters + ["state"]) { req, ctx in
            let principal = try ctx.caller()
            try principal.require(.readTenant)
            let query = try Paging.read(req, default: 50, max: 500)
            var state: JobState?
            if let s = req.queryString("state") {
                guard let parsed = JobState(rawValue: s) else {
                    throw ParleyError.badRequest("state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_query")
                }
                state = parsed
            }
            let rows = try await queue.list(tenantID: principal.tenantID, state: state, before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(rows, limit: query.limit, cursor: \.id)
            let waiting = try await queue.waiting(tenantID: principal.tenantID, jobs: page.rows)
            return RawJSON(value: Paging.envelope(page.rows.map { Self.view($0, waiting: waiting[$0.id]) }, next: page.next))
        }
        r.on(.post, "/jobs/:id/retry") { _, ctx in
            let principal = try ctx.caller()
            try principal.require(.operate)
            let job = try await queue.retry(tenantID: principal.tenantID, id: try ctx.parameters.require("id"))
            wake()
            return RawJSON(value: Self.view(job))
        }
        r.on(.post, "/jobs/:id/cancel") { _, ctx in
            let principal = try ctx.caller()
            try principal.require(.operate)
            return RawJSON(value: Self.view(try await queue.cancel(tenantID: principal.tenantID, id: try ctx.parameters.require("id"))))
        }
    }
}

/// `GET /v1/templates`, `GET|PUT /v1/templates/{name}`, `POST /v1/templates/{name}/preview`.
struct TemplateController {
    let templates: TemplateService
    let maxBodyBytes: Int
    /// For a preview that asks to try personalisation; nil when no model is configured.
    var personalizer: (any MessagePersonalizer)?
    var personalization = PersonalizationSettings()

    struct Body: Decodable {
        var channel: String
        var purpose: String
        var subject: String?
        var text: String
        var html: String?
        var requiredVariables: [String]?
        var exemptFromQuietHours: Bool?
        var personalize: Bool?
        var personalizationPrompt: String?
        enum CodingKeys: String, CodingKey {
            case channel, purpose, subject, text, html, requiredVariables = "required_variables", exemptFromQuietHours = "exempt_from_quiet_hours"
            case personalize, personalizationPrompt = "personalization_prompt"
        }
    }

    struct Preview: Decodable {
        var variables: [String: JSONValue]?
        var template: Body?
        /// Also rewrite the rendering with the model, as a message would be (one model call).
        var tryPersonalization: Bool?
        enum CodingKeys: String, CodingKey {
            case variables, template, tryPersonalization = "try_personalization"
        }
    }

    static func view(_ e: TemplateService.Entry) -> JSONValue {
        guard case .object(var o) = view(e.template, overridden: e.overridden) else { return .null }
        o["deleted_at"] = AgentViews.date(e.deletedAt)
        return .object(o)
    }

    static func view(_ t: MessageTemplate, overridden: Bool) -> JSONValue {
        ["name": .string(t.name), "channel": .string(t.channel), "purpose": .string(t.purpose.rawValue), "subject": AgentViews.text(t.subject),
         "text": .string(t.text), "html": AgentViews.text(t.html), "required_variables": .array(t.requiredVariables.map { .string($0) }),
         "exempt_from_quiet_hours": .bool(t.exemptFromQuietHours), "version": .number(Double(t.version)), "overridden": .bool(overridden),
         "personalize": .bool(t.personalize), "personalization_prompt": AgentViews.text(t.personalizationPrompt),
         "variables": .array(TemplateRenderer.variables(in: t).map { .string($0) })]
    }

    static func template(_ name: String, _ b: Body) throws -> MessageTemplate {
        guard let purpose = TemplatePurpose(rawValue: b.purpose) else {
            throw ParleyError.badRequest("purpose must be transactional or marketing", code: "invalid_template")
        }
        return MessageTemplate(name: name, channel: b.channel, purpose: purpose, subject: b.subject, text: b.text, html: b.html,
                               requiredVariables: b.requiredVariables ?? [], exemptFromQuietHours: b.exemptFromQuietHours ?? false,
                               personalize: b.personalize ?? false, personalizationPrompt: b.personalizationPrompt)
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/templates", query: ["include_deleted"]) { req, ctx in
            let list = try await templates.list(try ctx.caller(), includeDeleted: try req.includeDeleted())
            return RawJSON(value: Paging.envelope(list.map { Self.view($0) }, next: nil))
        }
        r.on(.get, "/templates/:name") { _, ctx in
            RawJSON(value: Self.view(try await templates.entry(try ctx.caller(), name: try ctx.parameters.require("name"))))
        }
        r.on(.delete, "/templates/:name") { _, ctx in
            RawJSON(value: Self.view(try await templates.delete(try ctx.action(), name: try ctx.parameters.require("name"))))
        }
        r.on(.post, "/templates/:name/restore") { _, ctx in
            RawJSON(value: Self.view(try await templates.restore(try ctx.action(), name: try ctx.parameters.require("name"))))
        }
        r.on(.get, "/templates/:name/versions") { _, ctx in
            let list = try await templates.versions(try ctx.caller(), name: try ctx.parameters.require("name"))
            return RawJSON(value: Paging.envelope(list.map { v -> JSONValue in
                var o = Self.view(v.template, overridden: v.createdBy != nil)
                if case .object(var fields) = o {
                    fields["created_by"] = AgentViews.text(v.createdBy)
                    fields["created_at"] = AgentViews.date(v.createdAt)
                    fields["current"] = .bool(v.current)
                    o = .object(fields)
                }
                return o
            }, next: nil))
        }
        r.on(.put, "/templates/:name") { req, ctx in
            let body = try await req.decodeJSON(Body.self, limit: maxBodyBytes)
            let saved = try await templates.save(try ctx.action(), try Self.template(try ctx.parameters.require("name"), body))
            return RawJSON(value: Self.view(saved, overridden: true))
        }
        r.on(.post, "/templates/:name/preview") { req, ctx in
            let body = try await req.decodeJSON(Preview.self, limit: maxBodyBytes)
            let name = try ctx.parameters.require("name")
            let draft = try body.template.map { try Self.template(name, $0) }
            let principal = try ctx.caller()
            let variables = body.variables ?? [:]
            let (template, rendered) = try await templates.preview(principal, name: name, draft: draft, variables: variables)
            var out: [String: JSONValue] = [
                "subject": AgentViews.text(rendered.subject), "text": .string(rendered.text), "html": AgentViews.text(rendered.html),
                "personalize": .bool(template.personalize), "personalization_prompt": AgentViews.text(template.personalizationPrompt),
                "personalized": .null,
            ]
            if body.tryPersonalization == true, let channel = Channel(rawValue: template.channel) {
                // It spends a model call: allowed to those who may send.
                try principal.require(.act)
                let result: Personalization.Result = if let personalizer {
                    await Personalization.run(personalizer, plain: rendered, template: template, variables: variables,
                                              channel: channel, settings: personalization)
                } else {
                    Personalization.Result(rendered: rendered, outcome: .fallbackUnavailable)
                }
                out["personalized"] = ["text": .string(result.rendered.text), "html": AgentViews.text(result.rendered.html),
                                       "content_source": .string(result.source.rawValue), "personalization": .string(result.outcome.rawValue)]
            }
            return RawJSON(value: .object(out))
        }
    }
}

/// Consent per recipient and channel, and inbound SMS keywords.
struct ConsentController {
    let consent: ConsentService

    struct SetBody: Decodable { var status: String; var reason: String? }
    struct Inbound: Decodable { var from: String; var body: String }


    static func channel(_ ctx: ParleyRequestContext) throws -> Channel {
        guard let c = Channel(rawValue: try ctx.parameters.require("channel")) else {
            throw ParleyError.badRequest("channel must be email or sms", code: "invalid_channel")
        }
        return c
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>, maxBodyBytes: Int) {
        // Everyone with a recorded status, e.g. `?status=suppressed` for the suppression list.
        r.on(.get, "/consent", query: Paging.forwardParameters + ["status", "channel"]) { req, ctx in
            let query = try Paging.read(req, default: 100, max: 500, direction: .forward)
            let status = try req.queryString("status").map {
                guard let s = ConsentStatus(rawValue: $0) else {
                    throw ParleyError.badRequest("status must be one of \(ConsentStatus.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_query")
                }
                return s
            }
            let channel = try req.queryString("channel").map {
                guard let c = Channel(rawValue: $0) else { throw ParleyError.badRequest("channel must be email or sms", code: "invalid_query") }
                return c
            }
            let after = try query.cursor.map { cursor -> (Channel, String) in
                let parts = cursor.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let c = Channel(rawValue: String(parts[0])) else {
                    throw ParleyError.badRequest("after must be a next_cursor from the previous page", code: "invalid_query")
                }
                return (c, String(parts[1]))
            }
            let rows = try await consent.list(try ctx.caller(), status: status, channel: channel, after: after, limit: query.fetchLimit)
            return JSON(Page(rows: rows, query: query, cursor: { "\($0.channel.rawValue):\($0.recipient)" }, view: ConsentView.init))
        }
        r.on(.get, "/consent/:channel/:recipient") { _, ctx in
            let (current, history) = try await consent.get(try ctx.caller(), channel: try Self.channel(ctx), recipient: try ctx.parameters.require("recipient"))
            return JSON(ConsentDetailView(current: current.map(ConsentView.init), history: history.map(ConsentView.init)))
        }
        r.on(.put, "/consent/:channel/:recipient") { req, ctx in
            let body = try await req.decodeJSON(SetBody.self, limit: maxBodyBytes)
            guard let status = ConsentStatus(rawValue: body.status) else {
                throw ParleyError.badRequest("status must be one of \(ConsentStatus.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_status")
            }
            let saved = try await consent.set(try ctx.action(), channel: try Self.channel(ctx), recipient: try ctx.parameters.require("recipient"),
                                              status: status, reason: body.reason)
            return JSON(ConsentView(saved))
        }
        // Inbound SMS from a provider integration (keywords: STOP, START, HELP, ...).
        r.on(.post, "/inbound/sms") { req, ctx in
            let principal = try ctx.caller()
            try principal.require(.act)
            let body = try await req.decodeJSON(Inbound.self, limit: maxBodyBytes)
            let action = try await consent.inboundSMS(tenantID: principal.tenantID, from: body.from, body: body.body)
            return JSON(InboundSMSView(action: action.rawValue))
        }
    }
}

/// Which provider each channel of the tenant uses, with its credentials (sealed at rest).
struct ChannelController {
    let channels: TenantChannelService
    let maxBodyBytes: Int

    static func view(_ v: ChannelView) -> JSONValue {
        ["channel": .string(v.channel.rawValue), "provider": .string(v.provider), "from": AgentViews.text(v.from), "source": .string(v.source),
         "secrets": .object(v.secrets.mapValues { .string($0) }), "updated_at": AgentViews.date(v.updatedAt)]
    }

    static func channel(_ ctx: ParleyRequestContext) throws -> Channel {
        let raw = try ctx.parameters.require("channel")
        guard let channel = Channel(rawValue: raw) else { throw ParleyError.notFound("there is no channel '\(raw.prefix(20))'", code: "unknown_channel") }
        return channel
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/channels") { _, ctx in
            RawJSON(value: Paging.envelope(try await channels.list(try ctx.caller()).map(Self.view), next: nil))
        }
        r.on(.put, "/channels/:channel") { req, ctx in
            let settings = try await req.decodeJSON(ChannelSettings.self, limit: maxBodyBytes)
            return RawJSON(value: Self.view(try await channels.set(try ctx.action(), channel: try Self.channel(ctx), settings)))
        }
        r.on(.delete, "/channels/:channel") { _, ctx in
            try await channels.remove(try ctx.action(), channel: try Self.channel(ctx))
            return Response(status: .noContent)
        }
    }
}

/// One delivered message in the local outbox (`GET /v1/outbox`).
struct OutboxEntryView: Encodable, Sendable {
    var outboxId: String
    var messageId: String
    var channel: Channel
    var to: String
    var content: String
    var createdAt: Date

    init(_ entry: OutboxEntry) {
        outboxId = entry.id
        messageId = entry.messageID
        channel = entry.channel
        to = entry.recipient
        content = entry.content
        createdAt = entry.createdAt
    }
}

/// A recipient's consent on one channel (`/v1/consent`). Like every message route, a field with
/// no value is sent as null.
struct ConsentView: Encodable, Sendable {
    var channel: Channel
    var recipient: String
    var status: ConsentStatus
    var source: String
    var reason: String?
    var updatedAt: Date

    init(_ record: ConsentRecord) {
        channel = record.channel
        recipient = record.recipient
        status = record.status
        source = record.source
        reason = record.reason
        updatedAt = record.updatedAt
    }

    private enum CodingKeys: String, CodingKey {
        case channel, recipient, status, source, reason
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(channel, forKey: .channel)
        try c.encode(recipient, forKey: .recipient)
        try c.encode(status, forKey: .status)
        try c.encode(source, forKey: .source)
        try c.encode(reason, forKey: .reason)  // null when none
        try c.encode(updatedAt, forKey: .updatedAt)
    }
}

/// `GET /v1/consent/{channel}/{recipient}`: the current record (null when there is none) and every change.
struct ConsentDetailView: Encodable, Sendable {
    var current: ConsentView?
    var history: [ConsentView]

    private enum CodingKeys: String, CodingKey { case current, history }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(current, forKey: .current)  // null when none
        try c.encode(history, forKey: .history)
    }
}

/// What an inbound SMS did (`opt_out`, `opt_in`, `help`, `none`, ...).
struct InboundSMSView: Encodable, Sendable {
    var action: String
}
