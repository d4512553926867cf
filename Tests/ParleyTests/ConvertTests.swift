import Foundation
import ParleyConvert
import ParleyCore
import Testing

/// Each format to Markdown: headings, lists, links, emphasis and tables as Markdown tables.
@Suite struct ConvertFormatTests {
    let converter = DocumentConverter()

    @Test func wordHeadingsListsLinksEmphasisAndTables() throws {
        let doc = try converter.convert(try ConvertFixtures.bytes("sample.docx"), filename: "sample.docx")
        #expect(doc.format == .docx)
        #expect(doc.title == "Fixture Handbook")
        let md = doc.markdown
        #expect(md.hasPrefix("# Fixture Handbook\n"))
        #expect(md.contains("\n## Getting started\n"))
        #expect(md.contains("\n### Second level\n"))
        #expect(md.contains("Plain text with **bold words** and *italic words*. See [the documentation](https://example.com/docs) for more."))
        #expect(md.contains("- First bullet\n- Second bullet\n"))
        #expect(md.contains("1. Step one\n1. Step two\n"))
        #expect(md.contains("| Plan | Seats | Price |\n| --- | --- | --- |\n| Basic | 5 | 10 EUR |\n| Pro \\| Plus | 50 | 90 EUR |\n"))
        #expect(md.contains("\nClosing paragraph after the table.\n"))
    }

    @Test func spreadsheetSheetsBecomeTablesWithDatesAndSparseCells() throws {
        let doc = try converter.convert(try ConvertFixtures.bytes("sample.xlsx"), filename: "sample.xlsx")
        #expect(doc.format == .xlsx && doc.title == "Fixture Workbook")
        #expect(doc.markdown.contains("""
        ## Prices

        | Item | Price | Since |
        | --- | --- | --- |
        | Widget | 9.5 | 2024-03-15 |
        | Gadget \\| Pro | 120 | 2025-01-02 |
        """))
        // B2, D2 and B5000: two rows, the two used columns, no empty rows in between.
        #expect(doc.markdown.contains("## Sparse\n\n| Header | Other |\n| --- | --- |\n| Far below |  |\n"))
    }

    @Test func presentationSlidesTitlesBulletsTablesLinksAndNotes() throws {
        let doc = try converter.convert(try ConvertFixtures.bytes("sample.pptx"), filename: "sample.pptx")
        #expect(doc.format == .pptx && doc.title == "Fixture Deck")
        let md = doc.markdown
        #expect(md.contains("## Slide 1: Fixture Deck\n\nA subtitle line\n"))
        #expect(md.contains("## Slide 2: Agenda\n\n- Top point\n  - Nested point\n- [Linked point](https://example.com/deck)\n"))
        #expect(md.contains("### Notes\n\nSpeaker notes here\n"))
        #expect(md.contains("## Slide 3: Numbers\n\n| Quarter | Revenue |\n| --- | --- |\n| Q1 | 100 |\n| Q2 | 140 |\n"))
    }

    @Test func pdfHeadingsParagraphsListsTablesAndPages() throws {
        let doc = try converter.convert(try ConvertFixtures.bytes("sample.pdf"), filename: "sample.pdf")
        #expect(doc.format == .pdf && doc.title == "Fixture Report")
        let md = doc.markdown
        #expect(md.hasPrefix("# Fixture Report\n"))
        // Two lines on the page, one paragraph in Markdown.
        #expect(md.contains("\nThe first paragraph explains the report. It is long enough to wrap onto a second line of the page so that lines are joined into one paragraph.\n"))
        #expect(md.contains("\n## Findings\n\n- Alpha finding\n- Beta finding\n"))
        #expect(md.contains("| Name | Score | Grade |\n| --- | --- | --- |\n| Alice | 91 | A |\n| Bob | 78 | C |\n| Carol | 85 | B |\n"))
        #expect(md.contains("\n## Second page\n\nText on the second page.\n"))
    }

    @Test func pdfEmbeddedFontsAreReadThroughTheirToUnicodeMaps() throws {
        let doc = try converter.convert(try ConvertFixtures.bytes("unicode.pdf"))
        #expect(doc.format == .pdf)
        #expect(doc.markdown.contains("Größe – 25 € für Crème brûlée"), "\(doc.markdown)")
    }

    @Test func pdfOperatorsPositionsAndKerningGiveWordsLinesAndColumns() throws {
        // TJ with a wide adjustment is a space; ' and " move to the next line; Tm/Td place columns.
        let content = """
        BT /F1 20 Tf 72 700 Td (Price list) Tj ET
        BT /F1 10 Tf 14 TL 72 660 Td [(Every)-300(thing) 120 (s) -400 (in stock)] TJ (ships today.) ' ET
        BT /F1 10 Tf 1 0 0 1 72 600 Tm (Item) Tj 1 0 0 1 250 600 Tm (Price) Tj ET
        BT /F1 10 Tf 1 0 0 1 72 586 Tm (Kettle) Tj 1 0 0 1 250 586 Tm (79 EUR) Tj ET
        BT /F1 10 Tf 1 0 0 1 72 572 Tm (Filter) Tj 1 0 0 1 250 572 Tm (12 EUR) Tj ET
        BT /F1 10 Tf 72 540 Td <48656C6C6F> Tj ( \\(paren\\) \\101) Tj ET
        """
        let doc = try converter.convert(TestPDF.make(content: content))
        let md = doc.markdown
        #expect(doc.title == "Price list")
        #expect(md.hasPrefix("# Price list\n"))
        // -300 and -400 move right (a space), 120 moves left (none).
        #expect(md.contains("Every things in stock ships today."), "\(md)")
        #expect(md.contains("| Item | Price |\n| --- | --- |\n| Kettle | 79 EUR |\n| Filter | 12 EUR |\n"), "\(md)")
        #expect(md.contains("Hello (paren) A"), "\(md)")
    }

    @Test func pdfObjectStreamsCrossReferenceStreamsAndTwoByteFonts() throws {
        // The page and its font live in an object stream; the root is named by a cross-reference
        // stream (no trailer); the font is Type0 with two-byte codes mapped by a ToUnicode CMap.
        let cmap = """
        /CIDInit /ProcSet findresource begin 12 dict begin begincmap
        1 begincodespacerange <0000> <FFFF> endcodespacerange
        2 beginbfchar <0001> <0048> <0002> <00E9> endbfchar
        1 beginbfrange <0010> <0012> <0061> endbfrange
        1 beginbfrange <0020> <0021> [<20AC> <0021>] endbfrange
        endcmap CMapName currentdict /CMap defineresource pop end end
        """
        let content = "BT /F1 12 Tf 72 700 Td <0001000200100011001200200021> Tj ET"
        let page = "<</Type /Page /Parent 2 0 R /Contents 4 0 R /Resources <</Font <</F1 5 0 R>>>>>>"
        let font = "<</Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /DescendantFonts [<</Type /Font /Subtype /CIDFontType2 /DW 500>>] /ToUnicode 8 0 R>>"
        let header = "3 0 5 \(page.utf8.count + 1) "
        let objects = header + page + " " + font
        var out = "%PDF-1.5\n"
        out += "1 0 obj\n<</Type /Catalog /Pages 2 0 R>>\nendobj\n"
        out += "2 0 obj\n<</Type /Pages /Kids [3 0 R] /Count 1>>\nendobj\n"
        out += "4 0 obj\n<</Length \(content.utf8.count)>>\nstream\n\(content)\nendstream\nendobj\n"
        out += "6 0 obj\n<</Type /ObjStm /N 2 /First \(header.utf8.count) /Length \(objects.utf8.count)>>\nstream\n\(objects)\nendstream\nendobj\n"
        out += "8 0 obj\n<</Length \(cmap.utf8.count)>>\nstream\n\(cmap)\nendstream\nendobj\n"
        out += "7 0 obj\n<</Type /XRef /Root 1 0 R /Size 9 /W [1 2 1] /Length 0>>\nstream\n\nendstream\nendobj\nstartxref\n0\n%%EOF\n"
        let doc = try converter.convert(Array(out.utf8), filename: "streams.pdf")
        #expect(doc.markdown == "Héabc€!\n", "\(doc.markdown)")
    }

    @Test func htmlStructureToMarkdown() throws {
        let html = """
        <!DOCTYPE html><html><head><title>Help &amp; Support</title>
        <style>p { color: red }</style><script>var x = "<p>not text</p>";</script></head>
        <body><nav>Home</nav>
        <h1>Getting <em>help</em></h1>
        <p>Call us on <b>0800&nbsp;123</b> or read <a href="https://example.com/faq">the FAQ</a>.<br>Open 9&ndash;5.</p>
        <ul><li>One<ul><li>One point one</li></ul></li><li>Two <code>x|y</code></ul>
        <ol start="3"><li>Third<li>Fourth</ol>
        <blockquote><p>Quoted words</p></blockquote>
        <pre>line 1
          line 2</pre>
        <table><thead><tr><th>Plan<th>Price</thead>
        <tr><td>Basic</td><td>5 | 10</td></tr><tr><td><p>Pro</p><p>plus</p></td><td>20</td></tr></table>
        <p>Unclosed <i>tags <b>everywhere
        <!-- a comment --><img src="logo.png" alt="Logo">
        </body></html>
        """
        let doc = try converter.convert(Array(html.utf8), filename: "help.html")
        #expect(doc.title == "Help & Support")
        let md = doc.markdown
        #expect(!md.contains("not text") && !md.contains("color"))
        #expect(md.contains("# Getting *help*\n"))
        #expect(md.contains("Call us on **0800 123** or read [the FAQ](https://example.com/faq).  \nOpen 9–5."), "\(md)")
        #expect(md.contains("- One\n   - One point one\n- Two `x|y`\n"), "\(md)")
        #expect(md.contains("3. Third\n4. Fourth\n"), "\(md)")
        #expect(md.contains("> Quoted words\n"))
        #expect(md.contains("```\nline 1\n  line 2\n```"), "\(md)")
        #expect(md.contains("| Plan | Price |\n| --- | --- |\n| Basic | 5 \\| 10 |\n| Pro plus | 20 |\n"), "\(md)")
        #expect(md.contains("Unclosed *tags **everywhere"), "\(md)")
        #expect(md.contains("![Logo](logo.png)"))
    }

    @Test func csvQuotedFieldsDelimitersAndEncodings() throws {
        let csv = "name,\"note, with comma\",qty,,\r\n\"Kettle \"\"Pro\"\"\",\"two\nlines\",3,,\r\nFilter,a|b,12,,\r\n,,,,\r\n"
        let doc = try converter.convert(Array(csv.utf8), filename: "stock.csv")
        #expect(doc.markdown == """
        | name | note, with comma | qty |
        | --- | --- | --- |
        | Kettle "Pro" | two lines | 3 |
        | Filter | a\\|b | 12 |

        """)
        let semicolons = try converter.convert(Array("a;b\n1;2\n".utf8), contentType: "text/csv")
        #expect(semicolons.markdown == "| a | b |\n| --- | --- |\n| 1 | 2 |\n")
        let tabs = try converter.convert(Array("a\tb\n1\t2".utf8), filename: "x.tsv")
        #expect(tabs.markdown == "| a | b |\n| --- | --- |\n| 1 | 2 |\n")
        // Windows-1252 bytes (not UTF-8) still read.
        let latin = try converter.convert([0x63, 0x61, 0x66, 0xE9, 0x2C, 0x80, 0x0A, 0x31, 0x2C, 0x32], filename: "x.csv")
        #expect(latin.markdown.contains("| café | € |"))
    }

    @Test func jsonObjectsAsHeadingsAndArraysOfRecordsAsTables() throws {
        let json = """
        {"title": "Kettle FAQ", "version": 2, "product": {"name": "KT-200", "colors": ["red", "steel"]},
         "prices": [{"sku": "KT-200", "eur": 79}, {"sku": "FLT-3", "eur": 12.99, "note": "3 | pack"}],
         "faq": [{"q": "Descale?", "a": {"short": "Monthly"}}], "empty": {}, "escaped": "line\\nbreak \\u00e9 \\ud83d\\ude00"}
        """
        let doc = try converter.convert(Array(json.utf8), filename: "faq.json")
        #expect(doc.title == "Kettle FAQ")
        let md = doc.markdown
        #expect(md.contains("- **title**: Kettle FAQ\n- **version**: 2\n"), "\(md)")
        #expect(md.contains("- **escaped**: line break é 😀"), "\(md)")
        #expect(md.contains("## product\n\n- **name**: KT-200\n\n### colors\n\n- red\n- steel\n"), "\(md)")
        #expect(md.contains("## prices\n\n| sku | eur | note |\n| --- | --- | --- |\n| KT-200 | 79 |  |\n| FLT-3 | 12.99 | 3 \\| pack |\n"), "\(md)")
        #expect(md.contains("## faq\n\n-\n  - **q**: Descale?\n  - **a**:\n    - **short**: Monthly\n"), "\(md)")
        #expect(md.contains("- **empty**: {}\n"), "\(md)")
        #expect(ConvertFixtures.failure(Array("{\"a\": [1, 2,}".utf8), filename: "x.json")?.code == "unreadable_document")
    }

    @Test func textAndMarkdownPassThrough() throws {
        let md = try converter.convert(Array("# Title\n\nBody\n".utf8), filename: "a.md")
        #expect(md.format == .markdown && md.title == "Title" && md.markdown == "# Title\n\nBody\n")
        let text = try converter.convert(Array("plain".utf8), contentType: "text/plain; charset=utf-8")
        #expect(text.format == .text && text.markdown == "plain" && text.title == nil)
    }

    @Test func theFormatComesFromTheNameTheContentTypeOrTheBytes() throws {
        let docx = try ConvertFixtures.bytes("sample.docx")
        #expect(converter.detect(docx, filename: nil, contentType: nil) == .docx)
        #expect(converter.detect(try ConvertFixtures.bytes("sample.xlsx"), filename: nil, contentType: "application/octet-stream") == .xlsx)
        #expect(converter.detect(try ConvertFixtures.bytes("sample.pptx"), filename: nil, contentType: nil) == .pptx)
        #expect(converter.detect(try ConvertFixtures.bytes("sample.pdf"), filename: nil, contentType: nil) == .pdf)
        #expect(converter.detect(Array("  {\"a\": 1}".utf8), filename: nil, contentType: nil) == .json)
        #expect(converter.detect(Array("<!doctype html><p>x".utf8), filename: nil, contentType: nil) == .html)
        #expect(converter.detect([], filename: "REPORT.PDF", contentType: nil) == .pdf)
        #expect(converter.detect([], filename: nil, contentType: "text/html; charset=utf-8") == .html)
        #expect(converter.detect(Array("just words".utf8), filename: nil, contentType: nil) == nil)

        let unknown = ConvertFixtures.failure([0x00, 0x01, 0x02, 0x03])
        #expect(unknown?.kind == .unsupportedMediaType && unknown?.code == "unsupported_format")
        let legacy = ConvertFixtures.failure([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0], filename: "old.doc")
        #expect(legacy?.kind == .unsupportedMediaType && legacy?.message.contains("save the document as .docx") == true)
    }

    /// The product-help set the support demo ingests converts with its tables intact.
    @Test func theSupportExampleDocumentsConvert() throws {
        let prices = try converter.convert(try ConvertFixtures.example("price-list.xlsx"), filename: "price-list.xlsx")
        #expect(prices.markdown.contains("| Product | SKU | Price (EUR) | In stock |\n| --- | --- | --- | --- |\n| Parley Kettle KT-200 | KT-200 | 79 | TRUE |"))
        let warranty = try converter.convert(try ConvertFixtures.example("warranty.pdf"), filename: "warranty.pdf")
        #expect(warranty.markdown.contains("| Region | Period | Claim by |\n| --- | --- | --- |\n| European Union | 2 years | Email or post |"), "\(warranty.markdown)")
        #expect(warranty.markdown.contains("- The heating element and the thermostat."))
        let guide = try converter.convert(try ConvertFixtures.example("setup-guide.docx"), filename: "setup-guide.docx")
        #expect(guide.markdown.contains("| Power | 2200 W |"))
        let help = try converter.convert(try ConvertFixtures.example("troubleshooting.html"), filename: "troubleshooting.html")
        #expect(help.markdown.contains("| E2 | Temperature sensor fault | Unplug for 30 seconds, then retry |"))
        let quick = try converter.convert(try ConvertFixtures.example("quick-start.md"), filename: "quick-start.md")
        #expect(quick.title == "Parley Kettle: Quick Start")
    }
}
