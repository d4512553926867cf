import CZlib
import ParleyCore

// Errors every converter throws, worded so the sender knows what to change.
enum ConvertError {
    static func unreadable(_ format: DocumentFormat, _ why: String) -> ParleyError {
        ParleyError(.unprocessable, code: "unreadable_document", "the \(format.rawValue) document cannot be read: \(why)")
    }

    static func tooLarge(_ why: String) -> ParleyError {
        ParleyError(.payloadTooLarge, code: "document_too_large", why)
    }

    static func expandedTooLarge(_ limit: Int) -> ParleyError {
        tooLarge("the document expands to more than \(limit) bytes of content (the largest accepted); split it into smaller files")
    }

    static func tooDeep(_ format: DocumentFormat, _ limit: Int) -> ParleyError {
        unreadable(format, "it is nested more than \(limit) levels deep; flatten it")
    }

    static func tooManyCells(_ limit: Int) -> ParleyError {
        tooLarge("the document's tables have more than \(limit) cells (the largest accepted); split it into smaller files")
    }
}

/// The uncompressed bytes a conversion may still read out of containers and streams. Spent
/// while inflating, so a ZIP bomb stops at the limit instead of after expanding.
struct ExpansionBudget {
    let limit: Int
    private(set) var used = 0

    init(limit: Int) {
        self.limit = limit
    }

    var remaining: Int { max(0, limit - used) }

    mutating func spend(_ count: Int) throws(ParleyError) {
        used += count
        if used > limit { throw ConvertError.expandedTooLarge(limit) }
    }
}

/// zlib's inflate, stopping as soon as the output passes the budget.
enum Inflater {
    enum Wrapping { case raw, zlibOrGzip }

    struct Result {
        var bytes: [UInt8]
        /// False when the stream ended early or was corrupt; `bytes` then holds what came out before.
        var complete: Bool
    }

    private enum Status { case done, truncated, corrupt, overBudget, noMemory }

    static func inflate(_ input: ArraySlice<UInt8>, wrapping: Wrapping, budget: inout ExpansionBudget, sizeHint: Int = 0) throws(ParleyError) -> Result {
        var stream = z_stream()
        let windowBits: Int32 = wrapping == .raw ? -15 : 15 + 32
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ParleyError(.internalError, code: "internal_error", "the decompressor could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(max(sizeHint, input.count * 3), budget.remaining, 64 << 20))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let limit = budget.remaining
        var produced = 0
        let status: Status = input.withUnsafeBufferPointer { inBuf -> Status in
            guard let base = inBuf.baseAddress, inBuf.count > 0 else { return .truncated }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(inBuf.count)
            while true {
                let (rc, count) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (rc, out.count - Int(stream.avail_out))
                }
                produced += count
                if produced > limit { return .overBudget }
                output.append(contentsOf: chunk[0..<count])
                switch rc {
                case Z_STREAM_END: return .done
                case Z_OK: continue
                case Z_BUF_ERROR: return stream.avail_in == 0 ? .truncated : .corrupt
                case Z_MEM_ERROR: return .noMemory
                default: return .corrupt
                }
            }
        }
        try budget.spend(produced)
        switch status {
        case .done: return Result(bytes: output, complete: true)
        case .truncated, .corrupt: return Result(bytes: output, complete: false)
        case .overBudget: throw ConvertError.expandedTooLarge(budget.limit)
        case .noMemory: throw ConvertError.tooLarge("the document could not be decompressed within the memory available")
        }
    }
}

/// Markdown building blocks shared by the converters.
enum Markdown {
    /// One table cell: no line breaks, `|` escaped, surrounding space trimmed.
    static func cell(_ text: String) -> String {
        // Most cells need nothing: no `|`, no line break or tab, no doubled, leading or trailing space.
        var previousSpace = true
        var clean = true
        for b in text.utf8 {
            if b == 0x7C || b == 0x0A || b == 0x0D || b == 0x09 || b == 0xC2 || (b == 0x20 && previousSpace) { clean = false; break }
            previousSpace = b == 0x20
        }
        if clean && !previousSpace { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for ch in text {
            if ch == "\n" || ch == "\r\n" || ch == "\r" || ch == "\t" || ch == " " || ch == "\u{a0}" {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(" "); pendingSpace = false }
            if ch == "|" { out.append("\\|") } else { out.append(ch) }
        }
        return out
    }

    /// A table with the first row as its header; trailing empty rows and columns are dropped,
    /// short rows padded. Empty input gives "".
    static func table(_ input: [[String]], limits: ConversionLimits) throws(ParleyError) -> String {
        var rows = input.map { $0.map(cell) }
        while let last = rows.last, last.allSatisfy(\.isEmpty) { rows.removeLast() }
        while let first = rows.first, first.allSatisfy(\.isEmpty) { rows.removeFirst() }
        guard !rows.isEmpty else { return "" }
        var width = 0
        for row in rows {
            if let lastUsed = row.lastIndex(where: { !$0.isEmpty }) { width = max(width, lastUsed + 1) }
        }
        guard width > 0 else { return "" }
        guard rows.count.multipliedReportingOverflow(by: width).partialValue <= limits.maxTableCells else {
            throw ConvertError.tooManyCells(limits.maxTableCells)
        }
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * width * 8)
        func line(_ row: [String]) {
            out.append(UInt8(ascii: "|"))
            for i in 0..<width {
                out.append(UInt8(ascii: " "))
                if i < row.count { out.append(contentsOf: row[i].utf8) }
                out.append(contentsOf: [UInt8(ascii: " "), UInt8(ascii: "|")])
            }
            out.append(UInt8(ascii: "\n"))
        }
        line(rows[0])
        out.append(UInt8(ascii: "|"))
        for _ in 0..<width { out.append(contentsOf: Array(" --- |".utf8)) }
        out.append(UInt8(ascii: "\n"))
        for row in rows.dropFirst() {
            line(row)
            if out.count > limits.maxOutputBytes { throw outputTooLarge(limits) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func outputTooLarge(_ limits: ConversionLimits) -> ParleyError {
        ConvertError.tooLarge("the document's Markdown would be larger than \(limits.maxOutputBytes) bytes (the largest produced); split it into smaller files")
    }

    /// Collapses runs of whitespace to one space.
    static func collapse(_ text: some StringProtocol) -> String {
        var out = String.UnicodeScalarView()
        var space = false
        for u in text.unicodeScalars {
            if isSpace(u) {
                space = true
            } else {
                if space && !out.isEmpty { out.append(" ") }
                space = false
                out.append(u)
            }
        }
        if space && !out.isEmpty { out.append(" ") }
        return String(out)
    }

    /// White space, with a fast path for ASCII (Unicode properties are slow to look up).
    static func isSpace(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x80 ? u == " " || u == "\n" || u == "\t" || u == "\r" || u == "\u{0C}" || u == "\u{0B}" : u.properties.isWhitespace
    }

    /// Wraps text in an emphasis marker, keeping surrounding spaces outside it (`**x** `, not `**x **`).
    static func emphasize(_ text: String, marker: String) -> String {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { return text }
        let lead = text.prefix { $0.isWhitespace }
        let trail = String(text.reversed().prefix { $0.isWhitespace })
        return lead + marker + trimmed + marker + trail
    }

    /// Keeps at most one blank line in a row, none at the start or the end, and ends with a line break.
    static func tidy(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 1)
        var started = false, pendingBlank = false
        var i = 0
        while i < bytes.count {
            var j = i
            var blank = true
            while j < bytes.count && bytes[j] != 0x0A {
                if bytes[j] != 0x20 && bytes[j] != 0x09 { blank = false }
                j += 1
            }
            if blank {
                pendingBlank = started
            } else {
                if pendingBlank { out.append(0x0A); pendingBlank = false }
                out.append(contentsOf: bytes[i..<j])
                out.append(0x0A)
                started = true
            }
            i = j + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Whether the bytes at `index` are `text`'s UTF-8.
    func hasText(_ text: String, at index: Int) -> Bool {
        var k = index
        for b in text.utf8 {
            guard k >= 0, k < count, self[k] == b else { return false }
            k += 1
        }
        return true
    }

    /// Where `needle` next occurs at or after `from` (and before `limit`).
    func firstIndex(of needle: [UInt8], from: Int, limit: Int? = nil) -> Int? {
        guard let first = needle.first else { return nil }
        let end = Swift.min(limit ?? count, count) - needle.count
        var k = Swift.max(from, 0)
        while k <= end {
            if self[k] == first && self[k..<(k + needle.count)].elementsEqual(needle) { return k }
            k += 1
        }
        return nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        guard let start = firstIndex(where: { !$0.isWhitespace }),
              let end = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[start...end])
    }
}

/// Text of bytes that may not be UTF-8: UTF-8 (with or without a byte-order mark), UTF-16 with a
/// byte-order mark, else Windows-1252.
func decodeText(_ bytes: ArraySlice<UInt8>) -> String {
    var body = bytes
    if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
    else if body.starts(with: [0xFF, 0xFE]) || body.starts(with: [0xFE, 0xFF]) {
        let little = body.first == 0xFF
        var units: [UInt16] = []
        units.reserveCapacity(body.count / 2)
        var i = body.startIndex + 2
        while i + 1 < body.endIndex {
            let a = UInt16(body[i]), b = UInt16(body[i + 1])
            units.append(little ? a | b << 8 : a << 8 | b)
            i += 2
        }
        return String(decoding: units, as: UTF16.self)
    }
    if let text = String(validating: body, as: UTF8.self) { return text }
    return String(String.UnicodeScalarView(body.map { windows1252($0) }))
}

func windows1252(_ byte: UInt8) -> Unicode.Scalar {
    let high: [UInt32] = [0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
                          0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178]
    if byte >= 0x80 && byte < 0xA0 { return Unicode.Scalar(high[Int(byte - 0x80)]) ?? "?" }
    return Unicode.Scalar(byte)
}
