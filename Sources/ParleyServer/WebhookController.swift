import Foundation
import HTTPTypes
import Hummingbird
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyStorage

/// The providers' webhooks. No API key: the provider's signature is the credential, checked
/// with the tenant's secret for that provider. The tenant is in the path so that each tenant can
/// point its own provider account here.
struct WebhookController {
    let webhooks: WebhookService
    let store: any Store
    /// Where Twilio reaches us (`PARLEY_PUBLIC_URL`), which is what it signs.
    let baseURL: String
    let maxBodyBytes: Int

    func register(_ r: Routes<Router<ParleyRequestContext>>) {
        r.on(.post, "/webhooks/:tenant_slug/twilio/status") { req, ctx in
            let tenant = try await tenantID(ctx)
            let body = try await Self.body(req, limit: maxBodyBytes, form: true)
            _ = try await webhooks.twilioStatus(tenantID: tenant, url: publicURL(req), body: body, signature: req.headers[.twilioSignature])
            return Self.twiml("<Response/>")
        }
        r.on(.post, "/webhooks/:tenant_slug/twilio/inbound") { req, ctx in
            let tenant = try await self.tenant(ctx)
            let body = try await Self.body(req, limit: maxBodyBytes, form: true)
            let action = try await webhooks.twilioInbound(tenantID: tenant.id, url: publicURL(req), body: body, signature: req.headers[.twilioSignature])
            // Twilio answers STOP and START itself on standard numbers; HELP gets ours, naming the sender as carriers require.
            guard action == .help else { return Self.twiml("<Response/>") }
            let name = UnsubscribeController.escape(String(tenant.name.prefix(40)))
            return Self.twiml("<Response><Message>\(name): reply STOP to unsubscribe, START to subscribe again.</Message></Response>")
        }
        r.on(.post, "/webhooks/:tenant_slug/sendgrid/events") { req, ctx in
            let tenant = try await tenantID(ctx)
            let body = try await Self.body(req, limit: maxBodyBytes, form: false)
            let outcome = try await webhooks.sendGridEvents(tenantID: tenant, body: body, signature: req.headers[.sendGridSignature],
                                                            timestamp: req.headers[.sendGridTimestamp])
            return Self.view(outcome)
        }
        r.on(.post, "/webhooks/:tenant_slug/resend/events") { req, ctx in
            let tenant = try await tenantID(ctx)
            let body = try await Self.body(req, limit: maxBodyBytes, form: false)
            let outcome = try await webhooks.resendEvent(tenantID: tenant, body: body, id: req.headers[.svixID],
                                                         timestamp: req.headers[.svixTimestamp], signature: req.headers[.svixSignature])
            return Self.view(outcome)
        }
    }

    private func tenantID(_ ctx: ParleyRequestContext) async throws -> String { try await tenant(ctx).id }

    private func tenant(_ ctx: ParleyRequestContext) async throws -> Tenant {
        let slug = try ctx.parameters.require("tenant_slug")
        guard let tenant = try await store.read({ db in try await TenantRepository().find(slug: slug, on: db) }) else {
            throw ParleyError.notFound("no tenant '\(slug.prefix(64))'", code: "tenant_not_found")
        }
        return tenant
    }

    /// The URL as the provider requested it: the public base, then the path and query received.
    private func publicURL(_ req: Request) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        let query = req.uri.query.map { $0.isEmpty ? "" : "?" + $0 } ?? ""
        return base + req.uri.path + query
    }

    /// The raw body (signatures cover its exact bytes): 415 for the wrong media type, 413 over the limit.
    static func body(_ req: Request, limit: Int, form: Bool) async throws -> Data {
        let media = (req.headers[.contentType] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let expected = form ? "application/x-www-form-urlencoded" : "application/json"
        guard media == expected else {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_media_type", "send the body as \(expected)")
        }
        var request = req
        return Data(buffer: try await request.collectBody(upTo: limit))
    }

    static func twiml(_ xml: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/xml; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: #"<?xml version="1.0" encoding="UTF-8"?>"# + xml)))
    }

    static func view(_ o: WebhookService.Outcome) -> JSON<WebhookOutcomeView> {
        JSON(WebhookOutcomeView(received: o.received, applied: o.applied))
    }
}

extension HTTPField.Name {
    static let twilioSignature = Self("X-Twilio-Signature")!
    static let sendGridSignature = Self("X-Twilio-Email-Event-Webhook-Signature")!
    static let sendGridTimestamp = Self("X-Twilio-Email-Event-Webhook-Timestamp")!
    static let svixID = Self("svix-id")!
    static let svixTimestamp = Self("svix-timestamp")!
    static let svixSignature = Self("svix-signature")!
}

extension CommsAssembly {
    /// For now from the installation's settings, the same for every tenant: `TWILIO_AUTH_TOKEN`,
    /// `PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY`, `PARLEY_RESEND_WEBHOOK_SECRET` (validated at start-up).
    public static func webhookSecrets(_ jobs: JobSettings) -> WebhookSecretLookup {
        let p = jobs.providerSettings
        let twilio = p["TWILIO_AUTH_TOKEN"].flatMap { try? WebhookSecret.twilio(authToken: $0) }
        let sendGrid = p["PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY"].flatMap { try? WebhookSecret.sendGrid(publicKey: $0) }
        let resend = p["PARLEY_RESEND_WEBHOOK_SECRET"].flatMap { try? WebhookSecret.svix(secret: $0) }
        return { _, provider in
            switch provider {
            case .twilio: twilio
            case .sendgrid: sendGrid
            case .resend: resend
            }
        }
    }
}

/// What a delivery-status webhook did: events received and applied.
struct WebhookOutcomeView: Encodable, Sendable {
    var received: Int
    var applied: Int
}
