import Foundation
import ParleyCore

/// Word documents: heading styles to `#`, numbered and bulleted paragraphs to lists, bold and
/// italic runs, hyperlinks, and tables (nested tables flattened into their cell).
struct DOCXConverter {
    let limits: ConversionLimits

    private struct Run { var text: String; var bold: Bool; var italic: Bool; var link: String? }

    private struct Paragraph {
        var styleId: String?
        var numId: String?
        var level = 0
        var runs: [Run] = []
    }

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        var budget = ExpansionBudget(limit: limits.maxExpandedBytes)
        let zip = try ZipArchive(bytes, format: .docx)
        guard let document = try zip.read("word/document.xml", budget: &budget) else {
            throw ConvertError.unreadable(.docx, "it has no word/document.xml; is it a Word document?")
        }
        let rels = try Relationships(zip.read("word/_rels/document.xml.rels", budget: &budget), folder: "word", format: .docx)
        let styles = try styleNames(zip.read("word/styles.xml", budget: &budget))
        let numbering = try numberingFormats(zip.read("word/numbering.xml", budget: &budget))
        var title = try coreTitle(zip, budget: &budget)

        var out = ""
        var reader = XMLReader(document, format: .docx)
        var paragraph: Paragraph?
        var run: Run?
        var runBold = false, runItalic = false
        var inRunProps = false
        var inText = false
        var link: String?
        var tableDepth = 0
        var rows: [[String]] = []
        var cell: [String]? = nil
        var row: [String] = []
        var lastWasList = false

        while let event = try reader.next() {
            switch event {
            case .start(let name, let attrs):
                switch name {
                case "p":
                    paragraph = Paragraph()
                case "pStyle":
                    paragraph?.styleId = attrs["val"]
                case "numId":
                    paragraph?.numId = attrs["val"]
                case "ilvl":
                    paragraph?.level = min(max(Int(attrs["val"] ?? "0") ?? 0, 0), 8)
                case "hyperlink":
                    if let id = attrs["id"], let target = rels.byId[id] { link = target.path }
                case "r":
                    run = Run(text: "", bold: false, italic: false, link: link)
                    runBold = false; runItalic = false
                case "rPr":
                    inRunProps = run != nil
                case "b":
                    if inRunProps { runBold = !["0", "false", "off"].contains(attrs["val"] ?? "1") }
                case "i":
                    if inRunProps { runItalic = !["0", "false", "off"].contains(attrs["val"] ?? "1") }
                case "t":
                    inText = true
                case "tab":
                    if run != nil && !inRunProps { run?.text += "\t" }
                case "br", "cr":
                    if run != nil { run?.text += "\n" }
                case "tbl":
                    tableDepth += 1
                    if tableDepth == 1 { rows = [] }
                case "tr":
                    if tableDepth == 1 { row = [] }
                case "tc":
                    if tableDepth == 1 { cell = [] }
                case "gridSpan":
                    if tableDepth == 1, let span = Int(attrs["val"] ?? "1"), span > 1 {
                        row.append(contentsOf: Array(repeating: "", count: min(span, 64) - 1))
                    }
                default:
                    break
                }
            case .text(let text):
                if inText { run?.text += text }
            case .end(let name):
                switch name {
                case "t":
                    inText = false
                case "rPr":
                    inRunProps = false
                case "r":
                    if var r = run {
                        r.bold = runBold; r.italic = runItalic
                        paragraph?.runs.append(r)
                    }
                    run = nil
                case "hyperlink":
                    link = nil
                case "p":
                    guard let p = paragraph else { break }
                    paragraph = nil
                    let text = render(p.runs)
                    if tableDepth > 0 {
                        if !text.isEmpty { cell?.append(text) }
                    } else {
                        let block = block(for: p, text: text, styles: styles, numbering: numbering)
                        if !block.isEmpty {
                            if title == nil, block.hasPrefix("#") { title = text.trimmingWhitespace() }
                            let isList = block.hasPrefix("- ") || block.hasPrefix("1. ") || block.hasPrefix("  ")
                            out += (isList && lastWasList ? "" : "\n") + block + "\n"
                            lastWasList = isList
                        }
                    }
                    if out.utf8.count > limits.maxOutputBytes { throw Markdown.outputTooLarge(limits) }
                case "tc":
                    if tableDepth == 1, let c = cell {
                        row.append(c.joined(separator: " "))
                        cell = nil
                    }
                case "tr":
                    if tableDepth == 1 {
                        rows.append(row)
                        if rows.count.multipliedReportingOverflow(by: max(row.count, 1)).partialValue > limits.maxTableCells {
                            throw ConvertError.tooManyCells(limits.maxTableCells)
                        }
                    }
                case "tbl":
                    if tableDepth == 1 {
                        let table = try Markdown.table(rows, limits: limits)
                        if !table.isEmpty { out += "\n" + table; lastWasList = false }
                        rows = []
                    }
                    tableDepth -= 1
                default:
                    break
                }
            }
        }
        return ConvertedDocument(format: .docx, title: title, markdown: Markdown.tidy(out))
    }

    /// Runs to inline Markdown, merging neighbours with the same formatting.
    private func render(_ runs: [Run]) -> String {
        var merged: [Run] = []
        for r in runs where !r.text.isEmpty {
            if var last = merged.last, last.bold == r.bold, last.italic == r.italic, last.link == r.link {
                last.text += r.text
                merged[merged.count - 1] = last
            } else {
                merged.append(r)
            }
        }
        var out = ""
        for r in merged {
            var text = r.text
            if r.bold && r.italic { text = Markdown.emphasize(text, marker: "***") }
            else if r.bold { text = Markdown.emphasize(text, marker: "**") }
            else if r.italic { text = Markdown.emphasize(text, marker: "*") }
            if let link = r.link, !text.trimmingWhitespace().isEmpty { text = "[\(text.trimmingWhitespace())](\(link))" }
            out += text
        }
        return out.replacingTabs()
    }

    private func block(for p: Paragraph, text: String, styles: [String: String], numbering: [String: [Int: Bool]]) -> String {
        let body = text.trimmingWhitespace()
        guard !body.isEmpty else { return "" }
        let style = (p.styleId.flatMap { styles[$0] } ?? p.styleId ?? "").lowercased()
        let compact = style.replacingOccurrences(of: " ", with: "")
        if compact == "title" { return "# " + oneLine(body) }
        if compact.hasPrefix("heading"), let level = Int(compact.dropFirst("heading".count)), (1...9).contains(level) {
            return String(repeating: "#", count: min(level + 1, 6)) + " " + oneLine(body)
        }
        let indent = String(repeating: "  ", count: min(p.level, 8))
        if let numId = p.numId, numId != "0" {
            let ordered = numbering[numId]?[p.level] ?? false
            return indent + (ordered ? "1. " : "- ") + oneLine(body)
        }
        if compact.hasPrefix("listbullet") { return "- " + oneLine(body) }
        if compact.hasPrefix("listnumber") { return "1. " + oneLine(body) }
        return body.replacingOccurrences(of: "\n", with: "  \n")
    }

    private func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ")
    }

    /// styleId -> style name ("Heading1" -> "heading 1").
    private func styleNames(_ bytes: [UInt8]?) throws(ParleyError) -> [String: String] {
        guard let bytes else { return [:] }
        var names: [String: String] = [:]
        var reader = XMLReader(bytes, format: .docx)
        var current: String?
        while let event = try reader.next() {
            guard case .start(let name, let attrs) = event else { continue }
            if name == "style" { current = attrs["styleId"] }
            else if name == "name", let id = current, let value = attrs["val"] { names[id] = value }
        }
        return names
    }

    /// numId -> level -> ordered (true) or bulleted (false).
    private func numberingFormats(_ bytes: [UInt8]?) throws(ParleyError) -> [String: [Int: Bool]] {
        guard let bytes else { return [:] }
        var abstract: [String: [Int: Bool]] = [:]
        var numToAbstract: [String: String] = [:]
        var reader = XMLReader(bytes, format: .docx)
        var currentAbstract: String?
        var currentLevel = 0
        var currentNum: String?
        while let event = try reader.next() {
            guard case .start(let name, let attrs) = event else { continue }
            switch name {
            case "abstractNum": currentAbstract = attrs["abstractNumId"]; currentNum = nil
            case "lvl": currentLevel = min(max(Int(attrs["ilvl"] ?? "0") ?? 0, 0), 8)
            case "numFmt":
                if let a = currentAbstract, currentNum == nil { abstract[a, default: [:]][currentLevel] = attrs["val"] != "bullet" && attrs["val"] != "none" }
            case "num": currentNum = attrs["numId"]; currentAbstract = nil
            case "abstractNumId": if let n = currentNum, let v = attrs["val"] { numToAbstract[n] = v }
            default: break
            }
        }
        return numToAbstract.mapValues { abstract[$0] ?? [:] }
    }
}

extension String {
    func replacingTabs() -> String {
        contains("\t") ? replacingOccurrences(of: "\t", with: " ") : self
    }
}
