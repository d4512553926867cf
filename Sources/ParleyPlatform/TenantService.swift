import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

public struct TenantService: Sendable {
    let store: any Store
    let clock: any Clock
    let repo = TenantRepository()

    public init(store: any Store, clock: any Clock) {
        self.store = store
        self.clock = clock
    }

    /// Validates and builds a tenant; `slug` defaults to one derived from the name.
    public func make(name: String, slug: String?, timeZone: String) throws(ParleyError) -> Tenant {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw .badRequest("name must be 1 to 200 characters", code: "invalid_name")
        }
        let slug = slug ?? Self.slugify(name)
        guard (1...64).contains(slug.count), slug.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw .badRequest("slug must be 1 to 64 characters of a-z, 0-9 and '-'", code: "invalid_slug")
        }
        guard TimeZone(identifier: timeZone) != nil else {
            throw .badRequest("time_zone must be an IANA zone such as Europe/Paris, got '\(timeZone)'", code: "invalid_time_zone")
        }
        let now = clock.now()
        return Tenant(id: UUIDv7.make(at: now), name: name, slug: slug, timeZone: timeZone, createdAt: now, updatedAt: now)
    }

    public func create(name: String, slug: String?, timeZone: String, actor: String) async throws -> Tenant {
        let tenant = try make(name: name, slug: slug, timeZone: timeZone)
        let audit = AuditLog(clock: clock)
        do {
            try await store.transaction { db in
                try await repo.insert(tenant, on: db)
                let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: actor), requestID: nil)
                try await audit.record(ctx, action: "tenant.create", targetType: "tenant", targetID: tenant.id, on: db)
            }
        } catch StoreError.uniqueViolation {
            throw ParleyError.conflict("a tenant with slug '\(tenant.slug)' already exists", code: "slug_taken")
        }
        return tenant
    }

    /// A change to a tenant's settings; nil leaves a field as it is.
    public struct Update: Sendable, Equatable {
        public var name: String?
        public var timeZone: String?
        /// `.some(nil)` removes the hand-off address; nil leaves it.
        public var handoffEmail: String??
        public init(name: String? = nil, timeZone: String? = nil, handoffEmail: String?? = nil) {
            self.name = name
            self.timeZone = timeZone
            self.handoffEmail = handoffEmail
        }
    }

    /// Runs in the transaction that changes a tenant's zone, so whatever follows the zone (the
    /// scheduler's next runs) commits with it.
    public typealias ZoneChange = @Sendable (_ tenantID: String, _ zone: TimeZone, _ now: Date, _ db: any SQLDatabase) async throws -> Void

    /// Only admins change a tenant's settings.
    public static func requireSettingsChange(_ principal: Principal) throws(ParleyError) {
        guard principal.role == .admin else {
            throw .forbidden("this key's role (\(principal.role.rawValue)) may not change the workspace's name or time zone; use an admin key")
        }
    }

    /// Renames the caller's tenant and/or moves it to another IANA zone. Admin only; audited with
    /// the old and new values.
    public func update(_ ctx: ActionContext, _ u: Update, zoneChanged: ZoneChange? = nil) async throws -> Tenant {
        try Self.requireSettingsChange(ctx.principal)
        guard u.name != nil || u.timeZone != nil || u.handoffEmail != nil else {
            throw ParleyError.badRequest("send name, time_zone and/or handoff_email to change", code: "empty_update")
        }
        let handoffEmail = try u.handoffEmail.map { (raw: String?) throws(ParleyError) -> String? in
            guard let raw else { return nil }
            let e = raw.trimmingCharacters(in: .whitespaces)
            let parts = e.split(separator: "@", omittingEmptySubsequences: false)
            guard e.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
                  !e.contains(where: { $0.isWhitespace || $0 == "\u{0}" || $0 == "," || $0 == ";" || $0 == "<" || $0 == ">" }) else {
                throw .badRequest("handoff_email must be one email address such as support@example.com, got '\(raw.prefix(64))'", code: "invalid_handoff_email")
            }
            return e
        }
        let name = try u.name.map { (raw: String) throws(ParleyError) -> String in
            let n = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !n.isEmpty, n.count <= 200, !n.contains(where: { $0.isNewline || $0 == "\u{0}" }) else {
                throw .badRequest("name must be 1 to 200 characters on one line", code: "invalid_name")
            }
            return n
        }
        let zone = try u.timeZone.map { (raw: String) throws(ParleyError) -> TimeZone in
            let id = raw.trimmingCharacters(in: .whitespaces)
            // TimeZone(identifier:) also accepts abbreviations ("EST", "CET"); only Area/Location names and UTC are taken.
            guard let tz = TimeZone(identifier: id), id.contains("/") || id == "UTC" else {
                throw .badRequest("time_zone must be an IANA zone such as America/Chicago or Europe/Paris, got '\(raw.prefix(64))'", code: "invalid_time_zone")
            }
            return tz
        }
        let now = clock.now()
        let tenantID = ctx.principal.tenantID
        let audit = AuditLog(clock: clock)
        return try await store.transaction { db in
            guard var t = try await repo.find(id: tenantID, on: db) else {
                throw ParleyError.notFound("tenant \(tenantID) not found", code: "tenant_not_found")
            }
            var changes: [String: String] = [:]
            if let name, name != t.name { changes["name"] = name; changes["previous_name"] = t.name; t.name = name }
            if let handoffEmail, handoffEmail != t.handoffEmail {
                changes["handoff_email"] = handoffEmail ?? "(removed)"
                t.handoffEmail = handoffEmail
            }
            if let zone, zone.identifier != t.timeZone {
                changes["time_zone"] = zone.identifier
                changes["previous_time_zone"] = t.timeZone
                t.timeZone = zone.identifier
            }
            guard !changes.isEmpty else { return t }
            t.updatedAt = now
            try await repo.update(t, on: db)
            if let zone, changes["time_zone"] != nil { try await zoneChanged?(tenantID, zone, now, db) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let details = String(decoding: try encoder.encode(changes), as: UTF8.self)
            try await audit.record(ctx, action: "tenant.update", targetType: "tenant", targetID: tenantID, details: details, on: db)
            return t
        }
    }

    public func list() async throws -> [Tenant] {
        try await store.read { db in try await repo.list(on: db) }
    }

    public func get(_ id: String) async throws -> Tenant {
        guard let t = try await store.read({ db in try await repo.find(id: id, on: db) }) else {
            throw ParleyError.notFound("tenant \(id) not found", code: "tenant_not_found")
        }
        return t
    }

    /// Accepts a tenant id or slug, as operators type either on the command line.
    public func resolve(_ idOrSlug: String) async throws -> Tenant {
        let found = try await store.read { db -> Tenant? in
            if let byID = try await repo.find(id: idOrSlug, on: db) { return byID }
            return try await repo.find(slug: idOrSlug, on: db)
        }
        guard let found else { throw ParleyError.notFound("no tenant with id or slug '\(idOrSlug)'", code: "tenant_not_found") }
        return found
    }

    static func slugify(_ name: String) -> String {
        let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        var out = ""
        for ch in folded {
            if ch.isASCII && (ch.isLetter || ch.isNumber) { out.append(ch) } else if !out.hasSuffix("-") { out.append("-") }
        }
        let trimmed = out.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return String((trimmed.isEmpty ? "tenant" : trimmed).prefix(64))
    }
}
