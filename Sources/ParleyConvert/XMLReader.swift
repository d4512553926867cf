import ParleyCore

/// A small pull reader for the XML inside Office files. It never reads a DTD and expands only
/// the five predefined entities and character references: a document that declares a DOCTYPE
/// (the road to "billion laughs" entity expansion, and never used by Office) is refused.
/// Names are local names (the namespace prefix is dropped), for elements and attributes alike.
struct XMLReader {
    enum Event {
        case start(name: String, attributes: [String: String])
        case end(name: String)
        case text(String)
    }

    static let maxDepth = 256

    private let bytes: [UInt8]
    private var i: Int
    private var pendingEnd: String?
    private(set) var depth = 0
    let format: DocumentFormat

    init(_ bytes: [UInt8], format: DocumentFormat) {
        self.bytes = bytes
        self.format = format
        i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    mutating func next() throws(ParleyError) -> Event? {
        if let name = pendingEnd {
            pendingEnd = nil
            depth -= 1
            return .end(name: name)
        }
        while i < bytes.count {
            if bytes[i] != UInt8(ascii: "<") {
                let start = i
                while i < bytes.count && bytes[i] != UInt8(ascii: "<") {
                    // XML never holds a NUL: this is not XML (or not the part it claims to be).
                    if bytes[i] == 0 { throw corrupt() }
                    i += 1
                }
                return .text(Self.unescape(bytes[start..<i]))
            }
            // Markup.
            guard i + 1 < bytes.count else { throw corrupt() }
            let c = bytes[i + 1]
            if c == UInt8(ascii: "?") {
                i = try skip(past: Array("?>".utf8), from: i + 2)
                continue
            }
            if c == UInt8(ascii: "!") {
                if matches("<!--", at: i) {
                    i = try skip(past: Array("-->".utf8), from: i + 4)
                    continue
                }
                if matches("<![CDATA[", at: i) {
                    let start = i + 9
                    let end = try skip(past: Array("]]>".utf8), from: start)
                    i = end
                    return .text(String(decoding: bytes[start..<(end - 3)], as: UTF8.self))
                }
                throw ConvertError.unreadable(format, "its XML declares a DTD (DOCTYPE), which Office files never do; the file was refused rather than expand its entities")
            }
            if c == UInt8(ascii: "/") {
                var j = i + 2
                let nameStart = j
                while j < bytes.count && bytes[j] != UInt8(ascii: ">") { j += 1 }
                guard j < bytes.count else { throw corrupt() }
                let name = Self.localName(bytes[nameStart..<j])
                i = j + 1
                depth -= 1
                return .end(name: name)
            }
            return try startTag()
        }
        return nil
    }

    private mutating func startTag() throws(ParleyError) -> Event {
        var j = i + 1
        let nameStart = j
        while j < bytes.count, !Self.isSpace(bytes[j]), bytes[j] != UInt8(ascii: ">"), bytes[j] != UInt8(ascii: "/") { j += 1 }
        let name = Self.localName(bytes[nameStart..<j])
        var attributes: [String: String] = [:]
        while true {
            while j < bytes.count && Self.isSpace(bytes[j]) { j += 1 }
            guard j < bytes.count else { throw corrupt() }
            if bytes[j] == UInt8(ascii: ">") { j += 1; break }
            if bytes[j] == UInt8(ascii: "/") {
                guard j + 1 < bytes.count, bytes[j + 1] == UInt8(ascii: ">") else { throw corrupt() }
                j += 2
                pendingEnd = name
                break
            }
            let attrStart = j
            while j < bytes.count, bytes[j] != UInt8(ascii: "="), !Self.isSpace(bytes[j]), bytes[j] != UInt8(ascii: ">") { j += 1 }
            let attrName = Self.localName(bytes[attrStart..<j])
            while j < bytes.count && Self.isSpace(bytes[j]) { j += 1 }
            guard j < bytes.count, bytes[j] == UInt8(ascii: "=") else { throw corrupt() }
            j += 1
            while j < bytes.count && Self.isSpace(bytes[j]) { j += 1 }
            guard j < bytes.count, bytes[j] == UInt8(ascii: "\"") || bytes[j] == UInt8(ascii: "'") else { throw corrupt() }
            let quote = bytes[j]
            j += 1
            let valueStart = j
            while j < bytes.count && bytes[j] != quote { j += 1 }
            guard j < bytes.count else { throw corrupt() }
            attributes[attrName] = Self.unescape(bytes[valueStart..<j])
            j += 1
        }
        i = j
        depth += 1
        if depth > Self.maxDepth { throw ConvertError.tooDeep(format, Self.maxDepth) }
        return .start(name: name, attributes: attributes)
    }

    private func corrupt() -> ParleyError {
        ConvertError.unreadable(format, "its XML is malformed or truncated")
    }

    private func matches(_ s: String, at index: Int) -> Bool { bytes.hasText(s, at: index) }

    /// The index just past `terminator`, searching from `from`.
    private func skip(past terminator: [UInt8], from: Int) throws(ParleyError) -> Int {
        guard let at = bytes.firstIndex(of: terminator, from: from) else { throw corrupt() }
        return at + terminator.count
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    static func localName(_ raw: ArraySlice<UInt8>) -> String {
        var slice = raw
        while let last = slice.last, isSpace(last) { slice = slice.dropLast() }
        if let colon = slice.lastIndex(of: UInt8(ascii: ":")) { slice = slice[(colon + 1)...] }
        return String(decoding: slice, as: UTF8.self)
    }

    /// Text with the predefined entities and character references expanded; any other entity
    /// reference is left as written.
    static func unescape(_ raw: ArraySlice<UInt8>) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var k = raw.startIndex
        while k < raw.endIndex {
            let b = raw[k]
            guard b == UInt8(ascii: "&"), let semi = raw[k..<min(raw.endIndex, k + 12)].firstIndex(of: UInt8(ascii: ";")) else {
                out.append(b); k += 1; continue
            }
            let name = String(decoding: raw[(k + 1)..<semi], as: UTF8.self)
            if let scalar = entity(name) {
                out.append(contentsOf: Array(String(scalar).utf8))
                k = semi + 1
            } else {
                out.append(b); k += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func entity(_ name: String) -> Unicode.Scalar? {
        switch name {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard name.hasPrefix("#") else { return nil }
            let digits = name.dropFirst()
            let value: UInt32? = digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            return value.flatMap(Unicode.Scalar.init)
        }
    }
}

/// The relationships of one part (`_rels/x.xml.rels`): id -> (target, type, external).
struct Relationships {
    struct Target { var path: String; var type: String; var external: Bool }
    var byId: [String: Target] = [:]

    init() {}

    init(_ bytes: [UInt8]?, folder: String, format: DocumentFormat) throws(ParleyError) {
        guard let bytes else { return }
        var reader = XMLReader(bytes, format: format)
        while let event = try reader.next() {
            guard case .start(let name, let attrs) = event, name == "Relationship",
                  let id = attrs["Id"], let target = attrs["Target"] else { continue }
            let external = attrs["TargetMode"] == "External"
            byId[id] = Target(path: external ? target : resolvePartPath(target, from: folder), type: attrs["Type"] ?? "", external: external)
        }
    }

    static func path(for part: String) -> String {
        let folder = part.split(separator: "/").dropLast().joined(separator: "/")
        let file = part.split(separator: "/").last.map(String.init) ?? part
        return (folder.isEmpty ? "" : folder + "/") + "_rels/" + file + ".rels"
    }

    static func folder(of part: String) -> String {
        part.split(separator: "/").dropLast().joined(separator: "/")
    }
}

/// The title in `docProps/core.xml`, when the document sets one.
func coreTitle(_ zip: ZipArchive, budget: inout ExpansionBudget) throws(ParleyError) -> String? {
    guard let bytes = try zip.read("docProps/core.xml", budget: &budget) else { return nil }
    var reader = XMLReader(bytes, format: zip.format)
    var inTitle = false
    var title = ""
    while let event = try reader.next() {
        switch event {
        case .start(let name, _): inTitle = name == "title"
        case .end: inTitle = false
        case .text(let t): if inTitle { title += t }
        }
    }
    let trimmed = title.trimmingWhitespace()
    return trimmed.isEmpty ? nil : trimmed
}
