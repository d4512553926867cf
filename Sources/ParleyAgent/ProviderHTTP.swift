import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ParleyCore
import ParleyOutbound

/// Turns one provider's server-sent events into `ModelEvent`s.
public protocol ModelStreamDecoder: Sendable {
    /// Whether the terminal event has been seen; the body is not read any further.
    var isComplete: Bool { get }
    /// Decodes one server-sent event.
    mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ModelEvent]
    /// Called when the body ended before `isComplete`: the events still owed, or an error.
    mutating func finish() throws(ProviderError) -> [ModelEvent]
}

/// The model providers' side of the outbound HTTP layer: one POST through `OutboundHTTP` (which
/// owns the client, the timeout and redaction), status mapping, SSE decoding, and error mapping
/// to `ProviderError` that never leaks the API key. Retries belong to `FailoverProvider`, so the
/// layer makes one attempt per call.
struct ProviderHTTP: Sendable {
    let http: OutboundHTTP

    init(client: HTTPClient?, service: String, timeout: Duration, secret: String?) {
        http = OutboundHTTP(.init(service: service, secrets: [secret], timeout: timeout, timeoutGrace: .zero, retry: .none, maxBodyBytes: 64 * 1024,
                                  placeholder: "[redacted]"),
                            client: client)
    }

    /// A stream that POSTs `body` to `url` and yields what `decoder` makes of the response.
    func stream<Decoder: ModelStreamDecoder>(url: String, headers: HTTPHeaders, body: String,
                                             decoder: Decoder) -> AsyncThrowingStream<ModelEvent, any Error> {
        AsyncThrowingStream { continuation in
            let request = OutboundRequest(method: .POST, url: url, headers: headers, body: ByteBuffer(string: body))
            let task = Task {
                do {
                    try await http.withResponse(request) { response in
                        try await Self.read(response, decoder: decoder, redactor: http.redactor) { continuation.yield($0) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: mapError(error, request: request))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private static func read<Decoder: ModelStreamDecoder>(_ response: OutboundStreamingResponse, decoder: Decoder, redactor: Redactor,
                                                          yield: @Sendable (ModelEvent) -> Void) async throws {
        var decoder = decoder
        guard response.isSuccess else {
            let errorBody = try? await response.collect()
            throw statusError(status: response.status, headers: response.headers,
                              body: errorBody.map { String(buffer: $0) } ?? "", redactor: redactor)
        }
        if let type = response.headers.first(name: "content-type")?.lowercased(), type.hasPrefix("application/json") {
            // Some gateways answer 200 with a JSON error instead of a stream.
            let text = String(buffer: try await response.collect())
            if let mapped = bodyError(text, redactor: redactor) { throw mapped }
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

    func mapError(_ error: any Error, request: OutboundRequest? = nil) -> any Error {
        if let error = error as? ProviderError { return redact(error) }
        if error is CancellationError { return error }
        switch http.describe(error, request: request) {
        case .timeout: return ProviderError.timeout
        case .cancelled: return CancellationError()
        case let other: return ProviderError.transport(other.message)
        }
    }

    private func redact(_ error: ProviderError) -> ProviderError {
        let redactor = http.redactor
        return switch error {
        case .invalidRequest(let message): .invalidRequest(redactor.redact(message))
        case .transport(let message): .transport(redactor.redact(message))
        case .malformedStream(let message): .malformedStream(redactor.redact(message))
        default: error
        }
    }

    /// The error for a response that failed before any stream started.
    static func statusError(status: Int, headers: HTTPHeaders, body: String, redactor: Redactor) -> ProviderError {
        switch status {
        case 429: return .rateLimited(retryAfter: OutboundHTTP.retryAfter(headers))
        case 401, 403: return .authentication
        case 408: return .timeout
        case 503, 529: return .overloaded
        case 500...599: return .server(status: status)
        case 400...499:
            let message = errorMessage(body) ?? body.trimmingCharacters(in: .whitespacesAndNewlines)
            return .invalidRequest(redactor.redact(message.isEmpty ? "HTTP \(status)" : message))
        default: return .server(status: status)
        }
    }

    /// The message of an error document: `{"error":{"message":...}}`, `{"error":"..."}` or `{"message":...}`.
    static func errorMessage(_ body: String) -> String? {
        guard let json = try? JSONValue.parse(body) else { return nil }
        return json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue ?? json["message"]?.stringValue
    }

    /// Maps an error document received with a 200 instead of a stream to a `ProviderError`.
    static func bodyError(_ body: String, redactor: Redactor) -> ProviderError? {
        guard let json = try? JSONValue.parse(body), let error = json["error"], !error.isNull else { return nil }
        return classify(error: error, redactor: redactor)
    }

    /// Maps an error object (`{"type","code","message"}`, or a bare message string) to a `ProviderError`.
    static func classify(error: JSONValue, redactor: Redactor = Redactor()) -> ProviderError {
        classify(type: [error["type"]?.stringValue, error["code"]?.stringValue].compactMap { $0 }.joined(separator: " "),
                 message: error["message"]?.stringValue ?? error.stringValue ?? "unknown error", redactor: redactor)
    }

    /// Maps a provider error type (`overloaded_error`, `rate_limit_exceeded`, ...) to a `ProviderError`.
    static func classify(type: String?, message: String, redactor: Redactor) -> ProviderError {
        let type = (type ?? "").lowercased()
        if type.contains("overload") { return .overloaded }
        if type.contains("rate_limit") || type.contains("ratelimit") { return .rateLimited(retryAfter: nil) }
        if type.contains("authentication") || type.contains("permission") || type.contains("invalid_api_key") {
            return .authentication
        }
        if type.contains("timeout") { return .timeout }
        if type.contains("invalid_request") || type.contains("not_found") || type.contains("request_too_large") {
            return .invalidRequest(redactor.redact(message))
        }
        return .server(status: 500)
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
