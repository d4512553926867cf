import Hummingbird
import Synchronization

/// Remembers which methods each registered path accepts, so an unmatched method answers 405 with
/// `Allow` rather than Hummingbird's 404.
public final class RouteTable: Sendable {
    public init() {}

    private let routes = Mutex<[(segments: [String], method: String)]>([])
    private let rules = Mutex<[String: RouteRule]>([:])
    private let queries = Mutex<[String: [String]]>([:])

    /// Declares what routes need from their callers; declare before registering the routes.
    public func add(rules list: [RouteRule]) {
        rules.withLock { table in for rule in list where table[rule.route] == nil { table[rule.route] = rule } }
    }

    public func rule(_ method: HTTPRequest.Method, _ path: String) -> RouteRule? {
        rules.withLock { $0["\(method.rawValue) \(path)"] }
    }

    public func add(_ path: String, _ method: HTTPRequest.Method, query: [String] = []) {
        let segs = Self.split(path)
        routes.withLock { $0.append((segs, method.rawValue)) }
        if !query.isEmpty { queries.withLock { $0["\(method.rawValue) \(path)"] = query } }
    }

    /// The query parameters a route reads, by "METHOD /registered/path" (for the API description's check).
    public var queryParameters: [String: [String]] { queries.withLock { $0 } }

    /// The methods the router serves at `path`. Like the router, a literal segment wins over a
    /// parameter at the same place: `/v1/cases/pending-reminders` offers only what that literal
    /// route registered, not the methods of `/v1/cases/:case_id`.
    public func allowedMethods(for path: String) -> [String] {
        let segs = Self.split(path)
        var candidates = routes.withLock { all in all.filter { Self.matches($0.segments, segs) } }
        for index in segs.indices where candidates.contains(where: { !$0.segments[index].hasPrefix(":") }) {
            candidates.removeAll { $0.segments[index].hasPrefix(":") }
        }
        return Array(Set(candidates.map(\.method))).sorted()
    }

    public var all: [(path: String, method: String)] {
        routes.withLock { $0.map { ("/" + $0.segments.joined(separator: "/"), $0.method) } }
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    private static func matches(_ pattern: [String], _ path: [String]) -> Bool {
        guard pattern.count == path.count else { return false }
        return zip(pattern, path).allSatisfy { p, s in p.hasPrefix(":") || p == s }
    }
}
