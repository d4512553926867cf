import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

extension CommsSchema {
    static let templatesMigration = Migration("0005_message_templates", [
        """
        CREATE TABLE message_templates (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            definition TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at %TIMESTAMP% NOT NULL,
            UNIQUE (tenant_id, name, version)
        )
        """,
    ])
}

/// Global default templates with per-tenant overrides. Every edit is a new version; the newest
/// version of a tenant's override wins over the default of the same name.
public struct TemplateService: Sendable {
    let store: any Store
    let clock: any Clock
    let defaults: [MessageTemplate]
    let retention: Retention

    public init(store: any Store, clock: any Clock, defaults: [MessageTemplate] = DefaultTemplates.all, retention: Retention = .standard) {
        self.store = store
        self.clock = clock
        self.defaults = defaults
        self.retention = retention
    }

    public struct Entry: Sendable, Equatable {
        public var template: MessageTemplate
        /// True when the tenant's own version is in use (or, with `deletedAt`, was).
        public var overridden: Bool
        /// A deleted override (listed with `include_deleted`): the default of its name, if any, is in use.
        public var deletedAt: Date?

        public init(template: MessageTemplate, overridden: Bool, deletedAt: Date? = nil) {
            self.template = template
            self.overridden = overridden
            self.deletedAt = deletedAt
        }
    }

    public func list(_ principal: Principal, includeDeleted: Bool = false) async throws -> [Entry] {
        try principal.require(.readTenant)
        let overrides = try await latestOverrides(tenantID: principal.tenantID, name: nil)
        var byName = Dictionary(uniqueKeysWithValues: defaults.map { ($0.name, Entry(template: $0, overridden: false)) })
        for t in overrides { byName[t.name] = Entry(template: t, overridden: true) }
        var out = byName.values.sorted { $0.template.name < $1.template.name }
        if includeDeleted {
            let live = Set(overrides.map(\.name))
            let deleted = try await deletedOverrides(tenantID: principal.tenantID, name: nil).filter { !live.contains($0.template.name) }
            out = (out + deleted).sorted { ($0.template.name, $0.deletedAt == nil ? 0 : 1) < ($1.template.name, $1.deletedAt == nil ? 0 : 1) }
        }
        return out
    }

    /// `GET /v1/templates/{name}`: the template in use; a deleted override with no default under
    /// its name is 404 `template_deleted` (restorable until the date it names).
    public func entry(_ principal: Principal, name: String) async throws -> Entry {
        try principal.require(.readTenant)
        if let own = try await latestOverrides(tenantID: principal.tenantID, name: name).first { return Entry(template: own, overridden: true) }
        if let global = defaults.first(where: { $0.name == name }) { return Entry(template: global, overridden: false) }
        if let deleted = try await deletedOverrides(tenantID: principal.tenantID, name: name).first, let at = deleted.deletedAt {
            throw retention.deleted("template \(name.prefix(64))", code: "template_deleted", restore: "/v1/templates/\(name.prefix(64))/restore", deletedAt: at)
        }
        throw ParleyError.notFound("there is no template named '\(name.prefix(64))'", code: "template_not_found")
    }

    /// Soft-deletes the tenant's own versions of `name`: the default of that name (if any) is in
    /// use again. Restorable within the retention period; a default alone cannot be deleted.
    public func delete(_ ctx: ActionContext, name: String) async throws -> Entry {
        try ctx.principal.require(.operate, toDo: "delete templates")
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        guard let own = try await latestOverrides(tenantID: tenantID, name: name).first else {
            if let deleted = try await deletedOverrides(tenantID: tenantID, name: name).first { return deleted }
            let isDefault = defaults.contains { $0.name == name }
            throw ParleyError.notFound(isDefault ? "template \(name.prefix(64)) is a default with no version of this workspace's own; only the workspace's own versions can be deleted"
                                                 : "there is no template named '\(name.prefix(64))'",
                                       code: "template_not_found")
        }
        try await store.transaction { db in
            try await db.raw("""
                UPDATE message_templates SET deleted_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND name = \(bind: name) AND deleted_at IS NULL
                """).run()
            try await audit.record(ctx, action: "template.delete", targetType: "template", targetID: name, on: db)
        }
        return Entry(template: own, overridden: true, deletedAt: now)
    }

    /// Restores the versions the last delete of `name` removed (within the retention period).
    public func restore(_ ctx: ActionContext, name: String) async throws -> Entry {
        try ctx.principal.require(.operate, toDo: "restore templates")
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        guard let deleted = try await deletedOverrides(tenantID: tenantID, name: name).first, let at = deleted.deletedAt else {
            if let own = try await latestOverrides(tenantID: tenantID, name: name).first { return Entry(template: own, overridden: true) }
            throw ParleyError.notFound("there is no deleted template named '\(name.prefix(64))' to restore", code: "template_not_found")
        }
        try retention.requireRestorable("template \(name.prefix(64))", deletedAt: at, now: now)
        try await store.transaction { db in
            try await db.raw("""
                UPDATE message_templates SET deleted_at = NULL WHERE tenant_id = \(bind: tenantID) AND name = \(bind: name) AND deleted_at = \(bind: at)
                """).run()
            try await audit.record(ctx, action: "template.restore", targetType: "template", targetID: name, on: db)
        }
        return try await entry(ctx.principal, name: name)
    }

    public func template(tenantID: String, name: String) async throws -> MessageTemplate {
        if let own = try await latestOverrides(tenantID: tenantID, name: name).first { return own }
        if let global = defaults.first(where: { $0.name == name }) { return global }
        throw ParleyError.notFound("there is no template named '\(name.prefix(64))'", code: "template_not_found")
    }

    /// Saves a new version of the tenant's template `name`.
    public func save(_ ctx: ActionContext, _ proposed: MessageTemplate) async throws -> MessageTemplate {
        try ctx.principal.require(.operate)
        var template = proposed
        template.version = 1
        do {
            try TemplateRenderer.validate(template)
        } catch {
            throw ParleyError.badRequest(error.description, code: Self.code(error))
        }
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let floor = defaults.first { $0.name == template.name }?.version ?? 0
        let actor = ctx.principal.actor
        let draft = template
        return try await store.transaction { db in
            var saved = draft
            let current = try await db.raw("""
                SELECT MAX(version) AS v FROM message_templates WHERE tenant_id = \(bind: tenantID) AND name = \(bind: draft.name)
                """).first()?.decode(column: "v", as: Int?.self) ?? 0
            saved.version = max(current, floor) + 1
            let definition = String(decoding: try JSONEncoder().encode(saved), as: UTF8.self)
            try await db.raw("""
                INSERT INTO message_templates (id, tenant_id, name, version, definition, created_by, created_at, personalize, personalization_prompt)
                VALUES (\(bind: UUIDv7.make(at: now)), \(bind: tenantID), \(bind: saved.name), \(bind: saved.version),
                        \(bind: definition), \(bind: actor), \(bind: now), \(bind: saved.personalize), \(bind: saved.personalizationPrompt))
                """).run()
            return saved
        }
    }

    public struct Version: Sendable, Equatable {
        public var template: MessageTemplate
        public var createdBy: String?
        public var createdAt: Date?
        /// The one `POST /v1/messages` uses now.
        public var current: Bool
    }

    /// Every saved version of `name`, newest first, then the global default it overrides (if any).
    public func versions(_ principal: Principal, name: String) async throws -> [Version] {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        let rows = try await store.read { db in
            try await db.raw("""
                SELECT definition, personalize, personalization_prompt, created_by, created_at FROM message_templates
                WHERE tenant_id = \(bind: tenantID) AND name = \(bind: name) AND deleted_at IS NULL ORDER BY version DESC
                """).all()
        }
        var out: [Version] = try rows.compactMap { row in
            guard let t = Self.decode(row) else { return nil }
            return Version(template: t, createdBy: try row.decode(column: "created_by", as: String.self),
                           createdAt: try row.decode(column: "created_at", as: Date.self), current: false)
        }
        if let global = defaults.first(where: { $0.name == name }) { out.append(Version(template: global, createdBy: nil, createdAt: nil, current: false)) }
        guard !out.isEmpty else { throw ParleyError.notFound("there is no template named '\(name.prefix(64))'", code: "template_not_found") }
        out[0].current = true
        return out
    }

    /// Renders `name` (or `draft`, when given) with `variables`, as a message would be; returns
    /// the template it used too.
    public func preview(_ principal: Principal, name: String, draft: MessageTemplate?, variables: [String: JSONValue]) async throws
        -> (template: MessageTemplate, rendered: RenderedMessage) {
        try principal.require(.readTenant)
        let template: MessageTemplate
        if let draft { template = draft } else { template = try await self.template(tenantID: principal.tenantID, name: name) }
        do {
            return (template, try TemplateRenderer.render(template, variables: variables))
        } catch {
            throw ParleyError.badRequest(error.description, code: Self.code(error))
        }
    }

    static func code(_ error: TemplateError) -> String {
        switch error {
        case .invalidName: "invalid_template_name"
        case .syntax: "template_syntax_error"
        case .missingVariables: "missing_variables"
        case .invalid: "invalid_template"
        }
    }

    private func latestOverrides(tenantID: String, name: String?) async throws -> [MessageTemplate] {
        try await store.read { db in
            var sql: SQLQueryString = """
                SELECT t.definition, t.personalize, t.personalization_prompt FROM message_templates t
                WHERE t.tenant_id = \(bind: tenantID) AND t.deleted_at IS NULL
                  AND t.version = (SELECT MAX(v.version) FROM message_templates v WHERE v.tenant_id = t.tenant_id AND v.name = t.name AND v.deleted_at IS NULL)
                """
            if let name { sql += " AND t.name = \(bind: name)" }
            return try await db.raw(sql).all().compactMap(Self.decode)
        }
    }

    /// The newest deleted version of each name (of `name`), with when it was deleted.
    private func deletedOverrides(tenantID: String, name: String?) async throws -> [Entry] {
        try await store.read { db in
            var sql: SQLQueryString = """
                SELECT t.definition, t.personalize, t.personalization_prompt, t.deleted_at FROM message_templates t
                WHERE t.tenant_id = \(bind: tenantID) AND t.deleted_at IS NOT NULL
                  AND t.version = (SELECT MAX(v.version) FROM message_templates v WHERE v.tenant_id = t.tenant_id AND v.name = t.name AND v.deleted_at IS NOT NULL)
                """
            if let name { sql += " AND t.name = \(bind: name)" }
            return try await db.raw(sql).all().compactMap { row in
                guard let t = Self.decode(row), let at = try? row.decode(column: "deleted_at", as: Date.self) else { return nil }
                return Entry(template: t, overridden: true, deletedAt: at)
            }
        }
    }

    /// A stored version: the definition, with the personalisation settings from their columns.
    private static func decode(_ row: any SQLRow) -> MessageTemplate? {
        guard let definition = try? row.decode(column: "definition", as: String.self),
              var template = try? JSONDecoder().decode(MessageTemplate.self, from: Data(definition.utf8)) else { return nil }
        template.personalize = (try? row.decode(column: "personalize", as: Bool.self)) ?? false
        template.personalizationPrompt = try? row.decode(column: "personalization_prompt", as: String?.self)
        return template
    }
}
