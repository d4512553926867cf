import Foundation
import Hummingbird
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyPlatform
import ParleyStorage

/// Health, readiness, status, metrics and the OpenAPI document: no authentication.
struct OperationsController {
    let store: any Store
    let readiness: Readiness
    let metrics: HTTPMetrics
    /// Figures that need a query (queue depth), appended at scrape time.
    var queried: @Sendable () async -> String = { "" }
    /// The API document: the core's part and the installed packs'.
    var openAPI: String = OpenAPIDocument.yaml
    /// What each pack reports about itself on `/status` (by pack name).
    var packStatus: [(String, @Sendable () async -> [String: String])] = []

    struct Status: Encodable {
        var status: String; var service: String? = nil; var version: String? = nil; var database: String? = nil; var reason: String? = nil
        var packs: [String: [String: String]]? = nil
    }

    func register(_ r: Routes<Router<ParleyRequestContext>>) {
        r.on(.get, "/health") { _, _ in JSON(Status(status: "ok")) }
        r.on(.get, "/ready") { _, _ in
            if let reason = await readiness.check() {
                return JSON(Status(status: "unavailable", reason: reason), status: .serviceUnavailable)
            }
            return JSON(Status(status: "ready"))
        }
        r.on(.get, "/status") { [packStatus] _, _ in
            var packs: [String: [String: String]] = [:]
            for (name, report) in packStatus { packs[name] = await report() }
            return JSON(Status(status: "running", service: "parley", version: ParleyVersion.current, packs: packs.isEmpty ? nil : packs))
        }
        // Browsers get the web console at the root; other clients health JSON (seed 000's contract).
        r.on(.get, "/") { req, ctx in
            if ConsoleWebController.wantsHTML(req) { return ConsoleWebController.index(req) }
            do {
                try await store.ping()
                return try JSON(Status(status: "operational", database: "connected")).response(from: req, context: ctx)
            } catch {
                return try JSON(Status(status: "degraded", database: "unavailable"), status: .serviceUnavailable).response(from: req, context: ctx)
            }
        }
        r.on(.get, "/metrics") { _, _ in
            let text = metrics.render(pool: store.poolStats(), databaseKind: store.kind) + (await queried())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        r.on(.get, "/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: openAPI)))
        }
    }
}

struct TenantController {
    let tenants: TenantService
    let maxBodyBytes: Int

    static func string(_ body: JSONValue, _ key: String) throws -> String? {
        switch body[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw ParleyError.badRequest("\(key) must be a string", code: "invalid_\(key)")
        }
    }

    struct TenantBody: Encodable {
        var id: String; var name: String; var slug: String; var timeZone: String; var createdAt: Date; var handoffEmail: String?
        init(_ t: Tenant) {
            id = t.id; name = t.name; slug = t.slug; timeZone = t.timeZone; createdAt = t.createdAt; handoffEmail = t.handoffEmail
        }
        enum CodingKeys: String, CodingKey { case id, name, slug, timeZone, createdAt, handoffEmail }
        // Always present, null when not set.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id); try c.encode(name, forKey: .name); try c.encode(slug, forKey: .slug)
            try c.encode(timeZone, forKey: .timeZone); try c.encode(createdAt, forKey: .createdAt); try c.encode(handoffEmail, forKey: .handoffEmail)
        }
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/tenant") { _, ctx in
            let principal = try ctx.caller()
            try principal.require(.readTenant)
            return JSON(TenantBody(try await tenants.get(principal.tenantID)))
        }
        r.on(.patch, "/tenant") { req, ctx in
            let action = try ctx.action()
            // Refused before the body is read: a viewer learns about the role, not about a field.
            try TenantService.requireSettingsChange(action.principal)
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["name", "time_zone", "handoff_email"])
            // handoff_email: a string sets it, null removes it, absent leaves it.
            let handoffEmail: String?? = body["handoff_email"] == nil ? nil : .some(try Self.string(body, "handoff_email"))
            let t = try await tenants.changeSettings(action, TenantService.Update(
                name: try Self.string(body, "name"), timeZone: try Self.string(body, "time_zone"), handoffEmail: handoffEmail))
            return JSON(TenantBody(t))
        }
    }
}

struct APIKeyController {
    let keys: APIKeyService
    let maxBodyBytes: Int

    struct CreateKey: Decodable {
        var name: String
        var role: String
        var expiresAt: Date?
        enum CodingKeys: String, CodingKey { case name, role, expiresAt = "expires_at" }
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/api-keys", query: ["include_deleted"]) { req, ctx in
            JSON(Page(data: try await keys.list(try ctx.caller(), includeDeleted: try req.includeDeleted()), nextCursor: nil))
        }
        r.on(.post, "/api-keys") { req, ctx in
            let action = try ctx.action()
            try action.principal.require(.manageKeys)
            let body = try await req.decodeJSON(CreateKey.self, limit: maxBodyBytes)
            guard let role = Role(rawValue: body.role), Role.keyRoles.contains(role) else {
                throw ParleyError.badRequest("role must be one of \(Role.keyRoles.map(\.rawValue).joined(separator: ", "))", code: "invalid_role")
            }
            let created = try await keys.create(action, name: body.name, role: role, expiresAt: body.expiresAt)
            return JSON(created, status: .created)
        }
        r.on(.delete, "/api-keys/:id") { _, ctx in
            let id = try ctx.parameters.require("id")
            return JSON(try await keys.revoke(try ctx.action(), id: id))
        }
        r.on(.post, "/api-keys/:id/restore") { _, ctx in
            JSON(try await keys.restore(try ctx.action(), id: try ctx.parameters.require("id")))
        }
    }
}

struct AuditController {
    let audit: AuditService

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/audit-log", query: Paging.parameters + ["action"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 500)
            let rows = try await audit.list(try ctx.caller(), limit: query.fetchLimit, before: query.cursor, action: req.queryString("action"))
            let page = Paging.page(rows, limit: query.limit, cursor: \.id)
            return JSON(Page(data: page.rows, nextCursor: page.next))
        }
    }
}
