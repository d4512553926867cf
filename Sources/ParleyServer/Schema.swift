import ParleyAgent
import ParleyStorage

public enum ParleySchema {
    /// The domain packs this binary ships.
    public static let packs: [DomainPack] = [WorkspacePack.pack]

    /// Every migration this binary applies: core first, then the agent runtime, then each pack's.
    public static let migrations: [Migration] = CoreSchema.migrations + AgentSchema.migrations + packs.flatMap(\.migrations)
}
