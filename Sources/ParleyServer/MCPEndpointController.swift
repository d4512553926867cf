import Foundation
import HTTPTypes
import Hummingbird
import ParleyCore
import ParleyHTTP
import ParleyMCPServer

/// `/mcp`: Parley as an MCP server over Streamable HTTP (docs/mcp.md). Authenticated and rate
/// limited like `/v1` (the middleware in front of it); the JSON-RPC work is `MCPEndpoint`'s.
/// GET (a server-initiated stream) is not offered: 405 with `Allow`, as the transport allows.
struct MCPEndpointController {
    let endpoint: MCPEndpoint
    let maxBodyBytes: Int

    func register<G: RouterMethods<ParleyRequestContext>>(_ r: Routes<G>) {
        r.on(.post, "/mcp") { req, ctx in
            let action = try ctx.action()
            var request = req
            let body = try await request.collectBody(upTo: maxBodyBytes)
            return Self.response(await endpoint.post(action, head: Self.head(req), body: Data(buffer: body)))
        }
        r.on(.delete, "/mcp") { req, ctx in
            Self.response(await endpoint.delete(try ctx.caller(), head: Self.head(req)))
        }
    }

    static func head(_ request: Request) -> MCPRequestHead {
        MCPRequestHead(accept: request.headers[.accept], contentType: request.headers[.contentType],
                       sessionID: request.headers[.mcpSessionID], protocolVersion: request.headers[.mcpProtocolVersion])
    }

    static func response(_ reply: MCPReply) -> Response {
        var headers = HTTPFields()
        for (name, value) in reply.headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let status = HTTPResponse.Status(code: reply.status)
        guard let body = reply.body else { return Response(status: status, headers: headers) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Refuses `/mcp` requests a browser sends from a page of another site (DNS rebinding, the
/// transport's security warning): a request with an `Origin` must come from the configured
/// public URL, or from a loopback page to a loopback address. Clients that are not browsers send
/// no `Origin` and pass. Runs before authentication, so such a page learns nothing.
struct MCPOriginGuard: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let publicURL: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let host = request.head.authority ?? request.headers[.hostHeader]
        guard Self.allowed(origin: origin, host: host, publicURL: publicURL) else {
            return MCPEndpointController.response(MCPEndpoint.refusal(
                status: 403, message: "Origin \(origin.prefix(100)) may not use this MCP endpoint: only this server's public URL (PARLEY_PUBLIC_URL) or a loopback page may"))
        }
        return try await next(request, context)
    }

    static func allowed(origin: String, host: String?, publicURL: String?) -> Bool {
        if let publicURL, ConsoleOrigin.sameOrigin(origin, host: nil, publicURL: publicURL) { return true }
        // A loopback page calling a loopback address: both names must be loopback, so a rebound
        // name (evil.example resolving to 127.0.0.1) never passes.
        guard let originHost = URLComponents(string: origin.lowercased())?.host, let host else { return false }
        let requestHost = URLComponents(string: "http://" + host.lowercased())?.host
        return isLoopback(originHost) && requestHost.map(isLoopback) == true
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "[::1]" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

extension HTTPField.Name {
    static let mcpSessionID = Self("Mcp-Session-Id")!
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
}
