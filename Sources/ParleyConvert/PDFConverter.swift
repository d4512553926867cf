import ParleyCore

/// PDFs with a text layer: text placed by position into lines and paragraphs, larger type as
/// headings, bullets as lists, and runs of lines whose pieces line up in columns as tables.
struct PDFConverter {
    let limits: ConversionLimits

    /// A line of text: its pieces (separated by wide gaps) and where it sits.
    private struct Line {
        var y: Double
        var size: Double
        var segments: [PDFSpan]
        var text: String { segments.map(\.text).joined(separator: " ") }
    }

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        let file = try PDFFile(bytes, budget: ExpansionBudget(limit: limits.maxExpandedBytes))
        let pages = file.pages()
        guard !pages.isEmpty else {
            throw ConvertError.unreadable(.pdf, "no pages were found in it; the file may be damaged")
        }
        var extractor = PDFTextExtractor(file: file)
        var pageLines: [[Line]] = []
        for page in pages {
            extractor.spans = []
            try extractor.run(content: page.page["Contents"], resources: page.resources)
            pageLines.append(lines(of: extractor.spans))
        }
        let all = pageLines.flatMap { $0 }
        guard all.contains(where: { !$0.text.trimmingWhitespace().isEmpty }) else {
            if extractor.undecodableGlyphs > 0 {
                throw ConvertError.unreadable(.pdf, "its fonts carry no Unicode mapping (ToUnicode), so its text cannot be recovered; export it again with embedded Unicode fonts, or OCR it (for example with ocrmypdf)")
            }
            throw ConvertError.unreadable(.pdf, "it has no text layer (it looks like a scanned image); run it through OCR (for example ocrmypdf) and send the result")
        }
        // The body size: the size carrying the most characters.
        var weight: [Double: Int] = [:]
        for line in all { weight[(line.size * 2).rounded() / 2, default: 0] += line.text.count }
        let body = weight.max { $0.value < $1.value }?.key ?? 12
        let headingSizes = Array(Set(all.filter { isHeading($0, body: body) }.map { ($0.size * 2).rounded() / 2 })).sorted(by: >)

        var out = ""
        var title = file.infoTitle()
        var firstHeading: String?
        for lines in pageLines {
            try render(lines, body: body, headingSizes: headingSizes, firstHeading: &firstHeading, into: &out)
            if out.utf8.count > limits.maxOutputBytes { throw Markdown.outputTooLarge(limits) }
        }
        if title == nil { title = firstHeading }
        return ConvertedDocument(format: .pdf, title: title, markdown: Markdown.tidy(out))
    }

    private func isHeading(_ line: Line, body: Double) -> Bool {
        line.size >= body * 1.2 && line.segments.count == 1 && line.text.count <= 150
    }

    /// Spans grouped into lines, top to bottom, each line's spans left to right and joined into
    /// segments where they are close.
    private func lines(of spans: [PDFSpan]) -> [Line] {
        let sorted = spans.filter { !$0.text.isEmpty }.sorted { a, b in a.y != b.y ? a.y > b.y : a.x < b.x }
        var groups: [[PDFSpan]] = []
        var currentY = Double.nan
        for span in sorted {
            let tolerance = max(2, span.size * 0.4)
            if let lastGroup = groups.last, !lastGroup.isEmpty, abs(span.y - currentY) <= tolerance {
                groups[groups.count - 1].append(span)
            } else {
                groups.append([span])
                currentY = span.y
            }
        }
        return groups.map { group in
            let ordered = group.sorted { $0.x < $1.x }
            var segments: [PDFSpan] = []
            for span in ordered {
                if var last = segments.last {
                    let gap = span.x - last.endX
                    let size = max(last.size, span.size)
                    let isBullet = segments.count == 1 && PDFConverter.bullets.contains(last.text.trimmingWhitespace())
                    if gap < size * 0.8 || isBullet {
                        if gap > size * 0.12, last.text.last != " ", span.text.first != " " { last.text += " " }
                        last.text += span.text
                        last.endX = max(last.endX, span.endX)
                        segments[segments.count - 1] = last
                        continue
                    }
                }
                segments.append(span)
            }
            for k in segments.indices { segments[k].text = Markdown.collapse(segments[k].text).trimmingWhitespace() }
            segments.removeAll { $0.text.isEmpty }
            // The line's size: the one carrying most of its characters (a bigger bullet does not make a heading).
            var bySize: [Double: Int] = [:]
            for span in group { bySize[span.size, default: 0] += span.text.count }
            let size = bySize.max { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }?.key ?? 12
            return Line(y: group[0].y, size: size, segments: segments)
        }.filter { !$0.segments.isEmpty }
    }

    private func render(_ lines: [Line], body: Double, headingSizes: [Double], firstHeading: inout String?, into out: inout String) throws(ParleyError) {
        var paragraph: [String] = []
        var previous: Line?
        func endParagraph() {
            if !paragraph.isEmpty { out += "\n" + paragraph.joined(separator: " ") + "\n" }
            paragraph = []
        }
        var k = 0
        while k < lines.count {
            let line = lines[k]
            // A table: two or more consecutive lines of several aligned pieces.
            if line.segments.count >= 2 {
                var end = k
                while end + 1 < lines.count, lines[end + 1].segments.count >= 2,
                      lines[end].y - lines[end + 1].y < max(lines[end].size, lines[end + 1].size) * 3 { end += 1 }
                if end > k, let table = try table(Array(lines[k...end])) {
                    endParagraph()
                    out += "\n" + table
                    previous = nil
                    k = end + 1
                    continue
                }
            }
            let text = line.text
            if isHeading(line, body: body) {
                endParagraph()
                let rank = headingSizes.firstIndex(of: (line.size * 2).rounded() / 2) ?? 0
                if let prev = previous, isHeading(prev, body: body), abs(prev.size - line.size) < 0.5, prev.y - line.y < line.size * 1.6,
                   out.hasSuffix("\n") {
                    // A heading wrapped onto a second line.
                    out.removeLast()
                    out += " " + text + "\n"
                } else {
                    out += "\n" + String(repeating: "#", count: min(rank + 1, 4)) + " " + text + "\n"
                    if firstHeading == nil { firstHeading = text }
                }
                previous = line
                k += 1
                continue
            }
            if let bulletless = Self.listItem(text) {
                endParagraph()
                out += (out.hasSuffix("\n") && Self.endsWithListItem(out) ? "" : "\n") + "- " + bulletless + "\n"
                previous = line
                k += 1
                continue
            }
            if let prev = previous {
                let gap = prev.y - line.y
                let continuesItem = Self.endsWithListItem(out) && paragraph.isEmpty && gap < line.size * 1.6
                if continuesItem {
                    out.removeLast()
                    out += " " + text + "\n"
                    previous = line
                    k += 1
                    continue
                }
                if gap > max(line.size, prev.size) * 1.6 || abs(prev.size - line.size) > 1 || isHeading(prev, body: body) { endParagraph() }
            }
            paragraph.append(text)
            previous = line
            k += 1
        }
        endParagraph()
    }

    static let bullets: Set<String> = ["•", "·", "▪", "◦", "–", "-", "*", "●", "■", "○"]

    static func listItem(_ text: String) -> String? {
        for marker in ["• ", "· ", "▪ ", "◦ ", "– ", "- ", "* ", "•", "▪"] where text.hasPrefix(marker) {
            let rest = text.dropFirst(marker.count).trimmingCharacters()
            return rest.isEmpty ? nil : rest
        }
        return nil
    }

    static func endsWithListItem(_ out: String) -> Bool {
        guard out.hasSuffix("\n") else { return false }
        let body = out.dropLast()
        let start = body.lastIndex(of: "\n").map { body.index(after: $0) } ?? body.startIndex
        return body[start...].hasPrefix("- ")
    }

    /// The lines as a Markdown table when their pieces fall into the columns of the line with
    /// the most pieces; nil when they do not line up.
    private func table(_ rows: [Line]) throws(ParleyError) -> String? {
        guard let widest = rows.max(by: { $0.segments.count < $1.segments.count }) else { return nil }
        let anchors = widest.segments
        guard anchors.count >= 2 && anchors.count <= 30 else { return nil }
        var cells: [[String]] = []
        for row in rows {
            var cellsOfRow = Array(repeating: "", count: anchors.count)
            for segment in row.segments {
                // The column it overlaps most, else the nearest by centre.
                var best = 0
                var bestScore = -Double.infinity
                for (index, anchor) in anchors.enumerated() {
                    let overlap = min(segment.endX, anchor.endX) - max(segment.x, anchor.x)
                    let distance = abs((segment.x + segment.endX) / 2 - (anchor.x + anchor.endX) / 2)
                    let score = overlap > 0 ? overlap + 10_000 : -distance
                    if score > bestScore { bestScore = score; best = index }
                }
                cellsOfRow[best] += (cellsOfRow[best].isEmpty ? "" : " ") + segment.text
            }
            cells.append(cellsOfRow)
        }
        // Lines of prose that happen to have a gap are not a table: most rows must fill most columns,
        // and most pieces must line up with their column (left, right or centre).
        let filled = cells.map { $0.filter { !$0.isEmpty }.count }
        guard filled.filter({ $0 * 2 >= anchors.count }).count * 4 >= rows.count * 3 else { return nil }
        var aligned = 0, total = 0
        for row in rows {
            for segment in row.segments {
                total += 1
                let tolerance = max(3, segment.size * 0.6)
                if anchors.contains(where: { abs($0.x - segment.x) <= tolerance || abs($0.endX - segment.endX) <= tolerance
                    || abs(($0.x + $0.endX) / 2 - (segment.x + segment.endX) / 2) <= tolerance }) { aligned += 1 }
            }
        }
        guard aligned * 5 >= total * 4 else { return nil }
        return try Markdown.table(cells, limits: limits)
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String { String(self).trimmingWhitespace() }
}
