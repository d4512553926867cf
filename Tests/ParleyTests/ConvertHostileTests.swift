import Foundation
import ParleyConvert
import ParleyCore
import ParleyLegal
import Testing

/// Hostile and broken files end in a typed 4xx within the limits, never a crash, a hang or an
/// allocation of what the file claims.
@Suite struct ConvertHostileTests {
    static let small = ConversionLimits(maxInputBytes: 8 << 20, maxExpandedBytes: 2 << 20, maxOutputBytes: 1 << 20, maxTableCells: 10_000, maxNestingDepth: 64)

    @Test func aZipBombStopsAtTheExpansionLimitWhileInflating() throws {
        // 64 MiB of zeros in about 400 KB, the entry claiming 1 KB: the limit (2 MiB) stops the
        // inflation itself, whatever the header says.
        let bomb = TestZip.deflatedZeros(count: 64 << 20)
        var zip = TestZip()
        zip.add(TestZip.Entry(name: "word/document.xml", data: bomb, deflated: true, claimedSize: 1024))
        let start = ContinuousClock.now
        let error = ConvertFixtures.failure(zip.bytes(), filename: "bomb.docx", limits: Self.small)
        #expect(error?.kind == .payloadTooLarge && error?.code == "document_too_large", "\(String(describing: error))")
        #expect(error?.message.contains("\(2 << 20) bytes") == true)
        #expect(ContinuousClock.now - start < .seconds(20))
        // The same bomb under the default limits (200 MiB) is well within them and converts... to
        // nothing readable: zeros are not XML.
        let defaultError = ConvertFixtures.failure(zip.bytes(), filename: "bomb.docx")
        #expect(defaultError?.code == "unreadable_document", "\(String(describing: defaultError))")
    }

    @Test func anEntryClaimingAGigabyteIsRefusedBeforeInflating() throws {
        var zip = TestZip()
        zip.add(TestZip.Entry(name: "xl/workbook.xml", data: TestZip.deflatedZeros(count: 1000), deflated: true, claimedSize: 1 << 30))
        let error = ConvertFixtures.failure(zip.bytes(), filename: "huge.xlsx")
        #expect(error?.kind == .payloadTooLarge && error?.code == "document_too_large")
    }

    @Test func brokenAndEncryptedContainersAreUnreadable() throws {
        let docx = try ConvertFixtures.bytes("sample.docx")
        // Cut in half: no central directory.
        let truncated = ConvertFixtures.failure(Array(docx.prefix(docx.count / 2)), filename: "cut.docx")
        #expect(truncated?.code == "unreadable_document" && truncated?.message.contains("truncated") == true, "\(String(describing: truncated))")
        // A password-protected Office file is an OLE compound file, not a ZIP.
        let encrypted = ConvertFixtures.failure([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + Array(repeating: 0, count: 512), filename: "secret.xlsx")
        #expect(encrypted?.code == "unreadable_document" && encrypted?.message.contains("password") == true)
        // A ZIP entry with the encryption flag.
        var zip = TestZip()
        zip.add(TestZip.Entry(name: "word/document.xml", data: Array("xxxx".utf8), flags: 1))
        #expect(ConvertFixtures.failure(zip.bytes(), filename: "x.docx")?.message.contains("encrypted") == true)
        // A ZIP that is not a Word document.
        var other = TestZip()
        other.add("readme.txt", "hello")
        #expect(ConvertFixtures.failure(other.bytes(), filename: "x.docx")?.code == "unreadable_document")
        // Not a ZIP at all.
        #expect(ConvertFixtures.failure(Array("hello".utf8), filename: "x.pptx")?.code == "unreadable_document")
    }

    @Test func xmlEntityExpansionIsRefusedNotExpanded() throws {
        let laughs = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
        <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
        <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
        <w:document xmlns:w="w"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>
        """
        let error = ConvertFixtures.failure(TestZip.docx(document: laughs), filename: "laughs.docx")
        #expect(error?.code == "unreadable_document" && error?.message.contains("DTD") == true, "\(String(describing: error))")
        let sheet = ConvertFixtures.failure(TestZip.xlsx(sheet: Array("<!DOCTYPE x [<!ENTITY a \"b\">]><worksheet/>".utf8)), filename: "laughs.xlsx")
        #expect(sheet?.code == "unreadable_document")
        // An undeclared entity reference stays as written; nothing is looked up.
        let plain = try DocumentConverter().convert(TestZip.docx(document: "<document><body><p><r><t>a &ext; b &amp; c</t></r></p></body></document>"), filename: "x.docx")
        #expect(plain.markdown == "a &ext; b & c\n")
    }

    @Test func aSheetClaimingAMillionRowsCostsOnlyItsCells() throws {
        var xml = Array(#"<worksheet><dimension ref="A1:Z1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c><c r="B1"><v>7</v></c></row>"#.utf8)
        xml.reserveCapacity(30 << 20)
        for r in 2...1_000_000 { xml += Array("<row r=\"\(r)\"/>".utf8) }
        xml += Array(#"<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>Corner</t></is></c></row></sheetData></worksheet>"#.utf8)
        let start = ContinuousClock.now
        let doc = try DocumentConverter().convert(TestZip.xlsx(sheet: xml), filename: "rows.xlsx")
        #expect(ContinuousClock.now - start < .seconds(60))
        #expect(doc.markdown == "## Data\n\n| Name | 7 |  |\n| --- | --- | --- |\n|  |  | Corner |\n", "\(doc.markdown)")
        // Cells that would make too big a table are refused, not rendered.
        var many = Array("<worksheet><sheetData>".utf8)
        for r in 1...200 { many += Array("<row r=\"\(r)\"><c r=\"A\(r)\"><v>1</v></c><c r=\"ZZ\(r)\"><v>2</v></c></row>".utf8) }
        many += Array("</sheetData></worksheet>".utf8)
        let limits = ConversionLimits(maxTableCells: 300)
        let error = ConvertFixtures.failure(TestZip.xlsx(sheet: many), filename: "many.xlsx", limits: limits)
        #expect(error?.code == "document_too_large" && error?.message.contains("300 cells") == true, "\(String(describing: error))")
    }

    @Test func deeplyNestedJSONHTMLAndXMLAreRefusedWithoutOverflowingTheStack() throws {
        let deepJSON = Array(String(repeating: "[", count: 100_000).utf8)
        let json = ConvertFixtures.failure(deepJSON, filename: "deep.json")
        #expect(json?.code == "unreadable_document" && json?.message.contains("nested more than 128 levels") == true, "\(String(describing: json))")
        // The deepest accepted (128 levels) parses and renders on a test's thread.
        let okJSON = String(repeating: "{\"k\":[", count: 64) + "1" + String(repeating: "]}", count: 64)
        #expect(try DocumentConverter().convert(Array(okJSON.utf8), filename: "ok.json").markdown.contains("- 1"))
        let overJSON = "[" + okJSON + "]"
        #expect(ConvertFixtures.failure(Array(overJSON.utf8), filename: "over.json")?.code == "unreadable_document")

        let deepHTML = Array(String(repeating: "<div><span>", count: 50_000).utf8)
        let html = ConvertFixtures.failure(deepHTML, filename: "deep.html")
        #expect(html?.code == "unreadable_document" && html?.message.contains("nested") == true)

        let deepXML = "<document><body>" + String(repeating: "<x>", count: 10_000) + "</body></document>"
        #expect(ConvertFixtures.failure(TestZip.docx(document: deepXML), filename: "deep.docx")?.code == "unreadable_document")
    }

    @Test func truncatedEncryptedScannedAndEmptyPDFsAreUnreadableWithAReason() throws {
        let pdf = try ConvertFixtures.bytes("sample.pdf")
        let truncated = ConvertFixtures.failure(Array(pdf.prefix(pdf.count / 2)), filename: "cut.pdf")
        #expect(truncated?.code == "unreadable_document" && truncated?.message.contains("truncated") == true)

        let encrypted = ConvertFixtures.failure(TestPDF.make(content: "BT /F1 12 Tf (secret) Tj ET", trailerExtra: "/Encrypt 9 0 R"), filename: "locked.pdf")
        #expect(encrypted?.code == "unreadable_document" && encrypted?.message.contains("encrypted") == true, "\(String(describing: encrypted))")

        let scanned = TestPDF.make(content: "q 612 0 0 792 0 0 cm /Im1 Do Q", xobjects: "/XObject <</Im1 5 0 R>>",
                                   extraObjects: ["<</Type /XObject /Subtype /Image /Width 1 /Height 1 /BitsPerComponent 8 /ColorSpace /DeviceGray /Length 1>>\nstream\n\u{0}\nendstream"])
        let image = ConvertFixtures.failure(scanned, filename: "scan.pdf")
        #expect(image?.code == "unreadable_document" && image?.message.contains("no text layer") == true, "\(String(describing: image))")

        let noPages = ConvertFixtures.failure(Array("%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n".utf8), filename: "empty.pdf")
        #expect(noPages?.code == "unreadable_document" && noPages?.message.contains("no pages") == true)

        #expect(ConvertFixtures.failure(Array("not a pdf %%EOF".utf8), filename: "x.pdf")?.code == "unreadable_document")
    }

    @Test func aPDFThatDrawsForeverStopsAtTheOperationLimit() throws {
        // A form drawing itself 100 times per level, nested: bounded by depth and operations.
        let form = "<</Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources <</XObject <</Fm 5 0 R>>>> /Length 600>>\nstream\n"
            + String(repeating: "/Fm Do ", count: 85) + "\nendstream"
        let pdf = TestPDF.make(content: "BT /F1 12 Tf 72 700 Td (Loop) Tj ET /Fm Do", xobjects: "/XObject <</Fm 5 0 R>>", extraObjects: [form])
        let start = ContinuousClock.now
        switch ConvertFixtures.outcome(pdf, filename: "loop.pdf") {
        case .success(let doc): #expect(doc.markdown.contains("Loop"))
        case .failure(let error): #expect(error.kind == .payloadTooLarge || error.kind == .unprocessable, "\(error)")
        }
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    @Test func inputOutputAndTableLimitsAreTyped413s() throws {
        let big = ConvertFixtures.failure(Array(repeating: 0x41, count: 2000), filename: "a.txt", limits: ConversionLimits(maxInputBytes: 1000))
        #expect(big?.kind == .payloadTooLarge && big?.code == "document_too_large")
        let wide = ConvertFixtures.failure(Array(String(repeating: "x,", count: 5000).utf8) + [0x0A] + Array(String(repeating: "y,", count: 5000).utf8),
                                           filename: "a.csv", limits: ConversionLimits(maxTableCells: 1000))
        #expect(wide?.code == "document_too_large")
        let long = ConvertFixtures.failure(Array(String(repeating: "<p>paragraph</p>", count: 10_000).utf8), filename: "a.html",
                                           limits: ConversionLimits(maxOutputBytes: 10_000))
        #expect(long?.code == "document_too_large")
    }

    /// Every fixture with bytes changed at random (a fixed seed) either converts or is refused
    /// with a 4xx: never a crash, a 500 or a hang.
    @Test(arguments: ["sample.docx", "sample.xlsx", "sample.pptx", "sample.pdf", "unicode.pdf"])
    func corruptedFilesEndInA4xxOrConvert(_ name: String) throws {
        let original = try ConvertFixtures.bytes(name)
        var rng = SplitMix64(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) } & 0xFFFF))
        for round in 0..<40 {
            var bytes = original
            let flips = 1 + Int(rng.next() % 20)
            for _ in 0..<flips {
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if round % 5 == 4 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            if case .failure(let error) = ConvertFixtures.outcome(bytes, filename: name, limits: Self.small) {
                #expect([.payloadTooLarge, .unprocessable, .unsupportedMediaType].contains(error.kind), "\(name) round \(round): \(error)")
            }
        }
    }
}
