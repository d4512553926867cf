import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage

/// The workspace pack every installation has: look at the workspace, its keys and its runs, and
/// revoke a key (a side effect, so it asks for approval by default).
public enum WorkspacePack {
    /// Its tools and intents; ParleyPackKit wraps them as the `workspace` `DomainPack`.
    public static var tools: [Tool] { [getWorkspace, listAPIKeys, listRecentRuns, revokeAPIKey] }
    public static var intents: [any OfflineIntent] { [OverviewIntent(), ListKeysIntent(), RevokeKeyIntent(), RecentRunsIntent()] }

    static let getWorkspace = Tool(
        name: "get_workspace", description: "Get this workspace's name, slug, time zone and creation date.",
        inputSchema: ["type": "object", "properties": [:], "additionalProperties": false], permission: .readTenant
    ) { _, ctx in
        let tenant = try await TenantService(store: ctx.store, clock: ctx.clock).get(ctx.tenantID)
        return ["name": .string(tenant.name), "slug": .string(tenant.slug), "time_zone": .string(tenant.timeZone),
                "created_at": .string(Timestamps.format(tenant.createdAt))]
    }

    static let listAPIKeys = Tool(
        name: "list_api_keys", description: "List this workspace's API keys (name, role, prefix, status); never shows secrets.",
        inputSchema: ["type": "object", "properties": ["include_revoked": ["type": "boolean"]], "additionalProperties": false],
        permission: .manageKeys
    ) { input, ctx in
        let includeRevoked = input["include_revoked"]?.boolValue ?? false
        let keys = try await APIKeyService(store: ctx.store, clock: ctx.clock).list(ctx.action.principal)
        let now = ctx.clock.now()
        return .array(keys.filter { includeRevoked || $0.revokedAt == nil }.map { k in
            let status = k.revokedAt != nil ? "revoked" : (k.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active"
            return ["id": .string(k.id), "name": .string(k.name), "role": .string(k.role.rawValue), "prefix": .string(k.prefix),
                    "status": .string(status), "last_used_at": k.lastUsedAt.map { .string(Timestamps.format($0)) } ?? .null]
        })
    }

    static let listRecentRuns = Tool(
        name: "list_recent_runs", description: "List the most recent agent runs in this workspace with their status.",
        inputSchema: ["type": "object", "properties": ["limit": ["type": "integer", "minimum": 1, "maximum": 50],
                                                       "status": ["type": "string", "enum": .array(WorkflowStatus.allCases.map { .string($0.rawValue) })]],
                      "additionalProperties": false],
        permission: .readTenant
    ) { input, ctx in
        let filter = WorkflowFilter(status: input["status"]?.stringValue.flatMap(WorkflowStatus.init(rawValue:)), sessionID: nil,
                                    createdAfter: nil, createdBefore: nil, beforeID: nil, limit: input["limit"]?.intValue ?? 5)
        let tenantID = ctx.tenantID
        let runs = try await ctx.store.read { db in try await AgentRepository().listWorkflows(tenantID: tenantID, filter: filter, on: db) }
        return .array(runs.filter { $0.id != ctx.workflowID }.map { w in
            ["id": .string(w.id), "status": .string(w.status.rawValue), "prompt": .string(String(w.initialPrompt.prefix(80))),
             "created_at": .string(Timestamps.format(w.createdAt))]
        })
    }

    static let revokeAPIKey = Tool(
        name: "revoke_api_key", description: "Revoke an API key by its id, so it stops working at once. Use list_api_keys to find the id.",
        inputSchema: ["type": "object", "properties": ["key_id": ["type": "string", "minLength": 1]], "required": ["key_id"],
                      "additionalProperties": false],
        hasSideEffects: true, permission: .manageKeys
    ) { input, ctx in
        guard let id = input["key_id"]?.stringValue, UUIDv7.isValid(id) else { throw ToolError("key_id must be an API key id from list_api_keys") }
        do {
            let key = try await APIKeyService(store: ctx.store, clock: ctx.clock).revoke(ctx.action, id: id)
            return ["id": .string(key.id), "name": .string(key.name), "revoked_at": key.revokedAt.map { .string(Timestamps.format($0)) } ?? .null]
        } catch let error as ParleyError where error.kind == .notFound {
            throw ToolError("no API key with id \(id) in this workspace")
        }
    }
}

// MARK: - Offline intents of the workspace pack

/// "Give me an overview": the workspace, its keys and its recent runs, looked up at once.
struct OverviewIntent: OfflineIntent {
    let name = "workspace_overview"
    let summary = "Give an overview of this workspace: its details, API keys and recent runs"
    let examples = ["give me an account overview", "workspace summary"]

    func match(_ u: Utterance) -> IntentMatch? {
        u.hasAny(["overview", "summary", "summarise", "summarize", "dashboard"]) ? IntentMatch(score: 0.8) : nil
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        let wanted = ["get_workspace", "list_api_keys", "list_recent_runs"].filter { turn.canUse($0) }
        let missing = wanted.filter { turn.latest($0) == nil }
        if !missing.isEmpty {
            return .callTools(thought: "The user wants an overview; I will look up the workspace, its API keys and its recent runs at once.",
                              calls: missing.map { PlannedCall($0, $0 == "list_recent_runs" ? ["limit": 5] : [:]) })
        }
        var lines: [String] = []
        if let w = turn.latest("get_workspace"), !w.isError {
            lines.append("Workspace \(w.output["name"]?.stringValue ?? "?") (\(w.output["slug"]?.stringValue ?? "?")), time zone \(w.output["time_zone"]?.stringValue ?? "?").")
        }
        if let k = turn.latest("list_api_keys"), !k.isError, let keys = k.output.arrayValue {
            let names = keys.prefix(5).compactMap { $0["name"]?.stringValue }.joined(separator: ", ")
            lines.append("\(keys.count) active API key\(keys.count == 1 ? "" : "s")\(names.isEmpty ? "" : ": \(names)").")
        }
        if let r = turn.latest("list_recent_runs"), !r.isError, let runs = r.output.arrayValue {
            if runs.isEmpty {
                lines.append("No earlier agent runs.")
            } else {
                let counts = Dictionary(grouping: runs.compactMap { $0["status"]?.stringValue }, by: { $0 }).mapValues(\.count)
                let text = counts.keys.sorted().map { "\(counts[$0] ?? 0) \($0.lowercased())" }.joined(separator: ", ")
                lines.append("Last \(runs.count) run\(runs.count == 1 ? "" : "s"): \(text).")
            }
        }
        let failed = turn.observations.filter(\.isError).map(\.tool)
        if !failed.isEmpty { lines.append("I could not read: \(failed.joined(separator: ", ")).") }
        return .answer(lines.isEmpty ? "I could not read anything about this workspace." : lines.joined(separator: "\n"))
    }
}

struct ListKeysIntent: OfflineIntent {
    let name = "list_api_keys"
    let summary = "List the workspace's API keys"
    let examples = ["list the api keys"]

    func match(_ u: Utterance) -> IntentMatch? {
        guard u.hasAny(["key", "keys"]), !u.hasAny(["revoke", "disable", "delete", "remove"]) else { return nil }
        return u.hasAny(["list", "show", "which", "what"]) ? IntentMatch(score: 0.9) : IntentMatch(score: 0.5)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let result = turn.latest("list_api_keys") else {
            return .callTools(thought: "The user wants the API keys; I will list them.", calls: [PlannedCall("list_api_keys")])
        }
        guard !result.isError, let keys = result.output.arrayValue else { return .answer("I could not list the API keys: \(result.output.stringValue ?? "unknown error")") }
        if keys.isEmpty { return .answer("There are no active API keys.") }
        let lines = keys.map { "- \($0["name"]?.stringValue ?? "?") (\($0["role"]?.stringValue ?? "?"), \($0["prefix"]?.stringValue ?? "?")…)" }
        return .answer("Active API keys:\n" + lines.joined(separator: "\n"))
    }
}

/// "Revoke the key named ci-bot": finds the key among the workspace's keys, then revokes it.
struct RevokeKeyIntent: OfflineIntent {
    let name = "revoke_api_key"
    let summary = "Revoke an API key by name or prefix (asks for approval first)"
    let examples = ["revoke the api key named ci-bot"]

    func match(_ u: Utterance) -> IntentMatch? {
        guard u.hasAny(["revoke", "disable", "deactivate", "delete", "remove"]), u.hasAny(["key", "keys"]) else { return nil }
        var entities: [String: String] = [:]
        if let target = u.text(after: ["key named ", "key called ", "named ", "called ", "keys ", "key "]) {
            entities["key"] = target
        }
        return IntentMatch(score: 1, entities: entities)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let wanted = turn.entities["key"] else {
            return .answer("Which key should I revoke? Say for example \"revoke the api key named ci-bot\".")
        }
        if let revoked = turn.latest("revoke_api_key") {
            if revoked.isError { return .answer("The key \(wanted) was not revoked. \(revoked.output.stringValue ?? "")") }
            return .answer("Revoked the API key \(revoked.output["name"]?.stringValue ?? wanted); it no longer works.")
        }
        guard let listed = turn.latest("list_api_keys") else {
            return .callTools(thought: "The user wants to revoke the key \"\(wanted)\"; first I find it among the workspace's keys.",
                              calls: [PlannedCall("list_api_keys")])
        }
        guard !listed.isError, let keys = listed.output.arrayValue else { return .answer("I could not list the API keys to find \(wanted).") }
        let needle = wanted.lowercased()
        let matches = keys.filter { k in
            [k["name"], k["prefix"], k["id"]].compactMap { $0?.stringValue?.lowercased() }.contains { $0 == needle }
        }
        guard matches.count == 1, let id = matches[0]["id"]?.stringValue else {
            let names = keys.compactMap { $0["name"]?.stringValue }.joined(separator: ", ")
            return .answer(matches.isEmpty ? "There is no active key named \(wanted). Active keys: \(names.isEmpty ? "none" : names)."
                                           : "Several keys match \(wanted); name one by its prefix.")
        }
        return .callTools(thought: "The key \"\(wanted)\" has id \(id); I will revoke it.", calls: [PlannedCall("revoke_api_key", ["key_id": .string(id)])])
    }
}

struct RecentRunsIntent: OfflineIntent {
    let name = "recent_runs"
    let summary = "Show the most recent agent runs and their status"
    let examples = ["show recent runs"]

    func match(_ u: Utterance) -> IntentMatch? {
        guard u.hasAny(["runs", "workflows", "conversations", "history"]) else { return nil }
        return IntentMatch(score: 0.7)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let result = turn.latest("list_recent_runs") else {
            return .callTools(thought: "The user wants recent runs; I will list them.", calls: [PlannedCall("list_recent_runs", ["limit": 10])])
        }
        guard !result.isError, let runs = result.output.arrayValue else { return .answer("I could not list the recent runs.") }
        if runs.isEmpty { return .answer("There are no earlier runs.") }
        let lines = runs.map { "- \($0["created_at"]?.stringValue ?? "") \($0["status"]?.stringValue ?? ""): \($0["prompt"]?.stringValue ?? "")" }
        return .answer("Recent runs:\n" + lines.joined(separator: "\n"))
    }
}
