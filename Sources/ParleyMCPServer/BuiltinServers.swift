import Foundation
import MCP
import ParleyCore

/// A failure the caller should read (bad input, a refused path, an overflow): the tool answers
/// with `isError: true` and this message, never a protocol error.
public struct BuiltinToolError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// One tool of a built-in server: its description and what it does with the arguments.
struct BuiltinTool: Sendable {
    var definition: MCP.Tool
    var run: @Sendable ([String: Value]) async throws -> CallTool.Result
}

/// The MCP servers built into Parley (docs/mcp.md, "Built-in servers"), each an `MCP.Server`
/// reached in-process: `connect` starts one for a tenant and hands back the client's end of an
/// in-memory transport, for an `MCP.Client` (the MCP client registry lists them as transport
/// `builtin`).
public struct BuiltinMCPServers: Sendable {
    public static let names = ["calculator", "filesystem"]
    /// What each offers, as the registry lists it.
    public static let descriptions = [
        "calculator": "Arithmetic: add, subtract, multiply, divide, power.",
        "filesystem": "Files in the tenant's own directory: read, write, list, create directory, delete, search, info.",
    ]

    /// Where the tenants' sandboxes live: `<dataDirectory>/tenants/<tenant id>/files`.
    public var dataDirectory: URL
    public var filesystemLimits: FilesystemLimits

    public init(dataDirectory: URL, filesystemLimits: FilesystemLimits = FilesystemLimits()) {
        self.dataDirectory = dataDirectory
        self.filesystemLimits = filesystemLimits
    }

    /// Starts the named server for a tenant and returns the client's end of its transport: pass
    /// it to `MCP.Client.connect(transport:)`. The server stops when the client disconnects.
    public func connect(name: String, tenantID: String) async throws -> any MCP.Transport {
        let server = try await makeServer(name: name, tenantID: tenantID)
        let (client, serverEnd) = await InMemoryTransport.createConnectedPair()
        try await server.start(transport: serverEnd)
        return client
    }

    /// The named server for a tenant, not yet started.
    public func makeServer(name: String, tenantID: String) async throws -> MCP.Server {
        switch name {
        case "calculator":
            return await Self.server(name: "parley-calculator", tools: Calculator.tools)
        case "filesystem":
            let sandbox = try FilesystemSandbox(root: try FilesystemSandbox.tenantRoot(dataDirectory, tenantID: tenantID), limits: filesystemLimits)
            return await Self.server(name: "parley-filesystem", tools: FilesystemTools.tools(sandbox))
        default:
            throw BuiltinToolError("there is no built-in MCP server named '\(name.prefix(64))'; built in: \(Self.names.joined(separator: ", "))")
        }
    }

    /// An `MCP.Server` offering `tools`: unknown tool names are a protocol error (-32602), a
    /// tool's own failure a result with `isError`.
    static func server(name: String, tools: [BuiltinTool]) async -> MCP.Server {
        let server = MCP.Server(name: name, version: ParleyVersion.current, capabilities: .init(tools: .init(listChanged: false)))
        let byName = Dictionary(tools.map { ($0.definition.name, $0) }, uniquingKeysWith: { a, _ in a })
        let listed = tools.map(\.definition)
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: listed) }
        await server.withMethodHandler(CallTool.self) { params in
            guard let tool = byName[params.name] else {
                throw MCPError.invalidParams("Unknown tool: '\(params.name.prefix(100))'; this server has \(listed.map(\.name).joined(separator: ", "))")
            }
            do {
                return try await tool.run(params.arguments ?? [:])
            } catch let error as BuiltinToolError {
                return CallTool.Result(content: [.text(text: "Error: \(error.message)", annotations: nil, _meta: nil)], isError: true)
            }
        }
        return server
    }
}

/// Reading tool arguments: each accessor names the argument when it is missing or of the wrong type.
struct Arguments {
    let values: [String: Value]
    let allowed: Set<String>

    init(_ values: [String: Value], allowed: Set<String>) throws {
        self.values = values
        self.allowed = allowed
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw BuiltinToolError("unknown argument '\(unknown.prefix(64))'; this tool takes \(allowed.sorted().joined(separator: ", "))")
        }
    }

    func number(_ name: String) throws -> Double {
        switch values[name] {
        case .int(let n)?: return Double(n)
        case .double(let d)?:
            guard d.isFinite else { throw BuiltinToolError("'\(name)' must be a finite number") }
            return d
        case nil, .null?: throw BuiltinToolError("'\(name)' is required: a number")
        default: throw BuiltinToolError("'\(name)' must be a number")
        }
    }

    func string(_ name: String) throws -> String {
        guard let value = values[name], !value.isNull else { throw BuiltinToolError("'\(name)' is required: a string") }
        guard let s = value.stringValue else { throw BuiltinToolError("'\(name)' must be a string") }
        return s
    }

    func optionalString(_ name: String) throws -> String? {
        guard let value = values[name], !value.isNull else { return nil }
        guard let s = value.stringValue else { throw BuiltinToolError("'\(name)' must be a string") }
        return s
    }

    func bool(_ name: String, default def: Bool) throws -> Bool {
        guard let value = values[name], !value.isNull else { return def }
        guard let b = value.boolValue else { throw BuiltinToolError("'\(name)' must be true or false") }
        return b
    }
}

extension CallTool.Result {
    /// A successful result: the value as text and as structured content.
    static func structured(_ value: Value, text: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], structuredContent: Optional(value), isError: false)
    }
}
