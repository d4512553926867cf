import Foundation
import ParleyAgent
import ParleyCore
import Testing

/// The Chat Completions streaming format, replayed by a local server.
@Suite struct ProviderOpenAITests {
    static let apiKey = "sk-proj-test-abcdef0123456789"

    static func provider(_ baseURL: String, apiKey: String? = apiKey, timeout: Duration = .seconds(30)) -> OpenAICompatibleProvider {
        OpenAICompatibleProvider(configuration: .init(apiKey: apiKey, baseURL: baseURL + "/v1", timeout: timeout))
    }

    /// One `chat.completion.chunk` with `delta` (JSON) and `finish_reason`, as `data:` event.
    static func chunk(_ delta: String, finish: String? = nil, newline: String = "\n") -> String {
        let reason = finish.map { "\"\($0)\"" } ?? "null"
        return sse(nil, #"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1735000000,"model":"gpt-4o-mini","system_fingerprint":"fp_0a","choices":[{"index":0,"delta":\#(delta),"logprobs":null,"finish_reason":\#(reason)}],"usage":null}"#, newline: newline)
    }

    static func text(_ text: String, newline: String = "\n") -> String { chunk(#"{"content":\#(jsonString(text))}"#, newline: newline) }

    static func usage(prompt: Int, completion: Int, newline: String = "\n") -> String {
        sse(nil, #"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1735000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}}"#, newline: newline)
    }

    static let done = sse(nil, "[DONE]")

    /// The first piece of tool call `index` (id and name), then its argument pieces.
    static func toolCall(_ index: Int, id: String, name: String, _ pieces: [String]) -> String {
        chunk(#"{"tool_calls":[{"index":\#(index),"id":"\#(id)","type":"function","function":{"name":"\#(name)","arguments":""}}]}"#)
            + pieces.map { chunk(#"{"tool_calls":[{"index":\#(index),"function":{"arguments":\#(jsonString($0))}}]}"#) }.joined()
    }

    static let weatherTool = ToolDefinition(
        name: "get_weather", description: "Current weather for a city.",
        inputSchema: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"], "additionalProperties": false]
    )

    @Test func streamsTextAndSendsTheDocumentedRequest() async throws {
        // CRLF line endings, a comment line and a role-only first chunk.
        let body = ": keep-alive\r\n\r\n" + Self.chunk(#"{"role":"assistant","content":""}"#, newline: "\r\n")
            + Self.text("Hello", newline: "\r\n") + Self.text(" world", newline: "\r\n")
            + Self.chunk("{}", finish: "stop", newline: "\r\n") + Self.usage(prompt: 9, completion: 12, newline: "\r\n") + "data: [DONE]\r\n\r\n"
        try await ProviderTestServer.with(.stream(body)) { baseURL, server in
            let request = ModelRequest(system: "You are Parley.", messages: [.user("Hi")], tools: [Self.weatherTool],
                                       temperature: 0.5, maxTokens: 512)
            let (events, error) = await collect(Self.provider(baseURL).stream(request))
            #expect(error == nil)
            #expect(events == [.textDelta("Hello"), .textDelta(" world"), .usage(inputTokens: 9, outputTokens: 12), .stop(.endTurn)])

            let received = try server.onlyRequest()
            #expect(received.method == "POST")
            #expect(received.path == "/v1/chat/completions")
            #expect(received.headers["authorization"] == "Bearer \(Self.apiKey)")
            #expect(received.headers["content-type"] == "application/json")
            let expected: JSONValue = [
                "model": "gpt-4o-mini", "max_tokens": 512, "temperature": 0.5, "stream": true,
                "stream_options": ["include_usage": true],
                "messages": [["role": "system", "content": "You are Parley."], ["role": "user", "content": "Hi"]],
                "tools": [[
                    "type": "function",
                    "function": [
                        "name": "get_weather", "description": "Current weather for a city.",
                        "parameters": ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"], "additionalProperties": false],
                    ],
                ]],
            ]
            #expect(received.json == expected)
        }
    }

    @Test func sendsNoAuthorizationHeaderWithoutAKey() async throws {
        let body = Self.text("ok") + Self.chunk("{}", finish: "stop") + Self.done
        try await ProviderTestServer.with(.stream(body)) { baseURL, server in
            let (events, error) = await collect(Self.provider(baseURL, apiKey: nil).stream(ModelRequest(messages: [.user("Hi")], model: "llama3.2")))
            #expect(error == nil)
            #expect(events == [.textDelta("ok"), .stop(.endTurn)])
            let received = try server.onlyRequest()
            #expect(received.headers["authorization"] == nil)
            #expect(received.json?["model"] == "llama3.2")
            #expect(received.json?["tools"] == nil)
        }
    }

    @Test func streamsReasoningContentAsThinking() async throws {
        let body = Self.chunk(#"{"role":"assistant","content":null,"reasoning_content":"Think"}"#)
            + Self.chunk(#"{"content":null,"reasoning_content":"ing…"}"#)
            + Self.chunk(#"{"reasoning":"(ollama)"}"#)
            + Self.text("Answer") + Self.chunk("{}", finish: "stop") + Self.usage(prompt: 3, completion: 4) + Self.done
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("Hi")])))
            #expect(error == nil)
            #expect(events == [
                .thinkingDelta("Think"), .thinkingDelta("ing…"), .thinkingDelta("(ollama)"), .textDelta("Answer"),
                .usage(inputTokens: 3, outputTokens: 4), .stop(.endTurn),
            ])
        }
    }

    @Test func streamsOneToolCallAndSerialisesToolHistory() async throws {
        let body = Self.chunk(#"{"role":"assistant","content":null}"#)
            + Self.toolCall(0, id: "call_abc123", name: "get_weather", [#"{""#, #"city"#, #"":"#, #""Paris"}"#])
            + Self.chunk("{}", finish: "tool_calls") + Self.usage(prompt: 82, completion: 17) + Self.done
        try await ProviderTestServer.with(.stream(body)) { baseURL, server in
            let history: [ModelMessage] = [
                .user("Weather in Paris and Rome?"),
                ModelMessage(role: .assistant, content: [
                    .toolCall(id: "call_a", name: "get_weather", arguments: #"{"city":"Paris"}"#),
                    .toolCall(id: "call_b", name: "get_weather", arguments: #"{"city":"Rome"}"#),
                ]),
                ModelMessage(role: .tool, content: [
                    .toolResult(callID: "call_a", content: "18°C", isError: false),
                    .toolResult(callID: "call_b", content: "service down", isError: true),
                ]),
                .assistant("Paris is 18°C."),
                .user("Again for Paris"),
            ]
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(system: "Be brief.", messages: history, tools: [Self.weatherTool])))
            #expect(error == nil)
            #expect(events == [
                .toolCall(ToolCall(id: "call_abc123", name: "get_weather", arguments: #"{"city":"Paris"}"#)),
                .usage(inputTokens: 82, outputTokens: 17),
                .stop(.toolUse),
            ])

            let messages = try #require(server.onlyRequest().json?["messages"])
            let expected: JSONValue = [
                ["role": "system", "content": "Be brief."],
                ["role": "user", "content": "Weather in Paris and Rome?"],
                ["role": "assistant", "content": "", "tool_calls": [
                    ["id": "call_a", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city":"Paris"}"#]],
                    ["id": "call_b", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city":"Rome"}"#]],
                ]],
                ["role": "tool", "tool_call_id": "call_a", "content": "18°C"],
                ["role": "tool", "tool_call_id": "call_b", "content": "Error: service down"],
                ["role": "assistant", "content": "Paris is 18°C."],
                ["role": "user", "content": "Again for Paris"],
            ]
            #expect(messages == expected)
        }
    }

    @Test func streamsSeveralInterleavedToolCallsInIndexOrder() async throws {
        let body = Self.text("Checking.")
            + Self.chunk(#"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"list_cases","arguments":""}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}},{"index":1,"function":{"arguments":"{\"open\":true}"}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"\"Rome\"}"}}]}"#)
            + Self.chunk(#"{"tool_calls":[{"index":2,"id":"call_3","type":"function","function":{"name":"now"}}]}"#)
            + Self.chunk("{}", finish: "tool_calls") + Self.usage(prompt: 50, completion: 30) + Self.done
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error == nil)
            #expect(events == [
                .textDelta("Checking."),
                .toolCall(ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city":"Rome"}"#)),
                .toolCall(ToolCall(id: "call_2", name: "list_cases", arguments: #"{"open":true}"#)),
                .toolCall(ToolCall(id: "call_3", name: "now", arguments: "{}")),
                .usage(inputTokens: 50, outputTokens: 30),
                .stop(.toolUse),
            ])
        }
    }

    @Test func reassemblesArgumentsSplitAcrossChunksWritesAndCharacters() async throws {
        let arguments = #"{"city":"Zürich","note":"5 € for ☕ — 日本語 🎉","days":[1,2,3]}"#
        let pieces = stride(from: 0, to: arguments.count, by: 2).map { String(arguments.dropFirst($0).prefix(2)) }
        let body = Self.text("Ça marche 👍") + Self.toolCall(0, id: "call_split", name: "get_weather", pieces)
            + Self.chunk("{}", finish: "tool_calls") + Self.usage(prompt: 5, completion: 6) + Self.done
        let bytes = Array(body.utf8)
        #expect(stride(from: 7, to: bytes.count, by: 7).contains { bytes[$0] & 0xC0 == 0x80 })
        try await ProviderTestServer.with(.pieces(body, size: 7)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error == nil)
            #expect(events == [
                .textDelta("Ça marche 👍"),
                .toolCall(ToolCall(id: "call_split", name: "get_weather", arguments: arguments)),
                .usage(inputTokens: 5, outputTokens: 6),
                .stop(.toolUse),
            ])
        }
    }

    @Test func decodesTheSameEventsWhateverTheSplitPoint() throws {
        let body = Self.text("Grüße 🌍") + Self.toolCall(0, id: "call_x", name: "f", [#"{"a":"#, #""€"}"#])
            + Self.chunk("{}", finish: "tool_calls") + Self.usage(prompt: 1, completion: 2) + Self.done
        let bytes = Array(body.utf8)
        func decode(_ parts: [ArraySlice<UInt8>]) throws -> [ModelEvent] {
            var parser = SSEParser()
            var decoder = OpenAIChatStreamDecoder()
            var events: [ModelEvent] = []
            for part in parts {
                for event in try parser.consume(part) { events += try decoder.decode(event) }
            }
            #expect(decoder.isComplete)
            return events
        }
        let whole = try decode([bytes[...]])
        #expect(whole.count == 4)
        // Every third byte, and every cut next to a line break or inside a multi-byte character.
        for cut in 1..<bytes.count where cut % 3 == 0 || bytes[cut - 1] >= 0x80 || bytes[cut] >= 0x80
            || bytes[cut - 1] == UInt8(ascii: "\n") || bytes[cut] == UInt8(ascii: "\n") {
            #expect(try decode([bytes[..<cut], bytes[cut...]]) == whole, "split at byte \(cut)")
        }
    }

    @Test func anErrorChunkMidStreamIsThrownAfterThePartialOutput() async throws {
        let body = Self.text("Hel")
            + sse(nil, #"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hel")])
            #expect(error as? ProviderError == .server(status: 500))
        }
    }

    @Test func aRateLimitErrorChunkIsRateLimited() async throws {
        let body = sse(nil, #"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .rateLimited(retryAfter: nil))
        }
    }

    @Test func status529IsOverloaded() async throws {
        try await ProviderTestServer.with(.error(529, body: #"{"error":{"message":"overloaded","type":"server_error"}}"#)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events.isEmpty)
            #expect(error as? ProviderError == .overloaded)
        }
    }

    @Test func status429HonoursRetryAfter() async throws {
        let response = ReplayResponse.error(429, headers: ["retry-after": "7"],
                                            body: #"{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","code":"rate_limit_exceeded"}}"#)
        try await ProviderTestServer.with(response) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .rateLimited(retryAfter: .seconds(7)))
        }
    }

    @Test func status401IsAuthenticationAndNeverShowsTheKey() async throws {
        let response = ReplayResponse.error(401, body: #"{"error":{"message":"Incorrect API key provided: \#(Self.apiKey).","type":"invalid_request_error","code":"invalid_api_key"}}"#)
        try await ProviderTestServer.with(response) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .authentication)
            #expect(!String(describing: error).contains(Self.apiKey))
            #expect(!String(describing: Self.provider(baseURL)).contains(Self.apiKey))
        }
    }

    @Test func anOllamaStyleErrorBodyIsAnInvalidRequest() async throws {
        try await ProviderTestServer.with(.error(404, body: #"{"error":"model \"llama9\" not found, try pulling it first"}"#)) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL, apiKey: nil).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .invalidRequest(#"model "llama9" not found, try pulling it first"#))
        }
    }

    @Test func aMalformedChunkIsAMalformedStream() async throws {
        let body = Self.text("Hi") + sse(nil, #"{"id":"chatcmpl-9x","choices":[{"index":0,"delta":{"content":"#)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hi")])
            #expect(error as? ProviderError == .malformedStream("a chunk is not valid JSON"))
        }
    }

    @Test func aConnectionClosedMidStreamIsATransportError() async throws {
        try await ProviderTestServer.with(ReplayResponse(steps: [.text(Self.text("Hel")), .text("data: {\"id\":"), .drop])) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hel")])
            guard case .transport? = error as? ProviderError else {
                Issue.record("expected transport, got \(String(describing: error))")
                return
            }
        }
    }

    @Test func aStreamWithoutDoneCompletesOnlyAfterAFinishReason() async throws {
        try await ProviderTestServer.with(.stream(Self.text("Hi") + Self.chunk("{}", finish: "length"))) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error == nil)
            #expect(events == [.textDelta("Hi"), .stop(.maxTokens)])
        }
        try await ProviderTestServer.with(.stream(Self.text("Hi"))) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hi")])
            #expect(error as? ProviderError == .transport("the stream ended before [DONE]"))
        }
    }
}
