import Foundation
import ParleyCore
import ParleyStorage

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
