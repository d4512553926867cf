import ParleyCore

/// A PDF object.
indirect enum PDFObject {
    case null
    case bool(Bool)
    case int(Int)
    case real(Double)
    case string([UInt8])
    case name(String)
    case array([PDFObject])
    case dict([String: PDFObject])
    case ref(Int)
    /// A stream: its dictionary and the range of its raw (still encoded) data in the file.
    case stream([String: PDFObject], Range<Int>)
    /// An operator in a content stream.
    case op(String)

    var dict: [String: PDFObject]? {
        switch self {
        case .dict(let d), .stream(let d, _): return d
        default: return nil
        }
    }

    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .real(let r): return r
        default: return nil
        }
    }

    var int: Int? {
        switch self {
        case .int(let i): return i
        case .real(let r) where r.isFinite && abs(r) < 1e15: return Int(r)
        default: return nil
        }
    }

    var name: String? {
        if case .name(let n) = self { return n }
        return nil
    }

    var array: [PDFObject]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var bytes: [UInt8]? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// Tokens and objects from PDF syntax, for the file and for content streams alike.
struct PDFLexer {
    static let maxDepth = 64

    let bytes: [UInt8]
    var i: Int

    init(_ bytes: [UInt8], at i: Int = 0) {
        self.bytes = bytes
        self.i = i
    }

    static func isWhite(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 || b == 0x0C || b == 0x00 }
    static func isDelimiter(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "(") || b == UInt8(ascii: ")") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "[")
            || b == UInt8(ascii: "]") || b == UInt8(ascii: "{") || b == UInt8(ascii: "}") || b == UInt8(ascii: "/") || b == UInt8(ascii: "%")
    }

    mutating func skipWhite() {
        while i < bytes.count {
            let b = bytes[i]
            if Self.isWhite(b) { i += 1 }
            else if b == UInt8(ascii: "%") {
                while i < bytes.count && bytes[i] != 0x0A && bytes[i] != 0x0D { i += 1 }
            } else { break }
        }
    }

    /// The next object (or operator); nil at the end or on `]`/`>>` (the caller's closer).
    mutating func object(depth: Int = 0) -> PDFObject? {
        skipWhite()
        guard i < bytes.count else { return nil }
        let b = bytes[i]
        switch b {
        case UInt8(ascii: "/"):
            i += 1
            var name: [UInt8] = []
            while i < bytes.count, !Self.isWhite(bytes[i]), !Self.isDelimiter(bytes[i]) {
                if bytes[i] == UInt8(ascii: "#"), i + 2 < bytes.count, let v = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                    name.append(v); i += 3
                } else {
                    name.append(bytes[i]); i += 1
                }
            }
            return .name(String(decoding: name, as: UTF8.self))
        case UInt8(ascii: "("):
            return .string(literalString())
        case UInt8(ascii: "<"):
            if i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "<") {
                i += 2
                var d: [String: PDFObject] = [:]
                while true {
                    skipWhite()
                    guard i < bytes.count else { return .dict(d) }
                    if bytes[i] == UInt8(ascii: ">") { i = min(i + 2, bytes.count); return .dict(d) }
                    guard let key = object(depth: depth + 1) else { return .dict(d) }
                    guard case .name(let k) = key else { continue }
                    guard depth < Self.maxDepth, let value = object(depth: depth + 1) else { return .dict(d) }
                    if case .op(let o) = value, o == "endobj" || o == "stream" { return .dict(d) }
                    d[k] = value
                }
            }
            return .string(hexString())
        case UInt8(ascii: "["):
            i += 1
            var items: [PDFObject] = []
            while true {
                skipWhite()
                guard i < bytes.count else { return .array(items) }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                guard depth < Self.maxDepth, let value = object(depth: depth + 1) else { return .array(items) }
                if case .op(let o) = value, o == "endobj" { return .array(items) }
                items.append(value)
                if items.count >= 3, case .op("R") = items[items.count - 1], case .int(let n) = items[items.count - 3], case .int = items[items.count - 2] {
                    items.removeLast(3)
                    items.append(.ref(n))
                }
            }
        case UInt8(ascii: "]"), UInt8(ascii: ">"), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "}"):
            i += 1
            return .op(String(UnicodeScalar(b)))
        default:
            let start = i
            while i < bytes.count, !Self.isWhite(bytes[i]), !Self.isDelimiter(bytes[i]) { i += 1 }
            let word = bytes[start..<i]
            if let first = word.first, (first >= 48 && first <= 57) || first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".") {
                let text = String(decoding: word, as: UTF8.self)
                if !word.contains(UInt8(ascii: ".")), word.count <= 15, let n = Int(text) {
                    // "n g R" is a reference.
                    let save = i
                    skipWhite()
                    let genStart = i
                    while i < bytes.count, bytes[i] >= 48 && bytes[i] <= 57 { i += 1 }
                    if i > genStart {
                        skipWhite()
                        if i < bytes.count, bytes[i] == UInt8(ascii: "R"), i + 1 >= bytes.count || Self.isWhite(bytes[i + 1]) || Self.isDelimiter(bytes[i + 1]) {
                            i += 1
                            return .ref(n)
                        }
                    }
                    i = save
                    return .int(n)
                }
                return .real(Double(text) ?? 0)
            }
            if word.isEmpty { i += 1; return .op("") }
            let text = String(decoding: word, as: UTF8.self)
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .null
            default: return .op(text)
            }
        }
    }

    private mutating func literalString() -> [UInt8] {
        i += 1
        var out: [UInt8] = []
        var depth = 1
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            switch b {
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { return out }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case 0x0D: if i < bytes.count && bytes[i] == 0x0A { i += 1 }
                case 0x0A: break
                case 48...55:
                    var v = Int(e - 48)
                    var n = 1
                    while n < 3, i < bytes.count, bytes[i] >= 48 && bytes[i] <= 55 { v = v * 8 + Int(bytes[i] - 48); i += 1; n += 1 }
                    out.append(UInt8(truncatingIfNeeded: v))
                default: out.append(e)
                }
            case UInt8(ascii: "("):
                depth += 1; out.append(b)
            case UInt8(ascii: ")"):
                depth -= 1
                if depth == 0 { return out }
                out.append(b)
            default:
                out.append(b)
            }
        }
        return out
    }

    private mutating func hexString() -> [UInt8] {
        i += 1
        var out: [UInt8] = []
        var high: UInt8?
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            if b == UInt8(ascii: ">") { break }
            let v: UInt8
            switch b {
            case 48...57: v = b - 48
            case 65...70: v = b - 55
            case 97...102: v = b - 87
            default: continue
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        if let h = high { out.append(h << 4) }
        return out
    }
}

/// A PDF file: objects found by scanning for `n g obj` (so a damaged cross-reference table does
/// not matter), objects inside object streams, the trailer, the page tree.
final class PDFFile {
    let bytes: [UInt8]
    private var offsets: [Int: Int] = [:]
    private var cache: [Int: PDFObject] = [:]
    private var inStreams: [Int: (stream: Int, index: Int)] = [:]
    private var decodedObjectStreams: [Int: [PDFObject]] = [:]
    var budget: ExpansionBudget
    private(set) var trailer: [String: PDFObject] = [:]

    init(_ bytes: [UInt8], budget: ExpansionBudget) throws(ParleyError) {
        self.bytes = bytes
        self.budget = budget
        guard let header = Self.find(Array("%PDF-".utf8), in: bytes, from: 0, limit: 1024) else {
            throw ConvertError.unreadable(.pdf, "it does not start with a PDF header (%PDF-); check the file is a PDF")
        }
        _ = header
        let tail = max(0, bytes.count - 4096)
        guard Self.find(Array("%%EOF".utf8), in: bytes, from: tail, limit: bytes.count) != nil else {
            throw ConvertError.unreadable(.pdf, "the PDF is truncated (it has no end-of-file marker); send the complete file")
        }
        scanObjects()
        try readTrailers()
        if trailer["Encrypt"] != nil {
            throw ConvertError.unreadable(.pdf, "it is an encrypted (password-protected) PDF; remove the password (for example with qpdf --decrypt) and send it again")
        }
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int, limit: Int) -> Int? {
        bytes.firstIndex(of: needle, from: from, limit: limit)
    }

    /// Records the offset of every `n g obj` in the file (later definitions win, as incremental
    /// updates do).
    private func scanObjects() {
        var k = 0
        let n = bytes.count
        while k + 3 <= n {
            guard bytes[k] == UInt8(ascii: "o"), bytes[k + 1] == UInt8(ascii: "b"), bytes[k + 2] == UInt8(ascii: "j") else { k += 1; continue }
            defer { k += 3 }
            if k + 3 < n, !PDFLexer.isWhite(bytes[k + 3]), !PDFLexer.isDelimiter(bytes[k + 3]) { continue }
            // Walk back: white, generation digits, white, object digits.
            var j = k - 1
            guard j >= 0, PDFLexer.isWhite(bytes[j]) else { continue }
            while j >= 0, PDFLexer.isWhite(bytes[j]) { j -= 1 }
            let genEnd = j
            while j >= 0, bytes[j] >= 48 && bytes[j] <= 57 { j -= 1 }
            guard j < genEnd, j >= 0, PDFLexer.isWhite(bytes[j]) else { continue }
            while j >= 0, PDFLexer.isWhite(bytes[j]) { j -= 1 }
            let numEnd = j
            while j >= 0, bytes[j] >= 48 && bytes[j] <= 57 { j -= 1 }
            guard j < numEnd, numEnd - j <= 10, let num = Int(String(decoding: bytes[(j + 1)...numEnd], as: UTF8.self)) else { continue }
            offsets[num] = k + 3
        }
    }

    private func readTrailers() throws(ParleyError) {
        // Classic trailers, in file order (later ones update earlier ones).
        var k = 0
        let keyword = Array("trailer".utf8)
        while let at = Self.find(keyword, in: bytes, from: k, limit: bytes.count) {
            var lexer = PDFLexer(bytes, at: at + keyword.count)
            if let d = lexer.object()?.dict { trailer.merge(d) { _, new in new } }
            k = at + keyword.count
        }
        // Cross-reference streams and object streams.
        for num in offsets.keys.sorted() {
            guard case .stream(let d, _) = object(num) else { continue }
            switch d["Type"]?.name {
            case "XRef":
                for key in ["Root", "Info", "Encrypt"] { if let v = d[key] { trailer[key] = v } }
            case "ObjStm":
                try registerObjectStream(num, d)
            default: break
            }
        }
    }

    private func registerObjectStream(_ num: Int, _ d: [String: PDFObject]) throws(ParleyError) {
        guard let count = d["N"]?.int, count > 0, count < 1_000_000, let first = d["First"]?.int, first >= 0,
              let data = try streamData(object(num)), first < data.count else { return }
        var lexer = PDFLexer(data)
        var entries: [(Int, Int)] = []
        for _ in 0..<count {
            guard let n = lexer.object()?.int, let off = lexer.object()?.int, off >= 0, off < data.count - first else { break }
            entries.append((n, off))
        }
        var objects: [PDFObject] = []
        for (index, entry) in entries.enumerated() {
            var l = PDFLexer(data, at: first + entry.1)
            objects.append(l.object() ?? .null)
            if offsets[entry.0] == nil && inStreams[entry.0] == nil { inStreams[entry.0] = (num, index) }
        }
        decodedObjectStreams[num] = objects
    }

    /// The object numbered `num` (`.null` when absent).
    func object(_ num: Int) -> PDFObject {
        if let cached = cache[num] { return cached }
        var result = PDFObject.null
        if let offset = offsets[num] {
            var lexer = PDFLexer(bytes, at: offset)
            let value = lexer.object() ?? .null
            lexer.skipWhite()
            if case .dict(let d) = value, bytes[lexer.i...].starts(with: Array("stream".utf8)) {
                var start = lexer.i + 6
                if start < bytes.count && bytes[start] == 0x0D { start += 1 }
                if start < bytes.count && bytes[start] == 0x0A { start += 1 }
                result = .stream(d, start..<streamEnd(d, start: start))
            } else {
                result = value
            }
        } else if let location = inStreams[num], let objects = decodedObjectStreams[location.stream], location.index < objects.count {
            result = objects[location.index]
        }
        cache[num] = result
        return result
    }

    private func streamEnd(_ d: [String: PDFObject], start: Int) -> Int {
        let endKeyword = Array("endstream".utf8)
        var length: Int? = d["Length"]?.int
        if length == nil, case .ref(let n) = d["Length"], offsets[n] != nil {
            var lexer = PDFLexer(bytes, at: offsets[n] ?? 0)
            length = lexer.object()?.int
        }
        if let length, length >= 0, length <= bytes.count - start {
            var k = start + length
            while k < bytes.count, PDFLexer.isWhite(bytes[k]) { k += 1 }
            if bytes[k...].starts(with: endKeyword) { return start + length }
        }
        let found = Self.find(endKeyword, in: bytes, from: start, limit: bytes.count) ?? bytes.count
        var end = found
        if end > start && bytes[end - 1] == 0x0A { end -= 1 }
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        return end
    }

    func resolve(_ value: PDFObject?) -> PDFObject? {
        guard let value else { return nil }
        if case .ref(let n) = value { return object(n) }
        return value
    }

    func dict(_ value: PDFObject?) -> [String: PDFObject]? { resolve(value)?.dict }

    /// A stream's decoded data; nil when its filter is one text extraction cannot use (images).
    func streamData(_ value: PDFObject?) throws(ParleyError) -> [UInt8]? {
        guard case .stream(let d, let range) = resolve(value) else { return nil }
        var data = Array(bytes[range])
        var filters: [String] = []
        switch resolve(d["Filter"]) {
        case .name(let n): filters = [n]
        case .array(let a): filters = a.compactMap { resolve($0)?.name }
        default: break
        }
        for filter in filters {
            switch filter {
            case "FlateDecode", "Fl":
                let result = try Inflater.inflate(data[...], wrapping: .zlibOrGzip, budget: &budget)
                data = result.bytes
            case "ASCIIHexDecode", "AHx":
                var lexer = PDFLexer([UInt8(ascii: "<")] + data + [UInt8(ascii: ">")])
                data = lexer.object()?.bytes ?? []
            case "ASCII85Decode", "A85":
                data = Self.ascii85(data)
            default:
                return nil
            }
        }
        if filters.isEmpty { try budget.spend(data.count) }
        return data
    }

    static func ascii85(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var group: [UInt32] = []
        var k = 0
        if input.starts(with: Array("<~".utf8)) { k = 2 }
        while k < input.count {
            let b = input[k]
            k += 1
            if b == UInt8(ascii: "~") { break }
            if PDFLexer.isWhite(b) { continue }
            if b == UInt8(ascii: "z") && group.isEmpty { out += [0, 0, 0, 0]; continue }
            guard b >= 33 && b <= 117 else { continue }
            group.append(UInt32(b - 33))
            if group.count == 5 {
                let v = group.reduce(UInt32(0)) { $0 &* 85 &+ $1 }
                out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
                group = []
            }
        }
        if !group.isEmpty {
            let n = group.count
            while group.count < 5 { group.append(84) }
            let v = group.reduce(UInt32(0)) { $0 &* 85 &+ $1 }
            let all = [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
            out += all.prefix(n - 1)
        }
        return out
    }

    /// The pages in order, each with its (inherited) resources.
    func pages() -> [(page: [String: PDFObject], resources: [String: PDFObject])] {
        var result: [(page: [String: PDFObject], resources: [String: PDFObject])] = []
        var visited = Set<Int>()
        if let root = dict(trailer["Root"]), let pagesRef = root["Pages"] {
            var stack: [(PDFObject, [String: PDFObject])] = [(pagesRef, [:])]
            while let (nodeRef, inherited) = stack.popLast(), result.count < 100_000 {
                if case .ref(let n) = nodeRef {
                    if visited.contains(n) { continue }
                    visited.insert(n)
                }
                guard let node = dict(nodeRef) else { continue }
                let resources = dict(node["Resources"]) ?? inherited
                if let kids = resolve(node["Kids"])?.array {
                    for kid in kids.reversed() { stack.append((kid, resources)) }
                } else if node["Type"]?.name == "Page" || node["Contents"] != nil {
                    result.append((node, resources))
                }
            }
        }
        if result.isEmpty {
            for num in offsets.keys.sorted() {
                if let d = object(num).dict, d["Type"]?.name == "Page" { result.append((d, dict(d["Resources"]) ?? [:])) }
            }
        }
        return result
    }

    /// The document information's title.
    func infoTitle() -> String? {
        guard let info = dict(trailer["Info"]), let raw = resolve(info["Title"])?.bytes else { return nil }
        let text = PDFFile.textString(raw).trimmingWhitespace()
        // Producers' placeholders are not titles.
        return text.isEmpty || ["(anonymous)", "untitled", "(unspecified)"].contains(text.lowercased()) ? nil : text
    }

    /// A PDF text string: UTF-16BE with a byte-order mark, UTF-8 with one, else PDFDocEncoding
    /// (taken as Windows-1252).
    static func textString(_ raw: [UInt8]) -> String {
        if raw.starts(with: [0xFE, 0xFF]) {
            var units: [UInt16] = []
            var k = 2
            while k + 1 < raw.count { units.append(UInt16(raw[k]) << 8 | UInt16(raw[k + 1])); k += 2 }
            return String(decoding: units, as: UTF16.self)
        }
        if raw.starts(with: [0xEF, 0xBB, 0xBF]) { return String(decoding: raw.dropFirst(3), as: UTF8.self) }
        return String(String.UnicodeScalarView(raw.map(windows1252)))
    }
}
