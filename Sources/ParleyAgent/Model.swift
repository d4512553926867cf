import ParleyCore

// The model interface: what the agent loop sends to a provider and what streams back.

/// One turn's request to a model: the system prompt, the conversation so far and the tools on offer.
public struct ModelRequest: Sendable, Equatable {
    public var system: String
    public var messages: [ModelMessage]
    public var tools: [ToolDefinition]
    public var temperature: Double?
    public var maxTokens: Int
    /// Overrides the provider's configured model for this request.
    public var model: String?
    /// Who reads the answer: a customer is never told about staff requests or server settings
    /// (the offline planner's help and fallback answers depend on it; providers ignore it).
    public var audience: Audience

    public enum Audience: Sendable, Equatable { case staff, customer }

    public init(system: String = "", messages: [ModelMessage], tools: [ToolDefinition] = [],
                temperature: Double? = nil, maxTokens: Int = 4096, model: String? = nil, audience: Audience = .staff) {
        self.audience = audience
        self.system = system
        self.messages = messages
        self.tools = tools
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.model = model
    }
}

/// One message of the conversation.
///
/// A `tool` message carries `.toolResult` blocks answering the previous assistant message's
/// `.toolCall` blocks. Providers translate roles to their wire format (Anthropic sends tool
/// results in a `user` message; Chat Completions sends one `tool` message per result).
public struct ModelMessage: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable {
        case user, assistant, tool
    }

    public var role: Role
    public var content: [ContentBlock]

    public init(role: Role, content: [ContentBlock]) {
        self.role = role
        self.content = content
    }

    public static func user(_ text: String) -> ModelMessage { ModelMessage(role: .user, content: [.text(text)]) }
    public static func assistant(_ text: String) -> ModelMessage { ModelMessage(role: .assistant, content: [.text(text)]) }
}

public enum ContentBlock: Sendable, Equatable {
    case text(String)
    /// A tool call the assistant made; `arguments` is JSON text (normally an object).
    case toolCall(id: String, name: String, arguments: String)
    /// The result of running the tool call `callID`.
    case toolResult(callID: String, content: String, isError: Bool)
}

/// A tool the model may call. `inputSchema` is a JSON Schema (an object schema).
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String
    public var inputSchema: JSONValue

    public init(name: String, description: String, inputSchema: JSONValue) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
    }
}

/// A complete tool call: emitted once all of its arguments have streamed in.
public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// JSON text as the model produced it (`"{}"` when the model sent no arguments). It is not
    /// validated here: the caller decides what to do with arguments that do not parse.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

public enum StopReason: Sendable, Equatable {
    case endTurn
    case toolUse
    case maxTokens
    case stopSequence
    case other(String)
}

/// What a model stream yields, in order. A complete turn ends with `.usage` (when the provider
/// reported it) followed by exactly one `.stop`; a stream that ends any other way throws.
public enum ModelEvent: Sendable, Equatable {
    /// Emitted by `FailoverProvider` only: the name of the provider that answers, immediately
    /// before that provider's first event. Single providers never emit it.
    case provider(String)
    case textDelta(String)
    case thinkingDelta(String)
    case toolCall(ToolCall)
    case usage(inputTokens: Int, outputTokens: Int)
    case stop(StopReason)
}

/// A streaming language-model backend.
///
/// `stream` returns at once and starts the request in the background; the request is cancelled
/// when the consumer stops iterating. Failures are thrown as `ProviderError`.
public protocol ModelProvider: Sendable {
    /// A short stable name for logs and failover ("anthropic", "openai", "ollama", ...).
    var name: String { get }
    func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelEvent, any Error>
}

/// Why a provider call failed. Messages never contain API keys.
public enum ProviderError: Error, Sendable, Equatable {
    case overloaded
    case rateLimited(retryAfter: Duration?)
    case timeout
    case invalidRequest(String)
    case authentication
    case server(status: Int)
    case transport(String)
    case malformedStream(String)
    /// No provider could be tried (every circuit breaker in a `FailoverProvider` was open).
    case unavailable(String)

    /// Whether trying again later (or elsewhere) may succeed.
    public var isRetryable: Bool {
        switch self {
        case .overloaded, .rateLimited, .timeout, .transport, .unavailable: true
        case .server(let status): status >= 500
        case .invalidRequest, .authentication, .malformedStream: false
        }
    }
}

extension ProviderError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .overloaded: "the model provider is overloaded"
        case .rateLimited(let retryAfter):
            if let retryAfter { "rate limited by the model provider (retry after \(retryAfter))" } else { "rate limited by the model provider" }
        case .timeout: "the model provider did not answer in time"
        case .invalidRequest(let message): "the model provider rejected the request: \(message)"
        case .authentication: "the model provider rejected the credentials"
        case .server(let status): "the model provider failed with HTTP status \(status)"
        case .transport(let message): "could not reach the model provider: \(message)"
        case .malformedStream(let message): "the model provider sent a malformed stream: \(message)"
        case .unavailable(let message): "no model provider available: \(message)"
        }
    }
}
