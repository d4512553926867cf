import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

// Agents as data (issue 13): a tenant's agents, each change a new immutable version, and what a
// run of one asks of the runtime. The tenant's built-in assistant is the default agent.

public enum AgentDefinitionSchema {
    public static let migrations: [Migration] = [
        Migration("0019_agent_definitions", [
            """
            CREATE TABLE agents (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                is_default %BOOL% NOT NULL DEFAULT FALSE,
                current_version INTEGER NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                deleted_at %TIMESTAMP%
            )
            """,
            "CREATE UNIQUE INDEX agents_tenant_name ON agents (tenant_id, name) WHERE deleted_at IS NULL",
            "CREATE UNIQUE INDEX agents_tenant_default ON agents (tenant_id) WHERE is_default",
            """
            CREATE TABLE agent_versions (
                agent_id TEXT NOT NULL REFERENCES agents(id),
                version INTEGER NOT NULL,
                tenant_id TEXT NOT NULL,
                definition TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (agent_id, version)
            )
            """,
            "ALTER TABLE workflows ADD COLUMN agent_id TEXT",
            "ALTER TABLE workflows ADD COLUMN agent_version INTEGER",
            "ALTER TABLE agent_sessions ADD COLUMN deleted_at %TIMESTAMP%",
        ]),
    ]
}

/// Which model an agent uses: a configured provider (optionally another model of it), or the
/// offline planner (`offline`).
public struct AgentModelChoice: Sendable, Equatable, Codable {
    public var provider: String
    public var model: String?
    public static let providers = ["anthropic", "openai", "offline"]
}

public struct AgentDefinitionLimits: Sendable, Equatable, Codable {
    public var maxTokens: Int?
    public var maxExecutionSeconds: Int?
    public var maxIterations: Int?
    enum CodingKeys: String, CodingKey { case maxTokens = "max_tokens", maxExecutionSeconds = "max_execution_seconds", maxIterations = "max_iterations" }
    public init(maxTokens: Int? = nil, maxExecutionSeconds: Int? = nil, maxIterations: Int? = nil) {
        self.maxTokens = maxTokens; self.maxExecutionSeconds = maxExecutionSeconds; self.maxIterations = maxIterations
    }
    static let ranges: [(key: String, range: ClosedRange<Int>)] = [("max_tokens", 1...200_000), ("max_execution_seconds", 1...3600), ("max_iterations", 1...100)]

    subscript(key: String) -> Int? {
        get {
            switch key {
            case "max_tokens": maxTokens
            case "max_execution_seconds": maxExecutionSeconds
            default: maxIterations
            }
        }
        set {
            switch key {
            case "max_tokens": maxTokens = newValue
            case "max_execution_seconds": maxExecutionSeconds = newValue
            default: maxIterations = newValue
            }
        }
    }
}

/// One version of an agent, as stored (JSON) and shown. A nil `systemPrompt` means the tenant's
/// composed prompt (the installation's and its packs'); nil `tools`, every tool of its enabled packs.
public struct AgentSpec: Sendable, Equatable, Codable {
    public var name: String
    public var description: String?
    public var model: AgentModelChoice?
    public var systemPrompt: String?
    public var tools: [String]?
    public var knowledgeCollections: [String] = []
    public var limits = AgentDefinitionLimits()
    public var approvalOverrides: [String: ToolPolicyMode] = [:]
    enum CodingKeys: String, CodingKey {
        case name, description, model, tools, limits
        case systemPrompt = "system_prompt", knowledgeCollections = "knowledge_collections", approvalOverrides = "approval_overrides"
    }
}

public struct AgentDefinition: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var version: Int
    /// The tenant's built-in assistant (`/v1/chat`, sessions, the customer chat).
    public var isDefault: Bool
    public var spec: AgentSpec
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?

    public var json: JSONValue {
        let s = spec
        func text(_ value: String?) -> JSONValue { value.map { JSONValue.string($0) } ?? JSONValue.null }
        func texts(_ values: [String]) -> JSONValue { JSONValue.array(values.map { JSONValue.string($0) }) }
        var limits: [String: JSONValue] = [:]
        for l in AgentDefinitionLimits.ranges { limits[l.key] = s.limits[l.key].map { JSONValue.number(Double($0)) } ?? JSONValue.null }
        var model = JSONValue.null
        if let m = s.model { model = .object(["provider": .string(m.provider), "model": text(m.model)]) }
        var o: [String: JSONValue] = [:]
        o["id"] = .string(id)
        o["name"] = .string(s.name)
        o["description"] = text(s.description)
        o["model"] = model
        o["system_prompt"] = text(s.systemPrompt)
        o["tools"] = s.tools.map(texts) ?? JSONValue.null
        o["knowledge_collections"] = texts(s.knowledgeCollections)
        o["limits"] = .object(limits)
        o["approval_overrides"] = .object(s.approvalOverrides.mapValues { JSONValue.string($0.rawValue) })
        o["is_default"] = .bool(isDefault)
        o["version"] = .number(Double(version))
        o["created_at"] = .string(Timestamps.format(createdAt))
        o["updated_at"] = .string(Timestamps.format(updatedAt))
        o["deleted_at"] = deletedAt.map { JSONValue.string(Timestamps.format($0)) } ?? JSONValue.null
        return .object(o)
    }
}

public struct AgentVersion: Sendable, Equatable {
    public var agentID: String
    public var version: Int
    public var spec: AgentSpec
    public var createdBy: String
    public var createdAt: Date
}

/// What a run's agent asks of the runtime; kept in the run's checkpoint, so a run resumed after
/// an approval (in any process) keeps its agent's rules.
struct AgentRunConfig: Sendable, Codable, Equatable {
    var agentID: String
    var version: Int
    var systemPrompt: String?
    var tools: [String]?
    var maxIterations: Int?
    var maxTokens: Int?
    var maxExecutionSeconds: Int?
    var approvalOverrides: [String: ToolPolicyMode]
    var provider: String?
    var model: String?
    var knowledgeCollections: [String]

    init(_ d: AgentDefinition) {
        agentID = d.id; version = d.version; systemPrompt = d.spec.systemPrompt; tools = d.spec.tools
        maxIterations = d.spec.limits.maxIterations; maxTokens = d.spec.limits.maxTokens; maxExecutionSeconds = d.spec.limits.maxExecutionSeconds
        approvalOverrides = d.spec.approvalOverrides; knowledgeCollections = d.spec.knowledgeCollections
        // The offline planner is the last of the chain: naming it means no language model.
        provider = d.spec.model?.provider; model = d.spec.model?.model
    }

    /// The tenant's policies with this agent's overrides on top, and every tool outside its
    /// allow-list disabled (never offered, refused if called).
    func policies(over tenant: [String: ToolPolicyMode], registered: [String]) -> [String: ToolPolicyMode] {
        var out = tenant.merging(approvalOverrides) { _, own in own }
        if let tools {
            let allowed = Set(tools)
            for name in registered where !allowed.contains(name) { out[name] = .disabled }
        }
        return out
    }
}

/// A create or PATCH body: absent fields stay as they are; `null` resets a field to its default.
public struct AgentChanges: Sendable {
    public var name: String?
    public var description: String??
    public var model: AgentModelChoice??
    public var systemPrompt: String??
    public var tools: [String]??
    public var knowledgeCollections: [String]?
    /// Only the keys sent change.
    public var limits: [(key: String, value: Int?)] = []
    public var approvalOverrides: [String: ToolPolicyMode]?

    public static let fields: Set<String> = ["name", "description", "model", "system_prompt", "tools", "knowledge_collections", "limits", "approval_overrides"]

    public init() {}

    /// Reads the JSON body (its keys already checked against `fields`); every bad value is a 400 naming the field.
    public static func parse(_ body: JSONValue) throws -> AgentChanges {
        var c = AgentChanges()
        guard let o = body.objectValue else { throw ParleyError.badRequest("send a JSON object", code: "invalid_json") }
        func text(_ key: String, max: Int) throws -> String?? {
            guard let v = o[key] else { return nil }
            if v == .null { return .some(nil) }
            guard let s = v.stringValue else { throw ParleyError.badRequest("'\(key)' must be a string or null", code: "invalid_agent") }
            guard s.count <= max else { throw ParleyError.badRequest("'\(key)' has \(s.count) characters; the limit is \(max)", code: "invalid_agent") }
            guard !s.contains("\u{0}") else { throw ParleyError.badRequest("'\(key)' contains a NUL character; remove it", code: "invalid_agent") }
            return .some(s)
        }
        func names(_ key: String, max: Int) throws -> [String]?? {
            guard let v = o[key] else { return nil }
            if v == .null { return .some(nil) }
            guard let list = v.arrayValue, list.count <= max else {
                throw ParleyError.badRequest("'\(key)' must be an array of at most \(max) strings", code: "invalid_agent")
            }
            var out: [String] = []
            for item in list {
                guard let s = item.stringValue, !s.isEmpty, s.count <= 128 else {
                    throw ParleyError.badRequest("every entry of '\(key)' must be a non-empty string of at most 128 characters", code: "invalid_agent")
                }
                if !out.contains(s) { out.append(s) }
            }
            return .some(out)
        }
        if let name = try text("name", max: 64) {
            guard let name, name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"#, options: .regularExpression) != nil else {
                throw ParleyError.badRequest("'name' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. \"support-bot\")",
                                             code: "invalid_agent")
            }
            c.name = name
        }
        c.description = try text("description", max: 500)
        c.systemPrompt = try text("system_prompt", max: 20_000)
        if case .some(.some(let p)) = c.systemPrompt, p.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ParleyError.badRequest("'system_prompt' is blank; send the prompt, or null for the workspace's default prompt", code: "invalid_agent")
        }
        c.tools = try names("tools", max: 200)
        if let list = try names("knowledge_collections", max: 50) { c.knowledgeCollections = list ?? [] }
        if let m = o["model"] {
            if m == .null {
                c.model = .some(nil)
            } else {
                guard let mo = m.objectValue, let provider = mo["provider"]?.stringValue, AgentModelChoice.providers.contains(provider),
                      mo.keys.allSatisfy({ $0 == "provider" || $0 == "model" }) else {
                    throw ParleyError.badRequest("'model' must be {\"provider\": one of \(AgentModelChoice.providers.joined(separator: ", ")), \"model\": a model name or null}, or null for the workspace's models",
                                                 code: "invalid_agent")
                }
                var model: String?
                if let raw = mo["model"], raw != .null {
                    guard let s = raw.stringValue, !s.isEmpty, s.count <= 128, provider != "offline" else {
                        throw ParleyError.badRequest("'model.model' must be a model name of at most 128 characters (the offline planner takes none)", code: "invalid_agent")
                    }
                    model = s
                }
                c.model = .some(AgentModelChoice(provider: provider, model: model))
            }
        }
        if let l = o["limits"] {
            guard let lo = l.objectValue else { throw ParleyError.badRequest("'limits' must be an object", code: "invalid_agent") }
            let keys = Set(AgentDefinitionLimits.ranges.map(\.key))
            if let unknown = lo.keys.sorted().first(where: { !keys.contains($0) }) {
                throw ParleyError.badRequest("unknown limit '\(unknown.prefix(64))'; limits are \(keys.sorted().joined(separator: ", "))", code: "unknown_field")
            }
            for r in AgentDefinitionLimits.ranges {
                guard let v = lo[r.key] else { continue }
                if v == .null { c.limits.append((r.key, nil)); continue }
                guard let n = v.intValue, r.range.contains(n) else {
                    throw ParleyError.badRequest("'limits.\(r.key)' must be an integer from \(r.range.lowerBound) to \(r.range.upperBound), or null for the server's default",
                                                 code: "invalid_agent")
                }
                c.limits.append((r.key, n))
            }
        }
        if let a = o["approval_overrides"] {
            if a == .null {
                c.approvalOverrides = [:]
            } else {
                guard let ao = a.objectValue, ao.count <= 200 else { throw ParleyError.badRequest("'approval_overrides' must be an object of tool name to mode", code: "invalid_agent") }
                var out: [String: ToolPolicyMode] = [:]
                for (tool, v) in ao {
                    guard let mode = v.stringValue.flatMap(Self.mode) else {
                        throw ParleyError.badRequest("'approval_overrides.\(tool.prefix(64))' must be one of auto, require_approval (or ask), disabled (or deny)", code: "invalid_agent")
                    }
                    out[tool] = mode
                }
                c.approvalOverrides = out
            }
        }
        return c
    }

    static func mode(_ text: String) -> ToolPolicyMode? {
        switch text {
        case "ask": .requireApproval
        case "deny": .disabled
        default: ToolPolicyMode(rawValue: text)
        }
    }

    /// The spec these changes make of `base`.
    func applied(to base: AgentSpec) -> AgentSpec {
        var s = base
        if let name { s.name = name }
        if let description { s.description = description }
        if let model { s.model = model }
        if let systemPrompt { s.systemPrompt = systemPrompt }
        if let tools { s.tools = tools }
        if let knowledgeCollections { s.knowledgeCollections = knowledgeCollections }
        for (key, value) in limits {
            s.limits[key] = value
        }
        if let approvalOverrides { s.approvalOverrides = approvalOverrides }
        return s
    }
}

struct AgentDefinitionRepository: Sendable {
    private static var select: SQLQueryString { """
        SELECT a.id, a.tenant_id, a.is_default, a.current_version, a.created_at, a.updated_at, a.deleted_at, v.definition
        FROM agents a JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.current_version
        """ }

    func find(tenantID: String, id: String, on db: any SQLDatabase) async throws -> AgentDefinition? {
        var sql = Self.select
        sql += " WHERE a.tenant_id = \(bind: tenantID) AND a.id = \(bind: id)"
        return try await db.raw(sql).first().map(Self.decode)
    }

    /// A live agent by name (a deleted one's name may be in use again).
    func find(tenantID: String, name: String, on db: any SQLDatabase) async throws -> AgentDefinition? {
        var sql = Self.select
        sql += " WHERE a.tenant_id = \(bind: tenantID) AND a.name = \(bind: name) AND a.deleted_at IS NULL"
        return try await db.raw(sql).first().map(Self.decode)
    }

    func findDefault(tenantID: String, on db: any SQLDatabase) async throws -> AgentDefinition? {
        var sql = Self.select
        sql += " WHERE a.tenant_id = \(bind: tenantID) AND a.is_default = \(bind: true)"
        return try await db.raw(sql).first().map(Self.decode)
    }

    /// Newest first; `before` is the last id of the previous page.
    func list(tenantID: String, includeDeleted: Bool, before: String?, limit: Int, on db: any SQLDatabase) async throws -> [AgentDefinition] {
        var sql = Self.select
        sql += " WHERE a.tenant_id = \(bind: tenantID)"
        if !includeDeleted { sql += " AND a.deleted_at IS NULL" }
        if let before { sql += " AND a.id < \(bind: before)" }
        sql += " ORDER BY a.id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decode)
    }

    func insert(_ d: AgentDefinition, by actor: String, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO agents (id, tenant_id, name, is_default, current_version, created_at, updated_at)
            VALUES (\(bind: d.id), \(bind: d.tenantID), \(bind: d.spec.name), \(bind: d.isDefault), \(bind: d.version), \(bind: d.createdAt), \(bind: d.updatedAt))
            """).run()
        try await insertVersion(d, by: actor, on: db)
    }

    /// Writes `d` as its agent's new current version (`d.version`).
    func update(_ d: AgentDefinition, by actor: String, on db: any SQLDatabase) async throws {
        try await insertVersion(d, by: actor, on: db)
        try await db.raw("""
            UPDATE agents SET name = \(bind: d.spec.name), current_version = \(bind: d.version), updated_at = \(bind: d.updatedAt)
            WHERE tenant_id = \(bind: d.tenantID) AND id = \(bind: d.id)
            """).run()
    }

    private func insertVersion(_ d: AgentDefinition, by actor: String, on db: any SQLDatabase) async throws {
        let json = String(decoding: try JSONEncoder().encode(d.spec), as: UTF8.self)
        try await db.raw("""
            INSERT INTO agent_versions (agent_id, version, tenant_id, definition, created_by, created_at)
            VALUES (\(bind: d.id), \(bind: d.version), \(bind: d.tenantID), \(bind: json), \(bind: actor), \(bind: d.updatedAt))
            """).run()
    }

    func setDeleted(tenantID: String, id: String, at: Date?, now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE agents SET deleted_at = \(bind: at), updated_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    /// Newest first.
    func versions(tenantID: String, agentID: String, before: Int?, limit: Int, on db: any SQLDatabase) async throws -> [AgentVersion] {
        var sql: SQLQueryString = "SELECT * FROM agent_versions WHERE tenant_id = \(bind: tenantID) AND agent_id = \(bind: agentID)"
        if let before { sql += " AND version < \(bind: before)" }
        sql += " ORDER BY version DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map { row in
            AgentVersion(agentID: try row.decode(column: "agent_id", as: String.self), version: try row.decode(column: "version", as: Int.self),
                         spec: try Self.spec(try row.decode(column: "definition", as: String.self)),
                         createdBy: try row.decode(column: "created_by", as: String.self), createdAt: try row.decode(column: "created_at", as: Date.self))
        }
    }

    static func spec(_ text: String) throws -> AgentSpec { try JSONDecoder().decode(AgentSpec.self, from: Data(text.utf8)) }

    static func decode(_ row: any SQLRow) throws -> AgentDefinition {
        AgentDefinition(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                        version: try row.decode(column: "current_version", as: Int.self), isDefault: try row.decode(column: "is_default", as: Bool.self),
                        spec: try spec(try row.decode(column: "definition", as: String.self)),
                        createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self),
                        deletedAt: try row.decode(column: "deleted_at", as: Date?.self))
    }
}

/// A tenant's agents: create, change (each change a new version), soft delete and restore, and
/// runs of one. Every method takes the caller and only touches the caller's tenant.
public struct AgentDefinitionService: Sendable {
    public let agent: AgentService
    let retention: Retention
    let repo = AgentDefinitionRepository()
    var store: any Store { agent.runtime.store }
    var clock: any Clock { agent.runtime.clock }

    public init(agent: AgentService, retention: Retention = .standard) {
        self.agent = agent
        self.retention = retention
    }

    public static let defaultName = "assistant"

    /// The tenant's built-in assistant, created (version 1) the first time anything needs it.
    public func defaultAgent(tenantID: String) async throws -> AgentDefinition {
        if let d = try await store.read({ [repo] db in try await repo.findDefault(tenantID: tenantID, on: db) }) { return d }
        let now = clock.now()
        let spec = AgentSpec(name: Self.defaultName,
                             description: "The workspace's built-in assistant: the server's prompt with the instructions and tools of the workspace's enabled packs.")
        let d = AgentDefinition(id: UUIDv7.make(at: now), tenantID: tenantID, version: 1, isDefault: true, spec: spec, createdAt: now, updatedAt: now)
        do {
            try await store.transaction { [repo] db in
                if try await repo.findDefault(tenantID: tenantID, on: db) == nil { try await repo.insert(d, by: "system", on: db) }
            }
        } catch StoreError.uniqueViolation {
            // Another request created it at the same moment.
        }
        guard let created = try await store.read({ [repo] db in try await repo.findDefault(tenantID: tenantID, on: db) }) else {
            throw ParleyError(.internalError, code: "internal_error", "the default agent could not be created")
        }
        return created
    }

    public func create(_ ctx: ActionContext, _ changes: AgentChanges) async throws -> AgentDefinition {
        try ctx.principal.require(.manageKeys, toDo: "create or change agents")
        guard let name = changes.name else { throw ParleyError.badRequest("'name' is required, e.g. {\"name\": \"support-bot\"}", code: "invalid_agent") }
        let tenantID = ctx.principal.tenantID
        _ = try await defaultAgent(tenantID: tenantID)
        let spec = changes.applied(to: AgentSpec(name: name))
        try await check(spec, tenantID: tenantID)
        let now = clock.now()
        let d = AgentDefinition(id: UUIDv7.make(at: now), tenantID: tenantID, version: 1, isDefault: false, spec: spec, createdAt: now, updatedAt: now)
        return try await write(ctx, action: "agent.create") { [repo] db in
            try await Self.requireFreeName(name, tenantID: tenantID, except: nil, repo: repo, on: db)
            try await repo.insert(d, by: ctx.principal.actor, on: db)
            return d
        }
    }

    public func update(_ ctx: ActionContext, ref: String, _ changes: AgentChanges) async throws -> AgentDefinition {
        try ctx.principal.require(.manageKeys, toDo: "create or change agents")
        let current = try await get(ctx.principal, ref: ref)
        guard current.deletedAt == nil else { throw deleted(current) }
        let spec = changes.applied(to: current.spec)
        try await check(spec, tenantID: ctx.principal.tenantID)
        var next = current
        next.spec = spec
        next.version = current.version + 1
        next.updatedAt = clock.now()
        let tenantID = ctx.principal.tenantID
        let written = next
        return try await write(ctx, action: "agent.update") { [repo] db in
            // The version read must still be current: two concurrent PATCHes do not both win.
            guard let latest = try await repo.find(tenantID: tenantID, id: current.id, on: db), latest.version == current.version, latest.deletedAt == nil else {
                throw ParleyError.conflict("agent \(current.spec.name) changed while this change was made; read it again and retry", code: "agent_changed")
            }
            if spec.name != current.spec.name { try await Self.requireFreeName(spec.name, tenantID: tenantID, except: current.id, repo: repo, on: db) }
            try await repo.update(written, by: ctx.principal.actor, on: db)
            return written
        }
    }

    public func delete(_ ctx: ActionContext, ref: String) async throws -> AgentDefinition {
        try ctx.principal.require(.manageKeys, toDo: "delete agents")
        let current = try await get(ctx.principal, ref: ref)
        guard !current.isDefault else {
            throw ParleyError.conflict("\(current.spec.name) is the workspace's default agent (it answers /v1/chat); change it instead of deleting it", code: "default_agent")
        }
        guard current.deletedAt == nil else { return current }
        let now = clock.now()
        var out = current
        out.deletedAt = now
        out.updatedAt = now
        let result = out
        return try await write(ctx, action: "agent.delete") { [repo] db in
            try await repo.setDeleted(tenantID: current.tenantID, id: current.id, at: now, now: now, on: db)
            return result
        }
    }

    public func restore(_ ctx: ActionContext, ref: String) async throws -> AgentDefinition {
        try ctx.principal.require(.manageKeys, toDo: "restore agents")
        let current = try await get(ctx.principal, ref: ref)
        guard let deletedAt = current.deletedAt else { return current }
        let now = clock.now()
        try retention.requireRestorable("agent \(current.spec.name)", deletedAt: deletedAt, now: now)
        var out = current
        out.deletedAt = nil
        out.updatedAt = now
        let result = out
        return try await write(ctx, action: "agent.restore") { [repo] db in
            try await Self.requireFreeName(current.spec.name, tenantID: current.tenantID, except: current.id, repo: repo, on: db)
            try await repo.setDeleted(tenantID: current.tenantID, id: current.id, at: nil, now: now, on: db)
            return result
        }
    }

    /// By id, or by name among the live agents.
    public func get(_ principal: Principal, ref: String) async throws -> AgentDefinition {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        if ref == Self.defaultName { _ = try await defaultAgent(tenantID: tenantID) }
        let found = try await store.read { [repo] db -> AgentDefinition? in
            if UUIDv7.isValid(ref) { return try await repo.find(tenantID: tenantID, id: ref.lowercased(), on: db) }
            return try await repo.find(tenantID: tenantID, name: ref, on: db)
        }
        guard let found else { throw ParleyError.notFound("there is no agent '\(ref.prefix(64))' in this workspace; GET /v1/agents lists them", code: "agent_not_found") }
        return found
    }

    public func list(_ principal: Principal, includeDeleted: Bool, before: String?, limit: Int) async throws -> [AgentDefinition] {
        try principal.require(.readTenant)
        if let before { try AgentService.validateID(before, what: "agent") }
        let tenantID = principal.tenantID
        _ = try await defaultAgent(tenantID: tenantID)
        return try await store.read { [repo] db in try await repo.list(tenantID: tenantID, includeDeleted: includeDeleted, before: before, limit: limit, on: db) }
    }

    /// Every live agent of the tenant, oldest first page by page (agents are configured by
    /// people, so the list is short): `GET /v1/models`.
    public func all(_ principal: Principal) async throws -> [AgentDefinition] {
        var all: [AgentDefinition] = []
        var before: String?
        repeat {
            let page = try await list(principal, includeDeleted: false, before: before, limit: 200)
            all += page
            before = page.count == 200 ? page.last?.id : nil
        } while before != nil
        return all
    }

    public func versions(_ principal: Principal, ref: String, before: Int?, limit: Int) async throws -> [AgentVersion] {
        let d = try await get(principal, ref: ref)
        return try await store.read { [repo] db in try await repo.versions(tenantID: principal.tenantID, agentID: d.id, before: before, limit: limit, on: db) }
    }

    /// The agent as it was at `version` (for a run of a pinned version).
    public func version(_ principal: Principal, ref: String, version: Int) async throws -> AgentDefinition {
        var d = try await get(principal, ref: ref)
        guard version != d.version else { return d }
        guard let v = try await versions(principal, ref: d.id, before: version + 1, limit: 1).first, v.version == version else {
            throw ParleyError.notFound("agent \(d.spec.name) has no version \(version); it is at version \(d.version)", code: "agent_version_not_found")
        }
        d.spec = v.spec
        d.version = v.version
        return d
    }

    // MARK: runs

    /// Starts a run of `agent` (at the version it carries) and follows it from its first event:
    /// the same stream `/v1/chat` gives. `history` is earlier turns the caller keeps itself
    /// (a Chat Completions request's messages); a session's history comes from the session.
    public func run(_ ctx: ActionContext, agent definition: AgentDefinition, message: String, history: [ModelMessage] = [],
                    sessionID: String? = nil) async throws -> (Workflow, AsyncStream<StreamItem>) {
        guard definition.deletedAt == nil else { throw deleted(definition) }
        return try await agent.startAndFollow(ctx, message: message, sessionID: sessionID, agent: definition, history: history)
    }

    /// `POST /v1/agents/{id}/execute`: a run of the agent's current version.
    public func execute(_ ctx: ActionContext, ref: String, message: String, sessionID: String?) async throws -> (Workflow, AsyncStream<StreamItem>) {
        try ctx.principal.require(.converse)
        return try await run(ctx, agent: try await get(ctx.principal, ref: ref), message: message, sessionID: sessionID)
    }

    // MARK: helpers

    func deleted(_ d: AgentDefinition) -> ParleyError {
        retention.deleted("agent \(d.spec.name)", code: "agent_deleted", restore: "/v1/agents/\(d.id)/restore", deletedAt: d.deletedAt ?? clock.now())
    }

    /// `GET /v1/agents/{id}`: a deleted agent is 404 `agent_deleted` unless `includeDeleted`.
    public func read(_ principal: Principal, ref: String, includeDeleted: Bool) async throws -> AgentDefinition {
        let d = try await get(principal, ref: ref)
        guard includeDeleted || d.deletedAt == nil else { throw deleted(d) }
        return d
    }

    static func requireFreeName(_ name: String, tenantID: String, except id: String?, repo: AgentDefinitionRepository, on db: any SQLDatabase) async throws {
        if let other = try await repo.find(tenantID: tenantID, name: name, on: db), other.id != id {
            throw ParleyError.conflict("an agent named '\(name)' already exists (\(other.id)); choose another name", code: "agent_name_taken")
        }
    }

    /// Tool names must be the server's tools or the tenant's own (`server__tool` of a registered MCP
    /// server; refused by name); a model must be one the server can run; knowledge collections must
    /// be the tenant's (refused by id).
    func check(_ spec: AgentSpec, tenantID: String) async throws {
        let registry = try await agent.runtime.tools(tenantID: tenantID)
        for name in (spec.tools ?? []) + spec.approvalOverrides.keys.sorted() where registry[name] == nil {
            if let known = agent.runtime.settings.isTenantToolName, try await known(tenantID, name) { continue }
            throw ParleyError.badRequest("there is no tool named '\(name.prefix(64))'; GET /v1/tools lists the tools", code: "unknown_tool")
        }
        if let provider = spec.model?.provider, provider != "offline" {
            let configured = ((agent.runtime.provider as? FailoverProvider)?.providers ?? [agent.runtime.provider]).map(\.name)
            guard configured.contains(provider) else {
                throw ParleyError.badRequest("the model provider '\(provider)' is not configured on this server (configured: \(configured.joined(separator: ", "))); configure it or choose another",
                                             code: "provider_not_configured")
            }
        }
        if !spec.knowledgeCollections.isEmpty {
            let unknown = try await agent.runtime.services[KnowledgeCatalog.self]?.catalog.unknownCollections(spec.knowledgeCollections, tenantID: tenantID)
                ?? spec.knowledgeCollections
            if let id = unknown.first {
                throw ParleyError.badRequest("there is no knowledge collection with the id '\(id.prefix(128))' in this workspace; GET /v1/rag/collections lists them (use their ids)",
                                             code: "unknown_collection")
            }
        }
    }

    private func write(_ ctx: ActionContext, action: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> AgentDefinition) async throws -> AgentDefinition {
        let audit = AuditLog(clock: clock)
        do {
            return try await store.transaction { db in
                let d = try await body(db)
                try await audit.record(ctx, action: action, targetType: "agent", targetID: d.id,
                                       details: JSONValue.object(["name": .string(d.spec.name), "version": .number(Double(d.version))]).serialized(), on: db)
                return d
            }
        } catch StoreError.uniqueViolation {
            throw ParleyError.conflict("an agent with that name was just created; choose another name", code: "agent_name_taken")
        }
    }
}

extension AgentService {
    /// The tenant's agents (the definitions behind its runs).
    public var agents: AgentDefinitionService { AgentDefinitionService(agent: self) }
}
