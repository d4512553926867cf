import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import ParleyAgent
import ParleyApp
import ParleyComms
import ParleyCore
import ParleyPackKit
import ParleyServer
import ParleyStorage
import Testing

/// Tools that misbehave on purpose, installed next to the workspace pack in agent tests.
enum TestPack {
    static let echo = Tool(
        name: "echo", description: "Returns its input.",
        inputSchema: ["type": "object", "properties": ["text": ["type": "string", "maxLength": 50]], "required": ["text"], "additionalProperties": false]
    ) { input, _ in input }

    static let explode = Tool(name: "explode", description: "Always fails.", inputSchema: ["type": "object"]) { _, _ in
        throw TestFailure("connection to db.internal:5432 refused (password hunter2)")
    }

    static let hang = Tool(name: "hang", description: "Never finishes.", inputSchema: ["type": "object"], timeout: .milliseconds(200)) { _, _ in
        try await Task.sleep(for: .seconds(600))
        return .null
    }

    static let pack = DomainPack(name: "test", tools: [echo, explode, hang])
    static let packs = ParleySchema.packs + [pack]
}

/// A parsed server-sent event.
struct StreamedEvent: Sendable {
    var id: Int?
    var event: String
    var data: JSONValue
    var seq: Int? { data["seq"]?.intValue }
}

func parseSSE(_ text: String) -> [StreamedEvent] {
    text.components(separatedBy: "\n\n").compactMap { block in
        var id: Int?
        var event = "message"
        var data = ""
        for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
            else if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            else if line.hasPrefix("data: ") { data += line.dropFirst(6) }
        }
        guard !data.isEmpty, let json = try? JSONValue.parse(data) else { return nil }
        return StreamedEvent(id: id, event: event, data: json)
    }
}

/// Builds the Chat Completions chunks a scripted model turn streams.
enum ScriptedTurn {
    static func toolCalls(_ calls: [(id: String, name: String, arguments: String)]) -> ReplayResponse {
        var body = ""
        for (i, call) in calls.enumerated() {
            // Arguments arrive in two pieces, as real servers send them.
            let mid = call.arguments.index(call.arguments.startIndex, offsetBy: call.arguments.count / 2)
            body += ProviderOpenAITests.toolCall(i, id: call.id, name: call.name, [String(call.arguments[..<mid]), String(call.arguments[mid...])])
        }
        body += ProviderOpenAITests.chunk("{}", finish: "tool_calls") + ProviderOpenAITests.usage(prompt: 100, completion: 20) + ProviderOpenAITests.done
        return .stream(body)
    }

    static func answer(_ text: String) -> ReplayResponse {
        .stream(ProviderOpenAITests.text(text) + ProviderOpenAITests.chunk("{}", finish: "stop")
                + ProviderOpenAITests.usage(prompt: 150, completion: 10) + ProviderOpenAITests.done)
    }

    static func provider(_ baseURL: String, timeout: Duration = .seconds(10)) -> any ModelProvider {
        OpenAICompatibleProvider(configuration: .init(apiKey: "sk-test-0123456789", baseURL: baseURL + "/v1", timeout: timeout))
    }
}

/// An application with the agent on a fresh database and a seeded tenant.
func withAgentServer(_ kind: DatabaseKind, env: [String: String] = [:], provider: (any ModelProvider)? = nil,
                     triggers: [TriggerDefinition] = [], keyring: Keyring = .random(), testing: TestingSetup = .router,
                     _ body: @escaping @Sendable (any TestClientProtocol, Seeded, any Store, TestClock) async throws -> Void) async throws {
    let clock = TestClock()
    try await TestDatabases.withStore(kind, clock: clock) { store in
        let seeded = try await Seeded.make(store, clock: clock)
        try await agentApp(store: store, clock: clock, env: env, provider: provider, triggers: triggers, keyring: keyring).test(testing) { client in
            try await body(client, seeded, store, clock)
        }
    }
}

func agentApp(store: any Store, clock: TestClock, env: [String: String] = [:], provider: (any ModelProvider)? = nil,
              triggers: [TriggerDefinition] = [], keyring: Keyring = .random()) throws -> some ApplicationProtocol {
    let config = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "2mb"].merging(env) { $1 }))
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return try buildApplication(ServerDependencies(config: config, store: store, clock: clock, logger: logger,
                                               migrations: ParleySchema.migrations, keyring: keyring, packs: TestPack.packs, triggers: triggers, provider: provider))
}

extension TestClientProtocol {
    /// Posts a chat message and returns the whole event stream (the run must end).
    func chat(_ key: String, _ message: String, path: String = "/v1/chat") async throws -> [StreamedEvent] {
        let body = JSONValue.object(["message": .string(message)]).serialized()
        return try await execute(uri: path, method: .post, headers: auth(key, json: true), body: ByteBuffer(string: body)) { r in
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/event-stream")
            #expect(r.headers[.cacheControl] == "no-cache")
            return parseSSE(String(buffer: r.body))
        }
    }

    func getJSON(_ key: String, _ uri: String, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        try await execute(uri: uri, method: .get, headers: auth(key)) { r in
            #expect(r.status == status, "GET \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }

    func postJSON(_ key: String, _ uri: String, _ body: JSONValue, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        try await execute(uri: uri, method: .post, headers: auth(key, json: true), body: ByteBuffer(string: body.serialized())) { r in
            #expect(r.status == status, "POST \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }

    func putJSON(_ key: String, _ uri: String, _ body: JSONValue, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        try await execute(uri: uri, method: .put, headers: auth(key, json: true), body: ByteBuffer(string: body.serialized())) { r in
            #expect(r.status == status, "PUT \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }

    /// Sends a message in a new session and waits for the run to end or pause.
    func ask(_ key: String, _ message: String, session: String? = nil, status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        var sessionID = session
        if sessionID == nil {
            sessionID = try await postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue
        }
        return try await postJSON(key, "/v1/sessions/\(sessionID ?? "")/messages", ["content": .string(message)], status: status)
    }
}

/// Reads an SSE response incrementally over a real socket, so a test can stop half-way.
struct LiveSSE {
    let response: HTTPClientResponse
    var buffer = ""
    var iterator: HTTPClientResponse.Body.AsyncIterator

    static func open(_ url: String, key: String, client: HTTPClient = .shared, method: NIOHTTP1.HTTPMethod = .GET, body: String? = nil,
                     lastEventID: Int? = nil) async throws -> LiveSSE {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        return LiveSSE(response: response, iterator: response.body.makeAsyncIterator())
    }

    /// The next event that is not a heartbeat, or nil at the end of the stream.
    mutating func next() async throws -> StreamedEvent? {
        while let event = try await nextIncludingHeartbeats() {
            if event.event != "heartbeat" { return event }
        }
        return nil
    }

    mutating func nextIncludingHeartbeats() async throws -> StreamedEvent? {
        while true {
            if let range = buffer.range(of: "\n\n") {
                let block = String(buffer[..<range.upperBound])
                buffer.removeSubrange(..<range.upperBound)
                if let event = parseSSE(block).first { return event }
                continue
            }
            guard let chunk = try await iterator.next() else { return nil }
            buffer += String(buffer: chunk)
        }
    }

    mutating func until(_ type: String) async throws -> [StreamedEvent] {
        var out: [StreamedEvent] = []
        while let event = try await next() {
            out.append(event)
            if event.event == type { return out }
        }
        throw TestFailure("the stream ended before \(type); got \(out.map(\.event))")
    }
}
