import Crypto
import Foundation

/// The providers whose webhooks Parley receives.
public enum WebhookProvider: String, Sendable, CaseIterable {
    case twilio, sendgrid, resend

    /// Recorded as the source of consent changes a webhook causes.
    public var consentSource: String { "webhook:\(rawValue)" }
}

/// What verifies one provider's webhook signatures. Built from configuration text by the
/// throwing initialisers, so a malformed key is caught where it is configured, not per request.
public enum WebhookSecret: Sendable {
    /// Twilio signs with the account's auth token (HMAC-SHA1).
    case twilioAuthToken(String)
    /// SendGrid's Signed Event Webhook: the ECDSA P-256 verification key (DER, checked when built;
    /// bytes because swift-crypto's key types are not `Sendable`).
    case sendGridPublicKey(derRepresentation: Data)
    /// Resend signs through Svix: the decoded HMAC-SHA256 key of a `whsec_...` secret.
    case svix(key: Data)

    public enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String { switch self { case .invalid(let what): what } }
    }

    /// The verification key as SendGrid shows it: base64 DER SubjectPublicKeyInfo.
    public static func sendGrid(publicKey text: String) throws -> WebhookSecret {
        guard let der = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)),
              (try? P256.Signing.PublicKey(derRepresentation: der)) != nil else {
            throw ParseError.invalid("not a base64 DER P-256 public key")
        }
        return .sendGridPublicKey(derRepresentation: der)
    }

    /// A Svix signing secret, `whsec_<base64>` (the prefix is optional, as in Svix's libraries).
    public static func svix(secret text: String) throws -> WebhookSecret {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let encoded = trimmed.hasPrefix("whsec_") ? String(trimmed.dropFirst(6)) : trimmed
        guard let raw = Data(base64Encoded: encoded), !raw.isEmpty else { throw ParseError.invalid("not a whsec_<base64> secret") }
        return .svix(key: raw)
    }

    public static func twilio(authToken: String) throws -> WebhookSecret {
        guard !authToken.isEmpty else { throw ParseError.invalid("empty auth token") }
        return .twilioAuthToken(authToken)
    }
}

/// Finds the secret that verifies `provider`'s webhooks for a tenant, or nil when none is
/// configured (the webhook is then refused: unsigned input is never accepted).
public typealias WebhookSecretLookup = @Sendable (_ tenantID: String, _ provider: WebhookProvider) async throws -> WebhookSecret?

/// Signature checks for the providers' webhooks. Every comparison is constant-time; the signed
/// timestamp of SendGrid and Svix must be within `tolerance` of now, either way, so a captured
/// request cannot be replayed later (Twilio signs no time; replays are caught by event ids).
public enum WebhookSignatures {
    public static let tolerance: TimeInterval = 300

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missing(String)
        case mismatch
        case staleTimestamp

        public var description: String {
            switch self {
            case .missing(let header): "the \(header) header is missing or malformed"
            case .mismatch: "the signature does not match the request"
            case .staleTimestamp: "the signed timestamp is more than 5 minutes away from the server's time"
            }
        }
    }

    /// SendGrid: `X-Twilio-Email-Event-Webhook-Signature` is base64 DER ECDSA (SHA-256) over
    /// `X-Twilio-Email-Event-Webhook-Timestamp` followed by the raw body.
    public static func verifySendGrid(key der: Data, body: Data, signature: String?, timestamp: String?,
                                      now: Date) throws(Failure) {
        guard let timestamp, let seconds = TimeInterval(timestamp.trimmingCharacters(in: .whitespaces)) else {
            throw .missing("X-Twilio-Email-Event-Webhook-Timestamp")
        }
        guard let signature, let signatureDER = Data(base64Encoded: signature.trimmingCharacters(in: .whitespaces)) else {
            throw .missing("X-Twilio-Email-Event-Webhook-Signature")
        }
        guard let key = try? P256.Signing.PublicKey(derRepresentation: der),
              let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signatureDER),
              key.isValidSignature(parsed, for: Data(timestamp.utf8) + body) else { throw .mismatch }
        try fresh(seconds, now: now)
    }

    /// Svix (Resend): `svix-signature` holds space-separated `v1,<base64 HMAC-SHA256>` entries over
    /// `svix-id.svix-timestamp.body`; any one matching is enough.
    public static func verifySvix(key raw: Data, body: Data, id: String?, timestamp: String?, signature: String?,
                                  now: Date) throws(Failure) {
        guard let id, !id.isEmpty, id.utf8.count <= 256 else { throw .missing("svix-id") }
        guard let timestamp, let seconds = TimeInterval(timestamp) else { throw .missing("svix-timestamp") }
        guard let signature, !signature.isEmpty else { throw .missing("svix-signature") }
        let signed = Data("\(id).\(timestamp).".utf8) + body
        let key = SymmetricKey(data: raw)
        var valid = false
        for entry in signature.split(separator: " ") {
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let mac = Data(base64Encoded: String(parts[1])) else { continue }
            // No early exit: the time taken does not say which entry matched.
            if HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: key) { valid = true }
        }
        guard valid else { throw .mismatch }
        try fresh(seconds, now: now)
    }

    /// Twilio: `X-Twilio-Signature` over the public URL and the sorted POST parameters.
    public static func verifyTwilio(authToken: String, url: String, params: [String: String], signature: String?) throws(Failure) {
        guard let signature, !signature.isEmpty else { throw .missing("X-Twilio-Signature") }
        guard TwilioClient.validSignature(authToken: authToken, url: url, params: params, signature: signature) else { throw .mismatch }
    }

    private static func fresh(_ seconds: TimeInterval, now: Date) throws(Failure) {
        guard seconds.isFinite, abs(now.timeIntervalSince1970 - seconds) <= tolerance else { throw .staleTimestamp }
    }
}
