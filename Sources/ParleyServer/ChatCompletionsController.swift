import Foundation
import HTTPTypes
import Hummingbird
import ParleyAgent
import ParleyCore
import ParleyHTTP

/// OpenAI's Chat Completions wire format over the tenant's agents (docs/openai-compatible.md):
/// `GET /v1/models` lists the agents, `POST /v1/chat/completions` runs one. The request's
/// messages become a run of that agent, its tools run server-side, and the answer comes back as
/// `chat.completion`, or as `chat.completion.chunk` events ending in `data: [DONE]`.
struct ChatCompletionsController {
    let agents: AgentDefinitionService
    let metrics: HTTPMetrics
    let maxBodyBytes: Int
    let clock: any Clock

    func register<G: RouterMethods<ParleyRequestContext>>(_ r: Routes<G>) {
        r.on(.get, "/models") { _, ctx in
            let principal = try ctx.caller()
            try principal.require(.converse)
            let list = try await agents.all(principal)
            return JSON(ChatCompletionWire.ModelList(data: list.map(ChatCompletionWire.Model.init)))
        }
        r.on(.get, "/models/:model") { _, ctx in
            let principal = try ctx.caller()
            try principal.require(.converse)
            let name = try ctx.parameters.require("model")
            return JSON(ChatCompletionWire.Model(try await agent(principal, model: name)))
        }
        r.on(.post, "/chat/completions") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ChatCompletionRequest.fields)
            let request = try ChatCompletionRequest(body)
            let action = try ctx.action()
            try action.principal.require(.converse)
            let definition = try await agent(action.principal, model: request.model)
            let (workflow, stream) = try await agents.run(action, agent: definition, message: request.message, history: request.history)
            let created = Int(clock.now().timeIntervalSince1970)
            let answer = ChatCompletionAnswer(id: "chatcmpl-\(workflow.id)", model: request.model, created: created, workflowID: workflow.id)
            if request.stream {
                return ChatCompletionStream.response(stream, answer: answer, includeUsage: request.includeUsage, metrics: metrics)
            }
            let outcome = try await ChatCompletionOutcome.collect(stream)
            if let failure = outcome.failure { throw failure }
            var response = try JSON(answer.completion(outcome)).response(from: req, context: ctx)
            response.headers[.parleyWorkflowID] = workflow.id
            return response
        }
    }

    /// The agent a `model` names: its id or its name. A missing one is 404 `model_not_found`, which
    /// the OpenAI SDKs raise as `NotFoundError`.
    private func agent(_ principal: Principal, model: String) async throws -> AgentDefinition {
        let found: AgentDefinition?
        do {
            found = try await agents.get(principal, ref: model)
        } catch let error as ParleyError where error.kind == .notFound || error.kind == .badRequest {
            found = nil
        }
        guard let found, found.deletedAt == nil else {
            throw ParleyError.notFound("the model '\(model.prefix(64))' does not exist: a model is one of this workspace's agents (GET /v1/models lists them)",
                                       code: "model_not_found")
        }
        return found
    }
}

extension HTTPField.Name {
    static let parleyWorkflowID = Self("X-Parley-Workflow-ID")!
}

/// A Chat Completions request, checked. Parameters that only tune sampling are accepted and left
/// to the agent's own definition; anything that would change what the agent is (client-side
/// tools, several choices) is refused by name.
struct ChatCompletionRequest {
    var model: String
    var history: [ModelMessage]
    var message: String
    var stream: Bool
    var includeUsage: Bool

    /// Accepted and not applied: the agent's definition decides the model's settings.
    static let tuning: Set<String> = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "user", "metadata", "seed",
                                      "presence_penalty", "frequency_penalty", "store", "parallel_tool_calls"]
    static let refused: [String: String] = [
        "tools": "the agent's tools run on the server; define them on the agent (PATCH /v1/agents/{id}) and remove 'tools'",
        "tool_choice": "the agent decides which of its tools to call; remove 'tool_choice'",
        "functions": "the agent's tools run on the server; remove 'functions'",
        "function_call": "the agent decides which of its tools to call; remove 'function_call'",
        "response_format": "the agent answers in text; remove 'response_format'",
        "logprobs": "log probabilities are not available from an agent run; remove 'logprobs'",
        "top_logprobs": "log probabilities are not available from an agent run; remove 'top_logprobs'",
        "logit_bias": "the agent's model settings cannot be biased per request; remove 'logit_bias'",
        "audio": "the agent answers in text; remove 'audio'",
        "modalities": "the agent answers in text; remove 'modalities'",
    ]
    static let fields: Set<String> = Set(["model", "messages", "stream", "stream_options", "n"]).union(tuning).union(refused.keys)

    init(_ body: JSONValue) throws {
        for (name, reason) in Self.refused where body[name] != nil && body[name] != .null {
            throw ParleyError.badRequest("'\(name)' is not supported: \(reason)", code: "unsupported_parameter")
        }
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            throw ParleyError.badRequest("'model' is required: the name or id of one of this workspace's agents (GET /v1/models)", code: "invalid_request")
        }
        self.model = model
        if let n = body["n"], n != .null, n.intValue != 1 {
            throw ParleyError.badRequest("'n' must be 1: an agent run gives one answer", code: "invalid_request")
        }
        stream = try Self.bool(body, "stream") ?? false
        includeUsage = false
        if let options = body["stream_options"], options != .null {
            guard let object = options.objectValue else { throw ParleyError.badRequest("'stream_options' must be an object", code: "invalid_request") }
            if let name = object.keys.sorted().first(where: { $0 != "include_usage" }) {
                throw ParleyError.badRequest("unknown field '\(name)' in 'stream_options'; the one field is 'include_usage'", code: "unknown_field")
            }
            guard stream else { throw ParleyError.badRequest("'stream_options' is only allowed with 'stream': true", code: "invalid_request") }
            includeUsage = try Self.bool(options, "include_usage") ?? false
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            throw ParleyError.badRequest("'messages' must be a non-empty array of {role, content}", code: "invalid_request")
        }
        var turns: [ModelMessage] = []
        for (index, message) in messages.enumerated() {
            turns.append(try Self.turn(message, at: index))
        }
        guard let last = turns.last, last.role == .user, case .text(let text)? = last.content.first else {
            throw ParleyError.badRequest("the last message must come from the user: the agent answers it", code: "invalid_request")
        }
        self.message = text
        self.history = Array(turns.dropLast())
    }

    private static func bool(_ object: JSONValue, _ key: String) throws -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        guard let b = value.boolValue else { throw ParleyError.badRequest("'\(key)' must be true or false", code: "invalid_request") }
        return b
    }

    /// One message. System and developer messages reach the agent as instructions inside the
    /// conversation; they add to the agent's own system prompt, never replace it.
    private static func turn(_ message: JSONValue, at index: Int) throws -> ModelMessage {
        let place = "messages[\(index)]"
        guard let object = message.objectValue else { throw ParleyError.badRequest("\(place) must be an object {role, content}", code: "invalid_request") }
        let known: Set<String> = ["role", "content", "name"]
        if let name = object.keys.sorted().first(where: { !known.contains($0) }) {
            let hint = ["tool_calls", "tool_call_id", "function_call"].contains(name)
                ? "; tool calls happen on the server, so a conversation sent here has none" : "; the fields are role, content and name"
            throw ParleyError.badRequest("unknown field '\(name)' in \(place)\(hint)", code: "unknown_field")
        }
        guard let role = object["role"]?.stringValue else { throw ParleyError.badRequest("\(place).role is required", code: "invalid_request") }
        let text = try content(object["content"], place: place)
        switch role {
        case "user": return .user(text)
        case "assistant": return .assistant(text)
        case "system", "developer": return .user("Instructions from the application (\(role) message):\n\(text)")
        case "tool", "function":
            throw ParleyError.badRequest("\(place) has role '\(role)': the agent runs its tools on the server, so send only system, developer, user and assistant messages",
                                         code: "invalid_request")
        default:
            throw ParleyError.badRequest("\(place).role '\(role)' is not one of system, developer, user, assistant", code: "invalid_request")
        }
    }

    /// A string, or an array of `{"type": "text", "text": ...}` parts.
    private static func content(_ value: JSONValue?, place: String) throws -> String {
        if let s = value?.stringValue { return s }
        guard let parts = value?.arrayValue else {
            throw ParleyError.badRequest("\(place).content must be a string or an array of text parts", code: "invalid_request")
        }
        return try parts.enumerated().map { i, part in
            guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                throw ParleyError.badRequest("\(place).content[\(i)] must be {\"type\": \"text\", \"text\": ...}: the agent reads text", code: "invalid_request")
            }
            return text
        }.joined(separator: "\n")
    }
}

/// What a finished (or paused) run gave.
struct ChatCompletionOutcome {
    var text = ""
    var inputTokens = 0
    var outputTokens = 0
    var failure: ParleyError?
    /// The run paused for a person (an approval or a hand-off): the answer says so with the run's id.
    var pause: String?

    /// Reads the run's events until it ends or pauses.
    static func collect(_ stream: AsyncStream<StreamItem>) async throws -> ChatCompletionOutcome {
        var outcome = ChatCompletionOutcome()
        for await item in stream {
            guard case .event(let event) = item else { continue }
            if outcome.apply(event).done { break }
        }
        return outcome
    }

    /// Takes one event in: the text it adds to the answer (to stream), and whether the run has
    /// ended or paused.
    mutating func apply(_ event: WorkflowEvent) -> (added: String, done: Bool) {
        switch event.type {
        case EventType.textDelta:
            let delta = event.fields["text"]?.stringValue ?? ""
            text += delta
            return (delta, false)
        case EventType.workflowCompleted:
            // The final answer may add to what streamed (a planner that does not stream deltas).
            var added = ""
            if let final = event.fields["final_response"]?.stringValue {
                if final.hasPrefix(text) { added = String(final.dropFirst(text.count)) }
                text = final
            }
            let usage = event.fields["usage"]
            inputTokens = usage?["input_tokens"]?.intValue ?? 0
            outputTokens = usage?["output_tokens"]?.intValue ?? 0
            return (added, true)
        case EventType.workflowError:
            let message = event.fields["error_message"]?.stringValue ?? "the agent run failed"
            failure = ParleyError(.unavailable, code: event.fields["error_type"]?.stringValue ?? "agent_run_failed",
                                  "\(message) (run \(event.workflowID))")
            return ("", true)
        case EventType.approvalRequired:
            let tool = event.fields["tool"]?.stringValue ?? "a tool"
            let approval = event.fields["approval_id"]?.stringValue.map { " (approval \($0))" } ?? ""
            pause = "The agent wants to use \(tool) and that needs a person's approval\(approval). Run \(event.workflowID) waits: "
                + "approve or reject it with POST /v1/workflows/\(event.workflowID)/approvals/{approval_id}, then read the answer from GET /v1/workflows/\(event.workflowID)."
            return ("", true)
        case EventType.handoff:
            pause = "The conversation was handed to a person. Run \(event.workflowID) waits for them: follow it with GET /v1/workflows/\(event.workflowID)/events."
            return ("", true)
        default:
            return ("", false)
        }
    }
}

struct ChatCompletionAnswer {
    var id: String
    var model: String
    var created: Int
    var workflowID: String

    func completion(_ outcome: ChatCompletionOutcome) -> ChatCompletionWire.Completion {
        let text = outcome.pause.map { outcome.text.isEmpty ? $0 : outcome.text + "\n\n" + $0 } ?? outcome.text
        return .init(id: id, created: created, model: model,
                     choices: [.init(index: 0, message: .init(role: "assistant", content: text), finishReason: "stop")],
                     usage: .init(outcome), parley: .init(workflowID: workflowID, status: outcome.pause == nil ? "COMPLETED" : "WAITING"))
    }

    func chunk(delta: ChatCompletionWire.Delta?, finishReason: String? = nil, usage: ChatCompletionWire.Usage? = nil) -> ChatCompletionWire.Chunk {
        .init(id: id, created: created, model: model,
              choices: delta.map { [.init(index: 0, delta: $0, finishReason: finishReason)] } ?? [], usage: usage)
    }
}

/// `stream: true`: one `chat.completion.chunk` per piece of text, a last chunk with the finish
/// reason, the usage chunk when asked for, then `data: [DONE]`. A run that fails after the stream
/// began ends with an `error` object, which the OpenAI SDKs raise.
enum ChatCompletionStream {
    static func response(_ stream: AsyncStream<StreamItem>, answer: ChatCompletionAnswer, includeUsage: Bool, metrics: HTTPMetrics) -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no"]
        headers[.parleyWorkflowID] = answer.workflowID
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            metrics.streamOpened()
            defer { metrics.streamClosed() }
            func send(_ value: some Encodable) async throws {
                let data = (try? JSONCoding.encoder.encode(value)) ?? Data("{}".utf8)
                try await writer.write(ByteBuffer(string: "data: \(String(decoding: data, as: UTF8.self))\n\n"))
            }
            try await send(answer.chunk(delta: .init(role: "assistant", content: "")))
            var outcome = ChatCompletionOutcome()
            for await item in stream {
                guard case .event(let event) = item else { continue }
                let (added, done) = outcome.apply(event)
                if !added.isEmpty { try await send(answer.chunk(delta: .init(content: added))) }
                if done { break }
            }
            if let failure = outcome.failure {
                try await send(ChatCompletionWire.ErrorBody(failure))
            } else {
                if let pause = outcome.pause {
                    try await send(answer.chunk(delta: .init(content: (outcome.text.isEmpty ? "" : "\n\n") + pause)))
                }
                try await send(answer.chunk(delta: .init(), finishReason: "stop"))
                if includeUsage { try await send(answer.chunk(delta: nil, usage: .init(outcome))) }
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        })
    }
}

/// The shapes of OpenAI's API reference for Chat Completions and Models.
enum ChatCompletionWire {
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy: String
        init(_ agent: AgentDefinition) {
            id = agent.spec.name
            created = Int(agent.createdAt.timeIntervalSince1970)
            ownedBy = "parley"
        }
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }

    struct ModelList: Encodable {
        var object = "list"
        var data: [Model]
    }

    struct Message: Encodable {
        var role: String
        var content: String
        var refusal: String? = nil
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encode(content, forKey: .content)
            try c.encode(refusal, forKey: .refusal)
        }
        enum CodingKeys: String, CodingKey { case role, content, refusal }
    }

    struct Choice: Encodable {
        var index: Int
        var message: Message
        var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }

    struct Usage: Encodable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int
        init(_ outcome: ChatCompletionOutcome) {
            promptTokens = outcome.inputTokens
            completionTokens = outcome.outputTokens
            totalTokens = outcome.inputTokens + outcome.outputTokens
        }
        enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }
    }

    /// Parley's own addition: the run behind the answer.
    struct RunRef: Encodable {
        var workflowID: String
        var status: String
        enum CodingKeys: String, CodingKey { case workflowID = "workflow_id", status }
    }

    struct Completion: Encodable {
        var id: String
        var object = "chat.completion"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: Usage
        var parley: RunRef
    }

    struct Delta: Encodable {
        var role: String? = nil
        var content: String? = nil
    }

    struct ChunkChoice: Encodable {
        var index: Int
        var delta: Delta
        var finishReason: String?
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(finishReason, forKey: .finishReason)
        }
        enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }
    }

    struct Chunk: Encodable {
        var id: String
        var object = "chat.completion.chunk"
        var created: Int
        var model: String
        var choices: [ChunkChoice]
        var usage: Usage?
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(object, forKey: .object)
            try c.encode(created, forKey: .created)
            try c.encode(model, forKey: .model)
            try c.encode(choices, forKey: .choices)
            // `usage` is null on every chunk but the last when usage was asked for.
            try c.encode(usage, forKey: .usage)
        }
        enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }
    }

    /// OpenAI's error object: `message`, `type`, `param`, `code`; Parley adds `request_id` in
    /// responses (see `ErrorMapping`).
    struct ErrorBody: Encodable {
        struct Detail: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message)
                try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param)
                try c.encode(code, forKey: .code)
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        var error: Detail
        init(_ e: ParleyError) {
            error = .init(message: e.message, type: ErrorMapping.openAIType(e.kind), param: nil, code: e.code)
        }
    }
}
