import Foundation

/// Finds the fields of a JSON body that a `Decodable` type never reads, so an API can refuse a
/// misspelt or invented field by name instead of silently ignoring it.
///
/// It decodes the body a second time with a decoder that records which keys the type asked for
/// (a synthesised `init(from:)` asks for every key it knows, present or not). An object the type
/// reads as a whole (a dictionary, a free-form JSON value) accepts any key. The value the handler
/// uses still comes from `JSONDecoder`; this pass only looks at names.
public enum UnknownFields {
    /// A field the type does not read: its name, where it is (`templates.email`, `items[2]`), and
    /// the field the client probably meant, when there is an obvious one.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var path: String
        public var suggestion: String?

        public init(name: String, path: String, suggestion: String?) {
            self.name = name
            self.path = path
            self.suggestion = suggestion
        }

        /// `path` joined with `name`: `name` at the top level, `a.b.name` below.
        public var location: String { path.isEmpty ? name : "\(path).\(name)" }
    }

    /// The unknown fields of `data` for `type`, in document order of their paths. Empty when the
    /// body is not JSON or `type` cannot decode it (the caller's own decoding reports that).
    public static func find<T: Decodable>(_ type: T.Type, in data: Data) -> [Field] {
        guard let root = try? JSONDecoder().decode(Node.self, from: data) else { return [] }
        let tracker = Tracker()
        do {
            _ = try Tracking.decode(T.self, from: root, path: [], tracker: tracker)
        } catch {
            return []
        }
        var found: [Field] = []
        collect(root, path: [], tracker: tracker, into: &found)
        return found
    }

    /// When decoding failed because `missing` was absent from the object at `path`, the field the
    /// client sent instead, if one is an obvious misspelling or synonym of it.
    public static func sentInstead(of missing: String, at path: [String], in data: Data) -> Field? {
        guard var node = try? JSONDecoder().decode(Node.self, from: data) else { return nil }
        for step in path {
            if case .object(let members) = node, let next = members[step] {
                node = next
            } else if case .array(let items) = node, let i = Int(step), items.indices.contains(i) {
                node = items[i]
            } else {
                return nil
            }
        }
        guard case .object(let members) = node, members[missing] == nil else { return nil }
        let rendered = PathItem.render(path.map { Int($0).map(PathItem.index) ?? .key($0) })
        return members.keys.sorted().first { suggestion(for: $0, among: [missing]) == missing }
            .map { Field(name: $0, path: rendered, suggestion: missing) }
    }

    /// Names clients commonly send for a field that has another name here. Offered only when the
    /// suggested field exists in the same object.
    public static let synonyms: [String: [String]] = [
        "recipient": ["to"], "recipients": ["to"], "phone_number": ["phone", "to"], "email_address": ["email", "to"],
        "body": ["text", "message"], "content": ["text", "message"], "message": ["text"], "prompt": ["message"],
        "cursor": ["before", "after"], "page_token": ["before", "after"], "next_cursor": ["before", "after"],
        "after": ["before"], "before": ["after"], "since": ["after"], "offset": ["before", "after"], "page": ["before", "after"],
        "per_page": ["limit"], "page_size": ["limit"], "size": ["limit"], "count": ["limit"],
        "schedule_at": ["send_at"], "scheduled_at": ["send_at"], "deliver_at": ["send_at"],
        "timezone": ["time_zone"], "tz": ["time_zone"], "title": ["name"],
    ]

    /// The known name a client probably meant by `unknown`: a listed synonym, the snake_case form
    /// of a camelCase name, a name it abbreviates (`expires` for `expires_at`), or a known name
    /// within two edits.
    public static func suggestion(for unknown: String, among known: Set<String>) -> String? {
        if let listed = synonyms[unknown.lowercased()]?.first(where: known.contains) { return listed }
        let snake = snakeCased(unknown)
        if snake != unknown, known.contains(snake) { return snake }
        let lowered = unknown.lowercased()
        // "expires" for "expires_at", "session" for "session_id".
        if let longer = known.filter({ $0.hasPrefix(lowered + "_") }).min(by: { $0.count < $1.count }) { return longer }
        let scored = known.map { ($0, editDistance(lowered, $0.lowercased())) }.filter { $0.1 <= min(2, max(1, $0.0.count / 3)) }
        return scored.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }

    static func snakeCased(_ name: String) -> String {
        var out = ""
        for ch in name {
            if ch.isUppercase {
                if !out.isEmpty { out.append("_") }
                out.append(contentsOf: ch.lowercased())
            } else {
                out.append(ch)
            }
        }
        return out
    }

    /// Optimal string alignment distance (transpositions count as one edit), bounded by input size.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8.prefix(64)), b = Array(b.utf8.prefix(64))
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }

    private static func collect(_ node: Node, path: [PathItem], tracker: Tracker, into found: inout [Field]) {
        switch node {
        case .object(let members):
            let key = PathItem.render(path)
            if let asked = tracker.asked[key], !tracker.wholeObjects.contains(key) {
                for name in members.keys.sorted() where !asked.contains(name) {
                    found.append(Field(name: name, path: key, suggestion: suggestion(for: name, among: asked)))
                }
            }
            for name in members.keys.sorted() {
                if let child = members[name] { collect(child, path: path + [.key(name)], tracker: tracker, into: &found) }
            }
        case .array(let items):
            for (i, item) in items.enumerated() { collect(item, path: path + [.index(i)], tracker: tracker, into: &found) }
        default:
            break
        }
    }
}

// MARK: - The JSON tree

enum Node: Decodable {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([Node]), object([String: Node])

    init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: Node] = [:]
            for key in keyed.allKeys { members[key.stringValue] = try keyed.decode(Node.self, forKey: key) }
            self = .object(members)
        } else if var unkeyed = try? decoder.unkeyedContainer() {
            var items: [Node] = []
            while !unkeyed.isAtEnd { items.append(try unkeyed.decode(Node.self)) }
            self = .array(items)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                self = .null
            } else if let b = try? single.decode(Bool.self) {
                self = .bool(b)
            } else if let i = try? single.decode(Int64.self) {
                self = .int(i)
            } else if let d = try? single.decode(Double.self) {
                self = .double(d)
            } else {
                self = .string(try single.decode(String.self))
            }
        }
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

enum PathItem {
    case key(String), index(Int)

    static func render(_ path: [PathItem]) -> String {
        var out = ""
        for item in path {
            switch item {
            case .key(let k): out += out.isEmpty ? k : ".\(k)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}

/// Which keys were asked for in each object (by path), and which objects were read whole.
final class Tracker {
    var asked: [String: Set<String>] = [:]
    var wholeObjects: Set<String> = []

    func open(_ path: [PathItem]) {
        let key = PathItem.render(path)
        if asked[key] == nil { asked[key] = [] }
    }

    func ask(_ path: [PathItem], _ name: String) { asked[PathItem.render(path), default: []].insert(name) }
    func readWhole(_ path: [PathItem]) { wholeObjects.insert(PathItem.render(path)) }
}

// MARK: - The recording decoder

enum Tracking {
    static func decode<T: Decodable>(_ type: T.Type, from node: Node, path: [PathItem], tracker: Tracker) throws -> T {
        // Types JSONDecoder reads from a string rather than through their own init(from:).
        if T.self == Date.self || T.self == URL.self || T.self == Data.self || T.self == Decimal.self {
            guard case .string = node else {
                if T.self == Decimal.self, case .int = node { return try T(from: Reader(node: node, path: path, tracker: tracker)) }
                if T.self == Decimal.self, case .double = node { return try T(from: Reader(node: node, path: path, tracker: tracker)) }
                throw mismatch(T.self, node, path)
            }
            // Only the names matter here; the caller's JSONDecoder produced the real value.
            if let value = placeholder(T.self) { return value }
        }
        return try T(from: Reader(node: node, path: path, tracker: tracker))
    }

    private static func placeholder<T>(_ type: T.Type) -> T? {
        if let v = Date(timeIntervalSince1970: 0) as? T { return v }
        if let v = URL(string: "about:blank") as? T { return v }
        if let v = Data() as? T { return v }
        if let v = Decimal(0) as? T { return v }
        return nil
    }

    static func mismatch(_ type: Any.Type, _ node: Node, _ path: [PathItem]) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath(path), debugDescription: "expected \(type), found \(node.kind)"))
    }

    static func codingPath(_ path: [PathItem]) -> [any CodingKey] {
        path.map { item in
            switch item {
            case .key(let k): AnyKey(stringValue: k)
            case .index(let i): AnyKey(intValue: i)
            }
        }
    }
}

struct Reader: Decoder {
    let node: Node
    let path: [PathItem]
    let tracker: Tracker
    var codingPath: [any CodingKey] { Tracking.codingPath(path) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = node else { throw Tracking.mismatch([String: Any].self, node, path) }
        tracker.open(path)
        return KeyedDecodingContainer(KeyedReader<Key>(members: members, path: path, tracker: tracker))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = node else { throw Tracking.mismatch([Any].self, node, path) }
        return UnkeyedReader(items: items, path: path, tracker: tracker)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleReader(node: node, path: path, tracker: tracker)
    }
}

struct KeyedReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: Node]
    let path: [PathItem]
    let tracker: Tracker
    var codingPath: [any CodingKey] { Tracking.codingPath(path) }

    var allKeys: [Key] {
        tracker.readWhole(path)
        return members.keys.compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        tracker.ask(path, key.stringValue)
        return members[key.stringValue] != nil
    }

    private func node(_ key: Key) throws -> Node {
        tracker.ask(path, key.stringValue)
        guard let node = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return node
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try node(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try Tracking.decode(T.self, from: try node(key), path: path + [.key(key.stringValue)], tracker: tracker)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try Reader(node: try node(key), path: path + [.key(key.stringValue)], tracker: tracker).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try Reader(node: try node(key), path: path + [.key(key.stringValue)], tracker: tracker).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        Reader(node: members["super"] ?? .null, path: path + [.key("super")], tracker: tracker)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        tracker.ask(path, key.stringValue)
        return Reader(node: members[key.stringValue] ?? .null, path: path + [.key(key.stringValue)], tracker: tracker)
    }
}

struct UnkeyedReader: UnkeyedDecodingContainer {
    let items: [Node]
    let path: [PathItem]
    let tracker: Tracker
    var currentIndex = 0
    var codingPath: [any CodingKey] { Tracking.codingPath(path) }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [Node], path: [PathItem], tracker: Tracker) {
        self.items = items
        self.path = path
        self.tracker = tracker
    }

    private mutating func next() throws -> (Node, [PathItem]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array has no more items"))
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], path + [.index(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if case .null = items[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, at) = try next()
        return try Tracking.decode(T.self, from: node, path: at, tracker: tracker)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (node, at) = try next()
        return try Reader(node: node, path: at, tracker: tracker).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (node, at) = try next()
        return try Reader(node: node, path: at, tracker: tracker).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, at) = try next()
        return Reader(node: node, path: at, tracker: tracker)
    }
}

struct SingleReader: SingleValueDecodingContainer {
    let node: Node
    let path: [PathItem]
    let tracker: Tracker
    var codingPath: [any CodingKey] { Tracking.codingPath(path) }

    func decodeNil() -> Bool {
        if case .null = node { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let b) = node else { throw Tracking.mismatch(type, node, path) }
        return b
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let s) = node else { throw Tracking.mismatch(type, node, path) }
        return s
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch node {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw Tracking.mismatch(type, node, path)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        switch node {
        case .int(let i):
            if let v = I(exactly: i) { return v }
        case .double(let d):
            if let v = I(exactly: d) { return v }
        default:
            break
        }
        throw Tracking.mismatch(type, node, path)
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try Tracking.decode(T.self, from: node, path: path, tracker: tracker)
    }
}
