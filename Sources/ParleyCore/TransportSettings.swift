/// The HTTP server's connection limits and its shutdown (`docs/configuration.md`, "HTTP connections").
public struct TransportSettings: Sendable, Equatable {
    /// A request's head (request line and headers) must arrive within this long of its first byte.
    public var headerTimeoutSeconds: Int
    /// A connection waiting for its next request, or for more of a request body, is closed after
    /// this long without a byte. Responses being written (event streams) are never cut.
    public var idleTimeoutSeconds: Int
    /// Open connections one client address may hold; 0 means no limit.
    public var maxConnectionsPerAddress: Int
    /// At shutdown, how long requests in progress may take before their connections are closed.
    public var shutdownGraceSeconds: Int

    public init(headerTimeoutSeconds: Int = 10, idleTimeoutSeconds: Int = 60, maxConnectionsPerAddress: Int = 256, shutdownGraceSeconds: Int = 10) {
        self.headerTimeoutSeconds = headerTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.shutdownGraceSeconds = shutdownGraceSeconds
    }
}

extension ParleyConfig {
    static func transport(_ reader: ConfigReader) throws(ConfigError) -> TransportSettings {
        TransportSettings(
            headerTimeoutSeconds: try reader.int("PARLEY_HTTP_HEADER_TIMEOUT_SECONDS", default: 10, range: 1...3600),
            idleTimeoutSeconds: try reader.int("PARLEY_HTTP_IDLE_TIMEOUT_SECONDS", default: 60, range: 1...86_400),
            maxConnectionsPerAddress: try reader.int("PARLEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS", default: 256, range: 0...1_000_000),
            shutdownGraceSeconds: try reader.int("PARLEY_SHUTDOWN_GRACE_SECONDS", default: 10, range: 0...3600)
        )
    }
}
