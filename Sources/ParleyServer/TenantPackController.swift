import Foundation
import Hummingbird
import ParleyCore
import ParleyHTTP
import ParleyPlatform

/// `GET /v1/tenant/packs` (any role) and `PUT /v1/tenant/packs` (admin, audited): which of the
/// installation's packs the caller's tenant uses.
struct TenantPackController {
    let packs: TenantPackService
    let maxBodyBytes: Int

    struct PackView: Encodable { var name: String; var enabled: Bool }
    struct Update: Decodable { var packs: [String: Bool] }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/tenant/packs") { _, ctx in
            JSON(Page(data: try await packs.list(try ctx.caller()).map { PackView(name: $0.name, enabled: $0.enabled) }, nextCursor: nil))
        }
        r.on(.put, "/tenant/packs") { req, ctx in
            let body = try await req.decodeJSON(Update.self, limit: maxBodyBytes)
            let list = try await packs.set(try ctx.action(), body.packs)
            return JSON(Page(data: list.map { PackView(name: $0.name, enabled: $0.enabled) }, nextCursor: nil))
        }
    }
}

/// In front of a pack's /v1 routes: 404 `pack_disabled` when the caller's tenant switched it off.
struct PackGate: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let pack: String
    let packs: TenantPackService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard try await packs.isEnabled(pack, tenantID: try context.caller().tenantID) else {
            throw ParleyError(.notFound, code: "pack_disabled",
                              "the \(pack) pack is switched off for this workspace; an admin can switch it on with PUT /v1/tenant/packs")
        }
        return try await next(request, context)
    }
}
