import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ParleyCore
import Synchronization

// The one HTTP layer for calls Parley makes to other services: model providers (Anthropic,
// OpenAI-compatible servers), delivery providers (SendGrid, Resend, Twilio), embedding servers.
// It owns what every such call needs and each caller used to do its own way:
//
// - the shared `HTTPClient` (one per connect timeout, never shut down, like `HTTPClient.shared`);
// - a timeout per attempt (connecting, sending and reading the complete answer) and a connect timeout;
// - bounded retries with exponential backoff for a request that is safe to send again (429, 408,
//   5xx but 501, and connection failures), honouring `Retry-After` / `retry-after-ms`, waiting
//   through an injected `Sleeper`;
// - the answer's body read up to a size cap;
// - redaction: the configured secrets, the credentials in `Authorization`-like headers and in the
//   URL (user info, `key=`/`token=`-like query parameters) never appear in an error or log line;
// - the `OutboundGuard` check for an endpoint a tenant configured (the checked address is the one
//   connected to, and redirects are not followed).
//
// What the answer *means* (a receipt, a model event stream, a vector) stays with the caller.

/// How often a failed call is tried again. `maxAttempts` counts the first attempt.
public struct OutboundRetry: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Up to this fraction of the backoff is added at random.
    public var jitter: Double
    /// A `Retry-After` longer than this is not waited for: the answer is returned as it is.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8),
                jitter: Double = 0.2, maxRetryAfter: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.maxRetryAfter = maxRetryAfter
    }

    /// One attempt: callers with a retry loop of their own (the failover chain, the job queue).
    public static let none = OutboundRetry(maxAttempts: 1)
    /// Three attempts, 0.5 s then 1 s apart (plus jitter), waiting up to 30 s for a `Retry-After`.
    public static let standard = OutboundRetry(maxAttempts: 3)

    /// The wait after failed attempt `attempt` (1-based): `baseDelay * 2^(attempt-1)`, capped at
    /// `maxDelay`, plus `jitter * random` of that (`random` in 0..<1).
    public func backoff(afterAttempt attempt: Int, random: Double) -> Duration {
        let exponential = Double(baseDelay.components.seconds) + Double(baseDelay.components.attoseconds) / 1e18
        let capSeconds = Double(maxDelay.components.seconds) + Double(maxDelay.components.attoseconds) / 1e18
        let capped = min(exponential * pow(2, Double(max(0, attempt - 1))), capSeconds)
        let seconds = capped + capped * jitter * min(max(random, 0), 1)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

/// One outbound request.
public struct OutboundRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: HTTPHeaders
    public var body: ByteBuffer?
    /// Whether sending it twice is harmless (a GET, or a POST the far end deduplicates by an
    /// idempotency key, or that only computes): only then is a failed attempt tried again.
    public var idempotent: Bool

    public init(method: HTTPMethod = .POST, url: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil,
                idempotent: Bool = false) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.idempotent = idempotent
    }

    /// A POST of `json` (already serialised) with `content-type: application/json`.
    public static func postJSON(url: String, headers: HTTPHeaders = [:], json: String, idempotent: Bool = false) -> OutboundRequest {
        var headers = headers
        if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        return OutboundRequest(method: .POST, url: url, headers: headers, body: ByteBuffer(string: json), idempotent: idempotent)
    }
}

/// A complete answer, whatever its status.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
    public var data: Data { Data(body.readableBytesView) }
    public var text: String { String(buffer: body) }
    /// `retry-after-ms` or `retry-after` (seconds), when the far end sent one.
    public var retryAfter: Duration? { OutboundHTTP.retryAfter(headers) }
}

/// An answer whose body is still to be read (a model's event stream).
public struct OutboundStreamingResponse: Sendable {
    public let status: Int
    public let headers: HTTPHeaders
    /// The body, as it arrives. Read it once: either iterate it or `collect()` it.
    public let body: HTTPClientResponse.Body
    let maxBodyBytes: Int
    let service: String
    let redactor: Redactor

    public var isSuccess: Bool { (200..<300).contains(status) }
    public var retryAfter: Duration? { OutboundHTTP.retryAfter(headers) }

    /// The whole body, up to the configured cap.
    public func collect() async throws(OutboundError) -> ByteBuffer {
        do {
            return try await body.collect(upTo: maxBodyBytes)
        } catch {
            throw OutboundHTTP.classify(error, redactor: redactor, maxBodyBytes: maxBodyBytes, timeout: nil, service: service)
        }
    }
}

/// Why an outbound call got no usable answer. Every message is redacted and names the service,
/// never a credential.
public enum OutboundError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No complete answer within the timeout.
    case timeout(String)
    /// Could not connect, or the connection failed before the answer was complete.
    case connection(String)
    /// The answer's body was larger than the cap.
    case tooLarge(String)
    /// Not sent: the endpoint is not allowed (`OutboundGuard`), has no host, or redirected.
    case refused(String)
    /// The caller's task was cancelled.
    case cancelled(String)

    public var message: String {
        switch self {
        case .timeout(let m), .connection(let m), .tooLarge(let m), .refused(let m), .cancelled(let m): m
        }
    }

    public var description: String { message }

    /// Whether trying again later may succeed.
    public var isRetryable: Bool {
        switch self {
        case .timeout, .connection: true
        case .tooLarge, .refused, .cancelled: false
        }
    }
}

/// Removes secrets from text that may be shown or logged, and caps its length.
public struct Redactor: Sendable {
    public static let placeholder = "<redacted>"

    /// Longest first, so a secret that contains another is removed whole.
    public private(set) var secrets: [String]
    /// Replaces every word containing `://` by `<url>` (delivery providers never show a URL).
    public var hidesURLs: Bool
    public var placeholder: String
    public var maxLength: Int

    public init(secrets: [String] = [], hidesURLs: Bool = false, placeholder: String = Redactor.placeholder, maxLength: Int = 300) {
        self.secrets = []
        self.hidesURLs = hidesURLs
        self.placeholder = placeholder
        self.maxLength = maxLength
        add(secrets)
    }

    /// Header names whose values are credentials.
    static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
                                                 "cookie"]
    /// Query parameter names whose values are credentials.
    static let credentialParameters: Set<String> = ["key", "api_key", "apikey", "api-key", "token", "access_token", "auth",
                                                    "signature", "sig", "secret", "password", "code"]

    public mutating func add(_ more: [String]) {
        for secret in more where !secret.isEmpty && !secrets.contains(secret) { secrets.append(secret) }
        secrets.sort { $0.count > $1.count }
    }

    /// Adds the credentials `request` carries: `Authorization`-like header values (whole, and the
    /// part after the scheme, and a Basic password), the URL's user info and credential-like query values.
    public mutating func add(credentialsOf request: OutboundRequest) {
        var found: [String] = []
        for header in request.headers where Self.credentialHeaders.contains(header.name.lowercased()) {
            found.append(header.value)
            let parts = header.value.split(separator: " ", maxSplits: 1)
            if parts.count == 2 {
                let credential = String(parts[1])
                found.append(credential)
                if parts[0].lowercased() == "basic", let decoded = Data(base64Encoded: credential).flatMap({ String(data: $0, encoding: .utf8) }),
                   let colon = decoded.firstIndex(of: ":") {
                    found.append(String(decoded[decoded.index(after: colon)...]))
                }
            }
        }
        if let components = URLComponents(string: request.url) {
            if let password = components.password { found.append(password) }
            if let user = components.user { found.append(user) }
            for item in components.queryItems ?? [] where Self.credentialParameters.contains(item.name.lowercased()) {
                if let value = item.value { found.append(value) }
            }
            if let encoded = components.percentEncodedQuery {
                for pair in encoded.split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, Self.credentialParameters.contains(kv[0].lowercased()) { found.append(String(kv[1])) }
                }
            }
        }
        // Short values (a user name "u", a flag) are not worth mangling every message for.
        add(found.filter { $0.count >= 4 })
    }

    /// `text` without any secret (and URL, when `hidesURLs`), at most `maxLength` characters.
    public func redact(_ text: String) -> String {
        var text = text
        for secret in secrets { text = text.replacingOccurrences(of: secret, with: placeholder) }
        if hidesURLs {
            text = text.split(separator: " ", omittingEmptySubsequences: false)
                .map { $0.contains("://") ? "<url>" : String($0) }.joined(separator: " ")
        }
        return text.count > maxLength ? String(text.prefix(maxLength)) + "…" : text
    }
}

/// The HTTP layer itself: a value, cheap to copy, configured once per provider.
///
/// ```swift
/// let http = OutboundHTTP(.init(service: "embeddings", secrets: [apiKey], timeout: .seconds(30), retry: .standard))
/// let response = try await http.send(.postJSON(url: base + "/embeddings", headers: ["authorization": "Bearer \(apiKey)"],
///                                              json: body, idempotent: true))
/// guard response.isSuccess else { throw MyError(http.redact(response.text)) }
/// ```
public struct OutboundHTTP: Sendable {
    public struct Configuration: Sendable {
        /// Names the far end in messages and logs: `"sendgrid"`, `"anthropic"`.
        public var service: String
        /// Removed from every message (the request's own credentials are added per call).
        public var secrets: [String]
        /// One attempt: connecting, sending and reading the complete answer (for `withResponse`,
        /// also handling it: a model's whole stream).
        public var timeout: Duration
        /// Connecting alone (capped at `timeout`).
        public var connectTimeout: Duration
        /// How much later than `timeout` the backstop gives up on an answer whose body stalls (the
        /// client's own deadline ends with the response head and says more precisely what failed).
        /// nil: a quarter of `timeout` plus 100 ms. Model providers use zero: `timeout` is the
        /// whole stream's limit.
        public var timeoutGrace: Duration?
        public var retry: OutboundRetry
        /// Larger answers fail with `tooLarge`.
        public var maxBodyBytes: Int
        /// Set for an endpoint a tenant configured: each call resolves and checks the host first,
        /// connects to the checked address, and follows no redirect.
        public var outbound: OutboundGuard?
        /// Names the setting that holds the endpoint in messages (`"base_url"`).
        public var endpointSetting: String
        /// Replace URLs in messages by `<url>`.
        public var hidesURLs: Bool
        /// What a removed secret reads as.
        public var placeholder: String

        public init(service: String, secrets: [String?] = [], timeout: Duration, connectTimeout: Duration = .seconds(10),
                    timeoutGrace: Duration? = nil, retry: OutboundRetry = .none, maxBodyBytes: Int = 256 * 1024,
                    outbound: OutboundGuard? = nil, endpointSetting: String = "base_url", hidesURLs: Bool = false,
                    placeholder: String = Redactor.placeholder) {
            self.service = service
            self.secrets = secrets.compactMap { $0 }.filter { !$0.isEmpty }
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.timeoutGrace = timeoutGrace
            self.retry = retry
            self.maxBodyBytes = maxBodyBytes
            self.outbound = outbound
            self.endpointSetting = endpointSetting
            self.hidesURLs = hidesURLs
            self.placeholder = placeholder
        }
    }

    public var configuration: Configuration
    /// An injected client; nil uses the layer's shared client for the connect timeout.
    let client: HTTPClient?
    let sleeper: any Sleeper
    let random: @Sendable () -> Double
    let logger: Logger

    public init(_ configuration: Configuration, client: HTTPClient? = nil, sleeper: any Sleeper = TaskSleeper(),
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                logger: Logger = Logger(label: "parley.outbound")) {
        self.configuration = configuration
        self.client = client
        self.sleeper = sleeper
        self.random = random
        self.logger = logger
    }

    /// The same layer for an endpoint a tenant configured (nil: not guarded).
    public func guarded(by outbound: OutboundGuard?) -> OutboundHTTP {
        var copy = self
        copy.configuration.outbound = outbound
        return copy
    }

    /// The redactor for the configured secrets.
    public var redactor: Redactor {
        Redactor(secrets: configuration.secrets, hidesURLs: configuration.hidesURLs, placeholder: configuration.placeholder)
    }

    /// `text` without secrets, capped.
    public func redact(_ text: String) -> String { redactor.redact(text) }

    // MARK: Calls

    /// Sends `request` and reads the complete answer (up to the cap), retrying as configured.
    /// Any status comes back as a response; only a call that got no answer throws.
    public func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
        do {
            return try await withResponse(request) { response in
                OutboundResponse(status: response.status, headers: response.headers, body: try await response.collect())
            }
        } catch {
            throw describe(error, request: request)
        }
    }

    /// Sends `request` and hands the answer, body still unread, to `handle`, all within the
    /// timeout. A retryable status (when the request is idempotent and attempts remain) is retried
    /// before `handle` sees anything. The layer's own failures are `OutboundError`s; what `handle`
    /// throws is rethrown as it is (map a transport error from reading the body with `describe`).
    public func withResponse<T: Sendable>(_ request: OutboundRequest,
                                          _ handle: @escaping @Sendable (OutboundStreamingResponse) async throws -> T) async throws -> T {
        let redactor = redactor(for: request)
        let retry = request.idempotent ? configuration.retry : .none
        var attempt = 1
        while true {
            let outcome: Attempt<T>
            do {
                outcome = try await once(request, redactor: redactor, lastAttempt: attempt >= retry.maxAttempts, handle)
            } catch let error as OutboundError {
                guard error.isRetryable, attempt < retry.maxAttempts, !Task.isCancelled else { throw error }
                let delay = retry.backoff(afterAttempt: attempt, random: random())
                logger.debug("outbound call failed; retrying", metadata: ["service": "\(configuration.service)", "attempt": "\(attempt)",
                                                                         "error": "\(error.message)", "delay_ms": "\(Self.milliseconds(delay))"])
                try await wait(delay)
                attempt += 1
                continue
            }
            switch outcome {
            case .done(let value):
                return value
            case .retry(let status, let retryAfter):
                let delay = retryAfter ?? retry.backoff(afterAttempt: attempt, random: random())
                logger.debug("outbound call answered a retryable status; retrying",
                             metadata: ["service": "\(configuration.service)", "attempt": "\(attempt)", "status": "\(status)",
                                        "delay_ms": "\(Self.milliseconds(delay))"])
                try await wait(delay)
                attempt += 1
            }
        }
    }

    /// A failure of a call as an `OutboundError` (a transport error from reading a body, a
    /// timeout, ...), redacted; an `OutboundError` stays as it is.
    public func describe(_ error: any Error, request: OutboundRequest? = nil) -> OutboundError {
        var redactor = self.redactor
        if let request { redactor.add(credentialsOf: request) }
        return Self.classify(error, redactor: redactor, maxBodyBytes: configuration.maxBodyBytes, timeout: configuration.timeout,
                             service: configuration.service)
    }

    private enum Attempt<T: Sendable>: Sendable {
        case done(T)
        case retry(status: Int, retryAfter: Duration?)
    }

    /// What `handle` threw, kept apart from the layer's own failures.
    private struct HandlerError: Error {
        var error: any Error
    }

    private func wait(_ delay: Duration) async throws(OutboundError) {
        do { try await sleeper.sleep(for: delay) } catch {
            throw .cancelled("\(configuration.service): the request was cancelled")
        }
    }

    private func once<T: Sendable>(_ request: OutboundRequest, redactor: Redactor, lastAttempt: Bool,
                                   _ handle: @escaping @Sendable (OutboundStreamingResponse) async throws -> T) async throws -> Attempt<T> {
        let configuration = self.configuration
        var client = self.client ?? Self.sharedClient(connectTimeout: min(configuration.connectTimeout, configuration.timeout))
        var pinned: HTTPClient?
        if let outbound = configuration.outbound {
            let made = try await pinnedClient(url: request.url, outbound: outbound)
            pinned = made
            client = made
        }

        var building = HTTPClientRequest(url: request.url)
        building.method = request.method
        building.headers = request.headers
        if let body = request.body { building.body = .bytes(body) }
        let prepared = building
        let deadline = NIODeadline.now() + Self.timeAmount(configuration.timeout)
        let retryable = request.idempotent && !lastAttempt
        let guarded = configuration.outbound != nil
        let logger = self.logger
        let maxBody = configuration.maxBodyBytes
        let service = configuration.service
        let setting = configuration.endpointSetting
        let executing = client
        let result: Result<Attempt<T>, any Error>
        do {
            // The client's own deadline fires first and says why (a refused connection, retried
            // until the deadline, reads as such); this backstop, a little later, catches a body
            // that stalls after the headers, which the client's deadline no longer covers.
            let backstop = configuration.timeout + (configuration.timeoutGrace ?? configuration.timeout / 4 + .milliseconds(100))
            result = .success(try await Self.withTimeout(backstop) { () async throws -> Attempt<T> in
                let response = try await executing.execute(prepared, deadline: deadline, logger: logger)
                let status = Int(response.status.code)
                if guarded, (300..<400).contains(status) {
                    throw OutboundError.refused("\(service): the endpoint answered HTTP \(status) (a redirect); redirects from a tenant's "
                                                + "own endpoint are not followed: set \(setting) to the final address")
                }
                if retryable, Self.retryableStatuses.contains(status) {
                    let retryAfter = Self.retryAfter(response.headers)
                    if retryAfter.map({ $0 <= configuration.retry.maxRetryAfter }) ?? true {
                        _ = try? await response.body.collect(upTo: maxBody)
                        return .retry(status: status, retryAfter: retryAfter)
                    }
                }
                let streaming = OutboundStreamingResponse(status: status, headers: response.headers, body: response.body,
                                                          maxBodyBytes: maxBody, service: service, redactor: redactor)
                do {
                    return .done(try await handle(streaming))
                } catch {
                    throw HandlerError(error: error)
                }
            })
        } catch let wrapped as HandlerError {
            result = .failure(wrapped.error)
        } catch {
            let mapped = Self.classify(error, redactor: redactor, maxBodyBytes: maxBody, timeout: configuration.timeout, service: service)
            logger.debug("outbound call failed", metadata: ["service": "\(service)", "error": "\(mapped.message)"])
            result = .failure(mapped)
        }
        try? await pinned?.shutdown()
        return try result.get()
    }

    /// Statuses worth another attempt of an idempotent request.
    public static let retryableStatuses: Set<Int> = [408, 425, 429, 500, 502, 503, 504, 529]

    /// The request's own credentials join the configured secrets.
    private func redactor(for request: OutboundRequest) -> Redactor {
        var redactor = self.redactor
        redactor.add(credentialsOf: request)
        return redactor
    }

    /// A client that connects only to the checked address of `url`'s host (the name still goes to
    /// TLS for SNI and certificate checks) and follows no redirect. Shut down after the call.
    private func pinnedClient(url: String, outbound: OutboundGuard) async throws(OutboundError) -> HTTPClient {
        let service = configuration.service
        guard let host = URLComponents(string: url)?.host, !host.isEmpty else {
            throw .refused("\(service): \(configuration.endpointSetting) has no host")
        }
        let address: IPAddress
        do { address = try await outbound.check(host: host, what: "\(service) \(configuration.endpointSetting)") } catch {
            throw .refused("outbound address refused: \(error.message)")
        }
        var client = HTTPClient.Configuration()
        client.redirectConfiguration = .disallow
        client.timeout.connect = Self.timeAmount(min(configuration.connectTimeout, configuration.timeout))
        if IPAddress(host) == nil { client.dnsOverride = [host: address.description] }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: client)
    }

    // MARK: Shared clients

    private static let clients = Mutex<[Int64: HTTPClient]>([:])

    /// The process-wide client for a connect timeout: `HTTPClient.shared`'s settings (redirects
    /// followed, connection pooling) with that connect timeout. Never shut down.
    public static func sharedClient(connectTimeout: Duration) -> HTTPClient {
        let key = milliseconds(connectTimeout)
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            var configuration = HTTPClient.Configuration.singletonConfiguration
            configuration.timeout.connect = .milliseconds(key)
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    // MARK: Errors

    private struct TimedOut: Error {}

    /// A transport failure as a short, redacted message.
    static func classify(_ error: any Error, redactor: Redactor, maxBodyBytes: Int, timeout: Duration?,
                         service: String) -> OutboundError {
        if let error = error as? OutboundError { return error }
        let within = timeout.map { " within \(milliseconds($0)) ms" } ?? ""
        if error is TimedOut { return .timeout("\(service): no complete answer\(within)") }
        if error is CancellationError { return .cancelled("\(service): the request was cancelled") }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout:
                return .timeout("\(service): no complete answer\(within)")
            case .cancelled:
                return .cancelled("\(service): the request was cancelled")
            default:
                return .connection(redactor.redact("\(service): connection failed (\(error))"))
            }
        }
        if error is NIOTooManyBytesError { return .tooLarge("\(service): the answer was larger than \(maxBodyBytes) bytes") }
        return .connection(redactor.redact("\(service): connection failed (\(String(describing: type(of: error))): \(error))"))
    }

    // MARK: Helpers

    /// `retry-after-ms` (OpenAI) or `retry-after` in seconds; an HTTP-date is not honoured.
    public static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        if let raw = headers.first(name: "retry-after-ms"), let ms = Double(raw.trimmingCharacters(in: .whitespaces)),
           ms.isFinite, ms >= 0, ms < 1e12 {
            return .milliseconds(Int64(ms.rounded()))
        }
        if let raw = headers.first(name: "retry-after"), let seconds = Double(raw.trimmingCharacters(in: .whitespaces)),
           seconds.isFinite, seconds >= 0, seconds < 1e9 {
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return nil
    }

    /// Runs `operation`, giving up (and cancelling it) after `timeout`.
    static func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw TimedOut() }
            return value
        }
    }

    public static func milliseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }

    public static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        guard seconds < Int64.max / 1_000_000_000 else { return .nanoseconds(Int64.max) }
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
