import Foundation
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyFlows
import ParleyPlatform
import ParleyStorage
import SQLKit

extension WorkspacePack {
    /// The workspace pack every installation has (no tables, no routes: tools and intents only).
    public static var pack: DomainPack { DomainPack(name: "workspace", tools: tools, intents: intents) }
}

/// Why a set of packs cannot be installed together (a programming error in a pack or in the
/// installed-packs list; a test runs `PackSet.check` over the real list).
public struct PackSetError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The installed packs, in dependency order, and what they make up together.
public struct PackSet: Sendable {
    public let packs: [DomainPack]

    /// Orders `packs` so that each comes after the packs it depends on (otherwise keeping the
    /// listed order), and checks names and migration ids.
    public init(_ packs: [DomainPack]) throws(PackSetError) {
        var ordered: [DomainPack] = []
        var placed: Set<String> = []
        let byName = Dictionary(packs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        guard byName.count == packs.count else {
            throw PackSetError("two installed packs share a name: " + Self.duplicates(packs.map(\.name)).joined(separator: ", "))
        }
        func place(_ pack: DomainPack, _ path: [String]) throws(PackSetError) {
            if placed.contains(pack.name) { return }
            guard !path.contains(pack.name) else { throw PackSetError("packs depend on each other in a cycle: \((path + [pack.name]).joined(separator: " -> "))") }
            for dependency in pack.dependencies {
                guard let d = byName[dependency] else { throw PackSetError("pack \(pack.name) depends on \(dependency), which is not installed") }
                try place(d, path + [pack.name])
            }
            placed.insert(pack.name)
            ordered.append(pack)
        }
        for pack in packs { try place(pack, []) }
        self.packs = ordered
        _ = try migrations(core: [])
    }

    /// The core's migrations (one owner, applied first, in id order).
    public static let coreMigrations: [Migration] =
        (CoreSchema.migrations + AgentSchema.migrations + CommsSchema.migrations + ConsoleSchema.migrations + TenantPackSchema.migrations
         + HandoffSchema.migrations + CustomerChatSchema.migrations + AccountsSchema.migrations
         + RateLimitSchema.migrations + MCPSchema.migrations + MCPSessionSchema.migrations + FlowSchema.migrations + SoftDeleteSchema.migrations).sorted { $0.id < $1.id }

    /// Every migration, in the order they are applied: the core's in id order, then each pack's
    /// (in dependency order) in id order. A duplicate id anywhere, or a pack whose list is not in
    /// ascending id order, is refused.
    public func migrations(core: [Migration] = PackSet.coreMigrations) throws(PackSetError) -> [Migration] {
        var all = core
        for pack in packs {
            let ids = pack.migrations.map(\.id)
            if let i = ids.indices.dropFirst().first(where: { ids[$0] <= ids[$0 - 1] }) {
                throw PackSetError("pack \(pack.name)'s migrations are not in ascending id order: \(ids[i - 1]) comes before \(ids[i])")
            }
            all += pack.migrations
        }
        let dups = Self.duplicates(all.map(\.id))
        guard dups.isEmpty else { throw PackSetError("duplicate migration id(s): \(dups.joined(separator: ", "))") }
        return all
    }

    public var tools: [Tool] { packs.flatMap(\.tools) }
    public var intents: [any OfflineIntent] { packs.flatMap(\.intents) }
    /// The comms engine's default templates, then the packs'.
    public var templates: [MessageTemplate] { DefaultTemplates.all + packs.flatMap(\.templates) }
    public var commands: [PackCommand] { packs.flatMap(\.commands) }
    public var consoleViews: [(pack: String, view: ConsoleView)] { packs.flatMap { p in p.consoleViews.map { (p.name, $0) } } }

    /// Checks every pack's settings (start-up stops on the first invalid one).
    public func validateSettings(_ config: ParleyConfig) throws(ConfigError) {
        for pack in packs { try pack.validateSettings(config) }
    }

    /// Binds every pack to this process.
    public func bind(_ context: PackContext) throws -> [PackRuntime] {
        try packs.map { try $0.bind(context) }
    }

    static func duplicates(_ names: [String]) -> [String] {
        Dictionary(grouping: names, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
    }
}

/// A pack's intents match only while at least one of the pack's tools is offered, so a tenant
/// that switched the pack off (its tools are not offered) does not get its intents either.
public struct PackIntent: OfflineIntent {
    public let inner: any OfflineIntent
    public let tools: Set<String>

    public var name: String { inner.name }
    public var summary: String { inner.summary }
    public var examples: [String] { inner.examples }
    public func match(_ utterance: Utterance) -> IntentMatch? { inner.match(utterance) }
    public func next(_ turn: PlannerTurn) -> PlannerStep { inner.next(turn) }
    public func isAvailable(offered: Set<String>) -> Bool { tools.isEmpty || !tools.isDisjoint(with: offered) }
}

extension DomainPack {
    /// The intents as the offline planner gets them: tied to the pack's tools.
    public var plannerIntents: [any OfflineIntent] {
        let names = Set(tools.map(\.name))
        return intents.map { PackIntent(inner: $0, tools: names) }
    }
}

extension TriggerDefinition {
    /// The same trigger, skipped for tenants for which `enabled` answers false (checked in the
    /// occurrence's transaction).
    public func only(when enabled: @escaping @Sendable (_ tenantID: String, _ db: any SQLDatabase) async throws -> Bool) -> TriggerDefinition {
        let handler = self.handler
        return TriggerDefinition(name: name, summary: summary, defaultSchedule: defaultSchedule, enabledByDefault: enabledByDefault) { occurrence in
            guard try await enabled(occurrence.tenantID, occurrence.db) else { return }
            try await handler(occurrence)
        }
    }
}

extension PackSet {
    /// `PARLEY_PACKS`: the installed packs this installation enables (default: all); an unknown
    /// name stops start-up naming it. Packs another enabled pack depends on stay enabled.
    public func enabled(_ config: ParleyConfig) throws(ConfigError) -> [DomainPack] {
        let wanted = try ConfigReader(sources: config.sources).list("PARLEY_PACKS", allowed: packs.map(\.name))
        guard !wanted.isEmpty else { return packs }
        var keep = Set(wanted)
        for pack in packs.reversed() where keep.contains(pack.name) { keep.formUnion(pack.dependencies) }
        return packs.filter { keep.contains($0.name) }
    }

    /// The tools of the packs a tenant has switched off.
    public static func unavailableTools(_ packs: [DomainPack], enabled: Set<String>) -> Set<String> {
        Set(packs.filter { !enabled.contains($0.name) }.flatMap { $0.tools.map(\.name) })
    }
}
