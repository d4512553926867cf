import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ParleyCore
import ParleyStorage

/// `{"error":{"code","message","request_id"}}` for every failure, with the matching status. The
/// OpenAI-compatible routes add OpenAI's `type` and `param`, so its SDKs read the error fully.
public struct ErrorBody: Encodable {
    public struct Detail: Encodable {
        public var code: String
        public var message: String
        public var requestId: String
        public var openAIType: String? = nil

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
            try c.encode(requestId, forKey: .requestId)
            if let openAIType {
                try c.encode(openAIType, forKey: .type)
                try c.encodeNil(forKey: .param)
            }
        }
        enum CodingKeys: String, CodingKey { case code, message, requestId = "request_id", type, param }
    }
    public var error: Detail
}

public enum ErrorMapping {
    public static func status(for kind: ParleyError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .unprocessable: .unprocessableContent
        case .unsupportedMediaType: .unsupportedMediaType
        case .methodNotAllowed: .methodNotAllowed
        case .unavailable: .serviceUnavailable
        case .internalError: .internalServerError
        case .tooManyRequests: .tooManyRequests
        }
    }

    /// Paths that speak OpenAI's wire format, whose errors carry its `type` and `param` too.
    public static func speaksOpenAI(_ path: String) -> Bool {
        path == "/v1/chat/completions" || path == "/v1/models" || path.hasPrefix("/v1/models/")
    }

    /// OpenAI's error `type` for a status (its SDKs pick the exception class by status).
    public static func openAIType(_ kind: ParleyError.Kind) -> String {
        switch kind {
        case .unauthorized: "authentication_error"
        case .forbidden: "permission_error"
        case .notFound: "not_found_error"
        case .tooManyRequests: "rate_limit_error"
        case .conflict: "conflict_error"
        case .internalError, .unavailable: "api_error"
        case .badRequest, .payloadTooLarge, .unprocessable, .unsupportedMediaType, .methodNotAllowed: "invalid_request_error"
        }
    }

    /// Translates any error into the public error; unexpected ones are logged, never echoed.
    public static func parleyError(from error: any Error, request: Request, routes: RouteTable, logger: Logger) -> ParleyError {
        switch error {
        case let e as ParleyError:
            return e
        case let e as StoreError:
            switch e {
            case .notFound(let what): return .notFound(what)
            case .uniqueViolation: return .conflict("the resource already exists")
            case .unavailable(let why):
                logger.warning("database unavailable", metadata: ["reason": "\(why)"])
                return ParleyError(.unavailable, code: "database_unavailable", "the database is unavailable; retry shortly")
            case .query(let why):
                logger.error("database error", metadata: ["error": "\(why)"])
                return ParleyError(.internalError, code: "internal_error", "an internal error occurred")
            }
        case let e as HTTPError:
            switch e.status {
            case .notFound:
                let path = request.uri.path
                let allowed = routes.allowedMethods(for: path)
                if !allowed.isEmpty {
                    return ParleyError(.methodNotAllowed, code: "method_not_allowed",
                                       "\(request.method.rawValue) is not allowed on \(path); use \(allowed.joined(separator: ", "))")
                }
                return ParleyError(.notFound, code: "route_not_found", "no route for \(request.method.rawValue) \(path)")
            case .contentTooLarge:
                return ParleyError(.payloadTooLarge, code: "payload_too_large", "the request body is larger than the server accepts")
            case .badRequest:
                return .badRequest(e.body ?? "the request could not be read")
            default:
                return ParleyError(e.status.code >= 500 ? .internalError : .badRequest, code: "http_\(e.status.code)", e.body ?? e.status.reasonPhrase)
            }
        case let e as DecodingError:
            return .badRequest(describe(e), code: "invalid_json")
        case let e as NIOTooManyBytesError:
            // `collectBody(upTo:)` over its limit.
            let limit = e.maxBytes.map { " (\($0) bytes)" } ?? ""
            return ParleyError(.payloadTooLarge, code: "payload_too_large", "the request body is larger than this route accepts\(limit)")
        case let e as HTTPParserError:
            // The body broke off or its chunked encoding is malformed; the connection closes after this answer.
            return .badRequest("the request body is not valid HTTP/1.1 (\(e)); send it whole, with a correct Content-Length or chunked encoding",
                               code: "malformed_request")
        default:
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return ParleyError(.internalError, code: "internal_error", "an internal error occurred")
        }
    }

    public static func describe(_ e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String {
            let p = c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "body" : p
        }
        switch e {
        case .keyNotFound(let key, let ctx): return "missing field '\(path(ctx.codingPath + [key]))'"
        case .typeMismatch(let type, let ctx): return "field '\(path(ctx.codingPath))' must be \(typeName(type))"
        case .valueNotFound(let type, let ctx): return "field '\(path(ctx.codingPath))' must be \(typeName(type)), not null"
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return "the body is not valid JSON" }
            return "field '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default: return "the body could not be decoded"
        }
    }

    private static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(t)".lowercased().contains("array") ? "an array" : "an object"
        }
    }

    public static func response(for error: ParleyError, requestID: String, openAI: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if error.kind == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status(for: error.kind), headers: headers,
                        body: .init(byteBuffer: body(for: error, requestID: requestID, openAI: openAI)))
    }

    public static func body(for error: ParleyError, requestID: String, openAI: Bool = false) -> ByteBuffer {
        let body = ErrorBody(error: .init(code: error.code, message: error.message, requestId: requestID,
                                          openAIType: openAI ? openAIType(error.kind) : nil))
        let data = (try? JSONCoding.encoder.encode(body)) ?? Data(#"{"error":{"code":"internal_error"}}"#.utf8)
        return ByteBuffer(bytes: data)
    }
}
