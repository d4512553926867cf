import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import ParleyAgent
import ParleyCore
import ParleyOutbound

/// The server forgot the session (404 to a request that carried `Mcp-Session-Id`): initialize again.
struct MCPSessionLost: Error, Sendable, CustomStringConvertible {
    var description: String { "the MCP server ended the session" }
}

/// An answer from an MCP server over HTTP that was not a JSON-RPC message.
struct MCPHTTPError: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// MCP's Streamable HTTP transport on Parley's outbound layer (AsyncHTTPClient, the OutboundGuard,
/// timeouts, redaction): each message is POSTed; a request's answer comes back as JSON or as an
/// event stream (parsed here) whose messages are handed to the client as they arrive. Keeps the
/// `Mcp-Session-Id` the server gives at initialization and the negotiated `MCP-Protocol-Version`.
actor StreamableHTTPTransport: MCP.Transport {
    nonisolated let logger: Logger
    let url: String
    let headers: [String: String]
    let http: OutboundHTTP
    private(set) var sessionID: String?
    private var protocolVersion: String?
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation

    init(url: String, headers: [String: String], http: OutboundHTTP, logger: Logger) {
        self.url = url
        self.headers = headers
        self.http = http
        self.logger = logger
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    func connect() async throws {}

    func disconnect() async {
        // Ends the session on the server (best effort; a server may answer 405).
        if let sessionID {
            var request = OutboundRequest(method: .DELETE, url: url, headers: baseHeaders(), idempotent: true)
            request.headers.replaceOrAdd(name: "mcp-session-id", value: sessionID)
            _ = try? await http.send(request)
        }
        continuation.finish()
    }

    nonisolated func receive() -> AsyncThrowingStream<Data, any Error> { stream }

    private func baseHeaders() -> HTTPHeaders {
        var h = HTTPHeaders()
        for (name, value) in headers { h.add(name: name, value: value) }
        return h
    }

    func send(_ data: Data) async throws {
        var request = OutboundRequest.postJSON(url: url, headers: baseHeaders(), json: String(decoding: data, as: UTF8.self))
        request.headers.replaceOrAdd(name: "accept", value: "application/json, text/event-stream")
        if let sessionID { request.headers.replaceOrAdd(name: "mcp-session-id", value: sessionID) }
        if let protocolVersion { request.headers.replaceOrAdd(name: "mcp-protocol-version", value: protocolVersion) }
        let hadSession = sessionID != nil
        let continuation = self.continuation
        let http = self.http
        try await http.withResponse(request) { [self] response -> Void in
            if response.status == 404 && hadSession { throw MCPSessionLost() }
            guard response.isSuccess else {
                let body = (try? await response.collect()).map { String(buffer: $0) } ?? ""
                throw MCPHTTPError(description: "the MCP server answered HTTP \(response.status): \(http.redact(String(body.prefix(200))))")
            }
            let session = response.headers.first(name: "mcp-session-id")
            // Noted before the message is handed over: the client's next message must carry them.
            if let session { await adopt(session: session) }
            if response.status == 202 { return }
            let type = response.headers.first(name: "content-type")?.lowercased() ?? ""
            if type.hasPrefix("text/event-stream") {
                var parser = SSEParser()
                do {
                    for try await chunk in response.body {
                        for event in try parser.consume(chunk.readableBytesView) where (event.event ?? "message") == "message" && !event.data.isEmpty {
                            let message = Data(event.data.utf8)
                            await noteProtocolVersion(message)
                            continuation.yield(message)
                        }
                    }
                } catch let error as ProviderError {
                    throw MCPHTTPError(description: "the MCP server's event stream is malformed: \(error)")
                }
                return
            }
            let message = Data(try await response.collect().readableBytesView)
            guard !message.isEmpty else { return }
            await noteProtocolVersion(message)
            continuation.yield(message)
        }
    }

    private func adopt(session: String) {
        if sessionID == nil { sessionID = session }
    }

    /// Sends the negotiated protocol version from the initialize answer on.
    private func noteProtocolVersion(_ message: Data) {
        guard protocolVersion == nil, let value = try? JSONValue.parse(message),
              let version = value["result"]?["protocolVersion"]?.stringValue else { return }
        protocolVersion = version
    }
}
