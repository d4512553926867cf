import ParleyCore

/// A ZIP container read from memory (the central directory, then entries on demand). Every
/// entry read spends the conversion's `ExpansionBudget` while it inflates, so a ZIP bomb or an
/// entry that lies about its size stops at the limit.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int
    }

    static let maxEntries = 20_000

    let bytes: [UInt8]
    let format: DocumentFormat
    private(set) var entries: [String: Entry] = [:]

    static func isZip(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06])
    }

    init(_ bytes: [UInt8], format: DocumentFormat) throws(ParleyError) {
        self.bytes = bytes
        self.format = format
        if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            throw ConvertError.unreadable(format, "it is a password-protected (encrypted) or legacy binary Office file; remove the password, or save it as .\(format.rawValue), and send it again")
        }
        guard Self.isZip(bytes) else {
            throw ConvertError.unreadable(format, "it is not a ZIP container as .\(format.rawValue) files are; check the file is complete and of the type it claims")
        }
        // The end-of-central-directory record: in the last 64 KiB + 22 bytes.
        let minStart = max(0, bytes.count - 65_557)
        var eocd = -1
        var i = bytes.count - 22
        while i >= minStart {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 0x05 && bytes[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else {
            throw ConvertError.unreadable(format, "the ZIP container is truncated (no central directory); send the complete file")
        }
        let count = Int(u16(eocd + 10))
        let cdSize = Int(u32(eocd + 12))
        let cdOffset = Int(u32(eocd + 16))
        if count == 0xFFFF || cdOffset == 0xFFFF_FFFF {
            throw ConvertError.unreadable(format, "it is a ZIP64 container, which is not supported; save it again as a regular .\(format.rawValue)")
        }
        guard count <= Self.maxEntries else {
            throw ConvertError.tooLarge("the ZIP container lists \(count) entries; the most accepted is \(Self.maxEntries)")
        }
        guard cdOffset + cdSize <= eocd else {
            throw ConvertError.unreadable(format, "the ZIP container's directory points outside the file; send the complete file")
        }
        var p = cdOffset
        for _ in 0..<count {
            guard p + 46 <= eocd, u32(p) == 0x0201_4B50 else {
                throw ConvertError.unreadable(format, "the ZIP container's directory is corrupt")
            }
            let nameLength = Int(u16(p + 28)), extraLength = Int(u16(p + 30)), commentLength = Int(u16(p + 32))
            guard p + 46 + nameLength <= eocd else { throw ConvertError.unreadable(format, "the ZIP container's directory is corrupt") }
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            let entry = Entry(name: name, method: u16(p + 10), flags: u16(p + 8),
                              compressedSize: Int(u32(p + 20)), uncompressedSize: Int(u32(p + 24)),
                              localHeaderOffset: Int(u32(p + 42)))
            entries[name] = entry
            p += 46 + nameLength + extraLength + commentLength
        }
    }

    func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The entry's bytes, or nil when the container has no such entry.
    func read(_ name: String, budget: inout ExpansionBudget) throws(ParleyError) -> [UInt8]? {
        guard let entry = entries[name] else { return nil }
        if entry.flags & 1 != 0 {
            throw ConvertError.unreadable(format, "its content is encrypted; remove the password and send it again")
        }
        if entry.uncompressedSize > budget.remaining {
            throw ConvertError.expandedTooLarge(budget.limit)
        }
        let h = entry.localHeaderOffset
        guard h + 30 <= bytes.count, u32(h) == 0x0403_4B50 else {
            throw ConvertError.unreadable(format, "the ZIP entry \(name) is corrupt")
        }
        let start = h + 30 + Int(u16(h + 26)) + Int(u16(h + 28))
        let (end, overflow) = start.addingReportingOverflow(entry.compressedSize)
        guard !overflow, end <= bytes.count else {
            throw ConvertError.unreadable(format, "the ZIP container is truncated (entry \(name) runs past the end); send the complete file")
        }
        let data = bytes[start..<end]
        switch entry.method {
        case 0:
            try budget.spend(data.count)
            return Array(data)
        case 8:
            let result = try Inflater.inflate(data, wrapping: .raw, budget: &budget, sizeHint: entry.uncompressedSize)
            guard result.complete else {
                throw ConvertError.unreadable(format, "the ZIP entry \(name) is corrupt or truncated")
            }
            return result.bytes
        default:
            throw ConvertError.unreadable(format, "the ZIP entry \(name) uses compression method \(entry.method), which is not supported (only stored and deflate)")
        }
    }

    private func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 }
    private func u32(_ i: Int) -> UInt32 {
        UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
    }
}

/// Resolves a relationship target (`media/x.png`, `../slides/slide1.xml`, `/xl/worksheets/s.xml`)
/// against the folder of the part that names it.
func resolvePartPath(_ target: String, from folder: String) -> String {
    if target.hasPrefix("/") { return String(target.dropFirst()) }
    var parts = folder.split(separator: "/").map(String.init)
    for piece in target.split(separator: "/") {
        if piece == ".." { if !parts.isEmpty { parts.removeLast() } }
        else if piece != "." { parts.append(String(piece)) }
    }
    return parts.joined(separator: "/")
}
