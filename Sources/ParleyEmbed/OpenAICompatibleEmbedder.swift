import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Any OpenAI-compatible `/v1/embeddings` server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio ...):
/// `POST {base}/v1/embeddings` with `{"model","input":[...]}`, the vectors taken from
/// `data[].embedding` in `index` order, in batches, and L2-normalised.
public struct OpenAICompatibleEmbedder: Embedder {
    public struct Configuration: Sendable, Equatable {
        /// `https://api.openai.com`, `http://127.0.0.1:11434` (a trailing `/v1` is accepted too).
        public var baseURL: String
        public var model: String
        /// Sent as `Authorization: Bearer …` when set; local servers need none.
        public var apiKey: String?
        /// The vectors' length; an answer of another length is an error.
        public var dimensions: Int
        /// Texts per request.
        public var batchSize: Int
        /// Per request.
        public var timeout: Duration

        public init(baseURL: String, model: String, apiKey: String? = nil, dimensions: Int, batchSize: Int = 64,
                    timeout: Duration = .seconds(60)) {
            self.baseURL = baseURL
            self.model = model
            self.apiKey = apiKey
            self.dimensions = dimensions
            self.batchSize = max(1, batchSize)
            self.timeout = timeout
        }

        /// The endpoint: `{base}/v1/embeddings`, or `{base}/embeddings` when the base already ends in `/v1`.
        public var endpoint: String {
            var base = baseURL
            while base.hasSuffix("/") { base.removeLast() }
            return base.hasSuffix("/v1") ? base + "/embeddings" : base + "/v1/embeddings"
        }
    }

    public let configuration: Configuration
    public let identity: EmbedderIdentity
    private let client: HTTPClient

    public init(configuration: Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.client = httpClient
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        identity = EmbedderIdentity(name: "openai:\(base):\(configuration.model)", dimensions: configuration.dimensions)
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let end = min(start + configuration.batchSize, texts.count)
            vectors += try await embedBatch(Array(texts[start..<end]))
            start = end
        }
        return vectors
    }

    private struct RequestBody: Encodable {
        var model: String
        var input: [String]
    }

    private struct ResponseBody: Decodable {
        struct Item: Decodable {
            var embedding: [Float]
            var index: Int?
        }
        var data: [Item]
    }

    private func embedBatch(_ texts: [String]) async throws -> [[Float]] {
        let body: Data
        do {
            body = try JSONEncoder().encode(RequestBody(model: configuration.model, input: texts))
        } catch {
            throw EmbedderError.invalidRequest("the texts cannot be encoded as JSON")
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: "application/json")
        if let key = configuration.apiKey, !key.isEmpty { headers.add(name: "authorization", value: "Bearer \(key)") }
        let (status, text) = try await post(configuration.endpoint, headers: headers, body: body)
        guard (200..<300).contains(status) else { throw statusError(status, text) }
        return try decode(text, count: texts.count)
    }

    /// Parses an answer for `count` inputs: every index once, each vector `dimensions` long.
    func decode(_ text: String, count: Int) throws(EmbedderError) -> [[Float]] {
        let response: ResponseBody
        do {
            response = try JSONDecoder().decode(ResponseBody.self, from: Data(text.utf8))
        } catch {
            if let message = Self.errorMessage(text) { throw .invalidRequest(scrub(message)) }
            throw .malformedResponse("expected {\"data\":[{\"embedding\":[...],\"index\":0},...]}")
        }
        guard response.data.count == count else {
            throw .malformedResponse("\(response.data.count) embeddings for \(count) inputs")
        }
        var ordered = [[Float]?](repeating: nil, count: count)
        for (position, item) in response.data.enumerated() {
            let index = item.index ?? position
            guard ordered.indices.contains(index), ordered[index] == nil else {
                throw .malformedResponse("embedding index \(index) is out of range or repeated")
            }
            guard item.embedding.count == configuration.dimensions else {
                throw .malformedResponse("vectors of \(item.embedding.count) dimensions, expected \(configuration.dimensions) (set PARLEY_EMBEDDINGS_DIMENSIONS to the model's)")
            }
            guard item.embedding.allSatisfy(\.isFinite) else { throw .malformedResponse("a vector holds a non-finite number") }
            ordered[index] = l2Normalized(item.embedding)
        }
        return ordered.map { $0 ?? [] }
    }

    // MARK: HTTP (the one outbound call; to move to the shared outbound layer)

    private func post(_ url: String, headers: HTTPHeaders, body: Data) async throws -> (status: Int, body: String) {
        let timeout = configuration.timeout
        do {
            return try await withThrowingTaskGroup(of: (Int, String).self) { group in
                group.addTask {
                    var request = HTTPClientRequest(url: url)
                    request.method = .POST
                    request.headers = headers
                    request.body = .bytes(ByteBuffer(bytes: body))
                    let response = try await client.execute(request, deadline: .now() + .nanoseconds(timeout.nanoseconds))
                    let collected = try await response.body.collect(upTo: 64 << 20)
                    return (Int(response.status.code), String(buffer: collected))
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw EmbedderError.timeout
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { throw EmbedderError.timeout }
                return first
            }
        } catch let error as EmbedderError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout:
                throw EmbedderError.timeout
            default:
                throw EmbedderError.transport(scrub(String(describing: error)))
            }
        } catch is NIOTooManyBytesError {
            throw EmbedderError.malformedResponse("the answer is larger than 64 MiB")
        } catch {
            throw EmbedderError.transport(scrub(String(describing: error)))
        }
    }

    private func statusError(_ status: Int, _ body: String) -> EmbedderError {
        switch status {
        case 401, 403: return .authentication
        case 429: return .rateLimited
        case 408: return .timeout
        case 500...599: return .server(status: status)
        default:
            let message = Self.errorMessage(body) ?? body.trimmingCharacters(in: .whitespacesAndNewlines)
            return .invalidRequest(scrub(message.isEmpty ? "HTTP \(status)" : message))
        }
    }

    /// `{"error":{"message":…}}`, `{"error":"…"}` or `{"message":…}`.
    static func errorMessage(_ body: String) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] else { return nil }
        if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
        return object["error"] as? String ?? object["message"] as? String
    }

    /// Removes the API key and caps the length of a message that may be shown or logged.
    func scrub(_ message: String) -> String {
        var message = message
        if let key = configuration.apiKey, !key.isEmpty { message = message.replacingOccurrences(of: key, with: "[redacted]") }
        if message.count > 300 { message = String(message.prefix(300)) + "…" }
        return message
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds < Int64.max / 1_000_000_000 else { return Int64.max }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
