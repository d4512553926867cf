import AsyncHTTPClient
import NIOHTTP1
import ParleyCore

/// Claude through the Anthropic Messages API (`POST {baseURL}/v1/messages`, `stream: true`).
public struct AnthropicProvider: ModelProvider, CustomStringConvertible {
    public struct Configuration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public var apiKey: String
        public var model: String
        public var baseURL: String
        /// The longest a whole call (connect, response and the complete stream) may take.
        public var timeout: Duration
        /// The provider's name in logs and failover.
        public var name: String

        public init(apiKey: String, model: String = "claude-sonnet-4-5", baseURL: String = "https://api.anthropic.com",
                    timeout: Duration = .seconds(300), name: String = "anthropic") {
            self.apiKey = apiKey
            self.model = model
            self.baseURL = baseURL
            self.timeout = timeout
            self.name = name
        }

        public var description: String { "Anthropic(name: \(name), model: \(model), baseURL: \(baseURL), apiKey: [redacted])" }
        public var debugDescription: String { description }
        public var customMirror: Mirror {
            Mirror(self, children: ["name": name, "model": model, "baseURL": baseURL, "timeout": timeout], displayStyle: .struct)
        }
    }

    public static let apiVersion = "2023-06-01"

    public let configuration: Configuration
    private let http: ProviderHTTP

    /// `httpClient` nil: the outbound layer's shared client.
    public init(configuration: Configuration, httpClient: HTTPClient? = nil) {
        self.configuration = configuration
        self.http = ProviderHTTP(client: httpClient, service: configuration.name, timeout: configuration.timeout, secret: configuration.apiKey)
    }

    public var name: String { configuration.name }
    public var description: String { configuration.description }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelEvent, any Error> {
        var headers = HTTPHeaders()
        headers.add(name: "x-api-key", value: configuration.apiKey)
        headers.add(name: "anthropic-version", value: Self.apiVersion)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: "text/event-stream")
        return http.stream(url: configuration.baseURL.joiningPath("/v1/messages"), headers: headers,
                           body: requestBody(request).serialized(), decoder: AnthropicStreamDecoder())
    }

    /// The JSON body sent for `request`.
    public func requestBody(_ request: ModelRequest) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model ?? configuration.model),
            "max_tokens": .number(Double(request.maxTokens)),
            "messages": .array(Self.wireMessages(request.messages)),
            "stream": true,
        ]
        if !request.system.isEmpty { body["system"] = .string(request.system) }
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { tool in
                ["name": .string(tool.name), "description": .string(tool.description), "input_schema": tool.inputSchema]
            })
        }
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        return .object(body)
    }

    /// Messages in the Messages API's shape: tool calls become assistant `tool_use` blocks, tool
    /// results become `tool_result` blocks in a user message, and consecutive messages that end up
    /// with the same role are merged (the API wants all results for one turn in one message, first).
    static func wireMessages(_ messages: [ModelMessage]) -> [JSONValue] {
        var turns: [(role: String, blocks: [JSONValue])] = []
        for message in messages {
            let role = message.role == .assistant ? "assistant" : "user"
            var blocks: [JSONValue] = []
            for block in message.content {
                switch block {
                case .text(let text):
                    if !text.isEmpty { blocks.append(["type": "text", "text": .string(text)]) }
                case .toolCall(let id, let name, let arguments):
                    guard role == "assistant" else { continue }
                    // The API needs an object; arguments that do not parse to one are sent as `{}`
                    // (the tool result the agent recorded for that call says what went wrong).
                    let input: JSONValue
                    if let parsed = try? JSONValue.parse(arguments), parsed.objectValue != nil { input = parsed } else { input = [:] }
                    blocks.append(["type": "tool_use", "id": .string(id), "name": .string(name), "input": input])
                case .toolResult(let callID, let content, let isError):
                    guard role == "user" else { continue }
                    var result: [String: JSONValue] = ["type": "tool_result", "tool_use_id": .string(callID), "content": .string(content)]
                    if isError { result["is_error"] = true }
                    blocks.append(.object(result))
                }
            }
            guard !blocks.isEmpty else { continue }
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks.append(contentsOf: blocks)
            } else {
                turns.append((role, blocks))
            }
        }
        return turns.map { turn in
            // Tool results must lead a user message.
            let blocks = turn.blocks.filter { $0["type"] == "tool_result" } + turn.blocks.filter { $0["type"] != "tool_result" }
            return ["role": .string(turn.role), "content": .array(blocks)]
        }
    }
}

/// Decodes the Messages API event stream: `message_start`, `content_block_start|delta|stop`,
/// `message_delta`, `message_stop`, `ping` and `error`. Unknown event and delta types are ignored.
public struct AnthropicStreamDecoder: ModelStreamDecoder {
    private enum Block: Sendable {
        case text
        case thinking
        case toolUse(id: String, name: String, json: String, initial: String?)
        case other
    }

    private var blocks: [Int: Block] = [:]
    private var inputTokens = 0
    private var outputTokens = 0
    private var sawUsage = false
    private var stopReason: StopReason?
    public private(set) var isComplete = false

    public init() {}

    public mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ModelEvent] {
        let json: JSONValue
        do {
            json = try JSONValue.parse(event.data)
        } catch {
            throw .malformedStream("\(event.event ?? "an") event's data is not valid JSON")
        }
        let type = json["type"]?.stringValue ?? event.event ?? ""
        switch type {
        case "message_start":
            if let usage = json["message"]?["usage"] { record(usage: usage) }
            return []

        case "content_block_start":
            guard let index = json["index"]?.intValue, let block = json["content_block"] else {
                throw .malformedStream("content_block_start without index or content_block")
            }
            switch block["type"]?.stringValue {
            case "text":
                blocks[index] = .text
                if let text = block["text"]?.stringValue, !text.isEmpty { return [.textDelta(text)] }
            case "thinking":
                blocks[index] = .thinking
                if let text = block["thinking"]?.stringValue, !text.isEmpty { return [.thinkingDelta(text)] }
            case "tool_use":
                guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                    throw .malformedStream("tool_use block without id or name")
                }
                var initial: String?
                if let input = block["input"]?.objectValue, !input.isEmpty { initial = JSONValue.object(input).serialized() }
                blocks[index] = .toolUse(id: id, name: name, json: "", initial: initial)
            default:
                blocks[index] = .other
            }
            return []

        case "content_block_delta":
            guard let index = json["index"]?.intValue, let delta = json["delta"] else {
                throw .malformedStream("content_block_delta without index or delta")
            }
            switch delta["type"]?.stringValue {
            case "text_delta":
                if let text = delta["text"]?.stringValue, !text.isEmpty { return [.textDelta(text)] }
            case "thinking_delta":
                if let text = delta["thinking"]?.stringValue, !text.isEmpty { return [.thinkingDelta(text)] }
            case "input_json_delta":
                guard case .toolUse(let id, let name, let json, let initial) = blocks[index] else {
                    throw .malformedStream("input_json_delta for block \(index), which is not a tool_use block")
                }
                blocks[index] = .toolUse(id: id, name: name, json: json + (delta["partial_json"]?.stringValue ?? ""), initial: initial)
            default:
                break  // signature_delta, citations_delta, ...
            }
            return []

        case "content_block_stop":
            guard let index = json["index"]?.intValue else { throw .malformedStream("content_block_stop without index") }
            return blocks.removeValue(forKey: index).flatMap(Self.toolCall).map { [.toolCall($0)] } ?? []

        case "message_delta":
            if let reason = json["delta"]?["stop_reason"]?.stringValue { stopReason = Self.stopReason(reason) }
            if let usage = json["usage"] { record(usage: usage) }
            return []

        case "message_stop":
            isComplete = true
            // Blocks never closed by content_block_stop still owe their tool calls.
            var events: [ModelEvent] = blocks.keys.sorted().compactMap { blocks[$0].flatMap(Self.toolCall) }.map { .toolCall($0) }
            blocks = [:]
            if sawUsage { events.append(.usage(inputTokens: inputTokens, outputTokens: outputTokens)) }
            events.append(.stop(stopReason ?? .endTurn))
            return events

        case "error":
            throw ProviderHTTP.classify(error: json["error"] ?? .null)

        default:
            return []  // ping and event types added later
        }
    }

    public mutating func finish() throws(ProviderError) -> [ModelEvent] {
        throw .transport("the stream ended before message_stop")
    }

    /// Input tokens are the prompt's total: uncached plus cache writes plus cache reads.
    private mutating func record(usage: JSONValue) {
        if let input = usage["input_tokens"]?.intValue {
            inputTokens = input + (usage["cache_creation_input_tokens"]?.intValue ?? 0)
                + (usage["cache_read_input_tokens"]?.intValue ?? 0)
            sawUsage = true
        }
        if let output = usage["output_tokens"]?.intValue {
            outputTokens = output
            sawUsage = true
        }
    }

    private static func toolCall(_ block: Block) -> ToolCall? {
        guard case .toolUse(let id, let name, let json, let initial) = block else { return nil }
        return ToolCall(id: id, name: name, arguments: json.isEmpty ? (initial ?? "{}") : json)
    }

    static func stopReason(_ raw: String) -> StopReason {
        switch raw {
        case "end_turn": .endTurn
        case "tool_use": .toolUse
        case "max_tokens": .maxTokens
        case "stop_sequence": .stopSequence
        default: .other(raw)
        }
    }
}
