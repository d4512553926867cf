import Foundation
import ParleyAgent
import ParleyCore
import Testing

/// The Anthropic Messages streaming format, replayed by a local server.
@Suite struct ProviderAnthropicTests {
    static let apiKey = "sk-ant-test-0123456789abcdef"

    static func provider(_ baseURL: String, timeout: Duration = .seconds(30)) -> AnthropicProvider {
        AnthropicProvider(configuration: .init(apiKey: apiKey, baseURL: baseURL, timeout: timeout))
    }

    static let weatherTool = ToolDefinition(
        name: "get_weather", description: "Current weather for a city.",
        inputSchema: ["type": "object", "properties": ["city": ["type": "string", "maxLength": 100]], "required": ["city"]]
    )

    static func messageStart(input: Int = 25) -> String {
        sse("message_start", #"{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":\#(input),"output_tokens":1}}}"#)
    }

    static func textBlock(_ index: Int, _ pieces: [String]) -> String {
        sse("content_block_start", #"{"type":"content_block_start","index":\#(index),"content_block":{"type":"text","text":""}}"#)
            + pieces.map { sse("content_block_delta", #"{"type":"content_block_delta","index":\#(index),"delta":{"type":"text_delta","text":\#(jsonString($0))}}"#) }.joined()
            + sse("content_block_stop", #"{"type":"content_block_stop","index":\#(index)}"#)
    }

    static func toolBlock(_ index: Int, id: String, name: String, _ pieces: [String]) -> String {
        sse("content_block_start", #"{"type":"content_block_start","index":\#(index),"content_block":{"type":"tool_use","id":"\#(id)","name":"\#(name)","input":{}}}"#)
            + pieces.map { sse("content_block_delta", #"{"type":"content_block_delta","index":\#(index),"delta":{"type":"input_json_delta","partial_json":\#(jsonString($0))}}"#) }.joined()
            + sse("content_block_stop", #"{"type":"content_block_stop","index":\#(index)}"#)
    }

    static func messageEnd(_ reason: String, output: Int) -> String {
        sse("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"\#(reason)","stop_sequence":null},"usage":{"output_tokens":\#(output)}}"#)
            + sse("message_stop", #"{"type":"message_stop"}"#)
    }

    static let ping = sse("ping", #"{"type": "ping"}"#)

    @Test func streamsTextAndSendsTheDocumentedRequest() async throws {
        let body = Self.messageStart() + Self.textBlock(0, ["Hello", " world"]) + Self.ping + Self.messageEnd("end_turn", output: 15)
        try await ProviderTestServer.with(.stream(body)) { baseURL, server in
            let request = ModelRequest(system: "You are Parley.", messages: [.user("Hi")], tools: [Self.weatherTool],
                                       temperature: 0.2, maxTokens: 1024)
            let (events, error) = await collect(Self.provider(baseURL).stream(request))
            #expect(error == nil)
            #expect(events == [.textDelta("Hello"), .textDelta(" world"), .usage(inputTokens: 25, outputTokens: 15), .stop(.endTurn)])

            let received = try server.onlyRequest()
            #expect(received.method == "POST")
            #expect(received.path == "/v1/messages")
            #expect(received.headers["x-api-key"] == Self.apiKey)
            #expect(received.headers["anthropic-version"] == "2023-06-01")
            #expect(received.headers["content-type"] == "application/json")
            let json = try #require(received.json)
            let expected: JSONValue = [
                "model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "You are Parley.", "temperature": 0.2, "stream": true,
                "messages": [["role": "user", "content": [["type": "text", "text": "Hi"]]]],
                "tools": [[
                    "name": "get_weather", "description": "Current weather for a city.",
                    "input_schema": ["type": "object", "properties": ["city": ["type": "string", "maxLength": 100]], "required": ["city"]],
                ]],
            ]
            #expect(json == expected)
            #expect(received.body.contains(#""maxLength":100"#))
        }
    }

    @Test func streamsThinkingAndOneToolCallAndSerialisesToolHistory() async throws {
        let body = Self.messageStart(input: 472)
            + sse("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#)
            + sse("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants the weather."}}"#)
            + sse("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#)
            + sse("content_block_stop", #"{"type":"content_block_stop","index":0}"#)
            + Self.textBlock(1, ["Let me check."])
            + Self.toolBlock(2, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather", ["", #"{"city": "#, #""San Francisco"}"#])
            + Self.messageEnd("tool_use", output: 89)
        try await ProviderTestServer.with(.stream(body)) { baseURL, server in
            let history: [ModelMessage] = [
                .user("Weather in Paris and Rome?"),
                ModelMessage(role: .assistant, content: [
                    .text("Checking both."),
                    .toolCall(id: "toolu_a", name: "get_weather", arguments: #"{"city":"Paris"}"#),
                    .toolCall(id: "toolu_b", name: "get_weather", arguments: ""),
                ]),
                ModelMessage(role: .tool, content: [.toolResult(callID: "toolu_a", content: "18°C", isError: false)]),
                ModelMessage(role: .tool, content: [.toolResult(callID: "toolu_b", content: "city missing", isError: true)]),
                .user("And San Francisco?"),
            ]
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: history, tools: [Self.weatherTool])))
            #expect(error == nil)
            #expect(events == [
                .thinkingDelta("The user wants the weather."),
                .textDelta("Let me check."),
                .toolCall(ToolCall(id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather", arguments: #"{"city": "San Francisco"}"#)),
                .usage(inputTokens: 472, outputTokens: 89),
                .stop(.toolUse),
            ])

            let messages = try #require(server.onlyRequest().json?["messages"])
            let expected: JSONValue = [
                ["role": "user", "content": [["type": "text", "text": "Weather in Paris and Rome?"]]],
                ["role": "assistant", "content": [
                    ["type": "text", "text": "Checking both."],
                    ["type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": ["city": "Paris"]],
                    ["type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": [:]],
                ]],
                ["role": "user", "content": [
                    ["type": "tool_result", "tool_use_id": "toolu_a", "content": "18°C"],
                    ["type": "tool_result", "tool_use_id": "toolu_b", "content": "city missing", "is_error": true],
                    ["type": "text", "text": "And San Francisco?"],
                ]],
            ]
            #expect(messages == expected)
        }
    }

    @Test func streamsSeveralToolCallsInOneTurn() async throws {
        let body = Self.messageStart()
            + Self.toolBlock(0, id: "toolu_1", name: "get_weather", [#"{"city":"#, #""Paris"}"#])
            + Self.toolBlock(1, id: "toolu_2", name: "get_weather", [#"{"city":"Rome"}"#])
            + Self.toolBlock(2, id: "toolu_3", name: "list_cases", [])
            + Self.messageEnd("tool_use", output: 40)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error == nil)
            #expect(events == [
                .toolCall(ToolCall(id: "toolu_1", name: "get_weather", arguments: #"{"city":"Paris"}"#)),
                .toolCall(ToolCall(id: "toolu_2", name: "get_weather", arguments: #"{"city":"Rome"}"#)),
                .toolCall(ToolCall(id: "toolu_3", name: "list_cases", arguments: "{}")),
                .usage(inputTokens: 25, outputTokens: 40),
                .stop(.toolUse),
            ])
        }
    }

    @Test func reassemblesArgumentsSplitAcrossChunksWritesAndCharacters() async throws {
        let arguments = #"{"city":"Zürich","note":"5 € for ☕ — 日本語 🎉","days":[1,2,3]}"#
        let pieces = stride(from: 0, to: arguments.count, by: 3).map { start in
            String(arguments.dropFirst(start).prefix(3))
        }
        let body = Self.messageStart() + Self.textBlock(0, ["Ça marche 👍"])
            + Self.toolBlock(1, id: "toolu_split", name: "get_weather", pieces) + Self.messageEnd("tool_use", output: 70)
        let bytes = Array(body.utf8)
        // Writes of 5 bytes: events, lines and (the test checks) UTF-8 characters are all cut somewhere.
        #expect(stride(from: 5, to: bytes.count, by: 5).contains { bytes[$0] & 0xC0 == 0x80 })
        try await ProviderTestServer.with(.pieces(body, size: 5)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error == nil)
            #expect(events == [
                .textDelta("Ça marche 👍"),
                .toolCall(ToolCall(id: "toolu_split", name: "get_weather", arguments: arguments)),
                .usage(inputTokens: 25, outputTokens: 70),
                .stop(.toolUse),
            ])
        }
    }

    @Test func decodesTheSameEventsWhateverTheSplitPoint() throws {
        let body = Self.messageStart() + Self.textBlock(0, ["Grüße 🌍"])
            + Self.toolBlock(1, id: "toolu_x", name: "f", [#"{"a":"#, #""€"}"#]) + Self.messageEnd("tool_use", output: 9)
        let bytes = Array(body.utf8)
        func decode(_ parts: [ArraySlice<UInt8>]) throws -> [ModelEvent] {
            var parser = SSEParser()
            var decoder = AnthropicStreamDecoder()
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

    @Test func anErrorEventMidStreamIsThrownAfterThePartialOutput() async throws {
        let body = Self.messageStart()
            + sse("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)
            + sse("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#)
            + sse("error", #"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hel")])
            #expect(error as? ProviderError == .overloaded)
        }
    }

    @Test(arguments: [
        ("rate_limit_error", ProviderError.rateLimited(retryAfter: nil)),
        ("api_error", ProviderError.server(status: 500)),
        ("invalid_request_error", ProviderError.invalidRequest("prompt is too long")),
    ])
    func errorEventTypesMapToProviderErrors(type: String, expected: ProviderError) async throws {
        let body = Self.messageStart() + sse("error", #"{"type":"error","error":{"type":"\#(type)","message":"prompt is too long"}}"#)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events.isEmpty)
            #expect(error as? ProviderError == expected)
        }
    }

    @Test func status529IsOverloaded() async throws {
        let response = ReplayResponse.error(529, body: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
        try await ProviderTestServer.with(response) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events.isEmpty)
            #expect(error as? ProviderError == .overloaded)
            #expect((error as? ProviderError)?.isRetryable == true)
        }
    }

    @Test func status429HonoursRetryAfter() async throws {
        let response = ReplayResponse.error(429, headers: ["retry-after": "7"],
                                            body: #"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#)
        try await ProviderTestServer.with(response) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .rateLimited(retryAfter: .seconds(7)))
        }
    }

    @Test func status401IsAuthenticationAndNeverShowsTheKey() async throws {
        let response = ReplayResponse.error(401, body: #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key \#(Self.apiKey)"}}"#)
        try await ProviderTestServer.with(response) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .authentication)
            #expect((error as? ProviderError)?.isRetryable == false)
            #expect(!String(describing: error).contains(Self.apiKey))
        }
    }

    @Test func status400CarriesTheServerMessageWithTheKeyRedacted() async throws {
        let response = ReplayResponse.error(400, body: #"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large (key \#(Self.apiKey))"}}"#)
        try await ProviderTestServer.with(response) { baseURL, _ in
            let (_, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(error as? ProviderError == .invalidRequest("max_tokens: too large (key [redacted])"))
            #expect(!"\(String(describing: Self.provider(baseURL))) \(String(reflecting: Self.provider(baseURL).configuration))".contains(Self.apiKey))
        }
    }

    @Test func aMalformedChunkIsAMalformedStream() async throws {
        let body = Self.messageStart() + sse("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"#)
        try await ProviderTestServer.with(.stream(body)) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events.isEmpty)
            guard case .malformedStream? = error as? ProviderError else {
                Issue.record("expected malformedStream, got \(String(describing: error))")
                return
            }
        }
    }

    @Test func aConnectionClosedMidStreamIsATransportError() async throws {
        let partial = Self.messageStart() + Self.textBlock(0, ["Hel"])
        try await ProviderTestServer.with(ReplayResponse(steps: [.text(partial), .text("event: content_block_delta\ndata: {\"ty"), .drop])) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hel")])
            guard case .transport? = error as? ProviderError else {
                Issue.record("expected transport, got \(String(describing: error))")
                return
            }
            #expect((error as? ProviderError)?.isRetryable == true)
            #expect(!String(describing: error).contains(Self.apiKey))
        }
    }

    @Test func aStreamEndingBeforeMessageStopIsATransportError() async throws {
        try await ProviderTestServer.with(.stream(Self.messageStart() + Self.textBlock(0, ["Hi"]))) { baseURL, _ in
            let (events, error) = await collect(Self.provider(baseURL).stream(ModelRequest(messages: [.user("go")])))
            #expect(events == [.textDelta("Hi")])
            #expect(error as? ProviderError == .transport("the stream ended before message_stop"))
        }
    }

    @Test func aStalledStreamTimesOut() async throws {
        try await ProviderTestServer.with(ReplayResponse(steps: [.text(Self.messageStart()), .stall])) { baseURL, _ in
            let started = ContinuousClock.now
            let (events, error) = await collect(Self.provider(baseURL, timeout: .milliseconds(300)).stream(ModelRequest(messages: [.user("go")])))
            #expect(events.isEmpty)
            #expect(error as? ProviderError == .timeout)
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }
}
