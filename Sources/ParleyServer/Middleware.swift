import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ParleyCore
import ParleyHTTP
import ParleyPlatform

/// Outermost: gives every request an id (the client's `X-Request-ID` when it is sane), puts it on
/// every log line of the request and on the response, turns errors into the JSON envelope,
/// records metrics and writes one access-log line.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let metrics: HTTPMetrics
    let routes: RouteTable
    let maxBodyBytes: Int
    /// Path prefixes with their own body limit (a pack's public upload page accepts more than an
    /// API body), from the installed packs' public routes.
    var bodyLimits: [(prefix: String, bytes: Int)] = []

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestID = Self.acceptableID(request.headers[.xRequestID]) ?? UUIDv7.make(at: Date())
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        context.logger[metadataKey: "hb.request.id"] = nil
        let start = ContinuousClock.now
        metrics.requestStarted()

        var response: Response
        do {
            let path = request.uri.path
            let limit = bodyLimits.first { path.hasPrefix($0.prefix) }.map { max(maxBodyBytes, $0.bytes) } ?? maxBodyBytes
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw ParleyError(.payloadTooLarge, code: "payload_too_large",
                                  "the request body is \(length) bytes; the limit is \(limit)")
            }
            response = try await next(request, context)
        } catch let limited as RateLimited {
            response = RateLimitHTTP.response(limited, requestID: requestID, metrics: metrics, openAI: ErrorMapping.speaksOpenAI(request.uri.path))
        } catch {
            let parleyError = ErrorMapping.parleyError(from: error, request: request, routes: routes, logger: context.logger)
            response = ErrorMapping.response(for: parleyError, requestID: requestID, openAI: ErrorMapping.speaksOpenAI(request.uri.path))
            if parleyError.kind == .methodNotAllowed {
                response.headers[.allow] = routes.allowedMethods(for: request.uri.path).joined(separator: ", ")
            }
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                await WebSocketRefusal.record(.init(parleyError, requestID: requestID), on: context.channel)
            }
        }
        response.headers[.xRequestID] = requestID

        let elapsed = ContinuousClock.now - start
        // Unmatched paths share one label so scanners cannot explode the series count.
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
        metrics.recordRequest(method: request.method.rawValue, route: route, status: response.status.code, duration: elapsed)
        context.logger.info("request", metadata: [
            "method": .string(request.method.rawValue),
            "path": .string(request.uri.path),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.2f", elapsed / .milliseconds(1))),
        ])
        return response
    }

    static func acceptableID(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count),
              value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return value
    }
}

/// Resolves the caller: `Authorization: Bearer <key or access token>` (a person's JWT, in the
/// tenant `X-Tenant` selects), or the console's session cookie; 401 when neither is usable. A cookie-authenticated request that changes something must carry the
/// session's `X-CSRF-Token`, and a WebSocket upgrade with a cookie must come from this server's own
/// origin, since browsers attach cookies to requests other sites make them send.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let keys: APIKeyService
    let accounts: AccountService
    let sessions: ConsoleSessionService
    let publicURL: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw ParleyError(.unauthorized, code: "invalid_authorization", "the Authorization header must be 'Bearer <key or access token>'")
            }
            let credential = String(parts[1]).trimmingCharacters(in: .whitespaces)
            // An access token (a signed-in person) or an API key; X-Tenant selects among the person's tenants.
            let tenant = request.headers[.xTenant]
            context.principal = AccessTokens.looksLikeJWT(credential)
                ? try await accounts.authenticate(credential, selecting: tenant)
                : try await keys.authenticate(credential, selecting: tenant)
        } else if let secret = ConsoleCookie.session(in: request.headers) {
            let match = try await sessions.authenticate(secret: secret)
            if !Self.safeMethods.contains(request.method),
               !ConsoleSessionService.csrfMatches(secret: secret, header: request.headers[.xCSRFToken]) {
                throw ParleyError(.forbidden, code: "csrf_failed", "send the session's CSRF token in X-CSRF-Token (GET /v1/auth/session returns it)")
            }
            if request.headers[.upgrade] != nil || request.uri.path == "/ws",
               !ConsoleOrigin.sameOrigin(request.headers[.origin], host: request.head.authority ?? request.headers[.hostHeader], publicURL: publicURL) {
                throw ParleyError(.forbidden, code: "origin_not_allowed", "a WebSocket signed in with the console cookie must come from this server's own pages")
            }
            context.principal = match.principal
        } else {
            throw ParleyError(.unauthorized, code: "missing_api_key", "send an API key as 'Authorization: Bearer <key>'")
        }
        if let principal = context.principal {
            context.logger[metadataKey: "tenant_id"] = .string(principal.tenantID)
        }
        return try await next(request, context)
    }

    static let safeMethods: Set<HTTPRequest.Method> = [.get, .head, .options]
}

public enum ConsoleOrigin {
    /// `Origin` is `scheme://host[:port]`; it must name the host the request was sent to, or
    /// the configured public URL's origin.
    public static func sameOrigin(_ origin: String?, host: String?, publicURL: String?) -> Bool {
        guard let origin = origin?.lowercased(), let schemeEnd = origin.range(of: "://") else { return false }
        if let host, origin[schemeEnd.upperBound...] == host.lowercased()[...] { return true }
        if let publicURL, let u = URLComponents(string: publicURL.lowercased()), let scheme = u.scheme, let h = u.host {
            return origin == "\(scheme)://\(h)" + (u.port.map { ":\($0)" } ?? "")
        }
        return false
    }
}

/// The console's session cookie.
enum ConsoleCookie {
    static func session(in headers: HTTPFields) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == ConsoleSessionService.cookieName {
                    return kv[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    static func set(_ secret: String, maxAge: Int, secure: Bool) -> String {
        "\(ConsoleSessionService.cookieName)=\(secret); HttpOnly; SameSite=Strict; Path=/; Max-Age=\(maxAge)" + (secure ? "; Secure" : "")
    }

    static func clear(secure: Bool) -> String { set("", maxAge: 0, secure: secure) }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
    static let xCSRFToken = Self("X-CSRF-Token")!
    static let xTenant = Self("X-Tenant")!
    static let hostHeader = Self("Host")!
}
