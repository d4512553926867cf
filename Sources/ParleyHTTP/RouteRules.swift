import Foundation
import Hummingbird
import ParleyCore

/// What a route needs from its caller, declared once per route (method and registered path) by
/// whoever registers it (the core's list in the server, each pack its own) and checked by `Routes`
/// before the handler reads the body: a caller without the permission gets a 403 that names the
/// action ("this key's role (viewer) may not change templates"), never a 400 about a body it was
/// not allowed to send. The services check the permission again.
public struct RouteRule: Sendable {
    /// "METHOD /registered/path", e.g. "POST /v1/cases/:case_id/close".
    public var route: String
    public var permission: Permission
    /// What the route does, in words: "change templates".
    public var action: String

    public init(_ route: String, _ permission: Permission, _ action: String) {
        self.route = route
        self.permission = permission
        self.action = action
    }
}

/// Text the API accepts is stored exactly as acknowledged. PostgreSQL refuses NUL in text and
/// SQLite cuts text at it, so a NUL anywhere in a body, a query or a path parameter is refused
/// with 400 `invalid_text` naming where it was, before any handler sees it.
enum TextInput {
    static func refuse(_ place: String) -> ParleyError {
        .badRequest("\(place) contains a NUL character (\\u0000); remove it", code: "invalid_text")
    }

    /// Path parameters percent-decoded once, for every route (a handler reads the decoded value).
    static func decodedPathParameters(_ parameters: Parameters) throws(ParleyError) -> Parameters {
        var out: [(key: Substring, value: Substring)] = []
        for (key, value) in parameters {
            guard let decoded = String(value).removingPercentEncoding else {
                throw .badRequest("path parameter '\(key)' has an invalid percent-encoding ('\(value)'); encode reserved characters as %XX of UTF-8",
                                  code: "invalid_path")
            }
            if decoded.contains("\u{0}") { throw refuse("path parameter '\(key)'") }
            out.append((key, decoded[...]))
        }
        return Parameters(out)
    }

    static func checkQuery(_ request: Request) throws(ParleyError) {
        for (key, value) in request.uri.queryParameters where key.contains("\u{0}") || value.contains("\u{0}") {
            throw refuse("query parameter '\(key.replacingOccurrences(of: "\u{0}", with: "\\u0000"))'")
        }
    }

    /// Refuses a JSON body with a NUL in any string or key, naming its path (`documents[1].name`).
    /// Cheap when there is none: the body is only parsed a second time when it holds `\u0000`.
    static func checkJSON(_ data: Data) throws(ParleyError) {
        guard data.contains(0) || mayEscapeNUL(data),
              let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return }
        if let path = nulPath(value, at: "") { throw refuse(path.isEmpty ? "the body" : "field '\(path)'") }
    }

    private static func mayEscapeNUL(_ data: Data) -> Bool {
        let lower = String(decoding: data, as: UTF8.self).lowercased()
        return lower.contains("\\u0000")
    }

    private static func nulPath(_ value: Any, at path: String) -> String? {
        switch value {
        case let s as String:
            return s.contains("\u{0}") ? path : nil
        case let a as [Any]:
            for (i, item) in a.enumerated() {
                if let found = nulPath(item, at: "\(path)[\(i)]") { return found }
            }
            return nil
        case let o as [String: Any]:
            for key in o.keys.sorted() {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if key.contains("\u{0}") { return child.replacingOccurrences(of: "\u{0}", with: "\\u0000") }
                if let v = o[key], let found = nulPath(v, at: child) { return found }
            }
            return nil
        default:
            return nil
        }
    }
}
