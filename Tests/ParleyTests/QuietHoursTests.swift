import Foundation
import ParleyComms
import Testing

@Suite struct LocalTimeTests {
    @Test(arguments: ["00:00", "00:01", "08:00", "12:30", "21:00", "23:59"])
    func parsesAndPrintsHHMM(_ text: String) throws {
        let time = try #require(LocalTime(parsing: text))
        #expect(time.description == text)
        #expect(LocalTime(hour: time.hour, minute: time.minute) == time)
    }

    @Test(arguments: [
        "24:00", "9:5", "ab:cd", "", "9:05", "09:5", "12:60", "99:99", "1200", "12-00", "12.00", " 12:00", "12:00 ",
        "12:00:00", "+1:00", "-1:00", "\u{FF11}\u{FF12}:00", "12:0a", ":", "12:", ":30", "٠٩:٠٠",
    ])
    func rejectsAnythingButStrictHHMM(_ text: String) {
        #expect(LocalTime(parsing: text) == nil)
    }

    @Test func componentsMustBeInRange() throws {
        #expect(LocalTime(hour: 24, minute: 0) == nil)
        #expect(LocalTime(hour: -1, minute: 0) == nil)
        #expect(LocalTime(hour: 0, minute: 60) == nil)
        #expect(LocalTime(hour: 0, minute: -1) == nil)
        let latest = try #require(LocalTime(hour: 23, minute: 59))
        #expect(latest.hour == 23 && latest.minute == 59 && latest.description == "23:59")
        #expect(try #require(LocalTime(hour: 7, minute: 5)).description == "07:05")
    }

    @Test func ordersByTimeOfDay() throws {
        let times = try ["21:00", "08:00", "00:00", "08:01", "23:59", "12:00"].map { try #require(LocalTime(parsing: $0)) }
        #expect(times.sorted().map(\.description) == ["00:00", "08:00", "08:01", "12:00", "21:00", "23:59"])
        #expect(Set(times + times).count == times.count)
    }

    @Test func codesAsHHMMString() throws {
        let time = try #require(LocalTime(parsing: "07:30"))
        #expect(String(decoding: try JSONEncoder().encode(time), as: UTF8.self) == "\"07:30\"")
        #expect(try JSONDecoder().decode(LocalTime.self, from: Data("\"07:30\"".utf8)) == time)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LocalTime.self, from: Data("\"24:00\"".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LocalTime.self, from: Data("730".utf8)) }
    }
}

@Suite struct QuietHoursTests {
    static func time(_ text: String) throws -> LocalTime { try #require(LocalTime(parsing: text)) }
    static func window(_ start: String, _ end: String) throws -> QuietHours {
        QuietHours(start: try time(start), end: try time(end))
    }
    static func instant(_ iso: String) throws -> Date { try #require(ISO8601DateFormatter().date(from: iso)) }
    static func zone(_ identifier: String) throws -> TimeZone { try #require(QuietHours.zone(identifier)) }

    /// Each case is (instant, expected end of quiet hours or nil), both as ISO 8601 with offset,
    /// so expectations are written independently of the implementation's zone arithmetic.
    static func check(
        _ hours: QuietHours, in zoneID: String, _ cases: [(String, String?)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let zone = try Self.zone(zoneID)
        for (at, expected) in cases {
            let moment = try instant(at)
            let got = hours.deferral(for: moment, in: zone)
            let want = try expected.map(instant)
            #expect(got == want, "\(hours.start)–\(hours.end) \(zoneID) at \(at)", sourceLocation: sourceLocation)
            #expect(hours.contains(moment, in: zone) == (want != nil), "\(at)", sourceLocation: sourceLocation)
        }
    }

    @Test func defaultIsNinePMToEightAM() throws {
        #expect(QuietHours.default == (try Self.window("21:00", "08:00")))
        #expect(!QuietHours.default.isEmpty)
    }

    @Test func crossingMidnightInsideOutsideAndBoundaries() throws {
        try Self.check(.default, in: "Europe/Paris", [
            ("2026-06-15T12:00:00+02:00", nil),
            ("2026-06-15T20:59:59+02:00", nil),
            ("2026-06-15T21:00:00+02:00", "2026-06-16T08:00:00+02:00"),  // start is inclusive
            ("2026-06-15T23:30:00+02:00", "2026-06-16T08:00:00+02:00"),
            ("2026-06-16T00:00:00+02:00", "2026-06-16T08:00:00+02:00"),
            ("2026-06-16T07:59:59+02:00", "2026-06-16T08:00:00+02:00"),
            ("2026-06-16T08:00:00+02:00", nil),  // end is exclusive
            ("2026-06-15T19:00:00Z", "2026-06-16T06:00:00Z"),
        ])
    }

    @Test func theSameInstantDependsOnTheRecipientsZone() throws {
        let moment = try Self.instant("2026-06-15T19:00:00Z")
        #expect(QuietHours.default.contains(moment, in: try Self.zone("Europe/Paris")))  // 21:00
        #expect(!QuietHours.default.contains(moment, in: try Self.zone("America/New_York")))  // 15:00
        #expect(QuietHours.default.contains(moment, in: try Self.zone("Asia/Tokyo")))  // 04:00
    }

    @Test func subSecondInstantsRespectBoundaries() throws {
        let zone = try Self.zone("UTC")
        let nine = try Self.instant("2026-06-15T21:00:00Z")
        #expect(QuietHours.default.deferral(for: nine.addingTimeInterval(-0.001), in: zone) == nil)
        #expect(QuietHours.default.deferral(for: nine.addingTimeInterval(0.25), in: zone)
            == (try Self.instant("2026-06-16T08:00:00Z")))
        let eight = try Self.instant("2026-06-16T08:00:00Z")
        #expect(QuietHours.default.deferral(for: eight.addingTimeInterval(-0.5), in: zone) == eight)
        #expect(QuietHours.default.deferral(for: eight.addingTimeInterval(0.5), in: zone) == nil)
    }

    @Test func windowWithinOneDay() throws {
        try Self.check(try Self.window("12:00", "13:00"), in: "Europe/Paris", [
            ("2026-06-15T00:30:00+02:00", nil),
            ("2026-06-15T11:59:59+02:00", nil),
            ("2026-06-15T12:00:00+02:00", "2026-06-15T13:00:00+02:00"),
            ("2026-06-15T12:59:59+02:00", "2026-06-15T13:00:00+02:00"),
            ("2026-06-15T13:00:00+02:00", nil),
            ("2026-06-15T23:00:00+02:00", nil),
        ])
    }

    @Test func windowsTouchingMidnight() throws {
        try Self.check(try Self.window("21:00", "00:00"), in: "UTC", [
            ("2026-06-15T23:59:59Z", "2026-06-16T00:00:00Z"),
            ("2026-06-16T00:00:00Z", nil),
            ("2026-06-16T20:59:59Z", nil),
        ])
        try Self.check(try Self.window("00:00", "06:00"), in: "UTC", [
            ("2026-06-15T23:59:59Z", nil),
            ("2026-06-16T00:00:00Z", "2026-06-16T06:00:00Z"),
            ("2026-06-16T06:00:00Z", nil),
        ])
    }

    @Test func equalStartAndEndMeansNoQuietHours() throws {
        let zone = try Self.zone("Europe/Paris")
        for text in ["00:00", "08:00", "21:00"] {
            let none = try Self.window(text, text)
            #expect(none.isEmpty)
            for hour in stride(from: 0.0, to: 86_400, by: 900) {
                let moment = try Self.instant("2026-06-15T00:00:00+02:00").addingTimeInterval(hour)
                #expect(none.deferral(for: moment, in: zone) == nil)
            }
        }
    }

    // MARK: Daylight saving, America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.

    @Test func newYorkSpringForward() throws {
        try Self.check(.default, in: "America/New_York", [
            ("2026-03-07T20:59:59-05:00", nil),
            ("2026-03-07T21:00:00-05:00", "2026-03-08T08:00:00-04:00"),  // a night one hour shorter
            ("2026-03-08T01:59:59-05:00", "2026-03-08T08:00:00-04:00"),
            ("2026-03-08T03:00:00-04:00", "2026-03-08T08:00:00-04:00"),
            ("2026-03-08T08:00:00-04:00", nil),
        ])
        // 02:30 does not exist that night: quiet hours end at the first instant after the gap.
        try Self.check(try Self.window("21:00", "02:30"), in: "America/New_York", [
            ("2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00"),
            ("2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00"),
            ("2026-03-08T03:00:00-04:00", nil),
            ("2026-03-09T02:29:00-04:00", "2026-03-09T02:30:00-04:00"),
        ])
        // A start inside the gap opens at the first instant after it.
        try Self.check(try Self.window("02:30", "06:00"), in: "America/New_York", [
            ("2026-03-07T02:30:00-05:00", "2026-03-07T06:00:00-05:00"),
            ("2026-03-08T01:59:59-05:00", nil),
            ("2026-03-08T03:00:00-04:00", "2026-03-08T06:00:00-04:00"),
        ])
        // A window wholly inside the gap does not happen that day.
        try Self.check(try Self.window("02:00", "02:59"), in: "America/New_York", [
            ("2026-03-08T01:59:59-05:00", nil),
            ("2026-03-08T03:00:00-04:00", nil),
            ("2026-03-09T02:15:00-04:00", "2026-03-09T02:59:00-04:00"),
        ])
        // Two wall-clock hours, one real hour.
        try Self.check(try Self.window("01:00", "03:00"), in: "America/New_York", [
            ("2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"),
        ])
    }

    @Test func newYorkFallBack() throws {
        try Self.check(.default, in: "America/New_York", [
            ("2026-10-31T21:00:00-04:00", "2026-11-01T08:00:00-05:00"),  // a night one hour longer
            ("2026-11-01T01:30:00-04:00", "2026-11-01T08:00:00-05:00"),
            ("2026-11-01T01:30:00-05:00", "2026-11-01T08:00:00-05:00"),
            ("2026-11-01T08:00:00-05:00", nil),
        ])
        // An end in the repeated hour is its first occurrence; the repeat is not quiet again.
        try Self.check(try Self.window("21:00", "01:30"), in: "America/New_York", [
            ("2026-11-01T00:59:59-04:00", "2026-11-01T01:30:00-04:00"),
            ("2026-11-01T01:15:00-04:00", "2026-11-01T01:30:00-04:00"),
            ("2026-11-01T01:30:00-04:00", nil),
            ("2026-11-01T01:15:00-05:00", nil),
        ])
        // A start in the repeated hour opens at its first occurrence and stays open through the repeat.
        try Self.check(try Self.window("01:30", "03:00"), in: "America/New_York", [
            ("2026-11-01T01:29:59-04:00", nil),
            ("2026-11-01T01:30:00-04:00", "2026-11-01T03:00:00-05:00"),
            ("2026-11-01T01:00:00-05:00", "2026-11-01T03:00:00-05:00"),
            ("2026-11-01T03:00:00-05:00", nil),
        ])
        // One wall-clock hour, two real hours.
        try Self.check(try Self.window("01:00", "02:00"), in: "America/New_York", [
            ("2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00"),
            ("2026-11-01T01:59:59-05:00", "2026-11-01T02:00:00-05:00"),
        ])
    }

    // MARK: Europe/Paris: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.

    @Test func parisSpringForward() throws {
        try Self.check(.default, in: "Europe/Paris", [
            ("2026-03-28T22:00:00+01:00", "2026-03-29T08:00:00+02:00"),
            ("2026-03-29T07:59:59+02:00", "2026-03-29T08:00:00+02:00"),
        ])
        try Self.check(try Self.window("21:00", "02:30"), in: "Europe/Paris", [
            ("2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"),
            ("2026-03-29T03:00:00+02:00", nil),
        ])
    }

    @Test func parisFallBack() throws {
        try Self.check(.default, in: "Europe/Paris", [
            ("2026-10-24T22:00:00+02:00", "2026-10-25T08:00:00+01:00"),
            ("2026-10-25T02:30:00+01:00", "2026-10-25T08:00:00+01:00"),
        ])
        try Self.check(try Self.window("21:00", "02:30"), in: "Europe/Paris", [
            ("2026-10-25T02:10:00+02:00", "2026-10-25T02:30:00+02:00"),
            ("2026-10-25T02:30:00+02:00", nil),
            ("2026-10-25T02:10:00+01:00", nil),
        ])
        try Self.check(try Self.window("02:30", "04:00"), in: "Europe/Paris", [
            ("2026-10-25T02:29:59+02:00", nil),
            ("2026-10-25T02:30:00+02:00", "2026-10-25T04:00:00+01:00"),
            ("2026-10-25T02:15:00+01:00", "2026-10-25T04:00:00+01:00"),
        ])
    }

    // MARK: Fractional offsets.

    @Test func kolkataHalfHourOffset() throws {
        try Self.check(.default, in: "Asia/Kolkata", [
            ("2026-06-15T20:59:59+05:30", nil),
            ("2026-06-15T15:30:00Z", "2026-06-16T02:30:00Z"),  // 21:00 IST
            ("2026-06-16T02:29:59Z", "2026-06-16T02:30:00Z"),
            ("2026-06-16T02:30:00Z", nil),
        ])
    }

    /// Pacific/Chatham is +12:45, +13:45 in summer; 2026-09-27 02:45 -> 03:45, 2026-04-05 03:45 -> 02:45.
    @Test func chathamQuarterHourOffsetAndItsDaylightSaving() throws {
        try Self.check(.default, in: "Pacific/Chatham", [
            ("2026-06-15T08:14:59Z", nil),  // 20:59:59
            ("2026-06-15T08:15:00Z", "2026-06-15T19:15:00Z"),  // 21:00 -> 08:00
            ("2026-06-15T21:00:00+12:45", "2026-06-16T08:00:00+12:45"),
            ("2026-09-26T21:00:00+12:45", "2026-09-27T08:00:00+13:45"),
        ])
        try Self.check(try Self.window("21:00", "03:00"), in: "Pacific/Chatham", [
            ("2026-09-27T02:44:00+12:45", "2026-09-27T03:45:00+13:45"),
            ("2026-09-27T03:45:00+13:45", nil),
            ("2026-04-05T02:50:00+13:45", "2026-04-05T03:00:00+13:45"),
            ("2026-04-05T02:50:00+12:45", nil),
        ])
    }

    /// Australia/Lord_Howe shifts by 30 minutes: 2026-04-05 02:00 -> 01:30, 2026-10-04 02:00 -> 02:30.
    @Test func lordHoweHalfHourDaylightSaving() throws {
        try Self.check(.default, in: "Australia/Lord_Howe", [
            ("2026-04-04T22:00:00+11:00", "2026-04-05T08:00:00+10:30"),
            ("2026-10-03T22:00:00+10:30", "2026-10-04T08:00:00+11:00"),
        ])
        try Self.check(try Self.window("21:00", "01:45"), in: "Australia/Lord_Howe", [
            ("2026-04-05T01:40:00+11:00", "2026-04-05T01:45:00+11:00"),
            ("2026-04-05T01:40:00+10:30", nil),
        ])
        try Self.check(try Self.window("21:00", "02:15"), in: "Australia/Lord_Howe", [
            ("2026-10-04T01:59:00+10:30", "2026-10-04T02:30:00+11:00"),
            ("2026-10-04T02:30:00+11:00", nil),
        ])
        try Self.check(try Self.window("02:10", "06:00"), in: "Australia/Lord_Howe", [
            ("2026-10-04T01:59:59+10:30", nil),
            ("2026-10-04T02:30:00+11:00", "2026-10-04T06:00:00+11:00"),
        ])
    }

    /// America/Santiago changes at midnight: 2026-09-06 00:00 -> 01:00, and 2026-04-05 00:00 -> 2026-04-04 23:00.
    @Test func santiagoChangesAtMidnight() throws {
        try Self.check(try Self.window("22:00", "00:30"), in: "America/Santiago", [
            ("2026-09-05T23:59:00-04:00", "2026-09-06T01:00:00-03:00"),
            ("2026-09-06T01:00:00-03:00", nil),
        ])
        try Self.check(try Self.window("00:00", "06:00"), in: "America/Santiago", [
            ("2026-09-05T23:59:59-04:00", nil),
            ("2026-09-06T01:00:00-03:00", "2026-09-06T06:00:00-03:00"),
        ])
        try Self.check(try Self.window("23:30", "00:15"), in: "America/Santiago", [
            ("2026-04-04T23:29:59-03:00", nil),
            ("2026-04-04T23:40:00-03:00", "2026-04-05T00:15:00-04:00"),
            ("2026-04-04T23:10:00-04:00", "2026-04-05T00:15:00-04:00"),  // the repeat is inside the open window
            ("2026-04-05T00:15:00-04:00", nil),
        ])
    }

    /// Sweeps days around each zone's transitions and checks invariants that hold for any window:
    /// a deferral is later, outside quiet hours, and the whole span up to it is quiet; and away from
    /// transitions the answer matches a plain wall-clock comparison made with Calendar.
    @Test(arguments: ["America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago", "Asia/Kolkata"])
    func invariantsAroundTransitions(_ zoneID: String) throws {
        let zone = try Self.zone(zoneID)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let windows = try [
            QuietHours.default, Self.window("12:00", "13:00"), Self.window("21:00", "02:30"),
            Self.window("01:30", "03:00"), Self.window("02:10", "06:00"), Self.window("23:30", "00:15"),
        ]
        // Two days before each of the zone's 2026 transitions.
        let sweeps: [String: [String]] = [
            "America/New_York": ["2026-03-06", "2026-10-30"], "Europe/Paris": ["2026-03-27", "2026-10-23"],
            "Australia/Lord_Howe": ["2026-04-02", "2026-10-01"], "Pacific/Chatham": ["2026-04-02", "2026-09-24"],
            "America/Santiago": ["2026-04-02", "2026-09-04"], "Asia/Kolkata": ["2026-03-06", "2026-06-15"],
        ]
        let starts = try (sweeps[zoneID] ?? []).map { try Self.instant($0 + "T00:00:00Z") }
        #expect(starts.count == 2)
        var failures = 0
        for hours in windows {
            for first in starts {
                // 613 s steps drift across seconds, so samples land on and beside minute boundaries.
                for step in 0..<(5 * 86_400 / 613) {
                    let moment = first.addingTimeInterval(Double(step) * 613)
                    let deferral = hours.deferral(for: moment, in: zone)
                    if let deferral {
                        let midway = moment.addingTimeInterval(deferral.timeIntervalSince(moment) / 2)
                        if !(deferral > moment && !hours.contains(deferral, in: zone) && hours.deferral(for: midway, in: zone) == deferral) {
                            failures += 1
                        }
                    }
                    // Away from any offset change the wall clock alone decides.
                    let calm = zone.secondsFromGMT(for: moment.addingTimeInterval(-130_000)) == zone.secondsFromGMT(for: moment.addingTimeInterval(130_000))
                    if calm {
                        let parts = calendar.dateComponents([.hour, .minute], from: moment)
                        let now = try #require(LocalTime(hour: parts.hour ?? -1, minute: parts.minute ?? -1))
                        let naive = hours.start < hours.end ? (hours.start <= now && now < hours.end) : (now >= hours.start || now < hours.end)
                        if naive != (deferral != nil) { failures += 1 }
                        if let deferral {
                            let endParts = calendar.dateComponents([.hour, .minute, .second], from: deferral)
                            if endParts.hour != hours.end.hour || endParts.minute != hours.end.minute || endParts.second != 0 { failures += 1 }
                        }
                    }
                }
            }
        }
        #expect(failures == 0)
    }

    @Test func extremeDatesDoNotTrap() throws {
        let zone = try Self.zone("Europe/Paris")
        for moment in [Date.distantPast, Date.distantFuture, Date(timeIntervalSinceReferenceDate: .infinity),
                       Date(timeIntervalSinceReferenceDate: -.infinity), Date(timeIntervalSinceReferenceDate: .nan),
                       Date(timeIntervalSinceReferenceDate: 1e300)] {
            _ = QuietHours.default.deferral(for: moment, in: zone)
            _ = QuietHours.default.contains(moment, in: zone)
        }
        #expect(QuietHours.default.deferral(for: Date(timeIntervalSinceReferenceDate: .infinity), in: zone) == nil)
    }

    @Test func codesAsStartAndEndStrings() throws {
        let data = try JSONEncoder().encode(QuietHours.default)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
        #expect(object == ["start": "21:00", "end": "08:00"])
        let decoded = try JSONDecoder().decode(QuietHours.self, from: Data(#"{"start":"12:00","end":"13:30"}"#.utf8))
        #expect(decoded == (try Self.window("12:00", "13:30")))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(QuietHours.self, from: Data(#"{"start":"9:00","end":"08:00"}"#.utf8))
        }
    }

    @Test(arguments: [
        "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe",
        "America/Argentina/Buenos_Aires", "America/Port-au-Prince", "US/Eastern", "Etc/UTC", "Etc/GMT+5", "UTC", "GMT",
    ])
    func acceptsIANAZoneNames(_ identifier: String) {
        #expect(QuietHours.zone(identifier) != nil)
    }

    @Test(arguments: [
        "", "Nowhere/City", "europe/paris", "Europe/Paris ", " Europe/Paris", "/Europe/Paris", "Europe//Paris", "Europe/",
        "GMT+5", "UTC+1", "GMT+05:00", "+05:00", "Z", "utc", "IST", "CST", "PST", "BST", "SystemV/EST5", "Europe/Paris\n",
        "../etc/passwd", "posix/Europe/Paris",
    ])
    func rejectsNonIANANames(_ identifier: String) {
        #expect(QuietHours.zone(identifier) == nil)
    }

    @Test func zoneReturnsTheNamedZone() throws {
        #expect(try Self.zone("Asia/Kolkata").secondsFromGMT(for: Self.instant("2026-01-01T00:00:00Z")) == 19_800)
        #expect(try Self.zone("UTC").secondsFromGMT(for: Self.instant("2026-07-01T00:00:00Z")) == 0)
    }
}
