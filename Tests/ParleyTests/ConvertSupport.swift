import Foundation
import ParleyConvert
import ParleyCore
import Testing

/// Files and builders for the conversion tests: the committed fixtures (scripts/make-convert-fixtures)
/// and hostile files made here, byte by byte.
enum ConvertFixtures {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = TestEnv.packageRoot.appendingPathComponent("Tests/Fixtures/convert").appendingPathComponent(name)
        return [UInt8](try Data(contentsOf: url))
    }

    static func example(_ name: String) throws -> [UInt8] {
        let url = TestEnv.packageRoot.appendingPathComponent("docs/examples/support-kb").appendingPathComponent(name)
        return [UInt8](try Data(contentsOf: url))
    }

    /// A conversion's outcome.
    static func outcome(_ bytes: [UInt8], filename: String?, limits: ConversionLimits = .default) -> Result<ConvertedDocument, ParleyError> {
        Result { () throws(ParleyError) -> ConvertedDocument in try DocumentConverter(limits: limits).convert(bytes, filename: filename) }
    }

    /// The error a conversion throws (a test failure when it succeeds).
    static func failure(_ bytes: [UInt8], filename: String? = nil, contentType: String? = nil,
                        limits: ConversionLimits = .default, sourceLocation: SourceLocation = #_sourceLocation) -> ParleyError? {
        do {
            let document = try DocumentConverter(limits: limits).convert(bytes, filename: filename, contentType: contentType)
            Issue.record("expected a refusal, got \(document.markdown.prefix(200))", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }
}

/// A ZIP writer for tests: stored or raw-deflate entries, with sizes that may lie.
struct TestZip {
    struct Entry {
        var name: String
        var data: [UInt8]
        /// Already raw-deflated data (method 8); otherwise stored.
        var deflated = false
        /// The uncompressed size to claim; the real one when nil.
        var claimedSize: Int?
        var flags: UInt16 = 0
        /// The size the data has when inflated (for deflated entries).
        var realSize = 0
    }

    var entries: [Entry] = []

    mutating func add(_ name: String, _ text: String) {
        entries.append(Entry(name: name, data: Array(text.utf8)))
    }

    mutating func add(_ entry: Entry) {
        entries.append(entry)
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: Int, _ into: inout [UInt8]) { into += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int, _ into: inout [UInt8]) { into += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }
        for entry in entries {
            let offset = out.count
            let name = Array(entry.name.utf8)
            let size = entry.claimedSize ?? (entry.deflated ? entry.realSize : entry.data.count)
            let method = entry.deflated ? 8 : 0
            u32(0x0403_4B50, &out); u16(20, &out); u16(Int(entry.flags), &out); u16(method, &out); u16(0, &out); u16(0, &out)
            u32(0, &out); u32(entry.data.count, &out); u32(size, &out); u16(name.count, &out); u16(0, &out)
            out += name + entry.data
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(Int(entry.flags), &central); u16(method, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(entry.data.count, &central); u32(size, &central)
            u16(name.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central); u32(0, &central)
            u32(offset, &central)
            central += name
        }
        let cdOffset = out.count
        out += central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(central.count, &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }

    /// A raw deflate stream (fixed Huffman codes) that inflates to `count` zero bytes: one literal,
    /// then back-references of 258 bytes at distance 1, 13 bits each.
    static func deflatedZeros(count: Int) -> [UInt8] {
        var bits = BitWriter()
        bits.write(1, count: 1)           // final block
        bits.write(1, count: 2)           // fixed Huffman
        bits.writeCode(0x30, length: 8)   // literal 0
        var left = count - 1
        while left >= 258 {
            bits.writeCode(0xC5, length: 8)  // length 258 (symbol 285)
            bits.writeCode(0, length: 5)     // distance 1
            left -= 258
        }
        while left > 0 {
            bits.writeCode(0x30, length: 8)
            left -= 1
        }
        bits.writeCode(0, length: 7)      // end of block
        return bits.finish()
    }

    /// A docx whose only part is `document` (with the minimum around it).
    static func docx(document: String) -> [UInt8] {
        var zip = TestZip()
        zip.add("[Content_Types].xml", "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>")
        zip.add("word/document.xml", document)
        return zip.bytes()
    }

    /// An xlsx with one sheet whose XML is `sheet`.
    static func xlsx(sheet: [UInt8], shared: String? = nil) -> [UInt8] {
        var zip = TestZip()
        zip.add("xl/workbook.xml", #"<workbook xmlns:r="r"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>"#)
        zip.add("xl/_rels/workbook.xml.rels", #"<Relationships><Relationship Id="rId1" Type="worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#)
        if let shared { zip.add("xl/sharedStrings.xml", shared) }
        zip.add(Entry(name: "xl/worksheets/sheet1.xml", data: sheet))
        return zip.bytes()
    }
}

struct BitWriter {
    private var bytes: [UInt8] = []
    private var current: UInt32 = 0
    private var used = 0

    /// Writes `count` bits of `value`, least significant first (headers, extra bits).
    mutating func write(_ value: UInt32, count: Int) {
        for i in 0..<count { push((value >> UInt32(i)) & 1) }
    }

    /// Writes a Huffman code, most significant bit first.
    mutating func writeCode(_ code: UInt32, length: Int) {
        for i in stride(from: length - 1, through: 0, by: -1) { push((code >> UInt32(i)) & 1) }
    }

    private mutating func push(_ bit: UInt32) {
        current |= bit << UInt32(used)
        used += 1
        if used == 8 { bytes.append(UInt8(current)); current = 0; used = 0 }
    }

    mutating func finish() -> [UInt8] {
        if used > 0 { bytes.append(UInt8(current)); current = 0; used = 0 }
        return bytes
    }
}

/// Minimal PDFs written by hand: objects, an uncompressed content stream, a cross-reference table.
enum TestPDF {
    static func make(content: String, fonts: String = "/F1 <</Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding>>",
                     xobjects: String = "", extraObjects: [String] = [], trailerExtra: String = "") -> [UInt8] {
        var objects = [
            "<</Type /Catalog /Pages 2 0 R>>",
            "<</Type /Pages /Kids [3 0 R] /Count 1>>",
            "<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources <</Font <<\(fonts)>> \(xobjects)>>>>",
            "<</Length \(content.utf8.count)>>\nstream\n\(content)\nendstream",
        ]
        objects += extraObjects
        var out = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (i, body) in objects.enumerated() {
            offsets.append(out.utf8.count)
            out += "\(i + 1) 0 obj\n\(body)\nendobj\n"
        }
        let xref = out.utf8.count
        out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for o in offsets { out += String(repeating: "0", count: 10 - String(o).count) + "\(o) 00000 n \n" }
        out += "trailer\n<</Size \(objects.count + 1) /Root 1 0 R \(trailerExtra)>>\nstartxref\n\(xref)\n%%EOF\n"
        return Array(out.utf8)
    }
}
