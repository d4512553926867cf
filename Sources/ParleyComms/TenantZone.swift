import Foundation
import ParleyStorage
import SQLKit

extension QuietHours {
    /// The tenant's zone for quiet hours and schedules; UTC when the tenant is gone or its zone is
    /// not an IANA name.
    static func zone(ofTenant tenantID: String, on db: any SQLDatabase) async throws -> TimeZone {
        try await TenantRepository().find(id: tenantID, on: db).flatMap { zone($0.timeZone) } ?? .gmt
    }
}
