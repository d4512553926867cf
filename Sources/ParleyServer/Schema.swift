import ParleyAgent
import ParleyComms
import ParleyLegal
import ParleyStorage

public enum ParleySchema {
    /// The domain packs this binary ships.
    public static let packs: [DomainPack] = [WorkspacePack.pack, LegalPack.pack]

    /// Scheduler triggers the installed packs contribute.
    public static let triggers: [TriggerDefinition] = LegalPack.triggers

    /// Global default templates: the comms engine's and the packs'.
    public static let templates: [MessageTemplate] = DefaultTemplates.all + LegalPack.templates

    /// Every migration this binary applies: core first, then the agent runtime and the
    /// communications engine, then each pack's.
    public static let migrations: [Migration] = CoreSchema.migrations + AgentSchema.migrations + CommsSchema.migrations + packs.flatMap(\.migrations)
}
