import ParleyAgent
import ParleyComms
import ParleyLegal
import ParleyStorage

public enum ParleySchema {
    /// The domain packs this binary ships.
    public static let packs: [DomainPack] = [WorkspacePack.pack, LegalPack.pack]

    /// Global default templates: the comms engine's and the packs'.
    public static let templates: [MessageTemplate] = DefaultTemplates.all + LegalPack.templates

    /// The recurring jobs the installed packs contribute, bound to their dependencies (run by the
    /// scheduler in `serve` and `worker`).
    public static func triggers(legal: LegalRuntime) -> [TriggerDefinition] { LegalPack.triggers(legal) }

    /// Every migration this binary applies: core first, then the agent runtime, the
    /// communications engine and the web console's sign-in, then each pack's.
    public static let migrations: [Migration] = CoreSchema.migrations + AgentSchema.migrations + CommsSchema.migrations + ConsoleSchema.migrations + packs.flatMap(\.migrations)
}
