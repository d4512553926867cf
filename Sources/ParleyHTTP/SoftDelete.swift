import Hummingbird
import ParleyCore

extension Request {
    /// `include_deleted=true|false` (absent: false): lists show soft-deleted rows too (docs/soft-delete.md).
    public func includeDeleted() throws -> Bool {
        switch queryString("include_deleted")?.lowercased() {
        case nil, "false", "0": return false
        case "true", "1": return true
        default: throw ParleyError.badRequest("query parameter 'include_deleted' must be true or false", code: "invalid_query")
        }
    }
}
