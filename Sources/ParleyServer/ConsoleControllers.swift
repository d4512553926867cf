import Foundation
import HTTPTypes
import Hummingbird
import ParleyCore
import ParleyHTTP
import ParleyPackKit
import ParleyPlatform

/// `/v1/auth/session`: the console's sign-in, session recovery and sign-out. Outside the auth
/// middleware: signing in is how a browser gets credentials, and signing out must work with an
/// expired cookie.
struct AuthSessionController {
    let sessions: ConsoleSessionService
    let secureCookie: Bool
    let limiter: any RateLimiter

    struct SignIn: Decodable {
        var apiKey: String?
        var token: String?
        var email: String?
        var password: String?
        var tenant: String?
        enum CodingKeys: String, CodingKey { case apiKey = "api_key", token, email, password, tenant }
    }

    /// Sign-in bodies are two short strings.
    static let bodyLimit = 4096

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/session") { req, ctx in
            let body = try await req.decodeJSON(SignIn.self, limit: Self.bodyLimit)
            try await SignInLimits.take(limiter, email: body.email)
            let signedIn: ConsoleSignIn
            switch (body.apiKey, body.token, body.email, body.password) {
            case (let key?, nil, nil, nil) where body.tenant == nil: signedIn = try await sessions.signIn(apiKey: key, requestID: ctx.requestID)
            case (nil, let token?, nil, nil) where body.tenant == nil: signedIn = try await sessions.signIn(token: token, requestID: ctx.requestID)
            case (nil, nil, let email?, let password?):
                do {
                    signedIn = try await sessions.signIn(email: email, password: password, tenant: body.tenant,
                                                         address: ctx.channel.remoteAddress?.ipAddress ?? "unknown", requestID: ctx.requestID)
                } catch let throttled as LoginThrottled {
                    return throttled.response(requestID: ctx.requestID)
                }
            default:
                throw ParleyError.badRequest("send either \"api_key\", \"token\", or \"email\" and \"password\" (with an optional \"tenant\")",
                                             code: "invalid_sign_in")
            }
            var response = try JSON(signedIn.view).response(from: req, context: ctx)
            response.headers[.setCookie] = ConsoleCookie.set(signedIn.secret, maxAge: signedIn.maxAge, secure: secureCookie)
            response.headers[.cacheControl] = "no-store"
            return response
        }
        r.on(.get, "/session") { req, ctx in
            guard let secret = ConsoleCookie.session(in: req.headers) else {
                throw ParleyError(.unauthorized, code: "not_signed_in", "no console session; sign in with POST /v1/auth/session")
            }
            let view = try await sessions.describe(try await sessions.authenticate(secret: secret), secret: secret)
            var response = try JSON(view).response(from: req, context: ctx)
            response.headers[.cacheControl] = "no-store"
            return response
        }
        r.on(.delete, "/session") { req, ctx in
            var response = Response(status: .noContent)
            response.headers[.setCookie] = ConsoleCookie.clear(secure: secureCookie)
            guard let secret = ConsoleCookie.session(in: req.headers),
                  let match = try? await sessions.authenticate(secret: secret) else { return response }
            // A live session is only ended by its own page, or another site could sign people out.
            guard ConsoleSessionService.csrfMatches(secret: secret, header: req.headers[.xCSRFToken]) else {
                throw ParleyError(.forbidden, code: "csrf_failed", "send the session's CSRF token in X-CSRF-Token")
            }
            try await sessions.signOut(match, requestID: ctx.requestID)
            return response
        }
    }
}

/// The web console's files, built into the binary from `Console/` (see `scripts/sync-console`).
struct ConsoleWebController {
    /// The installed packs' console views (their modules are served under `/console/packs/`).
    var packViews: [(pack: String, view: ConsoleView)] = []
    /// The packs the caller's tenant has switched on (their views are listed).
    var enabledPacks: @Sendable (_ tenantID: String) async throws -> Set<String> = { _ in [] }

    /// Scripts, styles and connections from this server only; no inline script, no eval, never framed.
    /// Email previews are `srcdoc` frames with an empty sandbox, so nothing in them runs either.
    static let contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    func register(_ r: Routes<Router<ParleyRequestContext>>) {
        r.on(.get, "/console/:name") { req, ctx in
            let name = try ctx.parameters.require("name")
            guard let asset = ConsoleFiles.asset(name) else {
                throw ParleyError.notFound("no console file '\(name.prefix(64))'", code: "route_not_found")
            }
            return Self.serve(asset, request: req)
        }
        r.on(.get, "/console/packs/:pack/:name") { req, ctx in
            let pack = try ctx.parameters.require("pack"), name = try ctx.parameters.require("name")
            guard let view = packViews.first(where: { $0.pack == pack && $0.view.file == name })?.view, !view.bytes.isEmpty else {
                throw ParleyError.notFound("no console file '\(name.prefix(64))' in pack '\(pack.prefix(64))'", code: "route_not_found")
            }
            return Self.serve(ConsoleFiles.Asset(contentType: view.contentType, etag: view.etag, bytes: view.bytes), request: req)
        }
    }

    struct ViewEntry: Encodable { var pack: String; var route: String; var label: String; var module: String; var export: String }

    /// `GET /v1/console/views`: what the console adds to its navigation after sign-in.
    func registerViews(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/console/views") { _, ctx in
            let on = try await enabledPacks(try ctx.caller().tenantID)
            return JSON(Page(data: packViews.filter { on.contains($0.pack) }.map { p in
                ViewEntry(pack: p.pack, route: p.view.route, label: p.view.label, module: "/console/packs/\(p.pack)/\(p.view.file)", export: p.view.export)
            }, nextCursor: nil))
        }
    }

    /// Browsers ask for HTML first; API clients and probes do not.
    static func wantsHTML(_ request: Request) -> Bool {
        request.headers[.accept]?.lowercased().contains("text/html") == true
    }

    static func index(_ request: Request) -> Response {
        guard let asset = ConsoleFiles.asset("index.html") else { return Response(status: .notFound) }
        return serve(asset, request: request)
    }

    static func serve(_ asset: ConsoleFiles.Asset, request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: asset.contentType,
            // Names are stable, so browsers revalidate each time; the ETag makes that a 304.
            .cacheControl: "no-cache",
            .eTag: asset.etag,
            .xContentTypeOptions: "nosniff",
        ]
        if asset.contentType.hasPrefix("text/html") {
            headers[.contentSecurityPolicy] = contentSecurityPolicy
            headers[.referrerPolicy] = "no-referrer"
            headers[.xFrameOptions] = "DENY"
        }
        if let tags = request.headers[.ifNoneMatch],
           tags.split(separator: ",").contains(where: { let t = $0.trimmingCharacters(in: .whitespaces); return t == asset.etag || t == "*" || t == "W/" + asset.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}

/// Decoded once from the generated `ConsoleAssets`.
enum ConsoleFiles {
    struct Asset: Sendable {
        var contentType: String
        var etag: String
        var bytes: [UInt8]
    }

    static let all: [String: Asset] = decode(ConsoleAssets.files)

    /// A generated asset list (`scripts/sync-console`) as served files.
    static func decode(_ files: [String: (contentType: String, etag: String, base64: String)]) -> [String: Asset] {
        var out: [String: Asset] = [:]
        for (name, file) in files {
            guard let data = Data(base64Encoded: file.base64, options: .ignoreUnknownCharacters) else { continue }
            out[name] = Asset(contentType: file.contentType, etag: file.etag, bytes: Array(data))
        }
        return out
    }

    static func asset(_ name: String) -> Asset? { all[name] }
}
