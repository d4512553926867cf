import Foundation

/// Parley as an MCP client (docs/mcp.md): what tenants' MCP servers may do on this installation.
public struct MCPClientSettings: Sendable, Equatable {
    /// `PARLEY_MCP_STDIO_COMMANDS`: the executables a tenant's stdio server may name as its
    /// `command`, exactly as written there (absolute paths, or names looked up in `PATH`). Empty
    /// (the default): no stdio server may run.
    public var stdioCommands: [String] = []
    /// `PARLEY_MCP_TIMEOUT_SECONDS`: the default time limit of one call to an MCP server.
    public var defaultTimeoutSeconds: Int = 30
    /// `PARLEY_MCP_MAX_OUTPUT_BYTES`: the default size limit of one tool result.
    public var defaultMaxOutputBytes: Int = 100_000

    public init(stdioCommands: [String] = [], defaultTimeoutSeconds: Int = 30, defaultMaxOutputBytes: Int = 100_000) {
        self.stdioCommands = stdioCommands
        self.defaultTimeoutSeconds = defaultTimeoutSeconds
        self.defaultMaxOutputBytes = defaultMaxOutputBytes
    }
}

extension ParleyConfig {
    static func mcpClient(_ reader: ConfigReader) throws(ConfigError) -> MCPClientSettings {
        let commands = try reader.string("PARLEY_MCP_STDIO_COMMANDS", default: "",
                                         accepts: "a comma-separated list of executables (absolute paths or names in PATH) without spaces") {
            !$0.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\0" })
        }
        return MCPClientSettings(
            stdioCommands: commands.split(separator: ",").map(String.init).filter { !$0.isEmpty },
            defaultTimeoutSeconds: try reader.int("PARLEY_MCP_TIMEOUT_SECONDS", default: 30, range: 1...3600),
            defaultMaxOutputBytes: try reader.int("PARLEY_MCP_MAX_OUTPUT_BYTES", default: 100_000, range: 1_000...10_000_000))
    }
}
