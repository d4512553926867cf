import ParleyCore

/// CSV (and TSV, `;`- or `|`-separated) to one Markdown table: quoted fields with doubled
/// quotes and line breaks, the delimiter guessed from the first line, the first row as header.
struct CSVConverter {
    let limits: ConversionLimits

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        // UTF-8 as it is; anything else re-encoded as UTF-8 first. Every delimiter is ASCII, so
        // the fields are cut from the bytes.
        let utf8: [UInt8]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { utf8 = Array(bytes.dropFirst(3)) }
        else if String(validating: bytes, as: UTF8.self) != nil { utf8 = bytes }
        else { utf8 = Array(decodeText(bytes[...]).utf8) }
        let delimiter = Self.delimiter(of: utf8)
        let quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var fieldStarted = false
        var cells = 0
        var i = 0
        let n = utf8.count
        while i < n {
            let b = utf8[i]
            i += 1
            if quoted {
                if b == quote {
                    if i < n && utf8[i] == quote { field.append(quote); i += 1 } else { quoted = false }
                } else {
                    field.append(b)
                }
                continue
            }
            if b == quote && field.isEmpty && !fieldStarted {
                quoted = true
                fieldStarted = true
            } else if b == delimiter {
                row.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                fieldStarted = false
            } else if b == lf || b == cr {
                if b == cr && i < n && utf8[i] == lf { i += 1 }
                row.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                fieldStarted = false
                if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
                cells += row.count
                if cells > limits.maxTableCells { throw ConvertError.tooManyCells(limits.maxTableCells) }
                row.removeAll(keepingCapacity: true)
            } else {
                field.append(b)
                fieldStarted = true
            }
        }
        if fieldStarted || !field.isEmpty || !row.isEmpty {
            row.append(String(decoding: field, as: UTF8.self))
            rows.append(row)
        }
        let table = try Markdown.table(rows, limits: limits)
        return ConvertedDocument(format: .csv, title: nil, markdown: table)
    }

    /// The most frequent of `,` `;` tab `|` on the first line, outside quotes.
    static func delimiter(of bytes: [UInt8]) -> UInt8 {
        var counts: [UInt8: Int] = [UInt8(ascii: ","): 0, UInt8(ascii: ";"): 0, UInt8(ascii: "\t"): 0, UInt8(ascii: "|"): 0]
        var quoted = false
        for b in bytes.prefix(65_536) {
            if b == UInt8(ascii: "\"") { quoted.toggle(); continue }
            if quoted { continue }
            if b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") { break }
            if counts[b] != nil { counts[b, default: 0] += 1 }
        }
        let order: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: "\t"), UInt8(ascii: ";"), UInt8(ascii: "|")]
        return order.max { (counts[$0] ?? 0) < (counts[$1] ?? 0) } ?? UInt8(ascii: ",")
    }
}

/// A JSON value with the keys of objects in document order.
indirect enum JSONValue {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// Not a container, or an empty one (shown as `[]` / `{}`).
    var isScalar: Bool {
        switch self {
        case .array(let items): return items.isEmpty
        case .object(let pairs): return pairs.isEmpty
        default: return true
        }
    }

    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return s
        case .array(let items): return items.isEmpty ? "[]" : items.map(\.text).joined(separator: ", ")
        case .object(let pairs): return pairs.isEmpty ? "{}" : pairs.map { "\($0.0): \($0.1.text)" }.joined(separator: ", ")
        }
    }
}

/// A strict JSON parser (RFC 8259) with a depth cap, keeping key order.
struct JSONParser {
    private let bytes: [UInt8]
    private var i = 0
    private let maxDepth: Int

    init(_ bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
    }

    mutating func parse() throws(ParleyError) -> JSONValue {
        let value = try parseValue(depth: 0)
        skipSpace()
        guard i == bytes.count else { throw error("unexpected text after the JSON value") }
        return value
    }

    private func error(_ why: String) -> ParleyError {
        ConvertError.unreadable(.json, "\(why) at byte \(i); check it is valid JSON")
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func parseValue(depth: Int) throws(ParleyError) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw error("the JSON ends early") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw ConvertError.tooDeep(.json, maxDepth) }
            i += 1
            var pairs: [(String, JSONValue)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let key = try parseString()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                pairs.append((key, try parseValue(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw error("the JSON ends early") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw ConvertError.tooDeep(.json, maxDepth) }
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try parseValue(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw error("the JSON ends early") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            let start = i
            while i < bytes.count, (bytes[i] >= 48 && bytes[i] <= 57) || [UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[i]) { i += 1 }
            let number = String(decoding: bytes[start..<i], as: UTF8.self)
            guard !number.isEmpty, Double(number) != nil else { throw error("unexpected character") }
            return .number(number)
        }
    }

    private mutating func literal(_ word: String) throws(ParleyError) {
        for b in word.utf8 {
            guard i < bytes.count, bytes[i] == b else { throw error("unexpected character") }
            i += 1
        }
    }

    private mutating func parseString() throws(ParleyError) -> String {
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { break }
                let e = bytes[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var code = hex4() else { throw error("bad \\u escape") }
                    if (0xD800..<0xDC00).contains(code), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { throw error("bad surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(code).map { Character($0) } ?? "\u{FFFD}").utf8))
                default: out.append(e)
                }
                continue
            }
            out.append(b)
            i += 1
        }
        throw error("a string is not closed")
    }

    private mutating func hex4() -> UInt32? {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
        i += 4
        return v
    }
}

/// JSON to readable Markdown: an object's keys as headings (nested objects) or `- **key**: value`
/// lines (scalars), arrays of flat objects as tables, arrays of scalars as lists.
struct JSONConverter {
    let limits: ConversionLimits

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        var parser = JSONParser(bytes, maxDepth: limits.maxNestingDepth)
        let value = try parser.parse()
        var out = ""
        try render(value, level: 2, indent: 0, into: &out)
        var title: String?
        if case .object(let pairs) = value,
           let found = pairs.first(where: { ["title", "name"].contains($0.0.lowercased()) && $0.1.isScalar }) {
            title = found.1.text
        }
        return ConvertedDocument(format: .json, title: title, markdown: Markdown.tidy(out))
    }

    private func render(_ value: JSONValue, level: Int, indent: Int, into out: inout String) throws(ParleyError) {
        if out.utf8.count > limits.maxOutputBytes { throw Markdown.outputTooLarge(limits) }
        let pad = String(repeating: "  ", count: min(indent, 16))
        switch value {
        case .object(let pairs):
            var scalarLines = ""
            for (key, child) in pairs where child.isScalar {
                scalarLines += pad + "- **" + key + "**: " + child.text.replacingNewlines() + "\n"
            }
            if !scalarLines.isEmpty { out += scalarLines + (indent == 0 ? "\n" : "") }
            for (key, child) in pairs where !child.isScalar {
                if level <= 6 && indent == 0 {
                    out += "\n" + String(repeating: "#", count: level) + " " + key + "\n\n"
                    try render(child, level: level + 1, indent: 0, into: &out)
                } else {
                    out += pad + "- **" + key + "**:\n"
                    try render(child, level: level + 1, indent: indent + 1, into: &out)
                }
            }
        case .array(let items):
            if let table = try flatTable(items) {
                if indent == 0 { out += table + "\n" } else { out += pad + "- " + items.map(\.text).joined(separator: "; ") + "\n" }
                return
            }
            for item in items {
                if item.isScalar {
                    out += pad + "- " + item.text.replacingNewlines() + "\n"
                } else {
                    out += pad + "-\n"
                    try render(item, level: level + 1, indent: indent + 1, into: &out)
                }
            }
            if indent == 0 { out += "\n" }
        default:
            out += pad + value.text + "\n"
        }
    }

    /// A table when every item is an object whose values are all scalars.
    private func flatTable(_ items: [JSONValue]) throws(ParleyError) -> String? {
        guard !items.isEmpty else { return nil }
        var keys: [String] = []
        var seen = Set<String>()
        for item in items {
            guard case .object(let pairs) = item, pairs.allSatisfy({ $0.1.isScalar }) else { return nil }
            for (key, _) in pairs where !seen.contains(key) {
                seen.insert(key)
                keys.append(key)
            }
        }
        var rows: [[String]] = [keys]
        for item in items {
            guard case .object(let pairs) = item else { continue }
            var map: [String: String] = [:]
            for (k, v) in pairs { map[k] = v.text }
            rows.append(keys.map { map[$0] ?? "" })
        }
        return try Markdown.table(rows, limits: limits)
    }
}

extension String {
    func replacingNewlines() -> String {
        contains("\n") ? split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " ") : self
    }
}
