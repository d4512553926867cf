import Foundation
import ParleyCore

/// One reason a value failed validation, phrased so it can be shown to a model or a user as is.
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// JSON-pointer location of the offending value: `""` for the root, `"/items/0/name"` below it.
    public var path: String
    /// Plain English, e.g. `"is required"` or `"must be a string, got number"`.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path) \(message)" }
}

/// Validates tool input against the JSON Schema subset LLM tool definitions use.
///
/// Supported: `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`,
/// `minItems`, `maxItems`, `uniqueItems`, `minLength`, `maxLength`, `pattern`, `format`
/// (`date-time`, `email`), `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `allOf`,
/// `anyOf`, `oneOf`. Everything else (including `$ref`) is ignored, so an unfamiliar schema degrades to
/// accepting more rather than rejecting valid input.
public enum JSONSchemaValidator {
    /// Subschema nesting beyond this is reported as a violation instead of followed, so a hostile or
    /// runaway schema cannot exhaust the stack.
    public static let maxDepth = 64

    /// Subschema evaluations allowed per call. Depth alone does not bound the work: `anyOf`/`allOf` lists that
    /// repeat a subschema make it exponential. Generous next to any real tool call (every node of the input
    /// costs about one evaluation per schema that applies to it).
    public static let maxEvaluations = 250_000

    /// Returns all violations; empty when the value is valid.
    public static func validate(_ value: JSONValue, against schema: JSONValue) -> [SchemaViolation] {
        var run = Run()
        check(value, against: schema, path: "", depth: 0, into: &run)
        // Once the budget is gone, later results (e.g. failed `anyOf` options) are artefacts, so report only that.
        if run.exhausted {
            return [SchemaViolation(path: "", message: "could not be validated: the schema needs more than \(maxEvaluations) evaluations")]
        }
        return run.violations
    }

    /// State shared by one `validate` call.
    private struct Run {
        var violations: [SchemaViolation] = []
        var evaluations = 0
        var exhausted = false
        /// Compiled once per call: an `items` pattern would otherwise be recompiled for every element.
        var patterns: [String: NSRegularExpression?] = [:]

        mutating func report(_ path: String, _ message: String) {
            violations.append(SchemaViolation(path: path, message: message))
        }

        mutating func regex(_ pattern: String) -> NSRegularExpression? {
            if let cached = patterns[pattern] { return cached }
            // An uncompilable pattern is the schema author's bug; ignoring it beats rejecting every call.
            let compiled = try? NSRegularExpression(pattern: pattern)
            patterns[pattern] = compiled
            return compiled
        }
    }

    private static func check(_ value: JSONValue, against schema: JSONValue, path: String, depth: Int, into run: inout Run) {
        guard !run.exhausted else { return }
        run.evaluations += 1
        guard run.evaluations <= maxEvaluations else {
            run.exhausted = true
            return
        }
        guard depth <= maxDepth else {
            run.report(path, "exceeds the maximum schema nesting depth of \(maxDepth)")
            return
        }
        let keywords: [String: JSONValue]
        switch schema {
        case .object(let object):
            keywords = object
        case .bool(false):
            run.report(path, "is not allowed")
            return
        default:
            // `true`, and values that are not schemas at all: nothing to enforce.
            return
        }

        // A wrong type makes every other keyword's complaint noise, so report it alone.
        if let type = keywords["type"], let message = typeMismatch(value, type) {
            run.report(path, message)
            return
        }
        if let options = keywords["enum"]?.arrayValue, !options.contains(where: { isEqual($0, value) }) {
            run.report(path, "must be one of: \(list(options))")
        }
        if let constant = keywords["const"], !isEqual(constant, value) {
            run.report(path, "must be equal to \(render(constant))")
        }

        switch value {
        case .string(let string):
            checkString(string, keywords, path: path, into: &run)
        case .number(let number):
            checkNumber(number, keywords, path: path, into: &run)
        case .array(let items):
            checkArray(items, keywords, path: path, depth: depth, into: &run)
        case .object(let object):
            checkObject(object, keywords, path: path, depth: depth, into: &run)
        case .null, .bool:
            break
        }

        checkCombinators(value, keywords, path: path, depth: depth, into: &run)
    }

    // MARK: - Type

    private static func typeMismatch(_ value: JSONValue, _ type: JSONValue) -> String? {
        let names: [String]
        switch type {
        case .string(let name): names = [name]
        case .array(let entries): names = entries.compactMap(\.stringValue)
        default: return nil
        }
        // Unknown type names are ignored like unknown keywords; if none are known there is nothing to check.
        let known = names.filter { matches(value, type: $0) != nil }
        guard !known.isEmpty, !known.contains(where: { matches(value, type: $0) == true }) else { return nil }
        return "must be \(orList(known.map(withArticle))), got \(typeName(value))"
    }

    /// `nil` when the type name is not one JSON Schema defines.
    private static func matches(_ value: JSONValue, type: String) -> Bool? {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string),
            ("array", .array), ("object", .object):
            return true
        case ("integer", .number(let number)):
            // JSON Schema counts 1.0 as an integer: what matters is the value, not how it was written.
            return number.isFinite && number.rounded(.towardZero) == number
        case ("null", _), ("boolean", _), ("number", _), ("string", _), ("array", _), ("object", _), ("integer", _):
            return false
        default:
            return nil
        }
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private static func withArticle(_ type: String) -> String {
        switch type {
        case "null": "null"
        case "integer", "array", "object": "an \(type)"
        default: "a \(type)"
        }
    }

    // MARK: - Strings

    private static func checkString(
        _ string: String, _ keywords: [String: JSONValue], path: String, into run: inout Run
    ) {
        // Characters, not UTF-16 units or bytes, so "é" and emoji count as one as a person would expect.
        let length = Double(string.count)
        if let minimum = keywords["minLength"]?.doubleValue, length < minimum {
            run.report(path, "must be at least \(count(minimum, "character")) long")
        }
        if let maximum = keywords["maxLength"]?.doubleValue, length > maximum {
            run.report(path, "must be at most \(count(maximum, "character")) long")
        }
        if let pattern = keywords["pattern"]?.stringValue, let regex = run.regex(pattern),
            regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) == nil {
            run.report(path, "must match pattern \(pattern)")
        }
        switch keywords["format"]?.stringValue {
        case "date-time" where !isDateTime(string):
            run.report(path, "must be a date-time such as 2024-05-01T12:00:00Z")
        case "email" where !isEmail(string):
            run.report(path, "must be an email address")
        default:
            break
        }
    }

    /// RFC 3339 `date-time`, the profile of ISO 8601 JSON Schema specifies: a full date, a full time and an offset.
    static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var result = 0
            for byte in bytes[index..<index + digits] {
                guard (0x30...0x39).contains(byte) else { return nil }
                result = result * 10 + Int(byte - 0x30)
            }
            index += digits
            return result
        }
        func skip(_ allowed: String) -> Bool {
            guard index < bytes.count, allowed.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }

        guard let year = number(4), skip("-"), let month = number(2), skip("-"), let day = number(2),
            skip("Tt"), let hour = number(2), skip(":"), let minute = number(2), skip(":"), let second = number(2)
        else { return false }
        if skip(".") {
            guard number(1) != nil else { return false }
            while number(1) != nil {}
        }
        if !skip("Zz") {
            guard skip("+-"), let offsetHour = number(2), skip(":"), let offsetMinute = number(2),
                offsetHour <= 23, offsetMinute <= 59
            else { return false }
        }
        guard index == bytes.count, (1...12).contains(month), hour <= 23, minute <= 59, second <= 60 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }

    /// Deliberately loose: one `@`, a non-empty local part, a dotted domain, no whitespace. Anything stricter
    /// rejects real addresses; deliverability can only be known by sending mail.
    static func isEmail(_ text: String) -> Bool {
        guard !text.contains(where: \.isWhitespace) else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    // MARK: - Numbers

    private static func checkNumber(
        _ number: Double, _ keywords: [String: JSONValue], path: String, into run: inout Run
    ) {
        if let minimum = keywords["minimum"]?.doubleValue {
            // Draft 4 spelled exclusivity as a boolean beside `minimum`; older tool schemas still use it.
            if keywords["exclusiveMinimum"] == .bool(true) {
                if number <= minimum { run.report(path, "must be greater than \(format(minimum))") }
            } else if number < minimum {
                run.report(path, "must be at least \(format(minimum))")
            }
        }
        if let maximum = keywords["maximum"]?.doubleValue {
            if keywords["exclusiveMaximum"] == .bool(true) {
                if number >= maximum { run.report(path, "must be less than \(format(maximum))") }
            } else if number > maximum {
                run.report(path, "must be at most \(format(maximum))")
            }
        }
        if let bound = keywords["exclusiveMinimum"]?.doubleValue, number <= bound {
            run.report(path, "must be greater than \(format(bound))")
        }
        if let bound = keywords["exclusiveMaximum"]?.doubleValue, number >= bound {
            run.report(path, "must be less than \(format(bound))")
        }
    }

    // MARK: - Arrays

    private static func checkArray(
        _ items: [JSONValue], _ keywords: [String: JSONValue], path: String, depth: Int, into run: inout Run
    ) {
        let size = Double(items.count)
        if let minimum = keywords["minItems"]?.doubleValue, size < minimum {
            run.report(path, "must have at least \(count(minimum, "item"))")
        }
        if let maximum = keywords["maxItems"]?.doubleValue, size > maximum {
            run.report(path, "must have at most \(count(maximum, "item"))")
        }
        if keywords["uniqueItems"] == .bool(true), let (first, second) = firstDuplicate(items) {
            run.report(path, "must not contain duplicates (items \(first) and \(second) are equal)")
        }
        if let itemSchema = keywords["items"] {
            for (index, item) in items.enumerated() {
                check(item, against: itemSchema, path: "\(path)/\(index)", depth: depth + 1, into: &run)
            }
        }
    }

    /// Cheap, non-recursive bucket key so duplicate detection compares only plausible pairs, not all n² of them.
    private enum ShallowKey: Hashable {
        case null, bool(Bool), number(Double), string(String), array(Int), object(Set<String>)

        init(_ value: JSONValue) {
            switch value {
            case .null: self = .null
            case .bool(let value): self = .bool(value)
            case .number(let value): self = .number(value)
            case .string(let value): self = .string(value)
            case .array(let value): self = .array(value.count)
            case .object(let value): self = .object(Set(value.keys))
            }
        }
    }

    private static func firstDuplicate(_ items: [JSONValue]) -> (Int, Int)? {
        var buckets: [ShallowKey: [Int]] = [:]
        for (index, item) in items.enumerated() {
            let key = ShallowKey(item)
            for earlier in buckets[key, default: []] where isEqual(items[earlier], item) {
                return (earlier, index)
            }
            buckets[key, default: []].append(index)
        }
        return nil
    }

    // MARK: - Objects

    private static func checkObject(
        _ object: [String: JSONValue], _ keywords: [String: JSONValue], path: String, depth: Int,
        into run: inout Run
    ) {
        let properties = keywords["properties"]?.objectValue ?? [:]
        for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
            run.report("\(path)/\(escape(name))", "is required")
        }
        // Sorted so the same input always yields violations in the same order.
        for name in object.keys.sorted() {
            guard let child = object[name] else { continue }
            if let propertySchema = properties[name] {
                check(child, against: propertySchema, path: "\(path)/\(escape(name))", depth: depth + 1, into: &run)
            } else if let extraSchema = keywords["additionalProperties"] {
                // `false` arrives here as the false schema, which reports "is not allowed".
                check(child, against: extraSchema, path: "\(path)/\(escape(name))", depth: depth + 1, into: &run)
            }
        }
    }

    /// JSON Pointer escaping (RFC 6901), so a key containing "/" cannot fake a deeper path.
    private static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    // MARK: - Combinators

    private static func checkCombinators(
        _ value: JSONValue, _ keywords: [String: JSONValue], path: String, depth: Int, into run: inout Run
    ) {
        for branch in keywords["allOf"]?.arrayValue ?? [] {
            check(value, against: branch, path: path, depth: depth + 1, into: &run)
        }
        if let branches = keywords["anyOf"]?.arrayValue, !branches.isEmpty {
            var results: [[SchemaViolation]] = []
            // Stop at the first match: later options cannot change the outcome.
            for branch in branches {
                let violations = validateBranch(value, branch, path: path, depth: depth, run: &run)
                if violations.isEmpty { break }
                results.append(violations)
            }
            if results.count == branches.count {
                run.report(path, "must match at least one schema in anyOf (\(summary(results, path: path)))")
            }
        }
        if let branches = keywords["oneOf"]?.arrayValue, !branches.isEmpty {
            let results = branches.map { validateBranch(value, $0, path: path, depth: depth, run: &run) }
            let matched = results.indices.filter { results[$0].isEmpty }
            if matched.isEmpty {
                run.report(path, "must match exactly one schema in oneOf (\(summary(results, path: path)))")
            } else if matched.count > 1 {
                let options = andList(matched.map { String($0 + 1) })
                run.report(path, "must match exactly one schema in oneOf, but matched options \(options)")
            }
        }
    }

    /// Runs a combinator option on its own violation list, sharing the budget and pattern cache.
    private static func validateBranch(
        _ value: JSONValue, _ schema: JSONValue, path: String, depth: Int, run: inout Run
    ) -> [SchemaViolation] {
        let outer = run.violations
        run.violations = []
        check(value, against: schema, path: path, depth: depth + 1, into: &run)
        let branch = run.violations
        run.violations = outer
        return branch
    }

    /// The first failure of each option, with paths relative to the combinator, so a model can see how to fix it.
    private static func summary(_ results: [[SchemaViolation]], path: String) -> String {
        results.enumerated().compactMap { index, violations in
            guard let first = violations.first else { return nil }
            let relative = first.path.hasPrefix(path) ? String(first.path.dropFirst(path.count)) : first.path
            return "option \(index + 1): " + (relative.isEmpty ? first.message : "\(relative) \(first.message)")
        }.joined(separator: "; ")
    }

    // MARK: - Equality and wording

    /// Structural equality with an explicit work list: `==` on `JSONValue` recurses, and `uniqueItems`
    /// compares two input values, both of which can be arbitrarily deep.
    static func isEqual(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        var pending = [(lhs, rhs)]
        while let (left, right) = pending.popLast() {
            switch (left, right) {
            case (.null, .null):
                continue
            case (.bool(let a), .bool(let b)):
                if a != b { return false }
            case (.number(let a), .number(let b)):
                if a != b { return false }
            case (.string(let a), .string(let b)):
                if a != b { return false }
            case (.array(let a), .array(let b)):
                guard a.count == b.count else { return false }
                pending.append(contentsOf: zip(a, b))
            case (.object(let a), .object(let b)):
                guard a.count == b.count else { return false }
                for (key, aValue) in a {
                    guard let bValue = b[key] else { return false }
                    pending.append((aValue, bValue))
                }
            default:
                return false
            }
        }
        return true
    }

    /// Strings bare (they read better in a sentence), everything else as JSON.
    private static func render(_ value: JSONValue) -> String {
        if case .string(let string) = value { return string }
        return value.serialized()
    }

    /// Long enums are cut short so one violation cannot balloon an error message sent back to a model.
    private static func list(_ options: [JSONValue]) -> String {
        let limit = 25
        let shown = options.prefix(limit).map(render).joined(separator: ", ")
        return options.count > limit ? "\(shown), … (\(options.count - limit) more)" : shown
    }

    private static func format(_ number: Double) -> String { JSONValue.number(number).serialized() }

    private static func count(_ number: Double, _ noun: String) -> String {
        "\(format(number)) \(noun)\(number == 1 ? "" : "s")"
    }

    private static func orList(_ words: [String]) -> String { join(words, "or") }
    private static func andList(_ words: [String]) -> String { join(words, "and") }

    private static func join(_ words: [String], _ conjunction: String) -> String {
        guard let last = words.last, words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " \(conjunction) \(last)"
    }
}
