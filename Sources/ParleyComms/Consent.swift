import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

extension CommsSchema {
    static let consentMigration = Migration("0006_consent", [
        """
        CREATE TABLE recipient_consent (
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            status TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT,
            updated_at %TIMESTAMP% NOT NULL,
            PRIMARY KEY (tenant_id, channel, recipient)
        )
        """,
        """
        CREATE TABLE consent_events (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            status TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT,
            created_at %TIMESTAMP% NOT NULL
        )
        """,
        "CREATE INDEX consent_events_recipient ON consent_events (tenant_id, channel, recipient, id)",
        "ALTER TABLE messages ADD COLUMN purpose TEXT NOT NULL DEFAULT 'transactional'",
        "ALTER TABLE messages ADD COLUMN quiet_hours_exempt %BOOL% NOT NULL DEFAULT FALSE",
    ])
}

public enum ConsentStatus: String, Sendable, Codable, CaseIterable {
    /// Agreed to marketing on this channel.
    case optedIn = "opted_in"
    /// Asked to receive nothing more on this channel (STOP, unsubscribe).
    case optedOut = "opted_out"
    /// The channel cannot reach them (invalid number, hard bounce): nothing is sent.
    case suppressed
}

public struct ConsentRecord: Sendable, Equatable {
    public var channel: Channel
    public var recipient: String
    public var status: ConsentStatus
    public var source: String
    public var reason: String?
    public var updatedAt: Date
}

/// What a recipient has agreed to, per channel, with every change kept with its source and time.
///
/// Rules: nothing goes to a recipient who opted out or is suppressed on that channel; marketing
/// goes only to those who opted in. Transactional messages need no opt-in.
public struct ConsentService: Sendable {
    let store: any Store
    let clock: any Clock

    public init(store: any Store, clock: any Clock) {
        self.store = store
        self.clock = clock
    }

    public func status(tenantID: String, channel: Channel, recipient: String, on db: any SQLDatabase) async throws -> ConsentRecord? {
        try await db.raw("""
            SELECT * FROM recipient_consent WHERE tenant_id = \(bind: tenantID) AND channel = \(bind: channel.rawValue) AND recipient = \(bind: recipient)
            """).first().map(Self.decode)
    }

    /// Why `purpose` may not be sent to `recipient` now (a code and a message), or nil when it may.
    public func refusal(tenantID: String, channel: Channel, recipient: String, purpose: TemplatePurpose,
                        on db: any SQLDatabase) async throws -> (code: String, message: String)? {
        let record = try await status(tenantID: tenantID, channel: channel, recipient: recipient, on: db)
        switch record?.status {
        case .optedOut?: return ("recipient_opted_out", "the recipient opted out of \(channel.rawValue) messages")
        case .suppressed?: return ("recipient_suppressed", "\(channel.rawValue) to this recipient is suppressed: \(record?.reason ?? "undeliverable")")
        case .optedIn?: return nil
        case nil:
            return purpose == .marketing ? ("marketing_consent_missing", "the recipient has not opted in to marketing \(channel.rawValue) messages") : nil
        }
    }

    public func record(tenantID: String, channel: Channel, recipient: String, status: ConsentStatus, source: String, reason: String?,
                       on db: any SQLDatabase) async throws {
        let now = clock.now()
        try await db.raw("""
            INSERT INTO recipient_consent (tenant_id, channel, recipient, status, source, reason, updated_at)
            VALUES (\(bind: tenantID), \(bind: channel.rawValue), \(bind: recipient), \(bind: status.rawValue), \(bind: source), \(bind: reason), \(bind: now))
            ON CONFLICT (tenant_id, channel, recipient) DO UPDATE SET status = excluded.status, source = excluded.source,
                reason = excluded.reason, updated_at = excluded.updated_at
            """).run()
        try await db.raw("""
            INSERT INTO consent_events (id, tenant_id, channel, recipient, status, source, reason, created_at)
            VALUES (\(bind: UUIDv7.make(at: now)), \(bind: tenantID), \(bind: channel.rawValue), \(bind: recipient), \(bind: status.rawValue),
                    \(bind: source), \(bind: reason), \(bind: now))
            """).run()
    }

    /// Records an opt-out or a suppression unless the recipient is already blocked on the channel:
    /// an opt-out stays an opt-out, and a suppression is already stronger than either. Returns
    /// whether it recorded (so repeated bounces or clicks leave one history entry).
    @discardableResult
    public func block(tenantID: String, channel: Channel, recipient: String, status: ConsentStatus, source: String, reason: String?,
                      on db: any SQLDatabase) async throws -> Bool {
        let current = try await self.status(tenantID: tenantID, channel: channel, recipient: recipient, on: db)?.status
        guard current != .optedOut, current != .suppressed else { return false }
        try await record(tenantID: tenantID, channel: channel, recipient: recipient, status: status, source: source, reason: reason, on: db)
        return true
    }

    /// A click on a marketing email's unsubscribe link (or a mail client's one-click): opts the
    /// address out of email, once however often it is used.
    public func unsubscribe(tenantID: String, email: String) async throws {
        _ = try await store.transaction { db in
            try await self.block(tenantID: tenantID, channel: .email, recipient: email, status: .optedOut,
                                 source: "list_unsubscribe", reason: "unsubscribe link", on: db)
        }
    }

    /// Sets consent through the API (`source` names the caller).
    public func set(_ ctx: ActionContext, channel: Channel, recipient raw: String, status: ConsentStatus, reason: String?) async throws -> ConsentRecord {
        try ctx.principal.require(.operate)
        let recipient = try Self.normalize(channel, raw)
        let tenantID = ctx.principal.tenantID
        let source = ctx.principal.actor
        return try await store.transaction { db in
            try await record(tenantID: tenantID, channel: channel, recipient: recipient, status: status, source: source, reason: reason, on: db)
            guard let saved = try await self.status(tenantID: tenantID, channel: channel, recipient: recipient, on: db) else {
                throw ParleyError.notFound("consent record vanished", code: "consent_not_found")
            }
            return saved
        }
    }

    public func get(_ principal: Principal, channel: Channel, recipient raw: String) async throws -> (ConsentRecord?, [ConsentRecord]) {
        try principal.require(.readTenant)
        let recipient = try Self.normalize(channel, raw)
        let tenantID = principal.tenantID
        return try await store.read { db in
            let current = try await status(tenantID: tenantID, channel: channel, recipient: recipient, on: db)
            let history = try await db.raw("""
                SELECT channel, recipient, status, source, reason, created_at AS updated_at FROM consent_events
                WHERE tenant_id = \(bind: tenantID) AND channel = \(bind: channel.rawValue) AND recipient = \(bind: recipient) ORDER BY id
                """).all().map(Self.decode)
            return (current, history)
        }
    }

    /// The tenant's recipients with a recorded status (e.g. every suppression), by channel and
    /// recipient; `after` is the last row of the previous page.
    public func list(_ principal: Principal, status: ConsentStatus?, channel: Channel?, after: (Channel, String)?, limit: Int) async throws -> [ConsentRecord] {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        return try await store.read { db in
            var sql = SQLQueryString("SELECT channel, recipient, status, source, reason, updated_at FROM recipient_consent WHERE tenant_id = \(bind: tenantID)")
            if let status { sql.appendInterpolation(unsafeRaw: " AND status = "); sql.appendInterpolation(bind: status.rawValue) }
            if let channel { sql.appendInterpolation(unsafeRaw: " AND channel = "); sql.appendInterpolation(bind: channel.rawValue) }
            if let (c, r) = after {
                sql.appendInterpolation(unsafeRaw: " AND (channel > ")
                sql.appendInterpolation(bind: c.rawValue)
                sql.appendInterpolation(unsafeRaw: " OR (channel = ")
                sql.appendInterpolation(bind: c.rawValue)
                sql.appendInterpolation(unsafeRaw: " AND recipient > ")
                sql.appendInterpolation(bind: r)
                sql.appendInterpolation(unsafeRaw: "))")
            }
            sql.appendInterpolation(unsafeRaw: " ORDER BY channel, recipient LIMIT \(max(1, limit))")
            return try await db.raw(sql).all().map(Self.decode)
        }
    }

    /// Keywords carriers and regulators expect an SMS sender to honour.
    public static let stopWords: Set<String> = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"]
    public static let startWords: Set<String> = ["START", "UNSTOP"]

    public enum InboundAction: String, Sendable { case optedOut = "opted_out", optedIn = "opted_in", help, none }

    /// Applies an inbound SMS: a stop word opts the sender out, a start word back in; `HELP` asks
    /// for the help reply. Anything else is left to the conversation (returns `.none`).
    public func inboundSMS(tenantID: String, from raw: String, body: String, source: String = "inbound_sms") async throws -> InboundAction {
        let from = try Self.normalize(.sms, raw)
        let action = Self.classify(body).0
        guard action == .optedOut || action == .optedIn else { return action }
        return try await store.transaction { db in
            try await inboundSMS(tenantID: tenantID, from: from, body: body, source: source, on: db)
        }
    }

    /// The same in the caller's transaction; `from` must already be normalised (E.164).
    public func inboundSMS(tenantID: String, from: String, body: String, source: String, on db: any SQLDatabase) async throws -> InboundAction {
        let (action, word) = Self.classify(body)
        guard action == .optedOut || action == .optedIn else { return action }
        try await record(tenantID: tenantID, channel: .sms, recipient: from, status: action == .optedOut ? .optedOut : .optedIn,
                         source: source, reason: "replied \(word)", on: db)
        return action
    }

    /// What an inbound SMS asks for, and its keyword (upper-cased, single-spaced).
    public static func classify(_ body: String) -> (InboundAction, String) {
        let word = body.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters)).uppercased()
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if stopWords.contains(word) { return (.optedOut, word) }
        if startWords.contains(word) { return (.optedIn, word) }
        if word == "HELP" || word == "INFO" { return (.help, word) }
        return (.none, word)
    }

    static func normalize(_ channel: Channel, _ raw: String) throws -> String {
        do {
            return channel == .sms ? try Recipients.normalizePhone(raw) : try Recipients.normalizeEmail(raw)
        } catch {
            throw ParleyError.badRequest(error.description, code: channel == .email ? "invalid_email" : "invalid_phone")
        }
    }

    static func decode(_ row: any SQLRow) throws -> ConsentRecord {
        ConsentRecord(channel: Channel(rawValue: try row.decode(column: "channel", as: String.self)) ?? .sms,
                      recipient: try row.decode(column: "recipient", as: String.self),
                      status: ConsentStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .suppressed,
                      source: try row.decode(column: "source", as: String.self), reason: try row.decode(column: "reason", as: String?.self),
                      updatedAt: try row.decode(column: "updated_at", as: Date.self))
    }
}
