import Foundation
import ParleyCore

/// Signed one-click unsubscribe links (RFC 8058) for marketing email. A link names the tenant and
/// the recipient and never expires: people unsubscribe from old mail too. Only the signature
/// makes it valid, so nobody can unsubscribe someone else by editing a link.
public struct UnsubscribeLinks: Sendable {
    let keyring: Keyring
    let baseURL: String
    static let purpose = "unsubscribe-link"

    public init(keyring: Keyring, baseURL: String) {
        self.keyring = keyring
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    public func token(tenantID: String, recipient: String) -> String {
        let payload = Data("\(tenantID)\n\(recipient)".utf8)
        return Self.base64url(payload) + "." + Self.base64url(keyring.mac(Self.purpose, payload))
    }

    public func url(tenantID: String, recipient: String) -> String {
        "\(baseURL)/unsubscribe/\(token(tenantID: tenantID, recipient: recipient))"
    }

    /// The tenant and recipient of a genuine token; nil for anything else.
    public func verify(_ token: String) -> (tenantID: String, recipient: String)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.count <= 1024, parts.count == 2, let payload = Self.unbase64url(parts[0]), let mac = Self.unbase64url(parts[1]),
              keyring.verify(Self.purpose, mac: mac, for: payload),
              let text = String(data: payload, encoding: .utf8) else { return nil }
        let fields = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else { return nil }
        return (String(fields[0]), String(fields[1]))
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ text: Substring) -> Data? {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64)
    }
}

extension Message {
    /// RFC 8058 headers, present only when the worker attached an unsubscribe link.
    var listUnsubscribeHeaders: [(String, String)] {
        guard let url = listUnsubscribeURL else { return [] }
        return [("List-Unsubscribe", "<\(url)>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    }
}
