import Foundation
import Logging
import ParleyCore

/// A channel that talks to the outside world. It cannot join the database transaction, so the
/// worker records the attempt first ("sending"), calls the provider, then records the outcome.
public protocol ExternalChannel: Sendable {
    var name: String { get }
    /// True when the provider drops a second request carrying the same idempotency key, so an
    /// attempt interrupted after the call may be repeated safely.
    var honoursIdempotencyKeys: Bool { get }
    /// Sends `message`; returns the provider's message id. Throws `DeliveryError`.
    func send(_ message: Message, idempotencyKey: String) async throws -> String?
}

/// Which way out a message takes.
public enum Route: Sendable {
    case local(any MessageChannel)
    case external(any ExternalChannel)
}

/// Email over SMTP with a fixed sender (per-tenant providers come with tenant channel settings).
public struct SMTPChannel: ExternalChannel {
    public let name = "smtp"
    public let honoursIdempotencyKeys = false
    let client: SMTPClient
    let from: String
    var outbound: OutboundGuard?

    public init(configuration: SMTPConfiguration, from: String, logger: Logger = Logger(label: "parley.smtp")) {
        self.client = SMTPClient(configuration: configuration, logger: logger)
        self.from = from
    }

    /// The same channel for a server a tenant configured: see `OutboundGuard`.
    public func guarded(by outbound: OutboundGuard?) -> Self {
        var copy = self
        copy.outbound = outbound
        return copy
    }

    public func send(_ message: Message, idempotencyKey: String) async throws -> String? {
        var client = self.client
        if let outbound {
            // Connect to the checked address; the name stays the TLS server name.
            var configuration = client.configuration
            let address: IPAddress
            do { address = try await outbound.check(host: configuration.host, what: "smtp_url") } catch {
                throw DeliveryError.transient("outbound address refused: \(error.message)")
            }
            if configuration.tlsServerName == nil, IPAddress(configuration.host) == nil { configuration.tlsServerName = configuration.host }
            configuration.host = address.description
            client = SMTPClient(configuration: configuration, logger: client.logger)
        }
        let messageID = "\(message.id)@parley"
        let raw = MIMEBuilder.build(from: from, to: [message.recipient], subject: message.subject ?? "", text: message.bodyText, html: message.bodyHTML,
                                    messageID: messageID, date: Date(), extraHeaders: [("X-Parley-Message", message.id)] + message.listUnsubscribeHeaders)
        do {
            try await client.send(SMTPMessage(from: MIMEBuilder.address(of: from), to: [message.recipient], raw: raw))
            return messageID
        } catch let error as SMTPError {
            // A refused recipient is permanent; everything else (network, TLS or credentials that
            // an operator can fix) is retried, so the message is not lost.
            if case .rejected = error { throw DeliveryError.permanent(error.description) }
            throw DeliveryError.transient(error.description)
        }
    }
}

/// `PARLEY_SMTP_URL`: `smtp://USER:PASSWORD@HOST:PORT` (STARTTLS required), `smtps://...`
/// (implicit TLS) or `smtp+insecure://HOST:PORT` (no TLS: local relays and tests only).
public enum SMTPURL {
    public static func parse(_ text: String) -> SMTPConfiguration? {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else { return nil }
        let security: SMTPConfiguration.Security
        switch scheme {
        case "smtp": security = .startTLS
        case "smtps": security = .tls
        case "smtp+insecure": security = .none
        default: return nil
        }
        return SMTPConfiguration(host: host, port: url.port, security: security,
                                 username: url.user?.removingPercentEncoding, password: url.password?.removingPercentEncoding,
                                 allowPlaintextAuth: security == .none)
    }
}

/// SMS through Twilio's Messages API.
public struct TwilioChannel: ExternalChannel {
    public let name = "twilio"
    /// Twilio documents no idempotency key for sending: an interrupted attempt is not repeated.
    public let honoursIdempotencyKeys = false
    let client: TwilioClient
    let statusCallback: String?

    public init(client: TwilioClient, statusCallback: String? = nil) {
        self.client = client
        self.statusCallback = statusCallback
    }

    public func send(_ message: Message, idempotencyKey: String) async throws -> String? {
        try await client.send(OutgoingSMS(to: message.recipient, body: message.bodyText, statusCallback: statusCallback,
                                          idempotencyKey: idempotencyKey)).providerMessageID
    }
}

/// Email through an HTTP provider (SendGrid or Resend).
public struct HTTPEmailChannel: ExternalChannel {
    public enum Provider: Sendable { case sendGrid(SendGridClient), resend(ResendClient) }
    public let name: String
    public let honoursIdempotencyKeys: Bool
    let provider: Provider
    let from: String

    public init(_ provider: Provider, from: String) {
        self.provider = provider
        self.from = from
        switch provider {
        case .sendGrid: name = "sendgrid"; honoursIdempotencyKeys = false
        case .resend: name = "resend"; honoursIdempotencyKeys = true
        }
    }

    public func send(_ message: Message, idempotencyKey: String) async throws -> String? {
        let email = OutgoingEmail(from: from, to: message.recipient, subject: message.subject ?? "", text: message.bodyText,
                                  html: message.bodyHTML, headers: message.listUnsubscribeHeaders, idempotencyKey: idempotencyKey)
        switch provider {
        case .sendGrid(let c): return try await c.send(email).providerMessageID
        case .resend(let c): return try await c.send(email).providerMessageID
        }
    }
}
