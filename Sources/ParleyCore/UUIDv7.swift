import Foundation

/// Time-ordered identifiers (RFC 9562 UUID version 7): rows sort by creation time, and the
/// lowercase text form sorts the same way, which keeps cursor pagination a plain `<` comparison.
public enum UUIDv7 {
    public static func make(at date: Date) -> String {
        var rng = SystemRandomNumberGenerator()
        return make(at: date, using: &rng)
    }

    public static func make(at date: Date, using rng: inout some RandomNumberGenerator) -> String {
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - UInt64(i)))) }
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70  // version 7
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let chars = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(chars[$0]) }.joined(separator: "-")
    }

    /// Accepts the canonical textual form only (36 characters, lowercase or uppercase hex).
    public static func isValid(_ text: String) -> Bool {
        UUID(uuidString: text) != nil
    }
}
