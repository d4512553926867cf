/// The one error type that crosses module boundaries towards clients. The server maps `kind` to an
/// HTTP status; `code` is the stable machine-readable string clients branch on.
public struct ParleyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case badRequest, unauthorized, forbidden, notFound, conflict, payloadTooLarge
        /// Well-formed but refused by a business rule (422).
        case unprocessable
        case unsupportedMediaType, methodNotAllowed, unavailable, internalError
        /// A rate limit (429); the response says when to retry.
        case tooManyRequests
    }

    public var kind: Kind
    public var code: String
    public var message: String

    public init(_ kind: Kind, code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func badRequest(_ message: String, code: String = "invalid_request") -> Self {
        .init(.badRequest, code: code, message)
    }
    public static func notFound(_ message: String, code: String = "not_found") -> Self {
        .init(.notFound, code: code, message)
    }
    public static func conflict(_ message: String, code: String = "conflict") -> Self {
        .init(.conflict, code: code, message)
    }
    public static func forbidden(_ message: String) -> Self {
        .init(.forbidden, code: "forbidden", message)
    }
    public static func unauthorized(_ message: String) -> Self {
        .init(.unauthorized, code: "unauthorized", message)
    }
}
