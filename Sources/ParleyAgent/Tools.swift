import Foundation
import ParleyCore
import ParleyStorage

/// What a tool handler may use: the caller (tenant, role, actor), the store, the clock and the run.
public struct ToolContext: Sendable {
    public var action: ActionContext
    public var workflowID: String
    public var store: any Store
    public var clock: any Clock
    /// Process-wide dependencies packs need beyond the store (a keyring, a worker's wake-up).
    public var services: ToolServices
    /// The knowledge collections (ids) the run's agent may search; empty: all of the tenant's.
    public var knowledgeCollections: [String]

    public var tenantID: String { action.principal.tenantID }

    public init(action: ActionContext, workflowID: String, store: any Store, clock: any Clock, services: ToolServices = ToolServices(),
                knowledgeCollections: [String] = []) {
        self.action = action
        self.workflowID = workflowID
        self.store = store
        self.clock = clock
        self.services = services
        self.knowledgeCollections = knowledgeCollections
    }
}

/// Which knowledge collections a tenant has, for checking an agent's `knowledge_collections`.
/// The pack that keeps collections installs one in the tools' services (in a `KnowledgeCatalog`).
public protocol KnowledgeCollectionCatalog: Sendable {
    /// The ids among `ids` that are not collections of the tenant.
    func unknownCollections(_ ids: [String], tenantID: String) async throws -> [String]
}

/// The installed catalog of knowledge collections, found by type in `ToolServices`.
public struct KnowledgeCatalog: Sendable {
    public let catalog: any KnowledgeCollectionCatalog
    public init(_ catalog: any KnowledgeCollectionCatalog) { self.catalog = catalog }
}

/// Values keyed by their type, so a pack's tools find their own dependencies (installed by the
/// server at start-up) without the runtime knowing about them.
public struct ToolServices: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    public init() {}

    public init(_ values: [any Sendable]) {
        for value in values { self.values[ObjectIdentifier(type(of: value))] = value }
    }

    public subscript<T: Sendable>(_ type: T.Type) -> T? { values[ObjectIdentifier(type)] as? T }

    public mutating func set<T: Sendable>(_ value: T) { values[ObjectIdentifier(T.self)] = value }
}

/// A failure the model should see and may recover from (bad input, nothing found, not allowed).
/// Anything else a handler throws is reported to the model as a generic tool failure, and its
/// details go to the log only.
public struct ToolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A capability the agent can use. Handlers receive input already validated against `inputSchema`.
public struct Tool: Sendable {
    public typealias Handler = @Sendable (JSONValue, ToolContext) async throws -> JSONValue

    public var name: String
    public var description: String
    public var inputSchema: JSONValue
    /// Changes data or reaches the outside world; the tenant's policy may require approval first.
    public var hasSideEffects: Bool
    /// What the caller's role must allow for the tool to be offered at all.
    public var permission: Permission
    public var timeout: Duration
    /// The policy when the tenant set none (nil: approval for side effects, else auto); an MCP
    /// server's per-tool override lands here.
    public var defaultPolicy: ToolPolicyMode?
    public var handler: Handler

    public init(name: String, description: String, inputSchema: JSONValue, hasSideEffects: Bool = false,
                permission: Permission = .act, timeout: Duration = .seconds(30), handler: @escaping Handler) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.hasSideEffects = hasSideEffects
        self.permission = permission
        self.timeout = timeout
        self.handler = handler
    }

    public var definition: ToolDefinition {
        ToolDefinition(name: name, description: description, inputSchema: inputSchema)
    }
}

/// The result of one tool call as the model and the event stream see it.
public struct ToolOutcome: Sendable, Equatable {
    public enum Status: String, Sendable {
        case success, invalidInput = "invalid_input", error, timeout, unknownTool = "unknown_tool", denied
    }
    public var status: Status
    public var output: JSONValue
    public var duration: Duration

    public var succeeded: Bool { status == .success }

    /// The text handed back to the model as the tool result.
    public var modelContent: String {
        switch output {
        case .string(let s): s
        default: output.serialized()
        }
    }
}

/// The tools installed in this server, by name.
public struct ToolRegistry: Sendable {
    /// This registry with `extra` added after its own tools (a name it already has keeps its own).
    public func adding(_ extra: [Tool]) -> ToolRegistry {
        var out = self
        for tool in extra where out.tools[tool.name] == nil { out.register(tool) }
        return out
    }

    public private(set) var tools: [String: Tool] = [:]
    public private(set) var order: [String] = []

    public init(_ tools: [Tool] = []) {
        for tool in tools { register(tool) }
    }

    public mutating func register(_ tool: Tool) {
        if tools[tool.name] == nil { order.append(tool.name) }
        tools[tool.name] = tool
    }

    public subscript(name: String) -> Tool? { tools[name] }

    /// The tools a caller with this role may use, in registration order.
    public func available(to role: Role) -> [Tool] {
        order.compactMap { tools[$0] }.filter { role.allows($0.permission) }
    }
}

/// Runs one tool call: parse and validate the arguments, enforce the timeout, turn every failure
/// into an outcome the model can read. Never throws except for cancellation of the run itself.
public struct ToolExecutor: Sendable {
    public init() {}

    public func execute(_ tool: Tool?, name: String, arguments: String, context: ToolContext) async throws -> ToolOutcome {
        let started = ContinuousClock.now
        func outcome(_ status: ToolOutcome.Status, _ output: JSONValue) -> ToolOutcome {
            ToolOutcome(status: status, output: output, duration: ContinuousClock.now - started)
        }
        guard let tool else {
            return outcome(.unknownTool, .string("Error: there is no tool named '\(name)'."))
        }
        let input: JSONValue
        do {
            input = try JSONValue.parse(arguments.isEmpty ? "{}" : arguments)
        } catch {
            return outcome(.invalidInput, .string("Error: the arguments are not valid JSON; send a JSON object matching the tool's input schema."))
        }
        let violations = JSONSchemaValidator.validate(input, against: tool.inputSchema)
        if !violations.isEmpty {
            let list = violations.prefix(10).map { "- \($0.description)" }.joined(separator: "\n")
            return outcome(.invalidInput, .string("Error: the input does not match the tool's schema:\n\(list)"))
        }
        do {
            let output = try await Self.withTimeout(tool.timeout) { try await tool.handler(input, context) }
            return outcome(.success, output)
        } catch is ToolTimeout {
            return outcome(.timeout, .string("Error: the tool did not finish within \(tool.timeout.formattedSeconds) and was stopped."))
        } catch let error as ToolError {
            return outcome(.error, .string("Error: \(error.message)"))
        } catch let error as ParleyError where error.kind != .internalError && error.kind != .unavailable {
            return outcome(.error, .string("Error: \(error.message)"))
        } catch {
            try Task.checkCancellation()
            return outcome(.error, .string("Error: the tool failed unexpectedly."))
        }
    }

    struct ToolTimeout: Error {}

    /// Races the body against a timer; the loser is cancelled. A handler that ignores cancellation
    /// keeps running detached from the run, which no longer waits for it.
    static func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let box = ResultBox<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                box.set(continuation)
                let timer = Task {
                    try await Task.sleep(for: limit)
                    box.resume(.failure(ToolTimeout()))
                }
                box.work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    timer.cancel()
                    box.resume(result)
                }
            }
        } onCancel: {
            box.resume(.failure(CancellationError()))
        }
    }
}

/// Resumes a continuation once, whichever finishes first: the work, the timer or cancellation.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var resolved: Result<T, any Error>?
    private var _work: Task<Void, Never>?

    var work: Task<Void, Never>? {
        get { lock.withLock { _work } }
        set { lock.withLock { _work = newValue } }
    }

    func set(_ c: CheckedContinuation<T, any Error>) {
        // Cancellation may have arrived before the continuation existed.
        let early = lock.withLock { () -> Result<T, any Error>? in
            if let resolved { return resolved }
            continuation = c
            return nil
        }
        if let early { c.resume(with: early) }
    }

    func resume(_ result: Result<T, any Error>) {
        let (c, work) = lock.withLock { () -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
            guard resolved == nil else { return (nil, nil) }
            resolved = result
            defer { continuation = nil }
            return (continuation, _work)
        }
        if case .failure = result { work?.cancel() }
        c?.resume(with: result)
    }
}

extension Duration {
    var formattedSeconds: String {
        let s = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return s >= 1 && s == s.rounded() ? "\(Int(s)) s" : "\(Int((s * 1000).rounded())) ms"
    }

    var milliseconds: Int {
        Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
