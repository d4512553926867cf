import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ParleyCore
import ParleyOutbound

// HTTP clients for the messaging providers the communications engine sends through:
// Twilio (SMS), SendGrid and Resend (email).
//
// Every `send` either returns a `ProviderReceipt` or throws a `DeliveryError`, classified so the worker
// does the right thing with it. `permanent` makes the worker suppress the recipient on the channel, so it
// is kept for answers that say *this recipient* can never be reached (invalid or landline number, STOP,
// invalid address). Everything else that failed is `transient`, retried with backoff until the job's
// attempts run out, after which the message fails without suppressing anyone:
//
// - 429, 408 and 5xx, timeouts and connection errors: the provider may well take it later.
// - 401/403 and other credential or sender problems (bad token, From number not on the account, domain
//   not verified): configuration that an operator fixes. A transient error keeps the message in the
//   queue while that happens instead of failing it, and never blames the recipient.
// - Any other 4xx that does not name the recipient (a request the provider did not like, an unknown
//   error code): not the recipient's fault, so not a reason to suppress them.
// - A 2xx without the provider's documented success document (no Twilio `sid`, no Resend `id`, no
//   SendGrid `X-Message-Id`): nothing proves the provider took the message (a wrong base URL or an
//   intercepting proxy also answers 200), so it is retried. For Resend the retry is harmless, since it
//   carries the same `Idempotency-Key`; for Twilio and SendGrid, which have no idempotency key on these
//   endpoints, that rare case can send a duplicate, which we prefer to losing the message.
//
// Error messages carry the provider's name, the HTTP status, the provider's error code and a short
// message. They never carry credentials (the secret is scrubbed from anything a provider echoes) and
// never a URL.

// MARK: - Messages and receipts

/// What a provider returned when it accepted a message.
public struct ProviderReceipt: Sendable, Equatable {
    /// `"twilio"`, `"sendgrid"` or `"resend"`.
    public var provider: String
    /// The provider's id for the message: Twilio's `sid`, SendGrid's `X-Message-Id`, Resend's `id`.
    public var providerMessageID: String?

    public init(provider: String, providerMessageID: String?) {
        self.provider = provider
        self.providerMessageID = providerMessageID
    }
}

/// A rendered email, ready for a provider.
public struct OutgoingEmail: Sendable {
    /// `hello@example.com` or `Example <hello@example.com>`.
    public var from: String
    /// One recipient, in the same forms as `from`.
    public var to: String
    public var subject: String
    public var text: String
    public var html: String?
    /// Extra message headers, such as `List-Unsubscribe` and `List-Unsubscribe-Post`. When a name
    /// appears more than once (compared case-insensitively), the last value wins.
    public var headers: [(String, String)]
    /// The same for every attempt at this message. Resend deduplicates on it for 24 hours; SendGrid gets it
    /// as the custom argument `parley_idempotency_key`, which its event webhook echoes back.
    public var idempotencyKey: String

    public init(from: String, to: String, subject: String, text: String, html: String? = nil,
                headers: [(String, String)] = [], idempotencyKey: String) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.headers = headers
        self.idempotencyKey = idempotencyKey
    }
}

/// A rendered SMS, ready for a provider.
public struct OutgoingSMS: Sendable, Equatable {
    /// E.164, e.g. `+15558675310`.
    public var to: String
    public var body: String
    /// Where the provider posts delivery status updates, if anywhere.
    public var statusCallback: String?
    /// The same for every attempt at this message. Twilio's Messages API has no idempotency key, so it is
    /// only logged; the caller's own "already sent" check is what prevents a second send.
    public var idempotencyKey: String

    public init(to: String, body: String, statusCallback: String? = nil, idempotencyKey: String) {
        self.to = to
        self.body = body
        self.statusCallback = statusCallback
        self.idempotencyKey = idempotencyKey
    }
}

// MARK: - Twilio

/// Settings for `TwilioClient`. The auth token never appears in `description`, `debugDescription` or a mirror.
public struct TwilioConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Who the message comes from.
    public enum Sender: Sendable, Equatable {
        /// A Twilio phone number (E.164), short code or alphanumeric sender ID: sent as `From`.
        case from(String)
        /// A Messaging Service, which picks the sender: sent as `MessagingServiceSid`.
        case messagingService(String)
    }

    public var accountSID: String
    public var authToken: String
    public var sender: Sender
    /// `https://api.twilio.com` unless testing.
    public var baseURL: String
    /// For the whole exchange: connecting, sending, and reading the complete response.
    public var timeout: Duration

    public init(accountSID: String, authToken: String, sender: Sender, baseURL: String = "https://api.twilio.com",
                timeout: Duration = .seconds(10)) {
        self.accountSID = accountSID
        self.authToken = authToken
        self.sender = sender
        self.baseURL = baseURL
        self.timeout = timeout
    }

    public var description: String {
        "TwilioConfiguration(accountSID: \(accountSID), authToken: \(redactedPlaceholder), sender: \(sender), "
            + "baseURL: \(baseURL), timeout: \(timeout))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["accountSID": accountSID, "authToken": redactedPlaceholder, "sender": sender,
                                "baseURL": baseURL, "timeout": timeout])
    }
}

/// Sends SMS through Twilio's Messages API:
/// `POST {baseURL}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From` or
/// `MessagingServiceSid`, `Body` and `StatusCallback`, with HTTP basic auth `AccountSid:AuthToken`.
/// A created message answers 201 with the Message resource, whose `sid` becomes the receipt's id.
/// Errors are JSON documents with `code`, `message`, `more_info` and `status`.
public struct TwilioClient: Sendable, CustomStringConvertible, CustomReflectable {
    public static let providerName = "twilio"

    /// Twilio error codes that say the recipient can never get an SMS from us: these become
    /// `permanent` (and the worker suppresses the number). Every other code is `transient`.
    /// 21211 invalid `To` number, 21610 recipient replied STOP (unsubscribed), 21614 `To` is not a mobile
    /// number, 21635 `To` is a landline, 30005 unknown destination handset, 30006 landline or unreachable
    /// carrier. Deliberately *not* here: 30007 (carrier filtered the content: about the message, not the
    /// recipient), 30003 (handset unreachable, often temporarily), 21612 (no route, which can also be the
    /// From/To combination), 21608 (trial account), 21606/21659/21660 (From number problems).
    public static let recipientErrorCodes: Set<Int> = [21211, 21610, 21614, 21635, 30005, 30006]

    public let configuration: TwilioConfiguration
    private var http: CommsHTTP

    public init(configuration: TwilioConfiguration, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "parley.comms.twilio")) {
        self.configuration = configuration
        self.http = CommsHTTP(client: httpClient, timeout: configuration.timeout, provider: Self.providerName,
                              secret: configuration.authToken, logger: logger)
    }

    public init(accountSID: String, authToken: String, sender: TwilioConfiguration.Sender,
                baseURL: String = "https://api.twilio.com", timeout: Duration = .seconds(10),
                httpClient: HTTPClient? = nil, logger: Logger = Logger(label: "parley.comms.twilio")) {
        self.init(configuration: TwilioConfiguration(accountSID: accountSID, authToken: authToken, sender: sender,
                                                     baseURL: baseURL, timeout: timeout),
                  httpClient: httpClient, logger: logger)
    }

    /// The same client for an endpoint a tenant configured: see `OutboundGuard`.
    public func guarded(by outbound: OutboundGuard?) -> Self {
        var copy = self
        copy.http.outbound = outbound
        return copy
    }

    public var description: String { "TwilioClient(\(configuration))" }
    public var customMirror: Mirror { Mirror(self, children: ["configuration": configuration]) }

    /// Sends `sms`. Throws `DeliveryError.permanent` only for `recipientErrorCodes`; see the top of this file.
    public func send(_ sms: OutgoingSMS) async throws(DeliveryError) -> ProviderReceipt {
        var fields: [(String, String)] = [("To", sms.to)]
        switch configuration.sender {
        case .from(let from): fields.append(("From", from))
        case .messagingService(let sid): fields.append(("MessagingServiceSid", sid))
        }
        fields.append(("Body", sms.body))
        if let callback = sms.statusCallback { fields.append(("StatusCallback", callback)) }

        let account = CommsHTTP.percentEncode(configuration.accountSID, spaceAsPlus: false)
        let url = CommsHTTP.trimmedBase(configuration.baseURL) + "/2010-04-01/Accounts/\(account)/Messages.json"
        let credentials = Data("\(configuration.accountSID):\(configuration.authToken)".utf8).base64EncodedString()
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Basic \(credentials)")
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")

        let reply = try await http.post(url: url, headers: headers, body: ByteBuffer(string: Self.formEncode(fields)),
                                        idempotencyKey: sms.idempotencyKey)
        return try http.finish(reply, Self.interpret(reply))
    }

    /// Classifies a Twilio response: the receipt, or the error to throw.
    static func interpret(_ reply: CommsHTTP.Reply) -> Result<ProviderReceipt, DeliveryError> {
        let document = try? JSONDecoder().decode(TwilioDocument.self, from: reply.data)
        if (200..<300).contains(reply.status) {
            if let sid = document?.sid, !sid.isEmpty {
                return .success(ProviderReceipt(provider: providerName, providerMessageID: sid))
            }
            return .failure(.transient(reply.unexpectedSuccess("a Message resource with a sid")))
        }
        let code = document?.code
        let summary = reply.summary(code: code.map(String.init), message: document?.message)
        if (400..<500).contains(reply.status), ![401, 403, 404, 408, 409, 429].contains(reply.status),
           let code, recipientErrorCodes.contains(code) {
            return .failure(.permanent(summary))
        }
        return .failure(.transient(summary))
    }

    /// `application/x-www-form-urlencoded`, in the given order: unreserved characters as they are, a space
    /// as `+`, every other UTF-8 byte (including `+`, `&` and `=`) percent-encoded.
    static func formEncode(_ fields: [(String, String)]) -> String {
        fields.map { CommsHTTP.percentEncode($0.0, spaceAsPlus: true) + "=" + CommsHTTP.percentEncode($0.1, spaceAsPlus: true) }
            .joined(separator: "&")
    }

    // MARK: Webhook signatures

    /// Whether `signature` (the `X-Twilio-Signature` header) is Twilio's signature of a webhook request:
    /// `base64(HMAC-SHA1(authToken, url + every POST parameter, sorted by name, as name + value))`.
    ///
    /// `url` is the full URL Twilio requested, with its query string, exactly as configured in Twilio
    /// (behind a proxy, rebuild it from the public scheme and host, not the internal ones). `params` are the
    /// decoded form parameters of the body; pass `[:]` for a GET. As Twilio's own libraries do, the URL is
    /// also tried with the default port added or removed (`:443` for https, `:80` for http). The comparison
    /// is constant-time. JSON-bodied webhooks (`bodySHA256`) are not covered.
    public static func validSignature(authToken: String, url: String, params: [String: String], signature: String) -> Bool {
        guard !authToken.isEmpty,
              let provided = Data(base64Encoded: signature.trimmingCharacters(in: .whitespaces)), !provided.isEmpty
        else { return false }
        let key = SymmetricKey(data: Data(authToken.utf8))
        var valid = false
        for candidate in urlVariants(url) {
            let payload = Data(signingPayload(url: candidate, params: params).utf8)
            // No early exit: every variant is checked, so the time taken does not say which one matched.
            if HMAC<Insecure.SHA1>.isValidAuthenticationCode(provided, authenticating: payload, using: key) { valid = true }
        }
        return valid
    }

    /// The string Twilio signs: the URL, then each parameter as name + value, sorted by name (byte order).
    static func signingPayload(url: String, params: [String: String]) -> String {
        let sorted = params.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return sorted.reduce(into: url) { $0 += $1.key + $1.value }
    }

    /// `url`, then the same URL with the scheme's default port added (when it has none) or removed (when it
    /// has exactly that one).
    static func urlVariants(_ url: String) -> [String] {
        guard var components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else { return [url] }
        let defaultPort: Int
        switch scheme {
        case "https": defaultPort = 443
        case "http": defaultPort = 80
        default: return [url]
        }
        switch components.port {
        case nil: components.port = defaultPort
        case defaultPort?: components.port = nil
        default: return [url]
        }
        guard let other = components.string, other != url else { return [url] }
        return [url, other]
    }
}

/// The fields of Twilio's JSON answers that matter here: a Message resource or an error document.
private struct TwilioDocument: Decodable {
    var sid: String?
    var code: Int?
    var message: String?

    private enum CodingKeys: String, CodingKey { case sid, code, message }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sid = try? container.decode(String.self, forKey: .sid)
        code = (try? container.decode(Int.self, forKey: .code))
            ?? (try? container.decode(String.self, forKey: .code)).flatMap { Int($0) }
        message = try? container.decode(String.self, forKey: .message)
    }
}

// MARK: - SendGrid

/// Settings for the email providers that take an API key (`SendGridClient`, `ResendClient`). The key
/// never appears in `description`, `debugDescription` or a mirror.
public struct APIKeyConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Names the provider in descriptions.
    public let provider: String
    public var apiKey: String
    /// The provider's API (`https://api.sendgrid.com`, `https://api.resend.com`) unless testing.
    public var baseURL: String
    /// For the whole exchange: connecting, sending, and reading the complete response.
    public var timeout: Duration

    public init(provider: String, apiKey: String, baseURL: String, timeout: Duration = .seconds(10)) {
        self.provider = provider
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.timeout = timeout
    }

    public var description: String {
        "\(provider)Configuration(apiKey: \(redactedPlaceholder), baseURL: \(baseURL), timeout: \(timeout))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["apiKey": redactedPlaceholder, "baseURL": baseURL, "timeout": timeout])
    }
}

/// Sends email through SendGrid's v3 Mail Send API: `POST {baseURL}/v3/mail/send` with
/// `Authorization: Bearer <key>` and a JSON body of `personalizations`, `from`, `subject`, `content`
/// (text/plain first, then text/html, as SendGrid requires), `headers` and `custom_args`.
/// Success is `202 Accepted` with an empty body and the message id in `X-Message-Id`.
/// Errors are `{"errors": [{"message", "field", "help"}]}`.
public struct SendGridClient: Sendable, CustomStringConvertible, CustomReflectable {
    public static let providerName = "sendgrid"

    public let configuration: APIKeyConfiguration
    private var http: CommsHTTP

    public init(configuration: APIKeyConfiguration, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "parley.comms.sendgrid")) {
        self.configuration = configuration
        self.http = CommsHTTP(client: httpClient, timeout: configuration.timeout, provider: Self.providerName,
                              secret: configuration.apiKey, logger: logger)
    }

    public init(apiKey: String, baseURL: String = "https://api.sendgrid.com", timeout: Duration = .seconds(10),
                httpClient: HTTPClient? = nil, logger: Logger = Logger(label: "parley.comms.sendgrid")) {
        self.init(configuration: APIKeyConfiguration(provider: "SendGrid", apiKey: apiKey, baseURL: baseURL, timeout: timeout),
                  httpClient: httpClient, logger: logger)
    }

    /// The same client for an endpoint a tenant configured: see `OutboundGuard`.
    public func guarded(by outbound: OutboundGuard?) -> Self {
        var copy = self
        copy.http.outbound = outbound
        return copy
    }

    public var description: String { "SendGridClient(\(configuration))" }
    public var customMirror: Mirror { Mirror(self, children: ["configuration": configuration]) }

    /// Sends `email`. Throws `DeliveryError.permanent` only when SendGrid rejects the recipient's address
    /// (a 400 whose error names a `personalizations[].to` field); see the top of this file.
    public func send(_ email: OutgoingEmail) async throws(DeliveryError) -> ProviderReceipt {
        var content = [SendGridMail.Content(type: "text/plain", value: email.text)]
        if let html = email.html { content.append(SendGridMail.Content(type: "text/html", value: html)) }
        let headers = mergedHeaders(email.headers)
        let mail = SendGridMail(
            personalizations: [SendGridMail.Personalization(to: [SendGridMail.Address(email.to)])],
            from: SendGridMail.Address(email.from),
            subject: email.subject,
            content: content,
            headers: headers.isEmpty ? nil : headers,
            customArgs: ["parley_idempotency_key": email.idempotencyKey]
        )
        let body = try CommsHTTP.encodeJSON(mail, provider: Self.providerName)

        var httpHeaders = HTTPHeaders()
        httpHeaders.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        httpHeaders.add(name: "Content-Type", value: "application/json")
        httpHeaders.add(name: "Accept", value: "application/json")
        let reply = try await http.post(url: CommsHTTP.trimmedBase(configuration.baseURL) + "/v3/mail/send",
                                        headers: httpHeaders, body: body, idempotencyKey: email.idempotencyKey)
        return try http.finish(reply, Self.interpret(reply))
    }

    /// Classifies a SendGrid response: the receipt, or the error to throw.
    static func interpret(_ reply: CommsHTTP.Reply) -> Result<ProviderReceipt, DeliveryError> {
        if (200..<300).contains(reply.status) {
            // The body of a 202 is empty by design: the id is in the header.
            if let id = reply.headers.first(name: "x-message-id"), !id.isEmpty {
                return .success(ProviderReceipt(provider: providerName, providerMessageID: id))
            }
            return .failure(.transient(reply.unexpectedSuccess("an X-Message-Id header")))
        }
        let errors = (try? JSONDecoder().decode(SendGridErrors.self, from: reply.data))?.errors ?? []
        let recipientError = errors.first { Self.namesRecipient($0.field) }
        let shown = recipientError ?? errors.first
        let summary = reply.summary(code: shown?.field.map { "field \($0)" }, message: shown?.message)
        if reply.status == 400, recipientError != nil { return .failure(.permanent(summary)) }
        return .failure(.transient(summary))
    }

    /// Whether a SendGrid error `field` is a recipient address: `personalizations.0.to`,
    /// `personalizations.0.to.0.email` and the like.
    static func namesRecipient(_ field: String?) -> Bool {
        guard let parts = field?.lowercased().split(separator: "."), parts.first == "personalizations" else { return false }
        return parts.dropFirst().contains("to")
    }
}

private struct SendGridMail: Encodable {
    struct Address: Encodable {
        var email: String
        var name: String?

        init(_ address: String) {
            let parsed = EmailAddress(address)
            email = parsed.email
            name = parsed.name
        }
    }

    struct Personalization: Encodable { var to: [Address] }
    struct Content: Encodable { var type: String; var value: String }

    var personalizations: [Personalization]
    var from: Address
    var subject: String
    var content: [Content]
    var headers: [String: String]?
    var customArgs: [String: String]

    private enum CodingKeys: String, CodingKey {
        case personalizations, from, subject, content, headers
        case customArgs = "custom_args"
    }
}

private struct SendGridErrors: Decodable {
    struct Item: Decodable {
        var message: String?
        var field: String?

        private enum CodingKeys: String, CodingKey { case message, field }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            message = try? container.decode(String.self, forKey: .message)
            field = try? container.decode(String.self, forKey: .field)
        }
    }

    var errors: [Item]
}

// MARK: - Resend

/// Sends email through Resend: `POST {baseURL}/emails` with `Authorization: Bearer <key>`, the
/// `Idempotency-Key` header (Resend answers a repeat within 24 hours with the first response instead of
/// sending again) and a JSON body of `from`, `to`, `subject`, `text`, `html` and `headers`.
/// Success is `200` with `{"id": ...}`. Errors are `{"statusCode", "name", "message"}`.
public struct ResendClient: Sendable, CustomStringConvertible, CustomReflectable {
    public static let providerName = "resend"

    public let configuration: APIKeyConfiguration
    private var http: CommsHTTP

    public init(configuration: APIKeyConfiguration, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "parley.comms.resend")) {
        self.configuration = configuration
        self.http = CommsHTTP(client: httpClient, timeout: configuration.timeout, provider: Self.providerName,
                              secret: configuration.apiKey, logger: logger)
    }

    public init(apiKey: String, baseURL: String = "https://api.resend.com", timeout: Duration = .seconds(10),
                httpClient: HTTPClient? = nil, logger: Logger = Logger(label: "parley.comms.resend")) {
        self.init(configuration: APIKeyConfiguration(provider: "Resend", apiKey: apiKey, baseURL: baseURL, timeout: timeout),
                  httpClient: httpClient, logger: logger)
    }

    /// The same client for an endpoint a tenant configured: see `OutboundGuard`.
    public func guarded(by outbound: OutboundGuard?) -> Self {
        var copy = self
        copy.http.outbound = outbound
        return copy
    }

    public var description: String { "ResendClient(\(configuration))" }
    public var customMirror: Mirror { Mirror(self, children: ["configuration": configuration]) }

    /// Sends `email` with its `idempotencyKey` as `Idempotency-Key`. Throws `DeliveryError.permanent` only
    /// when Resend's validation error is about the `to` field; see the top of this file.
    public func send(_ email: OutgoingEmail) async throws(DeliveryError) -> ProviderReceipt {
        let headers = mergedHeaders(email.headers)
        let message = ResendEmail(from: email.from, to: [email.to], subject: email.subject, text: email.text,
                                  html: email.html, headers: headers.isEmpty ? nil : headers)
        let body = try CommsHTTP.encodeJSON(message, provider: Self.providerName)

        var httpHeaders = HTTPHeaders()
        httpHeaders.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        httpHeaders.add(name: "Content-Type", value: "application/json")
        httpHeaders.add(name: "Accept", value: "application/json")
        httpHeaders.add(name: "Idempotency-Key", value: email.idempotencyKey)
        let reply = try await http.post(url: CommsHTTP.trimmedBase(configuration.baseURL) + "/emails",
                                        headers: httpHeaders, body: body, idempotent: true, idempotencyKey: email.idempotencyKey)
        return try http.finish(reply, Self.interpret(reply))
    }

    /// Classifies a Resend response: the receipt, or the error to throw.
    static func interpret(_ reply: CommsHTTP.Reply) -> Result<ProviderReceipt, DeliveryError> {
        let document = try? JSONDecoder().decode(ResendDocument.self, from: reply.data)
        if (200..<300).contains(reply.status) {
            if let id = document?.id, !id.isEmpty {
                return .success(ProviderReceipt(provider: providerName, providerMessageID: id))
            }
            return .failure(.transient(reply.unexpectedSuccess("a JSON document with an id")))
        }
        let summary = reply.summary(code: document?.name, message: document?.message)
        if [400, 422].contains(reply.status), Self.namesRecipient(document?.message) {
            return .failure(.permanent(summary))
        }
        return .failure(.transient(summary))
    }

    /// Resend's validation messages name the field in backticks: "Invalid `to` field. …".
    static func namesRecipient(_ message: String?) -> Bool {
        message?.lowercased().contains("`to`") ?? false
    }
}

private struct ResendEmail: Encodable {
    var from: String
    var to: [String]
    var subject: String
    var text: String
    var html: String?
    var headers: [String: String]?
}

private struct ResendDocument: Decodable {
    var id: String?
    var name: String?
    var message: String?

    private enum CodingKeys: String, CodingKey { case id, name, message }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try? container.decode(String.self, forKey: .id)
        name = try? container.decode(String.self, forKey: .name)
        message = try? container.decode(String.self, forKey: .message)
    }
}

// MARK: - Shared HTTP

private let redactedPlaceholder = "<redacted>"

/// Email headers as a JSON object: a name given twice (case-insensitively) keeps its last value, under the
/// spelling it was first given.
private func mergedHeaders(_ headers: [(String, String)]) -> [String: String] {
    var spelling: [String: String] = [:]
    var merged: [String: String] = [:]
    for (name, value) in headers {
        let key = name.lowercased()
        let spelled = spelling[key] ?? name
        spelling[key] = spelled
        merged[spelled] = value
    }
    return merged
}

/// `Name <address>` or a bare address, split for providers that want them apart.
private struct EmailAddress {
    var email: String
    var name: String?

    init(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else {
            email = trimmed
            name = nil
            return
        }
        email = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            .trimmingCharacters(in: .whitespaces)
        var display = trimmed[..<open].trimmingCharacters(in: .whitespaces)
        if display.count >= 2, display.hasPrefix("\""), display.hasSuffix("\"") {
            display = String(display.dropFirst().dropLast())
        }
        name = display.isEmpty ? nil : display
    }
}

/// One POST through the outbound layer, and the error mapping shared by the providers.
struct CommsHTTP: Sendable {
    /// What came back.
    struct Reply: Sendable {
        var provider: String
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer

        var data: Data { Data(body.readableBytesView) }

        /// `"<provider> HTTP <status> [<code>]: <message>"`, with a `Retry-After` when there is one.
        func summary(code: String?, message: String?) -> String {
            var text = "\(provider) HTTP \(status)"
            if let code, !code.isEmpty { text += " [\(code)]" }
            let detail = message.map(CommsHTTP.oneLine) ?? ""
            text += ": " + (detail.isEmpty ? Self.fallback(status) : detail)
            if let retryAfter = headers.first(name: "retry-after"), !retryAfter.isEmpty {
                text += " (retry after \(CommsHTTP.oneLine(retryAfter)))"
            }
            return text
        }

        func unexpectedSuccess(_ expected: String) -> String {
            "\(provider) HTTP \(status) without \(expected); not treated as accepted"
        }

        static func fallback(_ status: Int) -> String {
            switch status {
            case 401, 403: "authentication or permission failure (check the credentials and sender configuration)"
            case 404: "not found (check the base URL and account)"
            case 429: "rate limited"
            case 500...599: "provider error"
            default: "request rejected"
            }
        }
    }

    /// Larger answers are cut off: no provider sends more than a few kilobytes here.
    static let maxBody = 256 * 1024

    /// The outbound layer: client, timeout, body cap, redaction (URLs too), the tenant guard. One
    /// attempt per send: the job queue retries a transient failure with its own backoff.
    private(set) var http: OutboundHTTP
    let provider: String
    let logger: Logger

    init(client: HTTPClient?, timeout: Duration, provider: String, secret: String, logger: Logger) {
        self.provider = provider
        self.logger = logger
        http = OutboundHTTP(.init(service: provider, secrets: [secret], timeout: timeout, retry: .none, maxBodyBytes: Self.maxBody,
                                  hidesURLs: true),
                            client: client, logger: logger)
    }

    /// Set for endpoints a tenant configured: each call resolves and checks the host first,
    /// connects to the checked address, and follows no redirect.
    var outbound: OutboundGuard? {
        get { http.configuration.outbound }
        set { http.configuration.outbound = newValue }
    }

    /// POSTs `body` to `url` and reads the whole answer, all within the timeout. Throws only transient errors.
    func post(url: String, headers: HTTPHeaders, body: ByteBuffer, idempotent: Bool = false,
              idempotencyKey: String) async throws(DeliveryError) -> Reply {
        do {
            let response = try await http.send(OutboundRequest(method: .POST, url: url, headers: headers, body: body, idempotent: idempotent))
            return Reply(provider: provider, status: response.status, headers: response.headers, body: response.body)
        } catch {
            logger.debug("provider request failed", metadata: ["provider": "\(provider)", "idempotency_key": "\(idempotencyKey)",
                                                               "error": "\(error.message)"])
            throw .transient(error.message)
        }
    }

    /// Returns the receipt, or throws the (scrubbed) error, logging either way.
    func finish(_ reply: Reply, _ result: Result<ProviderReceipt, DeliveryError>) throws(DeliveryError) -> ProviderReceipt {
        switch result {
        case .success(let receipt):
            logger.debug("provider accepted the message",
                         metadata: ["provider": "\(provider)", "provider_message_id": "\(receipt.providerMessageID ?? "")"])
            return receipt
        case .failure(let error):
            let scrubbed: DeliveryError = switch error {
            case .transient(let reason): .transient(http.redact(reason))
            case .permanent(let reason): .permanent(http.redact(reason))
            case .refused(let reason): .refused(http.redact(reason))
            }
            logger.debug("provider refused the message", metadata: ["provider": "\(provider)", "status": "\(reply.status)",
                                                                    "error": "\(scrubbed)"])
            throw scrubbed
        }
    }

    static func encodeJSON(_ value: some Encodable, provider: String) throws(DeliveryError) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return ByteBuffer(bytes: try encoder.encode(value))
        } catch {
            throw .transient("\(provider): could not encode the request")
        }
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters; a space becomes `+` when asked.
    static func percentEncode(_ text: String, spaceAsPlus: Bool) -> String {
        let hex: [Character] = Array("0123456789ABCDEF")
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append("+")
            default:
                out.append("%")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    static func trimmedBase(_ baseURL: String) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Collapses whitespace so a provider's message stays on one line, and caps it.
    static func oneLine(_ text: String) -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace || $0.isNewline })
        let line = words.joined(separator: " ")
        return line.count > 200 ? String(line.prefix(200)) + "…" : line
    }
}
