import AsyncHTTPClient
import Foundation
import NIOHTTP1
import ParleyCore

/// Any server speaking OpenAI's Chat Completions API with streaming: OpenAI itself, Ollama
/// (`http://localhost:11434/v1`), vLLM, DeepSeek, LM Studio, ...
public struct OpenAICompatibleProvider: ModelProvider, CustomStringConvertible {
    public struct Configuration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        /// Sent as `Authorization: Bearer`; `nil` or empty sends no header (local servers).
        public var apiKey: String?
        public var model: String
        /// Up to and including the version, e.g. `https://api.openai.com/v1` (`OPENAI_BASE_URL`).
        public var baseURL: String
        /// The longest a whole call (connect, response and the complete stream) may take.
        public var timeout: Duration
        /// The provider's name in logs and failover.
        public var name: String
        /// The body field carrying `ModelRequest.maxTokens`: `max_tokens`, or `max_completion_tokens`
        /// for OpenAI models that refuse the older name.
        public var maxTokensField: String

        public init(apiKey: String?, model: String = "gpt-4o-mini", baseURL: String = "https://api.openai.com/v1",
                    timeout: Duration = .seconds(300), name: String = "openai", maxTokensField: String = "max_tokens") {
            self.apiKey = apiKey
            self.model = model
            self.baseURL = baseURL
            self.timeout = timeout
            self.name = name
            self.maxTokensField = maxTokensField
        }

        public var description: String {
            "OpenAICompatible(name: \(name), model: \(model), baseURL: \(baseURL), apiKey: \(apiKey?.isEmpty == false ? "[redacted]" : "none"))"
        }
        public var debugDescription: String { description }
        public var customMirror: Mirror {
            Mirror(self, children: ["name": name, "model": model, "baseURL": baseURL, "timeout": timeout], displayStyle: .struct)
        }
    }

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
        if let apiKey = configuration.apiKey, !apiKey.isEmpty { headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: "text/event-stream")
        return http.stream(url: configuration.baseURL.joiningPath("/chat/completions"), headers: headers,
                           body: requestBody(request).serialized(), decoder: OpenAIChatStreamDecoder())
    }

    /// The JSON body sent for `request`.
    public func requestBody(_ request: ModelRequest) -> JSONValue {
        var messages: [JSONValue] = []
        if !request.system.isEmpty { messages.append(["role": "system", "content": .string(request.system)]) }
        messages += Self.wireMessages(request.messages)
        var body: [String: JSONValue] = [
            "model": .string(request.model ?? configuration.model),
            "messages": .array(messages),
            "stream": true,
            "stream_options": ["include_usage": true],
        ]
        body[configuration.maxTokensField] = .number(Double(request.maxTokens))
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { tool in
                [
                    "type": "function",
                    "function": ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.inputSchema],
                ]
            })
        }
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        return .object(body)
    }

    /// Messages in Chat Completions' shape: an assistant message's tool calls become `tool_calls`,
    /// and every tool result becomes its own `tool` message (an error result is prefixed `Error: `,
    /// the format has no flag for it). Text blocks of one message are joined with newlines.
    static func wireMessages(_ messages: [ModelMessage]) -> [JSONValue] {
        var out: [JSONValue] = []
        for message in messages {
            var texts: [String] = []
            var calls: [JSONValue] = []
            var results: [JSONValue] = []
            for block in message.content {
                switch block {
                case .text(let text):
                    if !text.isEmpty { texts.append(text) }
                case .toolCall(let id, let name, let arguments):
                    calls.append([
                        "id": .string(id), "type": "function",
                        "function": ["name": .string(name), "arguments": .string(arguments.isEmpty ? "{}" : arguments)],
                    ])
                case .toolResult(let callID, let content, let isError):
                    results.append(["role": "tool", "tool_call_id": .string(callID), "content": .string(isError ? "Error: \(content)" : content)])
                }
            }
            let text = texts.joined(separator: "\n")
            switch message.role {
            case .assistant:
                guard !text.isEmpty || !calls.isEmpty else { continue }
                var wire: [String: JSONValue] = ["role": "assistant", "content": .string(text)]
                if !calls.isEmpty { wire["tool_calls"] = .array(calls) }
                out.append(.object(wire))
            case .user, .tool:
                out += results
                if !text.isEmpty { out.append(["role": "user", "content": .string(text)]) }
            }
        }
        return out
    }
}

/// Decodes Chat Completions chunks (`data: {json}` until `data: [DONE]`).
///
/// Text comes from `choices[0].delta.content`, reasoning from `delta.reasoning_content` (DeepSeek,
/// vLLM) or `delta.reasoning` (Ollama, OpenRouter). Tool-call pieces are accumulated per `index` and
/// emitted, in index order, when `finish_reason` arrives (or at `[DONE]`). Usage comes from the
/// final chunk (`stream_options.include_usage`). `.usage` and `.stop` are emitted at `[DONE]`, or at
/// the end of the body when a `finish_reason` was seen (some servers omit `[DONE]`).
public struct OpenAIChatStreamDecoder: ModelStreamDecoder {
    private struct PendingCall: Sendable {
        var id: String?
        var name = ""
        var arguments = ""
    }

    private var calls: [Int: PendingCall] = [:]
    private var emittedToolCalls = false
    private var finishReason: String?
    private var usage: (input: Int, output: Int)?
    public private(set) var isComplete = false

    public init() {}

    public mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ModelEvent] {
        let data = event.data.trimmingCharacters(in: .whitespaces)
        if data == "[DONE]" { return try complete() }
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw .malformedStream("a chunk is not valid JSON")
        }
        if let error = json["error"], !error.isNull {
            throw ProviderHTTP.classify(error: error)
        }
        if let usage = json["usage"], usage.objectValue != nil {
            self.usage = (usage["prompt_tokens"]?.intValue ?? 0, usage["completion_tokens"]?.intValue ?? 0)
        }
        guard let choice = json["choices"]?[0] else { return [] }

        var events: [ModelEvent] = []
        if let delta = choice["delta"] {
            if let reasoning = delta["reasoning_content"]?.stringValue ?? delta["reasoning"]?.stringValue, !reasoning.isEmpty {
                events.append(.thinkingDelta(reasoning))
            }
            if let text = delta["content"]?.stringValue, !text.isEmpty { events.append(.textDelta(text)) }
            for (position, piece) in (delta["tool_calls"]?.arrayValue ?? []).enumerated() {
                let index = piece["index"]?.intValue ?? position
                var call = calls[index] ?? PendingCall()
                if let id = piece["id"]?.stringValue, !id.isEmpty { call.id = id }
                // Some servers repeat the name in every piece; it is never split.
                if call.name.isEmpty, let name = piece["function"]?["name"]?.stringValue { call.name = name }
                if let arguments = piece["function"]?["arguments"]?.stringValue { call.arguments += arguments }
                calls[index] = call
            }
        }
        if let reason = choice["finish_reason"]?.stringValue {
            finishReason = reason
            events += try flushToolCalls()
        }
        return events
    }

    public mutating func finish() throws(ProviderError) -> [ModelEvent] {
        guard finishReason != nil else { throw .transport("the stream ended before [DONE]") }
        return try complete()
    }

    private mutating func complete() throws(ProviderError) -> [ModelEvent] {
        isComplete = true
        var events = try flushToolCalls()
        if let usage { events.append(.usage(inputTokens: usage.input, outputTokens: usage.output)) }
        events.append(.stop(stopReason()))
        return events
    }

    private mutating func flushToolCalls() throws(ProviderError) -> [ModelEvent] {
        var events: [ModelEvent] = []
        for index in calls.keys.sorted() {
            guard let call = calls[index] else { continue }
            guard !call.name.isEmpty else { throw .malformedStream("tool call \(index) has no function name") }
            events.append(.toolCall(ToolCall(id: call.id ?? "call_\(index)", name: call.name,
                                             arguments: call.arguments.isEmpty ? "{}" : call.arguments)))
        }
        calls = [:]
        if !events.isEmpty { emittedToolCalls = true }
        return events
    }

    /// Some servers report `stop` for a turn that called tools; the calls decide.
    private func stopReason() -> StopReason {
        switch finishReason {
        case "tool_calls", "function_call": .toolUse
        case "length": .maxTokens
        case "stop", nil: emittedToolCalls ? .toolUse : .endTurn
        case let other?: .other(other)
        }
    }
}
