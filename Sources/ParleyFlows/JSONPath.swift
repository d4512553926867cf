import Foundation
import ParleyCore

/// A small JSONPath: `$.a.b[0]`, `$.items[*].name`, `$['key']`, and filters `[?(@.x == 1)]`
/// (operators ==, !=, >, >=, <, <=; the value a number, a quoted string, true, false or null).
/// A path without `$` is read from the root (`input.x` is `$.input.x`), which is what templates use.
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case key(String)
        case index(Int)
        case wildcard
        case filter(path: [String], op: String, value: JSONValue?)
    }

    let segments: [Segment]
    public let description: String

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(ParseError) {
        description = text
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !s.isEmpty, s.count <= 500 else { throw ParseError(description: "a path must have 1 to 500 characters") }
        if s.hasPrefix("$") { s = s.dropFirst() }
        var out: [Segment] = []
        var first = true
        func name(_ s: inout Substring) throws(ParseError) -> String {
            let end = s.firstIndex { $0 == "." || $0 == "[" } ?? s.endIndex
            let key = String(s[..<end])
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw ParseError(description: "'\(text.prefix(80))' has an empty or invalid name at '\(s.prefix(20))'")
            }
            s = s[end...]
            return key
        }
        while !s.isEmpty {
            if s.hasPrefix(".") {
                s = s.dropFirst()
                if s.hasPrefix("*") { s = s.dropFirst(); out.append(.wildcard) } else { out.append(.key(try name(&s))) }
            } else if s.hasPrefix("[") {
                guard let close = Self.closingBracket(s) else { throw ParseError(description: "'\(text.prefix(80))' has an unclosed '['") }
                let inner = s[s.index(after: s.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                s = s[s.index(after: close)...]
                if inner == "*" {
                    out.append(.wildcard)
                } else if let n = Int(inner) {
                    out.append(.index(n))
                } else if inner.count >= 2, let q = inner.first, q == "'" || q == "\"", inner.last == q {
                    out.append(.key(String(inner.dropFirst().dropLast())))
                } else if inner.hasPrefix("?(") && inner.hasSuffix(")") {
                    out.append(try Self.filter(String(inner.dropFirst(2).dropLast()), in: text))
                } else {
                    throw ParseError(description: "'\(text.prefix(80))' has an unsupported selector '[\(inner.prefix(40))]'; use [n], [*], ['key'] or [?(@.field == value)]")
                }
            } else if first {
                out.append(.key(try name(&s)))
            } else {
                throw ParseError(description: "'\(text.prefix(80))' is not a path: expected '.' or '[' at '\(s.prefix(20))'")
            }
            first = false
        }
        segments = out
    }

    private static func closingBracket(_ s: Substring) -> Substring.Index? {
        var quote: Character?
        for i in s.indices.dropFirst() {
            let c = s[i]
            if let q = quote { if c == q { quote = nil }; continue }
            if c == "'" || c == "\"" { quote = c } else if c == "]" { return i }
        }
        return nil
    }

    static let operators = ["==", "!=", ">=", "<=", ">", "<"]

    private static func filter(_ expr: String, in text: String) throws(ParseError) -> Segment {
        let e = expr.trimmingCharacters(in: .whitespaces)
        guard e.hasPrefix("@") else { throw ParseError(description: "a filter in '\(text.prefix(80))' must start with @, e.g. [?(@.status == 'open')]") }
        for op in operators {
            if let r = e.range(of: op) {
                let left = e[e.index(after: e.startIndex)..<r.lowerBound].trimmingCharacters(in: .whitespaces)
                let right = e[r.upperBound...].trimmingCharacters(in: .whitespaces)
                return .filter(path: try fieldPath(left, text), op: op, value: try literal(right, text))
            }
        }
        return .filter(path: try fieldPath(String(e.dropFirst()), text), op: "exists", value: nil)
    }

    private static func fieldPath(_ s: String, _ text: String) throws(ParseError) -> [String] {
        let parts = s.split(separator: ".", omittingEmptySubsequences: true).map(String.init)
        guard !parts.isEmpty || s.isEmpty else { throw ParseError(description: "bad filter field in '\(text.prefix(80))'") }
        return parts
    }

    private static func literal(_ s: String, _ text: String) throws(ParseError) -> JSONValue {
        if let n = Double(s) { return .number(n) }
        switch s {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        default: break
        }
        if s.count >= 2, let q = s.first, q == "'" || q == "\"", s.last == q { return .string(String(s.dropFirst().dropLast())) }
        throw ParseError(description: "the filter value '\(s.prefix(40))' in '\(text.prefix(80))' must be a number, a quoted string, true, false or null")
    }

    /// Whether a wildcard or filter makes the result a list.
    public var isMulti: Bool { segments.contains { if case .key = $0 { false } else if case .index = $0 { false } else { true } } }

    /// The first segment's key (templates check `input` / `steps.<id>` references with it).
    public var keys: [String] { segments.compactMap { if case .key(let k) = $0 { k } else { nil } } }

    /// The matches in document order.
    public func select(_ root: JSONValue) -> [JSONValue] {
        var current = [root]
        for segment in segments {
            var next: [JSONValue] = []
            for value in current {
                switch segment {
                case .key(let k):
                    if let v = value[k] { next.append(v) }
                case .index(let i):
                    if let a = value.arrayValue {
                        let j = i < 0 ? a.count + i : i
                        if a.indices.contains(j) { next.append(a[j]) }
                    }
                case .wildcard:
                    if let a = value.arrayValue { next += a } else if let o = value.objectValue { next += o.keys.sorted().compactMap { o[$0] } }
                case .filter(let path, let op, let literal):
                    let items = value.arrayValue ?? []
                    next += items.filter { item in
                        var v: JSONValue? = item
                        for p in path { v = v?[p] }
                        return Comparison.holds(v, op, literal)
                    }
                }
            }
            current = next
        }
        return current
    }

    /// One value: the match for a plain path (nil when absent), the list of matches with a wildcard or filter.
    public func evaluate(_ root: JSONValue) -> JSONValue? {
        let found = select(root)
        if isMulti { return .array(found) }
        return found.first
    }
}

/// The comparison operators conditions and filters share.
public enum Comparison {
    public static let names = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "not_exists"]

    static let symbols = ["==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "exists": "exists"]

    /// `left op right`; a missing left side only satisfies `ne` and `not_exists`.
    public static func holds(_ left: JSONValue?, _ op: String, _ right: JSONValue?) -> Bool {
        let name = symbols[op] ?? op
        switch name {
        case "exists": return left != nil && left != .null
        case "not_exists": return left == nil || left == .null
        case "eq": return left != nil && left == right
        case "ne": return left != right
        case "contains":
            guard let left else { return false }
            if let s = left.stringValue, let r = right?.stringValue { return s.contains(r) }
            if let a = left.arrayValue, let r = right { return a.contains(r) }
            if let o = left.objectValue, let r = right?.stringValue { return o[r] != nil }
            return false
        case "gt", "gte", "lt", "lte":
            guard let left, let right else { return false }
            let order: ComparisonResult
            if let a = left.doubleValue, let b = right.doubleValue {
                order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            } else if let a = left.stringValue, let b = right.stringValue {
                order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            } else {
                return false
            }
            switch name {
            case "gt": return order == .orderedDescending
            case "gte": return order != .orderedAscending
            case "lt": return order == .orderedAscending
            default: return order != .orderedDescending
            }
        default: return false
        }
    }
}

/// `{{path}}` templates inside any JSON value. A string that is exactly one template becomes the
/// value found (an object stays an object); templates inside longer text are written out (strings
/// as they are, other values as JSON). A path that finds nothing gives null, or "" inside text.
public enum FlowTemplate {
    public struct Reference: Sendable, Equatable {
        public var path: JSONPath
    }

    /// Every `{{...}}` in a value (for validation), or the first parse error.
    public static func references(in value: JSONValue) throws(JSONPath.ParseError) -> [JSONPath] {
        switch value {
        case .string(let s):
            var out: [JSONPath] = []
            for expr in expressions(s) { out.append(try JSONPath(expr)) }
            return out
        case .array(let a):
            var out: [JSONPath] = []
            for v in a { out += try references(in: v) }
            return out
        case .object(let o):
            var out: [JSONPath] = []
            for k in o.keys.sorted() { if let v = o[k] { out += try references(in: v) } }
            return out
        default:
            return []
        }
    }

    static func expressions(_ s: String) -> [String] {
        var out: [String] = []
        var rest = Substring(s)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            out.append(rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces))
            rest = rest[close.upperBound...]
        }
        return out
    }

    public static func render(_ value: JSONValue, context: JSONValue) -> JSONValue {
        switch value {
        case .string(let s): return renderString(s, context: context)
        case .array(let a): return .array(a.map { render($0, context: context) })
        case .object(let o): return .object(o.mapValues { render($0, context: context) })
        default: return value
        }
    }

    static func renderString(_ s: String, context: JSONValue) -> JSONValue {
        guard s.contains("{{") else { return .string(s) }
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}"), expressions(trimmed).count == 1,
           let close = trimmed.range(of: "}}"), close.upperBound == trimmed.endIndex {
            let expr = String(trimmed.dropFirst(2).dropLast(2)).trimmingCharacters(in: .whitespaces)
            return (try? JSONPath(expr))?.evaluate(context) ?? .null
        }
        var out = ""
        var rest = Substring(s)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            out += rest[..<open.lowerBound]
            let expr = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if let v = (try? JSONPath(expr))?.evaluate(context) {
                switch v {
                case .string(let t): out += t
                case .null: break
                default: out += v.serialized()
                }
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        return .string(out)
    }
}
