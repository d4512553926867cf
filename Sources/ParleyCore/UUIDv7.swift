import Foundation
import Synchronization

/// Time-ordered identifiers (RFC 9562 UUID version 7): rows sort by creation time, and the
/// lowercase text form sorts the same way, which keeps cursor pagination a plain `<` comparison.
/// Within one process ids are strictly increasing, even within one millisecond or when the clock
/// stands still or steps back (RFC 9562 §6.2, method 1: a 12-bit counter in `rand_a`).
public enum UUIDv7 {
    private struct State { var millis: UInt64 = 0; var counter: UInt16 = 0 }
    private static let state = Mutex(State())

    public static func make(at date: Date) -> String {
        var rng = SystemRandomNumberGenerator()
        let wall = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let (millis, counter) = state.withLock { s -> (UInt64, UInt16) in
            if wall > s.millis {
                s.millis = wall
                s.counter = UInt16.random(in: 0..<0x400, using: &rng)  // room left to count up
            } else if s.counter < 0xFFF {
                s.counter += 1
            } else {
                s.millis += 1
                s.counter = 0
            }
            return (s.millis, s.counter)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - UInt64(i)))) }
        bytes[6] = 0x70 | UInt8(counter >> 8)  // version 7 + counter high bits
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        for i in 8..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let text = Array(hex(bytes))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(text[$0]) }.joined(separator: "-")
    }

    /// Accepts the canonical textual form only (36 characters, lowercase or uppercase hex).
    public static func isValid(_ text: String) -> Bool {
        UUID(uuidString: text) != nil
    }
}
