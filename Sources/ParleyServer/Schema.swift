import ParleyStorage

public enum ParleySchema {
    /// Every migration this binary applies, core first; domain packs append theirs.
    public static let migrations: [Migration] = CoreSchema.migrations
}
