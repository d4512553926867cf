import ParleyPackKit

/// The dealership pack (seed 003): a power-equipment dealer's customers, equipment and work
/// orders, and the ten lifecycle triggers that message them. docs/dealership.md.
public enum DealershipPack {
    public static let pack = DomainPack(name: "dealership")
}
