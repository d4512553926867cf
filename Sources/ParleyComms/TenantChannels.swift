import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit
import Synchronization

extension CommsSchema {
    static let tenantChannelsMigration = Migration("0012_tenant_channels", [
        """
        CREATE TABLE tenant_channels (
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            channel TEXT NOT NULL,
            provider TEXT NOT NULL,
            settings_sealed TEXT NOT NULL,
            updated_at %TIMESTAMP% NOT NULL,
            PRIMARY KEY (tenant_id, channel)
        )
        """,
    ])
}

/// How one channel leaves Parley: the provider and what it needs. Stored per tenant sealed with
/// the installation key (AES-GCM, bound to the tenant and channel), never returned in clear.
public struct ChannelSettings: Sendable, Equatable, Codable {
    public var provider: String
    /// Email: the `From:` mailbox. SMS: Twilio's `From` number or sender id.
    public var from: String?
    public var smtpURL: String?
    public var apiKey: String?
    public var accountSID: String?
    public var authToken: String?
    public var messagingServiceSID: String?
    public var baseURL: String?
    public var statusCallback: String?
    /// SendGrid: the Event Webhook's verification key; Resend: the webhook's `whsec_` secret.
    /// (Twilio signs its webhooks with `auth_token`.)
    public var webhookSecret: String?

    enum CodingKeys: String, CodingKey {
        case provider, from, smtpURL = "smtp_url", apiKey = "api_key", accountSID = "account_sid", authToken = "auth_token"
        case messagingServiceSID = "messaging_service_sid", baseURL = "base_url", statusCallback = "status_callback"
        case webhookSecret = "webhook_secret"
    }

    public init(provider: String, from: String? = nil, smtpURL: String? = nil, apiKey: String? = nil, accountSID: String? = nil,
                authToken: String? = nil, messagingServiceSID: String? = nil, baseURL: String? = nil, statusCallback: String? = nil,
                webhookSecret: String? = nil) {
        self.webhookSecret = webhookSecret
        self.provider = provider
        self.from = from
        self.smtpURL = smtpURL
        self.apiKey = apiKey
        self.accountSID = accountSID
        self.authToken = authToken
        self.messagingServiceSID = messagingServiceSID
        self.baseURL = baseURL
        self.statusCallback = statusCallback
    }

    /// The installation's settings (`PARLEY_EMAIL_PROVIDER`, `PARLEY_SMS_PROVIDER`, ...), used by
    /// tenants that configured nothing of their own.
    public static func installation(_ jobs: JobSettings, channel: Channel) -> ChannelSettings {
        let p = jobs.providerSettings
        switch channel {
        case .email:
            switch jobs.emailProvider {
            case "smtp": return ChannelSettings(provider: "smtp", from: jobs.emailFrom, smtpURL: jobs.smtpURL)
            case "sendgrid": return ChannelSettings(provider: "sendgrid", from: jobs.emailFrom, apiKey: p["SENDGRID_API_KEY"], baseURL: p["PARLEY_SENDGRID_BASE_URL"])
            case "resend": return ChannelSettings(provider: "resend", from: jobs.emailFrom, apiKey: p["RESEND_API_KEY"], baseURL: p["PARLEY_RESEND_BASE_URL"])
            default: return ChannelSettings(provider: "outbox", from: jobs.emailFrom)
            }
        case .sms:
            guard jobs.smsProvider == "twilio" else { return ChannelSettings(provider: "outbox") }
            return ChannelSettings(provider: "twilio", from: p["TWILIO_FROM"], accountSID: p["TWILIO_ACCOUNT_SID"], authToken: p["TWILIO_AUTH_TOKEN"],
                                   baseURL: p["PARLEY_TWILIO_BASE_URL"], statusCallback: p["PARLEY_TWILIO_STATUS_CALLBACK"])
        }
    }

    /// Checks that the provider fits the channel and has what it needs; a clear 400 otherwise.
    public func validate(for channel: Channel) throws(ParleyError) {
        func need(_ value: String?, _ field: String) throws(ParleyError) {
            guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw .badRequest("\(provider) needs \(field)", code: "invalid_channel_settings")
            }
        }
        let allowed = channel == .email ? ["outbox", "smtp", "sendgrid", "resend"] : ["outbox", "twilio"]
        guard allowed.contains(provider) else {
            throw .badRequest("provider for \(channel.rawValue) must be one of \(allowed.joined(separator: ", "))", code: "invalid_channel_settings")
        }
        for (value, field) in [(baseURL, "base_url"), (statusCallback, "status_callback")] {
            if let value, !(URL(string: value).map { ($0.scheme == "https" || $0.scheme == "http") && $0.host != nil } ?? false) {
                throw .badRequest("\(field) must be an absolute http(s) URL", code: "invalid_channel_settings")
            }
        }
        if let from, from.contains(where: \.isNewline) { throw .badRequest("from must be on one line", code: "invalid_channel_settings") }
        switch provider {
        case "smtp":
            try need(smtpURL, "smtp_url")
            guard smtpURL.flatMap(SMTPURL.parse) != nil else {
                throw .badRequest("smtp_url must be smtp://USER:PASSWORD@HOST:PORT, smtps://... or smtp+insecure://HOST:PORT", code: "invalid_channel_settings")
            }
            try need(from, "from")
        case "sendgrid", "resend":
            try need(apiKey, "api_key")
            try need(from, "from")
        case "twilio":
            try need(accountSID, "account_sid")
            try need(authToken, "auth_token")
            guard from != nil || messagingServiceSID != nil else {
                throw .badRequest("twilio needs from or messaging_service_sid", code: "invalid_channel_settings")
            }
        default:
            break
        }
        if let webhookSecret {
            do {
                switch provider {
                case "sendgrid": _ = try WebhookSecret.sendGrid(publicKey: webhookSecret)
                case "resend": _ = try WebhookSecret.svix(secret: webhookSecret)
                default: throw ParleyError.badRequest("webhook_secret applies to sendgrid and resend", code: "invalid_channel_settings")
                }
            } catch let e as ParleyError {
                throw e
            } catch {
                throw .badRequest("webhook_secret: \(error)", code: "invalid_channel_settings")
            }
        }
        if channel == .email, provider != "outbox", let from, !from.contains("@") {
            throw .badRequest("from must be an email address such as 'Acme <no-reply@acme.example>'", code: "invalid_channel_settings")
        }
    }

    /// The way out these settings describe. `outbound` guards every connection when a tenant set
    /// them (nil for the installation's own providers, which are trusted as configured).
    public func route(for channel: Channel, outbound: OutboundGuard? = nil) -> Route {
        let outbox = Route.local(from.map { channel == .email ? OutboxChannel(from: $0) : OutboxChannel() } ?? OutboxChannel())
        switch provider {
        case "smtp":
            return smtpURL.flatMap(SMTPURL.parse).map { .external(SMTPChannel(configuration: $0, from: from ?? "").guarded(by: outbound)) } ?? outbox
        case "sendgrid":
            return .external(HTTPEmailChannel(.sendGrid(SendGridClient(apiKey: apiKey ?? "", baseURL: baseURL ?? "https://api.sendgrid.com")
                .guarded(by: outbound)), from: from ?? ""))
        case "resend":
            return .external(HTTPEmailChannel(.resend(ResendClient(apiKey: apiKey ?? "", baseURL: baseURL ?? "https://api.resend.com")
                .guarded(by: outbound)), from: from ?? ""))
        case "twilio":
            let sender: TwilioConfiguration.Sender = messagingServiceSID.map { .messagingService($0) } ?? .from(from ?? "")
            return .external(TwilioChannel(client: TwilioClient(accountSID: accountSID ?? "", authToken: authToken ?? "", sender: sender,
                                                                baseURL: baseURL ?? "https://api.twilio.com").guarded(by: outbound),
                                           statusCallback: statusCallback))
        default:
            return outbox
        }
    }

    /// Refuses settings whose endpoint (`base_url`, the `smtp_url` host) the guard would not let
    /// Parley reach: 400 `outbound_address_refused` saying why. Checked again at every send.
    public func checkOutbound(_ outbound: OutboundGuard) async throws(ParleyError) {
        var targets: [(host: String, what: String)] = []
        if let baseURL, let host = URLComponents(string: baseURL)?.host { targets.append((host, "base_url")) }
        if provider == "smtp", let host = smtpURL.flatMap(SMTPURL.parse)?.host { targets.append((host, "smtp_url")) }
        for target in targets {
            do { _ = try await outbound.check(host: target.host, what: target.what) } catch {
                throw .badRequest(error.message, code: "outbound_address_refused")
            }
        }
    }

    /// What an operator may see: which secrets are set, by their last four characters.
    public var redacted: [String: String] {
        var out: [String: String] = [:]
        for (name, value) in [("smtp_url", smtpURL.map(Self.redactURL)), ("api_key", apiKey.map(Self.hint)),
                              ("account_sid", accountSID), ("auth_token", authToken.map(Self.hint)),
                              ("webhook_secret", webhookSecret.map(Self.hint))] {
            if let value { out[name] = value }
        }
        return out
    }

    static func hint(_ secret: String) -> String { secret.count <= 8 ? "••••" : "••••" + secret.suffix(4) }

    static func redactURL(_ text: String) -> String {
        guard var c = URLComponents(string: text) else { return "••••" }
        if c.password != nil { c.password = "••••" }
        return c.string ?? "••••"
    }
}

/// A tenant's channel as shown by the API: its own settings or the installation's.
public struct ChannelView: Sendable, Equatable {
    public var channel: Channel
    public var provider: String
    public var from: String?
    /// `tenant` when the tenant configured it, `installation` when it uses the server's settings.
    public var source: String
    public var secrets: [String: String]
    public var updatedAt: Date?
}

/// Per-tenant provider settings: set, read (redacted), removed; secrets sealed at rest.
public struct TenantChannelService: Sendable {
    let store: any Store
    let clock: any Clock
    let keyring: Keyring
    let installation: JobSettings
    let outbound: OutboundGuard
    static let purpose = "provider-credentials"

    public init(store: any Store, clock: any Clock, keyring: Keyring, installation: JobSettings,
                resolver: @escaping OutboundGuard.Resolver = OutboundGuard.systemResolve) {
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.installation = installation
        self.outbound = OutboundGuard(policy: installation.outbound, resolver: resolver)
    }

    static func context(_ tenantID: String, _ channel: Channel) -> String { "\(tenantID)/\(channel.rawValue)" }

    public func set(_ ctx: ActionContext, channel: Channel, _ settings: ChannelSettings) async throws -> ChannelView {
        try ctx.principal.require(.manageKeys)
        try settings.validate(for: channel)
        try await settings.checkOutbound(outbound)
        let tenantID = ctx.principal.tenantID
        let sealed = try keyring.seal(Self.purpose, try JSONEncoder().encode(settings), context: Self.context(tenantID, channel))
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        try await store.transaction { db in
            try await db.raw("""
                INSERT INTO tenant_channels (tenant_id, channel, provider, settings_sealed, updated_at)
                VALUES (\(bind: tenantID), \(bind: channel.rawValue), \(bind: settings.provider), \(bind: sealed), \(bind: now))
                ON CONFLICT (tenant_id, channel) DO UPDATE SET provider = excluded.provider, settings_sealed = excluded.settings_sealed,
                    updated_at = excluded.updated_at
                """).run()
            try await audit.record(ctx, action: "channel.set", targetType: "channel", targetID: channel.rawValue,
                                   details: "provider=\(settings.provider)", on: db)
        }
        return ChannelView(channel: channel, provider: settings.provider, from: settings.from, source: "tenant", secrets: settings.redacted, updatedAt: now)
    }

    public func remove(_ ctx: ActionContext, channel: Channel) async throws {
        try ctx.principal.require(.manageKeys)
        let tenantID = ctx.principal.tenantID
        let audit = AuditLog(clock: clock)
        try await store.transaction { db in
            let gone = try await db.raw("""
                DELETE FROM tenant_channels WHERE tenant_id = \(bind: tenantID) AND channel = \(bind: channel.rawValue) RETURNING channel
                """).all()
            guard !gone.isEmpty else {
                throw ParleyError.notFound("\(channel.rawValue) uses the installation's settings already", code: "channel_not_configured")
            }
            try await audit.record(ctx, action: "channel.remove", targetType: "channel", targetID: channel.rawValue, on: db)
        }
    }

    public func list(_ principal: Principal) async throws -> [ChannelView] {
        try principal.require(.readTenant)
        var out: [ChannelView] = []
        for channel in Channel.allCases {
            let stored = try await store.read { db in try await self.stored(tenantID: principal.tenantID, channel: channel, on: db) }
            if let (settings, updatedAt) = stored {
                out.append(ChannelView(channel: channel, provider: settings.provider, from: settings.from, source: "tenant",
                                       secrets: settings.redacted, updatedAt: updatedAt))
            } else {
                let s = ChannelSettings.installation(installation, channel: channel)
                out.append(ChannelView(channel: channel, provider: s.provider, from: s.from, source: "installation", secrets: [:], updatedAt: nil))
            }
        }
        return out
    }

    /// The secret a provider signs this tenant's webhooks with, from the tenant's own settings;
    /// nil when the tenant has none for that provider (the installation's then apply).
    public func webhookSecret(tenantID: String, provider: WebhookProvider) async throws -> WebhookSecret? {
        let channel: Channel = provider == .twilio ? .sms : .email
        guard let (settings, _) = try await store.read({ db in try await self.stored(tenantID: tenantID, channel: channel, on: db) }) else {
            return nil
        }
        switch provider {
        case .twilio: return settings.provider == "twilio" ? try settings.authToken.map { try WebhookSecret.twilio(authToken: $0) } : nil
        case .sendgrid: return settings.provider == "sendgrid" ? try settings.webhookSecret.map { try WebhookSecret.sendGrid(publicKey: $0) } : nil
        case .resend: return settings.provider == "resend" ? try settings.webhookSecret.map { try WebhookSecret.svix(secret: $0) } : nil
        }
    }

    func stored(tenantID: String, channel: Channel, on db: any SQLDatabase) async throws -> (ChannelSettings, Date)? {
        guard let row = try await db.raw("""
            SELECT settings_sealed, updated_at FROM tenant_channels WHERE tenant_id = \(bind: tenantID) AND channel = \(bind: channel.rawValue)
            """).first() else { return nil }
        let plain = try keyring.open(Self.purpose, try row.decode(column: "settings_sealed", as: String.self), context: Self.context(tenantID, channel))
        return (try JSONDecoder().decode(ChannelSettings.self, from: plain), try row.decode(column: "updated_at", as: Date.self))
    }
}

/// Picks each message's way out: the tenant's own provider when it set one, else the
/// installation's. Routes are cached per tenant and channel until the tenant's settings change.
/// Twilio SMS without an explicit status callback report to the tenant's own signed webhook
/// (`/webhooks/{slug}/twilio/status`), so delivery statuses arrive without extra set-up.
public final class ChannelRouter: Sendable {
    let keyring: Keyring
    let installation: @Sendable (Channel) -> Route
    let installationSMS: ChannelSettings?
    let baseURL: String?
    /// Guards every connection to an endpoint a tenant configured.
    let outbound: OutboundGuard
    private let cache = Mutex<[String: (sealed: String, route: Route)]>([:])

    public init(keyring: Keyring, installation: @escaping @Sendable (Channel) -> Route, installationSMS: ChannelSettings? = nil, baseURL: String? = nil,
                outbound: OutboundGuard = OutboundGuard(policy: .publicOnly)) {
        self.keyring = keyring
        self.installation = installation
        self.installationSMS = installationSMS
        self.baseURL = baseURL
        self.outbound = outbound
    }

    public func route(tenantID: String, channel: Channel, on db: any SQLDatabase) async throws -> Route {
        let key = TenantChannelService.context(tenantID, channel)
        guard let row = try await db.raw("""
            SELECT settings_sealed FROM tenant_channels WHERE tenant_id = \(bind: tenantID) AND channel = \(bind: channel.rawValue)
            """).first() else {
            // The installation's Twilio account, with this tenant's callback.
            guard channel == .sms, let sms = installationSMS, sms.provider == "twilio", sms.statusCallback == nil, baseURL != nil else {
                return installation(channel)
            }
            return try await build(sms, channel: channel, tenantID: tenantID, cacheKey: key + "#installation", version: "installation",
                                   guarded: false, on: db)
        }
        let sealed = try row.decode(column: "settings_sealed", as: String.self)
        if let hit = cache.withLock({ $0[key] }), hit.sealed == sealed { return hit.route }
        let plain: Data
        do {
            plain = try keyring.open(TenantChannelService.purpose, sealed, context: key)
        } catch {
            // Retried: an operator can fix the key without losing the message.
            throw DeliveryError.transient("the tenant's \(channel.rawValue) settings cannot be decrypted with this installation's key")
        }
        return try await build(try JSONDecoder().decode(ChannelSettings.self, from: plain), channel: channel, tenantID: tenantID,
                               cacheKey: key, version: sealed, guarded: true, on: db)
    }

    private func build(_ settings: ChannelSettings, channel: Channel, tenantID: String, cacheKey: String, version: String,
                       guarded: Bool, on db: any SQLDatabase) async throws -> Route {
        if let hit = cache.withLock({ $0[cacheKey] }), hit.sealed == version { return hit.route }
        var settings = settings
        if settings.provider == "twilio", settings.statusCallback == nil, let baseURL,
           let slug = try await db.raw("SELECT slug FROM tenants WHERE id = \(bind: tenantID)").first()?.decode(column: "slug", as: String.self) {
            settings.statusCallback = "\(baseURL)/webhooks/\(slug)/twilio/status"
        }
        let route = settings.route(for: channel, outbound: guarded ? outbound : nil)
        cache.withLock { $0[cacheKey] = (version, route) }
        return route
    }
}
