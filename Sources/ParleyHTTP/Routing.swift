import Foundation
import Hummingbird
import ParleyCore

/// Registers routes on a router or group and in the `RouteTable` (for 405s and the OpenAPI check).
public struct Routes<Group: RouterMethods<ParleyRequestContext>> {
    public let group: Group
    public let prefix: String
    public let table: RouteTable

    public init(group: Group, prefix: String, table: RouteTable) {
        self.group = group
        self.prefix = prefix
        self.table = table
    }

    /// Registers `handler` for `method` and `path`. `query` lists the query parameters the route
    /// reads (`Paging.parameters` for a list): under `/v1` any other parameter is refused with 400
    /// `unknown_parameter` naming it, so a misspelt one (`cursor` for `before`) is never ignored.
    public func on(_ method: HTTPRequest.Method, _ path: String, query: [String] = [],
            _ handler: @escaping @Sendable (Request, ParleyRequestContext) async throws -> some ResponseGenerator) {
        table.add(prefix + path, method, query: query)
        let rule = table.rule(method, prefix + path)
        let strictQuery = (prefix + path).hasPrefix("/v1/")
        let accepted = Set(query)
        group.on(RouterPath(path), method: method) { request, context in
            // In this order for every route: the text rules, then the caller's permission, then
            // the query's names, then the handler (which decodes the body).
            var context = context
            context.coreContext.parameters = try TextInput.decodedPathParameters(context.parameters)
            try TextInput.checkQuery(request)
            if let rule, let principal = context.principal {
                try principal.require(rule.permission, toDo: rule.action)
            }
            if strictQuery { try QueryNames.refuseUnknown(request, accepted: accepted) }
            return try await handler(request, context)
        }
    }
}

extension Request {
    /// Reads a JSON body: 415 unless it is JSON, 413 over the limit, 400 when empty or malformed.
    public func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        let contentType = headers[.contentType]?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard mediaType == "application/json" || mediaType.hasSuffix("+json") else {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_media_type",
                              "send the body as JSON with 'Content-Type: application/json'")
        }
        var request = self
        let buffer = try await request.collectBody(upTo: limit)
        guard buffer.readableBytes > 0 else { throw ParleyError.badRequest("the request body is empty; send a JSON object", code: "invalid_json") }
        let data = Data(buffer: buffer)
        try TextInput.checkJSON(data)
        let value: T
        do {
            value = try JSONCoding.decoder.decode(T.self, from: data)
        } catch DecodingError.keyNotFound(let key, let context) {
            // A required field is missing: often because it was sent under another name.
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            if let sent = UnknownFields.sentInstead(of: key.stringValue, at: path, in: data) { throw Self.unknownField(sent) }
            throw DecodingError.keyNotFound(key, context)
        }
        if let unknown = UnknownFields.find(T.self, in: data).first { throw Self.unknownField(unknown) }
        return value
    }

    /// Reads a JSON object whose fields a handler picks out itself (a `JSONValue`, where the
    /// unknown-field check of `decodeJSON` cannot see what is read): any key not in `fields` is
    /// refused with 400 `unknown_field`, like every typed body.
    public func decodeJSONObject(limit: Int, fields: Set<String>) async throws -> JSONValue {
        let body = try await decodeJSON(JSONValue.self, limit: limit)
        guard case .object(let members) = body else { throw ParleyError.badRequest("send a JSON object", code: "invalid_json") }
        if let name = members.keys.sorted().first(where: { !fields.contains($0) }) {
            throw Self.unknownField(UnknownFields.Field(name: name, path: "", suggestion: UnknownFields.suggestion(for: name, among: fields)))
        }
        return body
    }

    /// 400 `unknown_field`: names the field and, when there is an obvious one, the intended name.
    static func unknownField(_ field: UnknownFields.Field) -> ParleyError {
        let place = field.path.isEmpty ? "" : " in '\(field.path)'"
        let hint = field.suggestion.map { "; did you mean '\($0)'?" } ?? "; remove it (see the API description for this route's fields)"
        return ParleyError.badRequest("unknown field '\(field.name)'\(place)\(hint)", code: "unknown_field")
    }

    public func queryInt(_ name: String, default def: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = uri.queryParameters[name[...]] else { return def }
        guard let n = Int(raw), range.contains(n) else {
            throw ParleyError.badRequest("query parameter '\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound)", code: "invalid_query")
        }
        return n
    }

    public func queryString(_ name: String) -> String? {
        uri.queryParameters[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// A list response, the same on every list route: `{"data": [...], "next_cursor": ...}`, where
/// `next_cursor` is null on the last page (and on lists that are not paginated).
public struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    public var data: [Item]
    public var nextCursor: String?

    public init(data: [Item], nextCursor: String?) {
        self.data = data
        self.nextCursor = nextCursor
    }

    /// The first `query.limit` of `rows` (fetched with `query.fetchLimit`) and the cursor of the next page.
    public init<Row>(rows: [Row], query: Paging.Query, cursor: (Row) -> String, view: (Row) throws -> Item) rethrows {
        let page = Paging.page(rows, limit: query.limit, cursor: cursor)
        self.init(data: try page.rows.map(view), nextCursor: page.next)
    }

    private enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    /// `next_cursor` is always present: null, not missing, on the last page.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// Encodes any value as the API's JSON (snake_case, ISO 8601 dates) with a chosen status.
public struct JSON<Body: Encodable>: ResponseGenerator {
    public var status: HTTPResponse.Status = .ok
    public var body: Body

    public init(_ body: Body, status: HTTPResponse.Status = .ok) {
        self.body = body
        self.status = status
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONCoding.encoder.encode(body)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The paging every list route takes, documented once (the `Limit`, `Before` and `After`
/// parameters and the paging convention in the API description): `limit` rows past the cursor,
/// which is always the previous page's `next_cursor`. A list whose newest entries come first
/// pages back with `before`; a list read in order (oldest first, or alphabetically) pages
/// forward with `after`.
public enum Paging {
    /// Which way a list pages, and so which parameter carries the cursor.
    public enum Direction: String, Sendable {
        /// Newest first: `before`.
        case backward = "before"
        /// Oldest first or alphabetical: `after`.
        case forward = "after"
    }

    /// The query parameters of a list that pages back in time.
    public static let parameters = ["limit", Direction.backward.rawValue]
    /// The query parameters of a list that pages forward.
    public static let forwardParameters = ["limit", Direction.forward.rawValue]

    /// What a list request asks for: at most `limit` rows past `cursor`.
    public struct Query: Sendable, Equatable {
        public var limit: Int
        /// The previous page's `next_cursor`, nil on the first page (an empty value counts as absent).
        public var cursor: String?
        /// Rows to fetch: one more than `limit` tells whether another page exists.
        public var fetchLimit: Int { limit + 1 }

        public init(limit: Int, cursor: String?) {
            self.limit = limit
            self.cursor = cursor
        }
    }

    /// Reads `limit` (an integer from 1 to `max`, `default` when absent; otherwise 400
    /// `invalid_query`) and the cursor parameter of `direction`.
    public static func read(_ request: Request, default def: Int, max: Int, direction: Direction = .backward) throws -> Query {
        Query(limit: try request.queryInt("limit", default: def, range: 1...max), cursor: request.queryString(direction.rawValue))
    }

    /// Splits rows fetched with `Query.fetchLimit` into the page (the first `limit`) and the
    /// next cursor: the last row's cursor when there were more rows, else nil.
    public static func page<Row>(_ rows: [Row], limit: Int, cursor: (Row) -> String) -> (rows: [Row], next: String?) {
        let page = Array(rows.prefix(limit))
        return (page, rows.count > limit ? page.last.map(cursor) : nil)
    }

    /// The list envelope for a page of hand-built JSON items: `{"data": [...], "next_cursor": ...}`.
    public static func envelope(_ items: [JSONValue], next: String?) -> JSONValue {
        ["data": .array(items), "next_cursor": next.map(JSONValue.string) ?? .null]
    }
}

/// Query parameter names a route does not read are refused, not ignored.
enum QueryNames {
    static func refuseUnknown(_ request: Request, accepted: Set<String>) throws(ParleyError) {
        for (key, _) in request.uri.queryParameters {
            let name = String(key)
            guard !accepted.contains(name) else { continue }
            let hint: String
            if let meant = UnknownFields.suggestion(for: name, among: accepted) {
                hint = "; did you mean '\(meant)'?"
            } else if accepted.isEmpty {
                hint = "; this route takes no query parameters"
            } else {
                hint = "; this route takes \(accepted.sorted().map { "'\($0)'" }.joined(separator: ", "))"
            }
            throw .badRequest("unknown query parameter '\(name.prefix(100))'\(hint)", code: "unknown_parameter")
        }
    }
}
