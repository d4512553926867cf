import Foundation
import Hummingbird
import ParleyCore
import ParleyHTTP
import ParleyMCPClient

/// `/v1/mcp`: the tenant's registry of MCP servers, discovery, health, tool calls and their record
/// (docs/mcp.md, "Parley as an MCP client").
struct MCPServersController {
    let mcp: MCPService
    let maxBodyBytes: Int

    struct ExecuteBody: Decodable {
        var server: String
        var tool: String
        var arguments: JSONValue?
    }

    static let rules: [RouteRule] = [
        // In words without identifiers (a refusal reads "this key's role (viewer) may not ...").
        RouteRule("POST /v1/mcp/servers", .manageKeys, "register tool servers"),
        RouteRule("PATCH /v1/mcp/servers/:id", .manageKeys, "change tool servers"),
        RouteRule("DELETE /v1/mcp/servers/:id", .manageKeys, "remove tool servers"),
        RouteRule("POST /v1/mcp/servers/:id/discover", .manageKeys, "discover the tools of tool servers"),
        RouteRule("POST /v1/mcp/execute", .act, "call the tools of tool servers"),
    ]

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/mcp/servers") { req, ctx in
            let body = try await req.decodeJSON(MCPServerInput.self, limit: maxBodyBytes)
            return RawJSON(value: try await mcp.create(try ctx.action(), body).json, status: .created)
        }
        r.on(.get, "/mcp/servers", query: Paging.forwardParameters) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200, direction: .forward)
            let list = try await mcp.list(try ctx.caller(), after: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.name)
            return RawJSON(value: Paging.envelope(page.rows.map(\.json), next: page.next))
        }
        r.on(.get, "/mcp/servers/:id") { _, ctx in
            RawJSON(value: try await mcp.get(try ctx.caller(), id: try ctx.parameters.require("id")).json)
        }
        r.on(.patch, "/mcp/servers/:id") { req, ctx in
            let body = try await req.decodeJSON(MCPServerInput.self, limit: maxBodyBytes)
            return RawJSON(value: try await mcp.update(try ctx.action(), id: try ctx.parameters.require("id"), body).json)
        }
        r.on(.delete, "/mcp/servers/:id") { _, ctx in
            RawJSON(value: try await mcp.delete(try ctx.action(), id: try ctx.parameters.require("id")).json)
        }
        r.on(.post, "/mcp/servers/:id/discover") { _, ctx in
            RawJSON(value: try await mcp.discover(try ctx.action(), id: try ctx.parameters.require("id")).json)
        }
        r.on(.get, "/mcp/servers/:id/health") { _, ctx in
            let server = try await mcp.health(try ctx.caller(), id: try ctx.parameters.require("id"))
            var view = server.json["health"]?.objectValue ?? [:]
            view["server_id"] = .string(server.id)
            view["name"] = .string(server.name)
            view["enabled"] = .bool(server.enabled)
            return RawJSON(value: .object(view))
        }
        r.on(.post, "/mcp/execute") { req, ctx in
            let body = try await req.decodeJSON(ExecuteBody.self, limit: maxBodyBytes)
            let execution = try await mcp.execute(try ctx.action(), server: body.server, tool: body.tool, arguments: body.arguments ?? .object([:]))
            return RawJSON(value: execution.json)
        }
        r.on(.get, "/mcp/executions", query: Paging.parameters + ["server_id"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await mcp.executions(try ctx.caller(), serverID: req.queryString("server_id"), before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map(\.json), next: page.next))
        }
    }
}
