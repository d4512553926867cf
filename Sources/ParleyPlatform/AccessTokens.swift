import Foundation
import ParleyCore

/// Access tokens: compact JWS (JWT) signed HS256 with a key derived from the installation's secret
/// key and the token's `kid` (HKDF, purpose `jwt:<kid>`). New tokens are signed with the current
/// key id; tokens signed with a previous one are still accepted, so a rotation signs nobody out.
/// Only `{"alg":"HS256"}` is accepted: `none` and every other algorithm are refused before the
/// signature is looked at.
public struct AccessTokens: Sendable {
    public static let issuer = "parley"
    public static let audience = "parley-api"
    let keyring: Keyring
    let currentKeyID: String
    let acceptedKeyIDs: Set<String>
    let lifetime: TimeInterval
    /// Clock skew tolerated on `nbf` and `iat` (seconds).
    static let leeway: TimeInterval = 30

    public init(keyring: Keyring, keyID: String, previousKeyIDs: [String], lifetimeSeconds: Int) {
        self.keyring = keyring
        currentKeyID = keyID
        acceptedKeyIDs = Set([keyID] + previousKeyIDs)
        lifetime = TimeInterval(lifetimeSeconds)
    }

    public struct Claims: Sendable, Codable, Equatable {
        public var iss: String
        public var aud: String
        /// The user's id.
        public var sub: String
        /// The tenant the token was issued for.
        public var tid: String
        public var iat: Int
        public var nbf: Int
        public var exp: Int
        public var jti: String
    }

    struct Header: Codable { var alg: String; var typ: String?; var kid: String? }

    public var expiresIn: Int { Int(lifetime) }

    public func issue(userID: String, tenantID: String, at now: Date) -> String {
        let t = Int(now.timeIntervalSince1970)
        let claims = Claims(iss: Self.issuer, aud: Self.audience, sub: userID, tid: tenantID, iat: t, nbf: t, exp: t + Int(lifetime),
                            jti: UUIDv7.make(at: now))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding these plain structs cannot fail.
        let header = (try? encoder.encode(Header(alg: "HS256", typ: "JWT", kid: currentKeyID))) ?? Data()
        let payload = (try? encoder.encode(claims)) ?? Data()
        let input = Self.base64URL(header) + "." + Self.base64URL(payload)
        return input + "." + Self.base64URL(keyring.mac("jwt:\(currentKeyID)", Data(input.utf8)))
    }

    /// Whether a bearer value is shaped like a JWT (and so is not an API key).
    public static func looksLikeJWT(_ value: String) -> Bool {
        value.hasPrefix("eyJ") && value.utf8.count <= 4096 && value.split(separator: ".", omittingEmptySubsequences: false).count == 3
    }

    /// The verified claims, or 401 with the reason (expired, not yet valid, signature, key id...).
    public func verify(_ token: String, at now: Date) throws(ParleyError) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 4096,
              let headerData = Self.decodeBase64URL(parts[0]), let payloadData = Self.decodeBase64URL(parts[1]),
              let signature = Self.decodeBase64URL(parts[2]),
              let header = try? JSONDecoder().decode(Header.self, from: headerData) else {
            throw Self.invalid("the access token is malformed")
        }
        guard header.alg == "HS256" else { throw Self.invalid("the access token's algorithm is not accepted") }
        guard let kid = header.kid, acceptedKeyIDs.contains(kid) else {
            throw Self.invalid("the access token was signed with a key this server no longer accepts; sign in again")
        }
        let input = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard signature.count == 32, keyring.verify("jwt:\(kid)", mac: signature, for: input) else {
            throw Self.invalid("the access token's signature is not valid")
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: payloadData) else {
            throw Self.invalid("the access token's claims are malformed")
        }
        guard claims.iss == Self.issuer, claims.aud == Self.audience else {
            throw Self.invalid("the access token was not issued for this API")
        }
        let t = now.timeIntervalSince1970
        guard TimeInterval(claims.exp) > t else {
            throw ParleyError(.unauthorized, code: "token_expired", "the access token has expired; get a new one from POST /v1/auth/refresh")
        }
        guard TimeInterval(claims.nbf) <= t + Self.leeway else { throw Self.invalid("the access token is not valid yet") }
        return claims
    }

    static func invalid(_ message: String) -> ParleyError { ParleyError(.unauthorized, code: "invalid_token", message) }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ s: Substring) -> Data? {
        guard !s.isEmpty, s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }) else {
            return nil
        }
        var b64 = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64)
    }
}
