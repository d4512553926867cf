import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import ParleyCore

/// Per-request state: the request id (also on the logger) and, after authentication, the caller.
public struct ParleyRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket = WebSocketHandlerReference<Self>()
    public var requestID: String = ""
    public var principal: Principal?
    /// The connection the request came on (a refused WebSocket upgrade answers through it).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    public var requestDecoder: JSONDecoder { JSONCoding.decoder }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }

    /// The authenticated caller; routes behind `AuthMiddleware` always have one.
    public func caller() throws -> Principal {
        guard let principal else { throw ParleyError.unauthorized("authentication required") }
        return principal
    }

    public func action() throws -> ActionContext {
        ActionContext(principal: try caller(), requestID: requestID)
    }
}

/// JSON on the wire: snake_case keys, ISO 8601 UTC timestamps with milliseconds.
public enum JSONCoding {
    private static let withMillis = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutMillis = Date.ISO8601FormatStyle()

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(format(date))
        }
        return e
    }()

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an ISO 8601 timestamp such as 2026-01-31T09:00:00Z, got '\(text)'")
            }
            let field = decoder.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            try checkRange(date, text, name: "field '\(field)'")
            return date
        }
        return d
    }()

    public static func format(_ date: Date) -> String { withMillis.format(date) }

    /// Every timestamp the API accepts lies in [2000-01-01, 2100-01-01): a year such as 99999 is a
    /// typo, not a plan (and not every database or client represents it).
    public static let acceptedRange = Date(timeIntervalSince1970: 946_684_800)..<Date(timeIntervalSince1970: 4_102_444_800)

    /// Refuses a timestamp outside `acceptedRange` with 400 `invalid_date` naming where it came from.
    public static func checkRange(_ date: Date, _ text: String, name: String) throws(ParleyError) {
        guard acceptedRange.contains(date) else {
            throw .badRequest("\(name) must be a timestamp from 2000-01-01T00:00:00Z up to 2099-12-31T23:59:59Z, got '\(text)'",
                              code: "invalid_date")
        }
    }

    public static func parse(_ text: String) -> Date? {
        (try? withMillis.parse(text)) ?? (try? withoutMillis.parse(text))
    }
}
