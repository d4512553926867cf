import ParleyAgent
import ParleyComms
import ParleyStorage

public enum ParleySchema {
    /// The domain packs this binary ships.
    public static let packs: [DomainPack] = [WorkspacePack.pack]

    /// Every migration this binary applies: core first, then the agent runtime, the
    /// communications engine and the web console's sign-in, then each pack's.
    public static let migrations: [Migration] = CoreSchema.migrations + AgentSchema.migrations + CommsSchema.migrations + ConsoleSchema.migrations + packs.flatMap(\.migrations)
}
