import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// The customer chat page's tables: each tenant's widget settings (its public key and the sites
/// allowed to embed it), the visitors (a hashed token per conversation) and the files they attached.
public enum CustomerChatSchema {
    public static let migrations: [Migration] = [
        Migration("0017_customer_chat", [
            """
            CREATE TABLE widget_settings (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                enabled %BOOL% NOT NULL,
                public_key TEXT NOT NULL UNIQUE,
                allowed_origins TEXT NOT NULL,
                title TEXT,
                greeting TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
            """
            CREATE TABLE chat_visitors (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                session_id TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                origin TEXT,
                created_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX chat_visitors_session ON chat_visitors (tenant_id, session_id)",
            """
            CREATE TABLE chat_attachments (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                visitor_id TEXT NOT NULL REFERENCES chat_visitors(id),
                filename TEXT NOT NULL,
                content_type TEXT NOT NULL,
                size_bytes %BIGINT% NOT NULL,
                markdown TEXT NOT NULL,
                workflow_id TEXT,
                created_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX chat_attachments_visitor ON chat_attachments (tenant_id, visitor_id, workflow_id)",
        ]),
    ]
}

/// A tenant's public chat page and widget: whether it is on, its public key (not a secret: it is
/// in every page that embeds the widget, but random and rotatable) and the sites that may embed it.
public struct WidgetSettings: Sendable, Equatable {
    public var tenantID: String
    public var enabled: Bool
    /// nil until the settings were first saved.
    public var publicKey: String?
    /// `scheme://host[:port]`, lower-case, no path.
    public var allowedOrigins: [String]
    public var title: String?
    public var greeting: String?
    public var updatedAt: Date?

    public static func unset(_ tenantID: String) -> WidgetSettings {
        WidgetSettings(tenantID: tenantID, enabled: false, publicKey: nil, allowedOrigins: [], title: nil, greeting: nil, updatedAt: nil)
    }
}

/// Reads and changes a tenant's widget settings (`/v1/tenant/widget`, audited), and finds the
/// tenant and settings behind a public chat URL.
public struct WidgetSettingsService: Sendable {
    let store: any Store
    let clock: any Clock
    let tenants = TenantRepository()

    public static let maxOrigins = 50
    public static let keyPrefix = "pk_"

    public init(store: any Store, clock: any Clock) {
        self.store = store
        self.clock = clock
    }

    public struct Update: Sendable, Equatable {
        public var enabled: Bool?
        public var allowedOrigins: [String]?
        /// `.some(nil)` clears it.
        public var title: String??
        public var greeting: String??
        public init(enabled: Bool? = nil, allowedOrigins: [String]? = nil, title: String?? = nil, greeting: String?? = nil) {
            self.enabled = enabled; self.allowedOrigins = allowedOrigins; self.title = title; self.greeting = greeting
        }
    }

    public func get(_ principal: Principal) async throws -> WidgetSettings {
        try principal.require(.readTenant)
        return try await store.read { db in try await Self.find(tenantID: principal.tenantID, on: db) } ?? .unset(principal.tenantID)
    }

    /// Changes the fields given; the first save creates the settings with a new public key.
    public func update(_ ctx: ActionContext, _ u: Update) async throws -> WidgetSettings {
        try ctx.principal.require(.manageKeys, toDo: "change the chat widget's settings")
        let origins = try u.allowedOrigins.map(Self.normalize)
        let title = try u.title.map { try Self.text($0, field: "title", max: 80) }
        let greeting = try u.greeting.map { try Self.text($0, field: "greeting", max: 500) }
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        return try await store.transaction { db in
            var s = try await Self.find(tenantID: tenantID, on: db) ?? .unset(tenantID)
            let created = s.publicKey == nil
            if let v = u.enabled { s.enabled = v }
            if let origins { s.allowedOrigins = origins }
            if let title { s.title = title }
            if let greeting { s.greeting = greeting }
            if created { s.publicKey = Self.newKey() }
            s.updatedAt = now
            try await Self.save(s, created: created, at: now, on: db)
            let details: JSONValue = ["enabled": .bool(s.enabled), "allowed_origins": .array(s.allowedOrigins.map { .string($0) })]
            try await audit.record(ctx, action: "widget.update", targetType: "tenant", targetID: tenantID, details: details.serialized(), on: db)
            return s
        }
    }

    /// A new public key: pages embedding the old one stop working until they are given the new one.
    public func rotateKey(_ ctx: ActionContext) async throws -> WidgetSettings {
        try ctx.principal.require(.manageKeys, toDo: "rotate the chat widget's key")
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        return try await store.transaction { db in
            var s = try await Self.find(tenantID: tenantID, on: db) ?? .unset(tenantID)
            let created = s.publicKey == nil
            s.publicKey = Self.newKey()
            s.updatedAt = now
            try await Self.save(s, created: created, at: now, on: db)
            try await audit.record(ctx, action: "widget.rotate_key", targetType: "tenant", targetID: tenantID, on: db)
            return s
        }
    }

    /// The tenant and its widget settings behind `/c/{slug}`; nil when there is no such tenant
    /// or its page is switched off (both answer the same 404, so slugs cannot be probed).
    public func published(slug: String) async throws -> (Tenant, WidgetSettings)? {
        guard slug.count <= 100 else { return nil }
        return try await store.read { [tenants] db in
            guard let tenant = try await tenants.find(slug: slug, on: db), tenant.deletedAt == nil,
                  let s = try await Self.find(tenantID: tenant.id, on: db), s.enabled else { return nil }
            return (tenant, s)
        }
    }

    // MARK: validation

    /// Each origin as browsers send it: `https://shop.example` or `http://localhost:3000`.
    static func normalize(_ origins: [String]) throws(ParleyError) -> [String] {
        guard origins.count <= maxOrigins else {
            throw .badRequest("allowed_origins has \(origins.count) entries; the limit is \(maxOrigins)", code: "invalid_allowed_origins")
        }
        var out: [String] = []
        for raw in origins {
            let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard let origin = Self.origin(text), origin == text || origin + "/" == text else {
                throw .badRequest("allowed_origins entry '\(raw.prefix(100))' is not an origin; write scheme://host[:port] with no path, e.g. https://shop.example",
                                  code: "invalid_allowed_origins")
            }
            if !out.contains(origin) { out.append(origin) }
        }
        return out
    }

    /// `scheme://host[:port]` of an http(s) URL, lower-case; nil for anything else.
    public static func origin(_ text: String) -> String? {
        guard text.count <= 300, let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host?.lowercased(), !host.isEmpty, c.user == nil, c.password == nil, c.query == nil, c.fragment == nil,
              c.path.isEmpty || c.path == "/" else { return nil }
        let port = c.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host)\(port)"
    }

    static func text(_ value: String?, field: String, max: Int) throws(ParleyError) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        guard value.count <= max, !value.contains(where: { $0.isNewline && field == "title" }) else {
            throw .badRequest("\(field) must be at most \(max) characters\(field == "title" ? " on one line" : "")", code: "invalid_\(field)")
        }
        return value
    }

    static func newKey() -> String {
        keyPrefix + String(APIKeySecret.generate().dropFirst(APIKeySecret.scheme.count).prefix(32))
    }

    // MARK: rows

    static func find(tenantID: String, on db: any SQLDatabase) async throws -> WidgetSettings? {
        guard let row = try await db.raw("SELECT * FROM widget_settings WHERE tenant_id = \(bind: tenantID)").first() else { return nil }
        let origins = try row.decode(column: "allowed_origins", as: String.self)
        return WidgetSettings(
            tenantID: tenantID, enabled: try row.decode(column: "enabled", as: Bool.self), publicKey: try row.decode(column: "public_key", as: String.self),
            allowedOrigins: origins.split(separator: " ").map(String.init), title: try row.decode(column: "title", as: String?.self),
            greeting: try row.decode(column: "greeting", as: String?.self), updatedAt: try row.decode(column: "updated_at", as: Date.self))
    }

    static func save(_ s: WidgetSettings, created: Bool, at now: Date, on db: any SQLDatabase) async throws {
        let origins = s.allowedOrigins.joined(separator: " ")
        if created {
            try await db.raw("""
                INSERT INTO widget_settings (tenant_id, enabled, public_key, allowed_origins, title, greeting, created_at, updated_at)
                VALUES (\(bind: s.tenantID), \(bind: s.enabled), \(bind: s.publicKey ?? newKey()), \(bind: origins), \(bind: s.title), \(bind: s.greeting), \(bind: now), \(bind: now))
                """).run()
        } else {
            try await db.raw("""
                UPDATE widget_settings SET enabled = \(bind: s.enabled), public_key = \(bind: s.publicKey ?? newKey()), allowed_origins = \(bind: origins),
                    title = \(bind: s.title), greeting = \(bind: s.greeting), updated_at = \(bind: now)
                WHERE tenant_id = \(bind: s.tenantID)
                """).run()
        }
    }
}
