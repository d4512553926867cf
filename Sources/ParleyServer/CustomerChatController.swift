import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ParleyAgent
import ParleyCore
import ParleyHTTP
import ParleyPlatform

extension HTTPField.Name {
    static let xParleyWidgetKey = Self("X-Parley-Widget-Key")!
    static let xFilename = Self("X-Filename")!
}

/// `GET/PUT /v1/tenant/widget`, `POST /v1/tenant/widget/rotate-key`: the tenant's chat page settings.
struct WidgetSettingsController {
    let widgets: WidgetSettingsService
    let maxBodyBytes: Int

    static func view(_ s: WidgetSettings, tenant slug: String) -> JSONValue {
        [
            "enabled": .bool(s.enabled), "public_key": AgentViews.text(s.publicKey),
            "allowed_origins": .array(s.allowedOrigins.map { .string($0) }), "title": AgentViews.text(s.title),
            "greeting": AgentViews.text(s.greeting), "page_path": .string("/c/\(slug)"), "widget_script_path": .string("/c/\(slug)/widget.js"),
            "updated_at": AgentViews.date(s.updatedAt),
        ]
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>, tenants: TenantService) {
        r.on(.get, "/tenant/widget") { _, ctx in
            let principal = try ctx.caller()
            let settings = try await widgets.get(principal)
            return RawJSON(value: Self.view(settings, tenant: try await tenants.get(principal.tenantID).slug))
        }
        r.on(.put, "/tenant/widget") { req, ctx in
            let action = try ctx.action()
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["enabled", "allowed_origins", "title", "greeting"])
            var update = WidgetSettingsService.Update()
            switch body["enabled"] {
            case nil: break
            case .bool(let b)?: update.enabled = b
            default: throw ParleyError.badRequest("enabled must be true or false", code: "invalid_enabled")
            }
            switch body["allowed_origins"] {
            case nil: break
            case .array(let items)?:
                update.allowedOrigins = try items.map { item -> String in
                    guard case .string(let s) = item else {
                        throw ParleyError.badRequest("allowed_origins must be a list of origins such as \"https://shop.example\"", code: "invalid_allowed_origins")
                    }
                    return s
                }
            default: throw ParleyError.badRequest("allowed_origins must be a list of origins such as \"https://shop.example\"", code: "invalid_allowed_origins")
            }
            if body["title"] != nil { update.title = .some(try TenantController.string(body, "title")) }
            if body["greeting"] != nil { update.greeting = .some(try TenantController.string(body, "greeting")) }
            let settings = try await widgets.update(action, update)
            return RawJSON(value: Self.view(settings, tenant: try await tenants.get(action.principal.tenantID).slug))
        }
        r.on(.post, "/tenant/widget/rotate-key") { _, ctx in
            let action = try ctx.action()
            let settings = try await widgets.rotateKey(action)
            return RawJSON(value: Self.view(settings, tenant: try await tenants.get(action.principal.tenantID).slug))
        }
    }
}

/// The public routes under `/c/{slug}`: the chat page, its files, the embeddable widget script
/// and the visitor API. No API key: the widget key, the origin allow-list and the visitor token
/// stand in for one.
struct CustomerChatController {
    let chat: CustomerChatService
    let metrics: HTTPMetrics
    let publicURL: String?

    /// JSON bodies here are a line of text.
    static let jsonLimit = 64 * 1024

    static let apiPaths = ["/:slug/api/sessions", "/:slug/api/messages", "/:slug/api/stream", "/:slug/api/attachments"]

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/:slug") { req, ctx in
            let (tenant, settings) = try await chat.page(try ctx.parameters.require("slug"))
            return try Self.pageResponse(tenant: tenant, settings: settings)
        }
        r.on(.get, "/:slug/:file") { req, ctx in
            let file = try ctx.parameters.require("file")
            guard let asset = ChatFiles.all[file], file != "index.html" else {
                throw ParleyError.notFound("no chat page file '\(file.prefix(64))'", code: "route_not_found")
            }
            // The widget script names the tenant's page, so it exists only while the page does.
            if file == "widget.js" { _ = try await chat.page(try ctx.parameters.require("slug")) }
            var response = ConsoleWebController.serve(asset, request: req)
            response.headers[.crossOriginResourcePolicy] = "cross-origin"
            return response
        }
        for path in Self.apiPaths {
            r.on(.options, path) { req, ctx in
                let (_, settings) = try await chat.page(try ctx.parameters.require("slug"))
                try CustomerChatService.checkOrigin(req.headers[.origin], own: ownOrigins(req), settings: settings)
                return Response(status: .noContent, headers: [
                    .accessControlAllowMethods: "GET, POST, OPTIONS",
                    .accessControlAllowHeaders: "Authorization, Content-Type, Last-Event-ID, X-Parley-Widget-Key, X-Filename, X-Request-ID",
                    .accessControlMaxAge: "600",
                ])
            }
        }
        r.on(.post, "/:slug/api/sessions") { req, ctx in
            let (tenant, settings) = try await chat.page(try ctx.parameters.require("slug"))
            try CustomerChatService.checkOrigin(req.headers[.origin], own: ownOrigins(req), settings: settings)
            try CustomerChatService.checkKey(req.headers[.xParleyWidgetKey], settings: settings)
            // An empty body or an empty object: a conversation needs no fields.
            var request = req
            let buffer = try await request.collectBody(upTo: Self.jsonLimit)
            if buffer.readableBytes > 0 { _ = try await request.decodeJSONObject(limit: Self.jsonLimit, fields: []) }
            let started = try await chat.startConversation(tenant: tenant, address: Self.address(ctx), origin: req.headers[.origin], requestID: ctx.requestID)
            var body: [String: JSONValue] = [
                "session_id": .string(started.visitor.sessionID), "visitor_token": .string(started.token),
                "expires_at": AgentViews.date(started.expiresAt), "title": AgentViews.text(settings.title ?? tenant.name),
                "greeting": AgentViews.text(settings.greeting),
            ]
            body["token_type"] = "Bearer"
            var response = try RawJSON(value: .object(body), status: .created).response(from: req, context: ctx)
            response.headers[.cacheControl] = "no-store"
            return response
        }
        r.on(.post, "/:slug/api/messages") { req, ctx in
            let visitor = try await authenticate(req, ctx)
            let body = try await req.decodeJSONObject(limit: Self.jsonLimit, fields: ["text"])
            guard case .string(let text)? = body["text"] else {
                throw ParleyError.badRequest("send {\"text\": \"your message\"}", code: "invalid_text")
            }
            let run = try await chat.send(visitor, text: text, address: Self.address(ctx), requestID: ctx.requestID)
            return RawJSON(value: ["workflow_id": .string(run.id), "status": .string(run.status.rawValue), "session_id": .string(visitor.sessionID)],
                           status: .accepted)
        }
        r.on(.get, "/:slug/api/messages") { req, ctx in
            let visitor = try await authenticate(req, ctx)
            let list = try await chat.messages(visitor, after: nil)
            return RawJSON(value: ["data": .array(list.map { m in
                ["message_id": .string(m.id), "workflow_id": AgentViews.text(m.workflowID), "role": .string(m.role.rawValue),
                 "content": .string(m.content), "created_at": AgentViews.date(m.createdAt)]
            }), "next_cursor": .null])
        }
        r.on(.get, "/:slug/api/stream") { req, ctx in
            let visitor = try await authenticate(req, ctx)
            let after = try WorkflowController.cursor(req)
            let stream = try await chat.follow(visitor, workflowID: req.queryString("workflow_id"), after: after)
            return SSE.response(stream, metrics: metrics)
        }
        r.on(.post, "/:slug/api/attachments") { req, ctx in
            let visitor = try await authenticate(req, ctx)
            let limit = chat.settings.attachmentMaxBytes
            if let length = req.headers[.contentLength].flatMap(Int.init), length > limit {
                throw CustomerChatService.tooLarge(length, limit)
            }
            let filename = try CustomerChatService.filename(req.headers[.xFilename])
            var request = req
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: limit)
            } catch let e as HTTPError where e.status == .contentTooLarge {
                throw CustomerChatService.tooLarge(limit + 1, limit)
            }
            let contentType = req.headers[.contentType].map { String($0.split(separator: ";").first ?? "") }
            let a = try await chat.attach(visitor, bytes: Array(buffer: buffer), filename: filename, contentType: contentType, address: Self.address(ctx))
            return RawJSON(value: ["attachment_id": .string(a.id), "filename": .string(a.filename), "content_type": .string(a.contentType),
                                   "size_bytes": .number(Double(a.sizeBytes)), "characters": .number(Double(a.characters)), "truncated": .bool(a.truncated)],
                           status: .created)
        }
    }

    /// The tenant's page, its origin rule, then the visitor's token.
    func authenticate(_ req: Request, _ ctx: ParleyRequestContext) async throws -> Visitor {
        let (tenant, settings) = try await chat.page(try ctx.parameters.require("slug"))
        try CustomerChatService.checkOrigin(req.headers[.origin], own: ownOrigins(req), settings: settings)
        return try await chat.visitor(tenant: tenant, authorization: req.headers[.authorization])
    }

    /// This server's own origins: the public URL's, and the one the browser reached (the `Host`).
    func ownOrigins(_ req: Request) -> [String] {
        var out: [String] = []
        if let publicURL, let o = WidgetSettingsService.origin(publicURL) { out.append(o) }
        if let host = req.head.authority, !host.isEmpty, !host.contains("/") {
            out += ["http://\(host.lowercased())", "https://\(host.lowercased())"]
        }
        return out
    }

    static func address(_ ctx: ParleyRequestContext) -> String {
        ctx.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The page: the tenant's values in its `<meta>` and the file paths; framed only by this server
    /// and the tenant's allowed sites.
    static func pageResponse(tenant: Tenant, settings: WidgetSettings) throws -> Response {
        guard let asset = ChatFiles.all["index.html"] else {
            throw ParleyError(.internalError, code: "internal_error", "the chat page is missing from this build")
        }
        let html = String(decoding: asset.bytes, as: UTF8.self)
            .replacingOccurrences(of: "__PARLEY_SLUG__", with: escape(tenant.slug))
            .replacingOccurrences(of: "__PARLEY_KEY__", with: escape(settings.publicKey ?? ""))
            .replacingOccurrences(of: "__PARLEY_TITLE__", with: escape(settings.title ?? tenant.name))
            .replacingOccurrences(of: "__PARLEY_GREETING__", with: escape(settings.greeting ?? ""))
        let ancestors = (["'self'"] + settings.allowedOrigins).joined(separator: " ")
        let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors \(ancestors)"
        return Response(status: .ok, headers: [
            .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: csp, .cacheControl: "no-store",
            .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer",
        ], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}

/// On `/c/{slug}/api/...`: lets the browser read answers (errors included) for a page on another
/// origin; the routes themselves refuse origins the tenant did not allow. Turns a rate limit into
/// its 429 with `Retry-After` and the `RateLimit-*` headers.
struct CustomerChatMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let limited as RateLimited {
            response = RateLimitHTTP.response(limited, requestID: context.requestID, metrics: metrics)
        } catch let error as ParleyError {
            guard request.headers[.origin] != nil else { throw error }
            response = ErrorMapping.response(for: error, requestID: context.requestID)
        }
        if let origin = request.headers[.origin], request.uri.path.contains("/api/") {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlExposeHeaders] = RateLimitHTTP.exposedHeaders + ", X-Request-ID"
            response.headers[.vary] = "Origin"
        }
        return response
    }
}

/// The chat page's files, built into the binary from `Public/chat/` (see `scripts/sync-console`).
enum ChatFiles {
    static let all: [String: ConsoleFiles.Asset] = ConsoleFiles.decode(ChatAssets.files)
}
