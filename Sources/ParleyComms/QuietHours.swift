import Foundation

/// A wall-clock time of day with minute precision, as people write it in schedules ("21:00").
public struct LocalTime: Sendable, Equatable, Hashable, Codable, Comparable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int

    public init?(hour: Int, minute: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.init(validHour: hour, minute: minute)
    }

    /// Accepts exactly "HH:MM" in 24-hour form. Deliberately strict: this is a configuration
    /// format, and "9:5" or "24:00" are more likely mistakes than intent.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: ":"),
              let h1 = Self.digit(bytes[0]), let h2 = Self.digit(bytes[1]),
              let m1 = Self.digit(bytes[3]), let m2 = Self.digit(bytes[4])
        else { return nil }
        self.init(hour: h1 * 10 + h2, minute: m1 * 10 + m2)
    }

    /// Only for literals known to be in range, so constants need no optional unwrapping.
    fileprivate init(validHour: Int, minute: Int) {
        hour = validHour
        self.minute = minute
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    var secondsSinceMidnight: Int { (hour * 60 + minute) * 60 }

    public var description: String {
        (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute)
    }

    public static func < (lhs: LocalTime, rhs: LocalTime) -> Bool {
        (lhs.hour, lhs.minute) < (rhs.hour, rhs.minute)
    }

    // Encoded as "HH:MM" so stored settings and API payloads read the way people write them.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let time = LocalTime(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "Expected a time as \"HH:MM\" (00:00 to 23:59), got \"\(text)\"")
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A daily window, in the recipient's local time, during which non-urgent messages are held back.
///
/// Each window is a contiguous stretch of real time from `start` (inclusive) to `end` (exclusive),
/// crossing midnight when `end` is earlier than `start`; `start == end` means no quiet hours.
/// On daylight-saving days a local time that does not exist resolves to the first instant after
/// the gap, and a local time that occurs twice resolves to its first occurrence. So a window ending
/// at 01:30 on a fall-back night closes at the first 01:30, and the repeated half hour is not quiet.
public struct QuietHours: Sendable, Equatable, Codable {
    public var start: LocalTime
    public var end: LocalTime

    public init(start: LocalTime, end: LocalTime) {
        self.start = start
        self.end = end
    }

    public static let `default` = QuietHours(
        start: LocalTime(validHour: 21, minute: 0), end: LocalTime(validHour: 8, minute: 0))

    /// True when `start == end`, i.e. messages are never held back.
    public var isEmpty: Bool { start == end }

    public func contains(_ instant: Date, in timeZone: TimeZone) -> Bool {
        deferral(for: instant, in: timeZone) != nil
    }

    /// nil when `instant` is outside quiet hours in `timeZone`; otherwise the first instant at or
    /// after it when quiet hours end.
    public func deferral(for instant: Date, in timeZone: TimeZone) -> Date? {
        guard !isEmpty, let seconds = WallClock.epochSeconds(instant) else { return nil }
        var cursor = seconds
        var closes: Int?
        // Consecutive days' windows can only touch or overlap through clock changes; following
        // them a few steps guarantees the answer really is outside quiet hours.
        for _ in 0..<3 {
            guard let next = windowEnd(containing: cursor, in: timeZone) else { break }
            closes = next
            cursor = next
        }
        return closes.map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// End of a window containing the whole second `instant`, if any.
    private func windowEnd(containing instant: Int, in zone: TimeZone) -> Int? {
        let clock = WallClock(zone: zone)
        let today = clock.localDay(of: instant)
        // Yesterday's window may still be open after midnight. One more day either side is cheap
        // insurance for clock changes that move readings across midnight.
        for day in (today - 2)...(today + 1) {
            let opens = clock.firstInstant(reading: day * WallClock.day + start.secondsSinceMidnight)
            let closeDay = start < end ? day : day + 1
            let closes = clock.firstInstant(reading: closeDay * WallClock.day + end.secondsSinceMidnight)
            if opens <= instant, instant < closes { return closes }
        }
        return nil
    }

    /// The zone for an IANA identifier such as "Europe/Paris", or nil.
    ///
    /// Stricter than `TimeZone(identifier:)`, which also accepts Foundation offset forms ("GMT+5")
    /// and ambiguous legacy abbreviations ("IST", "CST", "BST") that are not IANA zone names.
    /// Accepts "Area/Location" names (including IANA links such as "US/Eastern" and "Etc/GMT+5")
    /// plus the bare names "UTC" and "GMT".
    public static func zone(_ identifier: String) -> TimeZone? {
        guard identifier == "UTC" || identifier == "GMT" || isAreaLocation(identifier) else { return nil }
        return TimeZone(identifier: identifier)
    }

    private static func isAreaLocation(_ identifier: String) -> Bool {
        let parts = identifier.split(separator: "/", omittingEmptySubsequences: false)
        // SystemV/* are ICU leftovers of zones removed from the IANA database.
        guard parts.count >= 2, parts[0] != "SystemV" else { return false }
        return parts.allSatisfy { part in
            guard let first = part.unicodeScalars.first, first.isASCIILetter else { return false }
            return part.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || "_-+".unicodeScalars.contains($0) }
        }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// Conversions between instants and local wall-clock readings, both as whole seconds.
///
/// A reading is the local date and time written as if it were UTC seconds since 1970, so a local
/// day is always exactly 86,400 reading-seconds. Resolution is done here from the zone's offsets
/// rather than with `Calendar`, whose handling of non-existent times shifts by the gap length
/// (02:30 becomes 03:30) instead of giving the first instant after the gap, and differs between
/// Foundation implementations.
private struct WallClock {
    static let day = 86_400
    let zone: TimeZone

    /// Whole seconds since 1970, or nil for instants too far out to reason about (±300,000 years).
    static func epochSeconds(_ date: Date) -> Int? {
        let t = date.timeIntervalSince1970.rounded(.down)
        guard t.isFinite, abs(t) < 1e13 else { return nil }
        return Int(exactly: t)
    }

    func offset(at instant: Int) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    func reading(at instant: Int) -> Int { instant + offset(at: instant) }

    /// Local day number (days since 1970-01-01 local) that `instant` falls on.
    func localDay(of instant: Int) -> Int {
        let r = reading(at: instant)
        let remainder = ((r % Self.day) + Self.day) % Self.day
        return (r - remainder) / Self.day
    }

    /// The earliest instant whose wall clock shows `reading`; if the reading is skipped by a
    /// spring-forward gap, the first instant after the gap.
    func firstInstant(reading target: Int) -> Int {
        // Real offsets stay within ±15 h, so the offsets in force a day either side bracket any
        // transition near the target.
        let offsets = Set([target - Self.day, target, target + Self.day].map(offset(at:)))
        // On a fall-back day two candidates match; the smaller is the first occurrence.
        if let exact = offsets.map({ target - $0 }).filter({ reading(at: $0) == target }).min() {
            return exact
        }
        // In a gap: before the transition the clock reads earlier than the target, from it onward
        // later. Find the transition by bisection (transitions fall on whole seconds).
        var before = target - (offsets.max() ?? 0)
        var after = target - (offsets.min() ?? 0)
        while after - before > 1 {
            let mid = before + (after - before) / 2
            if reading(at: mid) >= target { after = mid } else { before = mid }
        }
        return after
    }
}
