import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ParleyAgent
import ParleyCore
import Synchronization

/// A request the fake provider server received.
struct RecordedRequest: Sendable {
    var method: String
    var path: String
    /// Header names lowercased.
    var headers: [String: String]
    var body: String
    var json: JSONValue? { try? JSONValue.parse(body) }
}

/// One step of a scripted response body. Every `.text`/`.bytes` step is its own write (and flush),
/// so a step boundary can fall anywhere: inside an event, a line, or a UTF-8 character.
enum ReplayStep: Sendable {
    case text(String)
    case bytes([UInt8])
    /// Closes the connection here, without finishing the body.
    case drop
    /// Sends nothing more until the server is stopped.
    case stall
}

struct ReplayResponse: Sendable {
    var status: Int = 200
    var headers: [String: String] = ["content-type": "text/event-stream"]
    var steps: [ReplayStep]

    /// `text` as one write.
    static func stream(_ text: String) -> ReplayResponse { ReplayResponse(steps: [.text(text)]) }

    /// `text` cut into writes of `size` bytes (so events, lines and characters are split).
    static func pieces(_ text: String, size: Int) -> ReplayResponse {
        let bytes = Array(text.utf8)
        return ReplayResponse(steps: stride(from: 0, to: bytes.count, by: size).map { start in
            .bytes(Array(bytes[start..<min(start + size, bytes.count)]))
        })
    }

    static func error(_ status: Int, headers: [String: String] = [:], body: String) -> ReplayResponse {
        ReplayResponse(status: status, headers: ["content-type": "application/json"].merging(headers) { $1 }, steps: [.text(body)])
    }
}

/// A local HTTP server on 127.0.0.1 (port 0) that answers every request with one scripted response
/// and records what it received.
final class ProviderTestServer: Sendable {
    private struct DropConnection: Error {}

    private let recorded = Mutex<[RecordedRequest]>([])
    /// The n-th request gets the n-th response; the last one repeats.
    let responses: [ReplayResponse]

    private init(responses: [ReplayResponse]) { self.responses = responses }

    var requests: [RecordedRequest] { recorded.withLock { $0 } }

    /// The one request received (fails the test when there were none or several).
    func onlyRequest() throws -> RecordedRequest {
        let requests = self.requests
        guard requests.count == 1, let request = requests.first else {
            throw TestFailure("expected one request, got \(requests.count)")
        }
        return request
    }

    /// Runs `body` with the base URL (`http://127.0.0.1:<port>`) of a server replaying `response`.
    static func with<T>(_ response: ReplayResponse, _ body: (_ baseURL: String, _ server: ProviderTestServer) async throws -> T)
        async throws -> T {
        try await with(script: [response], body)
    }

    /// Runs `body` against a server answering successive requests with successive responses.
    static func with<T>(script: [ReplayResponse], _ body: (_ baseURL: String, _ server: ProviderTestServer) async throws -> T)
        async throws -> T {
        let server = ProviderTestServer(responses: script)
        let port = try await TestServers.start { request in try await server.respond(to: request) }
        return try await body("http://127.0.0.1:\(port)", server)
    }

    private func respond(to request: Request) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let body = try await request.body.collect(upTo: 1 << 20)
        let index = recorded.withLock {
            $0.append(RecordedRequest(method: request.method.rawValue, path: request.uri.path, headers: headers,
                                      body: String(buffer: body)))
            return $0.count - 1
        }
        let response = responses[min(index, responses.count - 1)]

        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        let steps = response.steps
        return Response(status: .init(code: response.status), headers: fields, body: ResponseBody { writer in
            for step in steps {
                switch step {
                case .text(let text): try await writer.write(ByteBuffer(string: text))
                case .bytes(let bytes): try await writer.write(ByteBuffer(bytes: bytes))
                case .drop: throw DropConnection()
                case .stall: try await Task.sleep(for: .seconds(600))
                }
            }
            try await writer.finish(nil)
        })
    }
}

/// Collects a model stream: every event, and the error it ended with, if any.
func collect(_ stream: AsyncThrowingStream<ModelEvent, any Error>) async -> (events: [ModelEvent], error: (any Error)?) {
    var events: [ModelEvent] = []
    do {
        for try await event in stream { events.append(event) }
        return (events, nil)
    } catch {
        return (events, error)
    }
}

/// One server-sent event as a provider writes it.
func sse(_ event: String?, _ data: String, newline: String = "\n") -> String {
    (event.map { "event: \($0)\(newline)" } ?? "") + "data: \(data)\(newline)\(newline)"
}

/// A JSON string literal for `text` (for building chunks whose strings carry JSON text).
func jsonString(_ text: String) -> String { JSONValue.string(text).serialized() }

/// Local HTTP servers for tests, on 127.0.0.1 and a free port.
///
/// They are never stopped: a client connection still in flight when a test ends (a request that
/// timed out while connecting) would otherwise reach a server shutting down, which trips a
/// precondition in NIO's async channel. The test process ends them all.
enum TestServers {
    private static let tasks = Mutex<[Task<Void, any Error>]>([])

    /// Starts a server answering every request with `respond`; returns its port.
    static func start(_ respond: @escaping @Sendable (Request) async throws -> Response) async throws -> Int {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test-server")
        logger.logLevel = .critical
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in try await respond(request) },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        let task = Task { try await app.run() }
        tasks.withLock { $0.append(task) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("the test server did not start") }
        return port
    }
}
