import Foundation

/// A calendar date without a time or zone: the dealership's local date ("2025-04-12").
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    /// Nil unless `year`-`month`-`day` is a real date of the proleptic Gregorian calendar.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses exactly `YYYY-MM-DD`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The date `instant` falls on in `zone`.
    public init(_ instant: Date, in zone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day], from: instant)
        self.year = c.year ?? 1970
        self.month = c.month ?? 1
        self.day = c.day ?? 1
    }

    public var description: String {
        String(format: "%04d-%02d-%02d", year, month, day)
    }

    public static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (negative before it).
    public var dayNumber: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public init(dayNumber z0: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.year = yoe + era * 400 + (m <= 2 ? 1 : 0)
        self.month = m
        self.day = d
    }

    public func adding(days: Int) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    public static func - (lhs: LocalDate, rhs: LocalDate) -> Int { lhs.dayNumber - rhs.dayNumber }

    /// 1 = Sunday … 7 = Saturday (Foundation's numbering, as `Schedule.weekly`).
    public var weekday: Int { ((dayNumber % 7 + 7) % 7 + 4) % 7 + 1 }

    /// The same month and day in `year`; 29 February falls on 28 February in a common year.
    public func anniversary(in year: Int) -> LocalDate? {
        LocalDate(year: year, month: month, day: min(day, Self.daysIn(month: month, year: year)))
    }

    /// `months` calendar months later (earlier when negative), clamped to the month's last day.
    public func adding(months: Int) -> LocalDate {
        let total = year * 12 + (month - 1) + months
        let y = total / 12, m = total % 12 + 1
        return LocalDate(year: y, month: m, day: min(day, Self.daysIn(month: m, year: y))) ?? self
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool { lhs.dayNumber < rhs.dayNumber }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = LocalDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a date (YYYY-MM-DD)"))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The channel a customer prefers; `auto` delivery tries it first, then the other one.
public enum PreferredChannel: String, Sendable, Codable, CaseIterable {
    case email, sms
}

/// A dealership's customer. `id` is Parley's; `externalID` is the dealer system's (unique per tenant).
public struct DealerCustomer: Sendable, Equatable, Codable {
    public var id: String
    public var externalID: String
    public var firstName: String
    public var lastName: String
    public var email: String?
    public var phone: String?
    public var preferredChannel: PreferredChannel?
    /// When the record entered Parley's data (its first import or creation).
    public var createdAt: Date

    public init(id: String, externalID: String, firstName: String, lastName: String, email: String?, phone: String?,
                preferredChannel: PreferredChannel?, createdAt: Date) {
        self.id = id
        self.externalID = externalID
        self.firstName = firstName
        self.lastName = lastName
        self.email = email
        self.phone = phone
        self.preferredChannel = preferredChannel
        self.createdAt = createdAt
    }
}

/// One machine-hour meter reading, on the dealership's local date.
public struct HoursReading: Sendable, Equatable, Codable {
    public var date: LocalDate
    public var hours: Double

    public init(date: LocalDate, hours: Double) {
        self.date = date
        self.hours = hours
    }
}

/// A machine a customer bought.
public struct DealerEquipment: Sendable, Equatable, Codable {
    public var id: String
    public var externalID: String
    public var customerID: String
    public var model: String
    public var serial: String?
    public var purchaseDate: LocalDate
    public var warrantyExpires: LocalDate?
    /// Oldest first.
    public var hours: [HoursReading]

    public init(id: String, externalID: String, customerID: String, model: String, serial: String?, purchaseDate: LocalDate,
                warrantyExpires: LocalDate?, hours: [HoursReading]) {
        self.id = id
        self.externalID = externalID
        self.customerID = customerID
        self.model = model
        self.serial = serial
        self.purchaseDate = purchaseDate
        self.warrantyExpires = warrantyExpires
        self.hours = hours
    }
}

public enum WorkOrderKind: String, Sendable, Codable, CaseIterable {
    case repair, service
}

/// A repair or service job on one machine. Times are instants (the import reads local times in
/// the tenant's zone); `completedAt` and `pickedUpAt` are nil while it is open.
public struct DealerWorkOrder: Sendable, Equatable, Codable {
    public var id: String
    public var externalID: String
    public var equipmentID: String
    public var kind: WorkOrderKind
    public var openedAt: Date
    public var completedAt: Date?
    public var pickedUpAt: Date?

    public init(id: String, externalID: String, equipmentID: String, kind: WorkOrderKind, openedAt: Date, completedAt: Date?, pickedUpAt: Date?) {
        self.id = id
        self.externalID = externalID
        self.equipmentID = equipmentID
        self.kind = kind
        self.openedAt = openedAt
        self.completedAt = completedAt
        self.pickedUpAt = pickedUpAt
    }
}

/// A tenant's dealership data as the triggers read it: everything known on one day.
public struct DealershipSnapshot: Sendable, Equatable {
    public var customers: [DealerCustomer]
    public var equipment: [DealerEquipment]
    public var workOrders: [DealerWorkOrder]

    public init(customers: [DealerCustomer] = [], equipment: [DealerEquipment] = [], workOrders: [DealerWorkOrder] = []) {
        self.customers = customers
        self.equipment = equipment
        self.workOrders = workOrders
    }
}

/// The triggers' thresholds (seed 003's settings), overridable per tenant.
public struct DealershipThresholds: Sendable, Equatable, Codable {
    public var ghostCustomerMonths = 12
    public var warrantyWarningDays = 30
    public var tradeInMinAgeYears = 8
    public var tradeInMinRepairCount = 3
    public var firstServiceHoursThreshold = 20.0
    public var usageServiceHoursInterval = 100.0

    public init() {}
}
