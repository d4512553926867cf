import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyOutbound
import Testing

/// The shared outbound HTTP layer, against local servers: retries, Retry-After, the body cap,
/// timeouts, redaction and the tenant guard.
@Suite struct OutboundHTTPTests {
    static let key = "sk-outbound-test-9f8e7d6c5b4a"

    static func layer(timeout: Duration = .seconds(10), retry: OutboundRetry = .standard, maxBody: Int = 256 * 1024,
                      outbound: OutboundGuard? = nil, sleeper: RecordingSleeper) -> OutboundHTTP {
        var quiet = Logger(label: "outbound-test")
        quiet.logLevel = .critical
        return OutboundHTTP(.init(service: "embeddings", secrets: [key], timeout: timeout, retry: retry, maxBodyBytes: maxBody,
                                  outbound: outbound),
                            sleeper: sleeper, random: { 0 }, logger: quiet)
    }

    static func request(_ baseURL: String, idempotent: Bool = true) -> OutboundRequest {
        var headers = HTTPHeaders()
        headers.add(name: "authorization", value: "Bearer \(key)")
        return .postJSON(url: baseURL + "/v1/embeddings", headers: headers, json: #"{"input":["hi"]}"#, idempotent: idempotent)
    }

    static let ok = ReplayResponse.error(200, body: #"{"data":[]}"#)

    @Test func aRetryableStatusIsRetriedWithBackoffThenSucceeds() async throws {
        try await ProviderTestServer.with(script: [.error(503, body: "{}"), .error(502, body: "{}"), Self.ok]) { baseURL, server in
            let sleeper = RecordingSleeper()
            let response = try await Self.layer(sleeper: sleeper).send(Self.request(baseURL))
            #expect(response.status == 200)
            #expect(response.text == #"{"data":[]}"#)
            #expect(server.requests.count == 3)
            #expect(server.requests.allSatisfy { $0.body == #"{"input":["hi"]}"# && $0.headers["authorization"] == "Bearer \(Self.key)" })
            #expect(sleeper.slept == [.milliseconds(500), .seconds(1)])
        }
    }

    @Test func retryAfterIsHonouredThroughTheInjectedSleeper() async throws {
        let script: [ReplayResponse] = [.error(429, headers: ["retry-after": "7"], body: "{}"),
                                        .error(503, headers: ["retry-after-ms": "1500"], body: "{}"), Self.ok]
        try await ProviderTestServer.with(script: script) { baseURL, server in
            let sleeper = RecordingSleeper()
            let response = try await Self.layer(sleeper: sleeper).send(Self.request(baseURL))
            #expect(response.status == 200)
            #expect(server.requests.count == 3)
            #expect(sleeper.slept == [.seconds(7), .milliseconds(1500)])
        }
    }

    @Test func aRetryAfterBeyondTheLimitReturnsTheAnswerWithoutWaiting() async throws {
        try await ProviderTestServer.with(.error(429, headers: ["retry-after": "3600"], body: #"{"error":"slow down"}"#)) { baseURL, server in
            let sleeper = RecordingSleeper()
            let response = try await Self.layer(sleeper: sleeper).send(Self.request(baseURL))
            #expect(response.status == 429)
            #expect(response.retryAfter == .seconds(3600))
            #expect(try server.onlyRequest().path == "/v1/embeddings")
            #expect(sleeper.slept.isEmpty)
        }
    }

    @Test func attemptsAreBoundedAndTheLastAnswerIsReturned() async throws {
        try await ProviderTestServer.with(.error(503, body: "{}")) { baseURL, server in
            let sleeper = RecordingSleeper()
            let response = try await Self.layer(sleeper: sleeper).send(Self.request(baseURL))
            #expect(response.status == 503)
            #expect(server.requests.count == 3)
            #expect(sleeper.slept.count == 2)
        }
    }

    @Test(arguments: [400, 401, 404, 422, 501])
    func aStatusThatWillNotChangeIsNotRetried(status: Int) async throws {
        try await ProviderTestServer.with(.error(status, body: "{}")) { baseURL, server in
            let sleeper = RecordingSleeper()
            let response = try await Self.layer(sleeper: sleeper).send(Self.request(baseURL))
            #expect(response.status == status)
            #expect(server.requests.count == 1)
            #expect(sleeper.slept.isEmpty)
        }
    }

    @Test func aRequestThatIsNotIdempotentIsSentOnce() async throws {
        try await ProviderTestServer.with(script: [.error(503, body: "{}"), Self.ok]) { baseURL, server in
            let sleeper = RecordingSleeper()
            let response = try await Self.layer(sleeper: sleeper).send(Self.request(baseURL, idempotent: false))
            #expect(response.status == 503)
            #expect(server.requests.count == 1)
            #expect(sleeper.slept.isEmpty)
        }
    }

    @Test func anAnswerLargerThanTheCapIsRefused() async throws {
        let big = ReplayResponse.error(200, body: "[" + String(repeating: "1,", count: 2000) + "1]")
        try await ProviderTestServer.with(big) { baseURL, _ in
            let error = await #expect(throws: OutboundError.self) {
                try await Self.layer(maxBody: 1000, sleeper: RecordingSleeper()).send(Self.request(baseURL))
            }
            #expect(error == .tooLarge("embeddings: the answer was larger than 1000 bytes"))
        }
    }

    @Test func aStalledBodyTimesOutAndIsRetriedWhenIdempotent() async throws {
        let stalled = ReplayResponse(status: 200, headers: ["content-type": "application/json"], steps: [.text("{\"data\":"), .stall])
        try await ProviderTestServer.with(script: [stalled, Self.ok]) { baseURL, server in
            let sleeper = RecordingSleeper()
            // Generous: the retry must succeed even on a loaded machine; the stall costs the timeout.
            let response = try await Self.layer(timeout: .seconds(3), sleeper: sleeper).send(Self.request(baseURL))
            #expect(response.status == 200)
            #expect(server.requests.count == 2)
            #expect(sleeper.slept == [.milliseconds(500)])
        }
        try await ProviderTestServer.with(stalled) { baseURL, server in
            let error = await #expect(throws: OutboundError.self) {
                try await Self.layer(timeout: .milliseconds(300), retry: .none, sleeper: RecordingSleeper()).send(Self.request(baseURL))
            }
            #expect(error == .timeout("embeddings: no complete answer within 300 ms"))
            // Not retried. (On a loaded machine the 300 ms may run out before the request is read.)
            #expect(server.requests.count <= 1)
        }
    }

    @Test func aFailedConnectionNeverShowsTheKeyFromHeadersOrURL() async throws {
        // Nothing listens on port 1: the connection is refused (and retried) until the timeout.
        var request = Self.request("http://user:url-password-1234@127.0.0.1:1")
        request.url += "?api_key=query-secret-5678&model=m"
        let sleeper = RecordingSleeper()
        let error = await #expect(throws: OutboundError.self) {
            try await Self.layer(timeout: .milliseconds(300), retry: OutboundRetry(maxAttempts: 2), sleeper: sleeper).send(request)
        }
        let message = error?.message ?? ""
        #expect(error?.isRetryable == true)
        #expect(sleeper.slept.count == 1)
        for secret in [Self.key, "url-password-1234", "query-secret-5678"] { #expect(!message.contains(secret), "\(message)") }
    }

    @Test func theRedactorRemovesEveryCredentialARequestCarries() {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Basic " + Data("AC123:twilio-token-abcdef".utf8).base64EncodedString())
        headers.add(name: "x-api-key", value: "anthropic-key-0001")
        headers.add(name: "content-type", value: "application/json")
        let request = OutboundRequest(url: "https://u:pw-secret-99@api.example/v1?key=goog-key-42&alt=json", headers: headers)
        var redactor = Redactor(secrets: ["configured-secret"])
        redactor.add(credentialsOf: request)
        let text = "echo twilio-token-abcdef anthropic-key-0001 pw-secret-99 goog-key-42 configured-secret application/json "
            + (headers.first(name: "authorization") ?? "")
        let redacted = redactor.redact(text)
        for secret in ["twilio-token-abcdef", "anthropic-key-0001", "pw-secret-99", "goog-key-42", "configured-secret", "QUMxMjM6"] {
            #expect(!redacted.contains(secret), "\(redacted)")
        }
        #expect(redacted.contains("application/json"))
        #expect(Redactor(maxLength: 10).redact(String(repeating: "x", count: 50)) == String(repeating: "x", count: 10) + "…")
        #expect(Redactor(hidesURLs: true).redact("failed at https://api.example/v1 now") == "failed at <url> now")
    }

    @Test func aTenantEndpointIsCheckedAndItsRedirectIsNotFollowed() async throws {
        let redirect = ReplayResponse(status: 302, headers: ["location": "http://169.254.169.254/latest"], steps: [])
        try await ProviderTestServer.with(redirect) { baseURL, server in
            let refused = await #expect(throws: OutboundError.self) {
                try await Self.layer(outbound: OutboundGuard(policy: .publicOnly), sleeper: RecordingSleeper()).send(Self.request(baseURL))
            }
            guard case .refused(let message)? = refused else { Issue.record("expected refused, got \(String(describing: refused))"); return }
            #expect(message.contains("outbound address refused") && message.contains("loopback"), "\(message)")
            #expect(server.requests.isEmpty)

            let allowed = try #require(OutboundPolicy.parse("127.0.0.0/8"))
            let redirected = await #expect(throws: OutboundError.self) {
                try await Self.layer(outbound: OutboundGuard(policy: allowed), sleeper: RecordingSleeper()).send(Self.request(baseURL))
            }
            #expect(redirected?.message.contains("redirect") == true)
            #expect(server.requests.count == 1)
        }
    }

    @Test func retryAfterHeadersParse() {
        func parse(_ fields: [(String, String)]) -> Duration? {
            var headers = HTTPHeaders()
            for (name, value) in fields { headers.add(name: name, value: value) }
            return OutboundHTTP.retryAfter(headers)
        }
        #expect(parse([("retry-after", "2")]) == .seconds(2))
        #expect(parse([("retry-after", "0.5")]) == .milliseconds(500))
        #expect(parse([("retry-after-ms", "250"), ("retry-after", "9")]) == .milliseconds(250))
        #expect(parse([("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")]) == nil)
        #expect(parse([("retry-after", "-1")]) == nil)
        #expect(parse([("retry-after", "1e300")]) == nil)
        #expect(parse([]) == nil)
    }

    @Test func backoffDoublesIsCappedAndAddsJitter() {
        let retry = OutboundRetry(maxAttempts: 5, baseDelay: .milliseconds(500), maxDelay: .seconds(2), jitter: 0.2)
        #expect(retry.backoff(afterAttempt: 1, random: 0) == .milliseconds(500))
        #expect(retry.backoff(afterAttempt: 2, random: 0) == .seconds(1))
        #expect(retry.backoff(afterAttempt: 4, random: 0) == .seconds(2))
        #expect(retry.backoff(afterAttempt: 1, random: 0.5) == .milliseconds(550))
        #expect(OutboundRetry(maxAttempts: 0).maxAttempts == 1)
    }

    /// Both provider families go through the layer: an unreachable endpoint is a retryable
    /// failure of theirs, named, and without the key.
    @Test func bothProviderFamiliesFailThroughTheLayerWithoutTheKey() async throws {
        let unreachable = "http://127.0.0.1:1"
        let model = OpenAICompatibleProvider(configuration: .init(apiKey: Self.key, baseURL: unreachable + "/v1", timeout: .milliseconds(300)))
        let (_, modelError) = await collect(model.stream(ModelRequest(messages: [.user("go")])))
        let providerError = try #require(modelError as? ProviderError)
        #expect(providerError.isRetryable)
        #expect(!String(describing: providerError).contains(Self.key))

        let email = ResendClient(apiKey: Self.key, baseURL: unreachable, timeout: .milliseconds(300))
        let deliveryError = await #expect(throws: DeliveryError.self) {
            try await email.send(OutgoingEmail(from: "a@example.com", to: "b@example.com", subject: "s", text: "t", idempotencyKey: "k-1"))
        }
        guard case .transient(let reason)? = deliveryError else {
            Issue.record("expected a transient failure, got \(String(describing: deliveryError))")
            return
        }
        #expect(reason.hasPrefix("resend: "), "\(reason)")
        #expect(!reason.contains(Self.key) && !reason.contains("://"), "\(reason)")
    }
}
