import Foundation
import Hummingbird
import ParleyCore

/// What a route needs from its caller, declared once per route (method and registered path) and
/// checked by `Routes` before the handler reads the body: a caller without the permission gets a
/// 403 that names the action ("this key's role (viewer) may not change templates"), never a 400
/// about a body it was not allowed to send. The services check the permission again.
enum RoutePermissions {
    struct Rule: Sendable {
        var permission: Permission
        /// What the route does, in words: "change templates".
        var action: String
    }

    static func rule(_ method: HTTPRequest.Method, _ path: String) -> Rule? {
        rules["\(method.rawValue) \(path)"]
    }

    /// Every authenticated route that changes something (and the reads narrower than `readTenant`).
    /// A test checks that each such registered route has its entry here.
    static let rules: [String: Rule] = {
        let list: [(String, Permission, String)] = [
            ("POST /v1/chat", .act, "chat with the assistant"),
            ("POST /chat", .act, "chat with the assistant"),
            ("POST /v1/workflows/:id/cancel", .act, "cancel runs"),
            ("POST /v1/workflows/:id/approvals/:approval_id", .operate, "approve or reject actions"),
            ("POST /v1/sessions", .act, "start chat sessions"),
            ("PATCH /v1/sessions/:id", .act, "rename chat sessions"),
            ("POST /v1/sessions/:id/messages", .act, "chat with the assistant"),
            ("PUT /v1/tools/:name/policy", .manageKeys, "change tool policies"),
            ("PUT /v1/schedules/:name", .operate, "change schedules"),
            ("PATCH /v1/tenant", .manageKeys, "change the workspace's name or time zone"),
            ("GET /v1/api-keys", .manageKeys, "list API keys"),
            ("POST /v1/api-keys", .manageKeys, "create API keys"),
            ("DELETE /v1/api-keys/:id", .manageKeys, "revoke API keys"),
            ("GET /v1/audit-log", .readAudit, "read the audit log"),
            ("POST /v1/cases/search", .readTenant, "search cases"),
            ("POST /v1/cases", .act, "create cases"),
            ("PATCH /v1/cases/:case_id", .act, "change cases"),
            ("POST /v1/cases/:case_id/close", .act, "close cases"),
            ("POST /v1/cases/:case_id/upload-link", .act, "create upload links"),
            ("PUT /v1/cases/documents/:requested_doc_id", .act, "change requested documents"),
            ("POST /v1/send-email", .act, "send emails to clients"),
            ("POST /v1/messages", .act, "send messages"),
            ("POST /v1/jobs/:id/retry", .operate, "retry jobs"),
            ("POST /v1/jobs/:id/cancel", .operate, "cancel jobs"),
            ("PUT /v1/templates/:name", .operate, "change templates"),
            ("POST /v1/templates/:name/preview", .readTenant, "preview templates"),
            ("PUT /v1/consent/:channel/:recipient", .operate, "change consent records"),
            ("POST /v1/inbound/sms", .act, "record inbound SMS"),
            ("PUT /v1/channels/:channel", .manageKeys, "change channel settings"),
            ("DELETE /v1/channels/:channel", .manageKeys, "remove channel settings"),
        ]
        return Dictionary(list.map { ($0.0, Rule(permission: $0.1, action: $0.2)) }, uniquingKeysWith: { a, _ in a })
    }()
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
