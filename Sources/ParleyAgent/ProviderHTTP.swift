import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ParleyCore

/// Turns one provider's server-sent events into `ModelEvent`s.
public protocol ModelStreamDecoder: Sendable {
    /// Whether the terminal event has been seen; the body is not read any further.
    var isComplete: Bool { get }
    /// Decodes one server-sent event.
    mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ModelEvent]
    /// Called when the body ended before `isComplete`: the events still owed, or an error.
    mutating func finish() throws(ProviderError) -> [ModelEvent]
}

/// The HTTP side shared by the streaming providers: one POST, status mapping, SSE decoding,
/// a whole-call timeout and error mapping that never leaks the API key.
struct ProviderHTTP: Sendable {
    let client: HTTPClient
    let timeout: Duration
    /// Scrubbed from every error message.
    let secret: String?

    /// A stream that POSTs `body` to `url` and yields what `decoder` makes of the response.
    func stream<Decoder: ModelStreamDecoder>(url: String, headers: HTTPHeaders, body: String,
                                             decoder: Decoder) -> AsyncThrowingStream<ModelEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await Self.withTimeout(timeout) {
                        try await run(url: url, headers: headers, body: body, decoder: decoder) { continuation.yield($0) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: mapError(error))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func run<Decoder: ModelStreamDecoder>(url: String, headers: HTTPHeaders, body: String, decoder: Decoder,
                                                  yield: @Sendable (ModelEvent) -> Void) async throws {
        var decoder = decoder
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers = headers
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, deadline: .now() + Self.timeAmount(timeout))

        guard (200..<300).contains(response.status.code) else {
            let errorBody = try? await response.body.collect(upTo: 64 * 1024)
            throw Self.statusError(status: Int(response.status.code), headers: response.headers,
                                   body: errorBody.map { String(buffer: $0) } ?? "", secret: secret)
        }
        if let type = response.headers.first(name: "content-type")?.lowercased(), type.hasPrefix("application/json") {
            // Some gateways answer 200 with a JSON error instead of a stream.
            let text = String(buffer: try await response.body.collect(upTo: 64 * 1024))
            if let mapped = Self.bodyError(text, secret: secret) { throw mapped }
            throw ProviderError.malformedStream("expected an event stream, got a JSON document")
        }

        var parser = SSEParser()
        for try await buffer in response.body {
            for event in try parser.consume(buffer.readableBytesView) {
                for modelEvent in try decoder.decode(event) { yield(modelEvent) }
                if decoder.isComplete { return }
            }
        }
        try Task.checkCancellation()
        for modelEvent in try decoder.finish() { yield(modelEvent) }
    }

    // MARK: Errors

    func mapError(_ error: any Error) -> any Error {
        if let error = error as? ProviderError { return redact(error) }
        if error is CancellationError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout,
                 .tlsHandshakeTimeout:
                return ProviderError.timeout
            default:
                break
            }
        }
        return ProviderError.transport(Self.scrub(String(describing: error), secret: secret))
    }

    private func redact(_ error: ProviderError) -> ProviderError {
        switch error {
        case .invalidRequest(let message): .invalidRequest(Self.scrub(message, secret: secret))
        case .transport(let message): .transport(Self.scrub(message, secret: secret))
        case .malformedStream(let message): .malformedStream(Self.scrub(message, secret: secret))
        default: error
        }
    }

    /// Removes the secret and caps the length of a message that may be shown or logged.
    static func scrub(_ message: String, secret: String?) -> String {
        var message = message
        if let secret, !secret.isEmpty { message = message.replacingOccurrences(of: secret, with: "[redacted]") }
        if message.count > 300 { message = String(message.prefix(300)) + "…" }
        return message
    }

    /// The error for a response that failed before any stream started.
    static func statusError(status: Int, headers: HTTPHeaders, body: String, secret: String?) -> ProviderError {
        switch status {
        case 429: return .rateLimited(retryAfter: retryAfter(headers))
        case 401, 403: return .authentication
        case 408: return .timeout
        case 503, 529: return .overloaded
        case 500...599: return .server(status: status)
        case 400...499:
            let message = errorMessage(body) ?? body.trimmingCharacters(in: .whitespacesAndNewlines)
            return .invalidRequest(scrub(message.isEmpty ? "HTTP \(status)" : message, secret: secret))
        default: return .server(status: status)
        }
    }

    /// `retry-after-ms` (OpenAI) or `retry-after` in seconds; an HTTP-date is not honoured.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        if let raw = headers.first(name: "retry-after-ms"), let ms = Double(raw.trimmingCharacters(in: .whitespaces)),
           ms.isFinite, ms >= 0 {
            return .milliseconds(Int64(ms.rounded()))
        }
        if let raw = headers.first(name: "retry-after"), let seconds = Double(raw.trimmingCharacters(in: .whitespaces)),
           seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return nil
    }

    /// The message of an error document: `{"error":{"message":...}}`, `{"error":"..."}` or `{"message":...}`.
    static func errorMessage(_ body: String) -> String? {
        guard let json = try? JSONValue.parse(body) else { return nil }
        return json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue ?? json["message"]?.stringValue
    }

    /// Maps an error document received with a 200 instead of a stream to a `ProviderError`.
    static func bodyError(_ body: String, secret: String?) -> ProviderError? {
        guard let json = try? JSONValue.parse(body), let error = json["error"], !error.isNull else { return nil }
        return classify(error: error, secret: secret)
    }

    /// Maps an error object (`{"type","code","message"}`, or a bare message string) to a `ProviderError`.
    static func classify(error: JSONValue, secret: String?) -> ProviderError {
        classify(type: [error["type"]?.stringValue, error["code"]?.stringValue].compactMap { $0 }.joined(separator: " "),
                 message: error["message"]?.stringValue ?? error.stringValue ?? "unknown error", secret: secret)
    }

    /// Maps a provider error type (`overloaded_error`, `rate_limit_exceeded`, ...) to a `ProviderError`.
    static func classify(type: String?, message: String, secret: String?) -> ProviderError {
        let type = (type ?? "").lowercased()
        if type.contains("overload") { return .overloaded }
        if type.contains("rate_limit") || type.contains("ratelimit") { return .rateLimited(retryAfter: nil) }
        if type.contains("authentication") || type.contains("permission") || type.contains("invalid_api_key") {
            return .authentication
        }
        if type.contains("timeout") { return .timeout }
        if type.contains("invalid_request") || type.contains("not_found") || type.contains("request_too_large") {
            return .invalidRequest(scrub(message, secret: secret))
        }
        return .server(status: 500)
    }

    // MARK: Time

    static func withTimeout(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw ProviderError.timeout
            }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        guard seconds < Int64.max / 1_000_000_000 else { return .nanoseconds(Int64.max) }
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension String {
    /// `base` without trailing slashes, followed by `path`.
    func joiningPath(_ path: String) -> String {
        var base = self
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}
