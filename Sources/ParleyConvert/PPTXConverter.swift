import ParleyCore

/// Presentations: each slide as `## Slide N: title`, its text (body placeholders as bullets, by
/// indent level), its tables as Markdown tables, hyperlinks, and its speaker notes.
struct PPTXConverter {
    let limits: ConversionLimits

    private struct SlideContent {
        var title: String?
        var blocks: [String] = []
    }

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        var budget = ExpansionBudget(limit: limits.maxExpandedBytes)
        let zip = try ZipArchive(bytes, format: .pptx)
        guard let presentation = try zip.read("ppt/presentation.xml", budget: &budget) else {
            throw ConvertError.unreadable(.pptx, "it has no ppt/presentation.xml; is it a PowerPoint presentation?")
        }
        let rels = try Relationships(zip.read("ppt/_rels/presentation.xml.rels", budget: &budget), folder: "ppt", format: .pptx)
        var title = try coreTitle(zip, budget: &budget)
        var slidePaths: [String] = []
        var reader = XMLReader(presentation, format: .pptx)
        while let event = try reader.next() {
            if case .start("sldId", let attrs) = event, let id = attrs["id"], let target = rels.byId[id] {
                slidePaths.append(target.path)
            }
        }
        var out = ""
        for (index, path) in slidePaths.enumerated() {
            guard let data = try zip.read(path, budget: &budget) else { continue }
            let slideRels = try Relationships(zip.read(Relationships.path(for: path), budget: &budget), folder: Relationships.folder(of: path), format: .pptx)
            let slide = try read(data, rels: slideRels, notes: false)
            if title == nil, let t = slide.title { title = t }
            out += "## Slide \(index + 1)" + (slide.title.map { ": " + $0 } ?? "") + "\n\n"
            for block in slide.blocks { out += block + "\n\n" }
            if let notesPath = slideRels.byId.values.first(where: { $0.type.hasSuffix("/notesSlide") })?.path,
               let notesData = try zip.read(notesPath, budget: &budget) {
                let notes = try read(notesData, rels: Relationships(), notes: true)
                if !notes.blocks.isEmpty {
                    out += "### Notes\n\n" + notes.blocks.joined(separator: "\n\n") + "\n\n"
                }
            }
            if out.utf8.count > limits.maxOutputBytes { throw Markdown.outputTooLarge(limits) }
        }
        return ConvertedDocument(format: .pptx, title: title, markdown: Markdown.tidy(out))
    }

    /// One slide's (or notes page's) title and blocks, in document order.
    private func read(_ data: [UInt8], rels: Relationships, notes: Bool) throws(ParleyError) -> SlideContent {
        var content = SlideContent()
        var reader = XMLReader(data, format: .pptx)
        var placeholder: String?       // type of the current shape's placeholder ("title", "body", ...)
        var inShape = false
        var shapeLines: [String] = []
        var paragraph = ""
        var level = 0
        var inText = false
        var link: String?
        var runText = ""
        var inRun = false
        // Tables.
        var inTable = false
        var rows: [[String]] = []
        var row: [String] = []
        var cellText: [String] = []

        while let event = try reader.next() {
            switch event {
            case .start(let name, let attrs):
                switch name {
                case "sp":
                    inShape = true; placeholder = nil; shapeLines = []
                case "ph":
                    placeholder = attrs["type"] ?? "body"
                case "tbl":
                    inTable = true; rows = []
                case "tr":
                    row = []
                case "tc":
                    cellText = []
                case "p":
                    paragraph = ""; level = 0
                case "pPr":
                    level = min(max(Int(attrs["lvl"] ?? "0") ?? 0, 0), 8)
                case "r", "fld":
                    inRun = true; runText = ""; link = nil
                case "hlinkClick":
                    if inRun, let id = attrs["id"], let target = rels.byId[id] { link = target.path }
                case "t":
                    inText = true
                case "br":
                    paragraph += " "
                default:
                    break
                }
            case .text(let text):
                if inText { runText += text }
            case .end(let name):
                switch name {
                case "t":
                    inText = false
                case "r", "fld":
                    inRun = false
                    if let link, !runText.trimmingWhitespace().isEmpty { paragraph += "[\(runText.trimmingWhitespace())](\(link))" }
                    else { paragraph += runText }
                    runText = ""
                case "p":
                    let text = Markdown.collapse(paragraph).trimmingWhitespace()
                    guard !text.isEmpty else { break }
                    if inTable { cellText.append(text) }
                    else if inShape {
                        let isTitle = placeholder == "title" || placeholder == "ctrTitle"
                        if isTitle || notes && placeholder != "body" { shapeLines.append(text) }
                        else if placeholder == "body" && !notes || placeholder == "obj" { shapeLines.append(String(repeating: "  ", count: min(level, 8)) + "- " + text) }
                        else { shapeLines.append(text) }
                    }
                case "tc":
                    row.append(cellText.joined(separator: " "))
                case "tr":
                    rows.append(row)
                case "tbl":
                    inTable = false
                    let table = try Markdown.table(rows, limits: limits)
                    if !table.isEmpty { content.blocks.append(table.trimmingWhitespace()) }
                case "sp":
                    inShape = false
                    guard !shapeLines.isEmpty else { break }
                    if placeholder == "title" || placeholder == "ctrTitle", !notes, content.title == nil {
                        content.title = shapeLines.joined(separator: " ")
                    } else if notes && placeholder != "body" {
                        // Slide image, number, header on a notes page: not notes.
                    } else {
                        let isList = shapeLines.allSatisfy { $0.trimmingWhitespace().hasPrefix("- ") }
                        content.blocks.append(shapeLines.joined(separator: isList ? "\n" : "\n\n"))
                    }
                default:
                    break
                }
            }
        }
        return content
    }
}
