import ParleyAgent
import ParleyComms
import ParleyDealership
import ParleyLegal
import ParleyPackKit
import ParleyStorage
import ParleySupport

/// The domain packs this binary ships: the one place they are listed. Adding a pack is one
/// line here and one dependency in Package.swift.
public enum InstalledPacks {
    public static let all: [DomainPack] = [WorkspacePack.pack, LegalPack.pack, SupportPack.pack, DealershipPack.pack]
}

public enum ParleySchema {
    /// The installed packs in dependency order. A bad list (duplicate names or migration ids, a
    /// missing dependency) is a programming error that a test catches; the process refuses it.
    public static let packSet: PackSet = {
        do { return try PackSet(InstalledPacks.all) } catch { preconditionFailure("the installed packs do not fit together: \(error)") }
    }()

    public static var packs: [DomainPack] { packSet.packs }

    /// Global default templates: the comms engine's and the packs'.
    public static var templates: [MessageTemplate] { packSet.templates }

    /// Every migration this binary applies: the core's in id order, then each pack's in id order.
    public static let migrations: [Migration] = {
        do { return try packSet.migrations() } catch { preconditionFailure("the installed packs' migrations do not fit together: \(error)") }
    }()
}
