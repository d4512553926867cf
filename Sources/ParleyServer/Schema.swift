import ParleyAgent
import ParleyComms
import ParleyStorage

public enum ParleySchema {
    /// The domain packs this binary ships.
    public static let packs: [DomainPack] = [WorkspacePack.pack]

    /// Every migration this binary applies: core first, then the agent runtime and the
    /// communications engine, then each pack's.
    public static let migrations: [Migration] = CoreSchema.migrations + AgentSchema.migrations + CommsSchema.migrations + packs.flatMap(\.migrations)
}
