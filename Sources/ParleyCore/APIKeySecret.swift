import Crypto
import Foundation

/// API key secrets. Keys are 256-bit random values, so a single SHA-256 is the right hash (a slow
/// password hash would only add latency to every request). Keys are found by their hash (an index
/// lookup reveals nothing usable: an attacker cannot choose hash prefixes) and the stored hash is
/// then compared in constant time.
public enum APIKeySecret {
    public static let scheme = "prk_"
    /// Shown in key lists so people can tell keys apart: `prk_` and 8 of the 43 random characters.
    public static let displayPrefixLength = 12
    public static let minimumLength = 32

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// A new key: `prk_` + 43 base62 characters (≈256 bits).
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let body = (0..<43).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
        return scheme + String(body)
    }

    /// A preset key (PARLEY_ADMIN_KEY) is the operator's own secret: none of it is displayed.
    public static func displayPrefix(of key: String) -> String {
        key.hasPrefix(scheme) ? String(key.prefix(displayPrefixLength)) : "preset"
    }

    public static func hash(_ key: String) -> String {
        hex(SHA256.hash(data: Data(key.utf8)))
    }

    public static func matches(_ key: String, hash stored: String) -> Bool {
        constantTimeEquals(Array(hash(key).utf8), Array(stored.utf8))
    }

    /// Preset keys (PARLEY_ADMIN_KEY) may be any string, but must be long enough to be a secret.
    public static func validatePreset(_ key: String) -> String? {
        if key.count < minimumLength { return "must be at least \(minimumLength) characters" }
        if key.contains(where: { $0.isWhitespace }) { return "must not contain whitespace" }
        return nil
    }
}

/// Lowercase hex; `String(format:)` per byte showed up in request profiles.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
