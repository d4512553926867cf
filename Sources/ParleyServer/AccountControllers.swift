import Foundation
import HTTPTypes
import Hummingbird
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyPlatform
import SQLKit

/// Sends invitations and password-reset links as emails through the communications engine, in
/// the caller's transaction, from the core templates `core.user_invitation` and `core.password_reset`.
struct AccountEmailer: AccountMailer {
    let messages: MessageService
    /// The links point at the console: `<public URL>/?invitation=<token>`, `/?password_reset=<token>`.
    let baseURL: String

    func sendInvitation(to email: String, tenantID: String, role: Role, token: String, expiresAt: Date, on db: any SQLDatabase) async throws {
        let name = try await db.raw("SELECT name FROM tenants WHERE id = \(bind: tenantID)").first()?.decode(column: "name", as: String.self) ?? ""
        try await send(to: email, tenantID: tenantID, template: DefaultTemplates.userInvitation.name, variables: [
            "tenant_name": .string(name), "role": .string(role.rawValue), "link": .string("\(baseURL)/?invitation=\(token)"),
            "expires_at": .string(JSONCoding.format(expiresAt)),
        ], on: db)
    }

    func sendPasswordReset(to email: String, tenantID: String, token: String, expiresAt: Date, on db: any SQLDatabase) async throws {
        try await send(to: email, tenantID: tenantID, template: DefaultTemplates.passwordReset.name, variables: [
            "link": .string("\(baseURL)/?password_reset=\(token)"), "expires_at": .string(JSONCoding.format(expiresAt)),
        ], on: db)
    }

    private func send(to email: String, tenantID: String, template: String, variables: [String: JSONValue], on db: any SQLDatabase) async throws {
        let ctx = ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: "system"), requestID: nil)
        _ = try await messages.send(ctx, MessageRequest(channel: .email, to: email, template: template, variables: variables), on: db)
    }
}

/// `/v1/auth/login`, `refresh`, `logout`, `accept-invitation`, `password-reset[/confirm]`: outside
/// the auth middleware (they are how a person gets credentials). Sign-in failures are throttled
/// per account and per client address (429 with Retry-After).
/// The sign-in bucket (docs/rate-limits.md): every request naming an account (a sign-in, a
/// password-reset request) takes a token from that account's `login` bucket, whatever its
/// outcome, so nobody can try passwords or send reset emails to one account faster than the
/// bucket allows. Failed sign-ins per client address are counted by `LoginThrottle`; a
/// request-rate bucket per address would make everyone behind one proxy or NAT share it.
enum SignInLimits {
    static func take(_ limiter: any RateLimiter, email: String?) async throws {
        guard let email else { return }
        try await limiter.enforce(.login, key: "account:\(email.trimmingCharacters(in: .whitespaces).lowercased())", tenantID: nil)
    }
}

struct AccountAuthController {
    let accounts: AccountService
    let limiter: any RateLimiter
    static let bodyLimit = 8192

    struct Login: Decodable { var email: String; var password: String; var tenant: String? }
    struct RefreshBody: Decodable {
        var refreshToken: String
        enum CodingKeys: String, CodingKey { case refreshToken = "refresh_token" }
    }
    struct Accept: Decodable { var token: String; var password: String; var name: String? }
    struct ResetRequest: Decodable { var email: String }
    struct ResetConfirm: Decodable { var token: String; var password: String }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/login") { req, ctx in
            let body = try await req.decodeJSON(Login.self, limit: Self.bodyLimit)
            try await SignInLimits.take(limiter, email: body.email)
            do {
                let grant = try await accounts.login(email: body.email, password: body.password, tenant: body.tenant,
                                                     address: ctx.channel.remoteAddress?.ipAddress ?? "unknown", requestID: ctx.requestID)
                return try Self.noStore(JSON(grant).response(from: req, context: ctx))
            } catch let throttled as LoginThrottled {
                return throttled.response(requestID: ctx.requestID)
            }
        }
        r.on(.post, "/refresh") { req, ctx in
            let body = try await req.decodeJSON(RefreshBody.self, limit: Self.bodyLimit)
            return try Self.noStore(JSON(try await accounts.refresh(body.refreshToken, requestID: ctx.requestID)).response(from: req, context: ctx))
        }
        r.on(.post, "/logout") { req, _ in
            let body = try await req.decodeJSON(RefreshBody.self, limit: Self.bodyLimit)
            try await accounts.logout(body.refreshToken)
            return Response(status: .noContent)
        }
        r.on(.post, "/accept-invitation") { req, ctx in
            let body = try await req.decodeJSON(Accept.self, limit: Self.bodyLimit)
            let grant = try await accounts.acceptInvitation(token: body.token, password: body.password, name: body.name, requestID: ctx.requestID)
            return try Self.noStore(JSON(grant, status: .created).response(from: req, context: ctx))
        }
        r.on(.post, "/password-reset") { req, ctx in
            let body = try await req.decodeJSON(ResetRequest.self, limit: Self.bodyLimit)
            try await SignInLimits.take(limiter, email: body.email)
            try await accounts.requestPasswordReset(email: body.email, requestID: ctx.requestID)
            return JSON(["status": "accepted"], status: .accepted)
        }
        r.on(.post, "/password-reset/confirm") { req, ctx in
            let body = try await req.decodeJSON(ResetConfirm.self, limit: Self.bodyLimit)
            try await accounts.confirmPasswordReset(token: body.token, password: body.password, requestID: ctx.requestID)
            return Response(status: .noContent)
        }
    }

    static func noStore(_ response: Response) -> Response {
        var response = response
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

extension LoginThrottled {
    /// 429 `login_throttled` with `Retry-After`.
    func response(requestID: String) -> Response {
        var response = ErrorMapping.response(for: error, requestID: requestID)
        response.headers[.retryAfter] = String(retryAfterSeconds)
        return response
    }
}

/// Reads `include_deleted=true|false`.
enum IncludeDeleted {
    static let name = "include_deleted"
    static func read(_ req: Request) throws -> Bool {
        switch req.queryString(name) {
        case nil, "false"?: return false
        case "true"?: return true
        default: throw ParleyError.badRequest("query parameter 'include_deleted' must be true or false", code: "invalid_query")
        }
    }
}

/// `/v1/users`: the tenant's people, invitations, role changes, removal and restore.
struct UserController {
    let accounts: AccountService
    let maxBodyBytes: Int

    struct Invite: Decodable { var email: String; var role: String }
    struct Change: Decodable { var role: String }

    static func role(_ raw: String) throws -> Role {
        guard let role = Role(rawValue: raw), AccountService.memberRoles.contains(role) else {
            throw ParleyError.badRequest("role must be one of admin, operator, viewer", code: "invalid_role")
        }
        return role
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/users", query: [IncludeDeleted.name]) { req, ctx in
            JSON(Page(data: try await accounts.listUsers(try ctx.caller(), includeDeleted: try IncludeDeleted.read(req)), nextCursor: nil))
        }
        r.on(.post, "/users/invitations") { req, ctx in
            let body = try await req.decodeJSON(Invite.self, limit: maxBodyBytes)
            return JSON(try await accounts.invite(try ctx.action(), email: body.email, role: try Self.role(body.role)), status: .created)
        }
        r.on(.patch, "/users/:id") { req, ctx in
            let body = try await req.decodeJSON(Change.self, limit: maxBodyBytes)
            return JSON(try await accounts.changeRole(try ctx.action(), userID: try ctx.parameters.require("id"), role: try Self.role(body.role)))
        }
        r.on(.delete, "/users/:id") { _, ctx in
            JSON(try await accounts.remove(try ctx.action(), userID: try ctx.parameters.require("id")))
        }
        r.on(.post, "/users/:id/restore") { _, ctx in
            JSON(try await accounts.restore(try ctx.action(), userID: try ctx.parameters.require("id")))
        }
    }
}

/// `/v1/admin/tenants`: installation administration (installation administrators only).
struct AdminTenantController {
    let admin: AdminTenantService
    let maxBodyBytes: Int

    struct Create: Decodable {
        var name: String; var slug: String?; var timeZone: String?
        enum CodingKeys: String, CodingKey { case name, slug, timeZone = "time_zone" }
    }
    struct Change: Decodable {
        var name: String?; var timeZone: String?; var suspended: Bool?
        enum CodingKeys: String, CodingKey { case name, timeZone = "time_zone", suspended }
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/admin/tenants", query: [IncludeDeleted.name]) { req, ctx in
            JSON(Page(data: try await admin.list(try ctx.caller(), includeDeleted: try IncludeDeleted.read(req)), nextCursor: nil))
        }
        r.on(.post, "/admin/tenants") { req, ctx in
            let action = try ctx.action()
            try AdminTenantService.require(action.principal)
            let body = try await req.decodeJSON(Create.self, limit: maxBodyBytes)
            return JSON(try await admin.create(action, name: body.name, slug: body.slug, timeZone: body.timeZone ?? "UTC"), status: .created)
        }
        r.on(.get, "/admin/tenants/:id") { _, ctx in
            JSON(try await admin.get(try ctx.caller(), id: try ctx.parameters.require("id")))
        }
        r.on(.patch, "/admin/tenants/:id") { req, ctx in
            let action = try ctx.action()
            try AdminTenantService.require(action.principal)
            let body = try await req.decodeJSON(Change.self, limit: maxBodyBytes)
            return JSON(try await admin.update(action, id: try ctx.parameters.require("id"),
                                               .init(name: body.name, timeZone: body.timeZone, suspended: body.suspended)))
        }
        r.on(.delete, "/admin/tenants/:id") { _, ctx in
            JSON(try await admin.delete(try ctx.action(), id: try ctx.parameters.require("id")))
        }
    }
}
