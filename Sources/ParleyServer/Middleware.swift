import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ParleyCore
import ParleyPlatform

/// Outermost: gives every request an id (the client's `X-Request-ID` when it is sane), puts it on
/// every log line of the request and on the response, turns errors into the JSON envelope,
/// records metrics and writes one access-log line.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let metrics: HTTPMetrics
    let routes: RouteTable
    let maxBodyBytes: Int
    /// Client uploads (`/upload/...`) may be larger than API bodies.
    var uploadMaxBytes: Int = 0

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
            let limit = request.uri.path.hasPrefix("/upload/") ? max(maxBodyBytes, uploadMaxBytes) : maxBodyBytes
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw ParleyError(.payloadTooLarge, code: "payload_too_large",
                                  "the request body is \(length) bytes; the limit is \(limit)")
            }
            response = try await next(request, context)
        } catch {
            let parleyError = ErrorMapping.parleyError(from: error, request: request, routes: routes, logger: context.logger)
            response = ErrorMapping.response(for: parleyError, requestID: requestID)
            if parleyError.kind == .methodNotAllowed {
                response.headers[.allow] = routes.allowedMethods(for: request.uri.path).joined(separator: ", ")
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

/// Resolves `Authorization: Bearer <key>` to the caller; 401 when missing or not valid.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let keys: APIKeyService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw ParleyError(.unauthorized, code: "missing_api_key", "send an API key as 'Authorization: Bearer <key>'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw ParleyError(.unauthorized, code: "invalid_authorization", "the Authorization header must be 'Bearer <key>'")
        }
        var context = context
        let principal = try await keys.authenticate(String(parts[1]).trimmingCharacters(in: .whitespaces))
        context.principal = principal
        context.logger[metadataKey: "tenant_id"] = .string(principal.tenantID)
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
}
