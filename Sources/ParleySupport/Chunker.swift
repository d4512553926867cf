import Foundation

/// A piece of a document small enough to retrieve and cite: its section's heading path, its text
/// (Markdown) and where it starts and ends in the document's Markdown (UTF-16 offsets, a
/// JavaScript string's indices).
public struct Chunk: Sendable, Equatable {
    public var headingPath: String
    public var text: String
    public var wordCount: Int
    public var startOffset: Int
    public var endOffset: Int
}

/// Splits Markdown by its structure: each heading starts a section (its path kept as
/// `# A > ## B`), a section's paragraphs, list items and tables are packed into chunks of about
/// `words` words, consecutive chunks of a section share about `overlap` words, and a table too
/// long for one chunk is cut into row groups that each repeat the header row.
public struct Chunker: Sendable {
    public var words: Int
    public var overlap: Int

    public init(words: Int = 500, overlap: Int = 50) {
        self.words = max(20, words)
        self.overlap = max(0, min(overlap, self.words / 2))
    }

    /// A block of the document: a paragraph, a list item, a table (header + separator + rows), a
    /// code block. `start`/`end` are UTF-16 offsets.
    struct Block {
        enum Kind { case text, table, code }
        var kind: Kind
        var lines: [String]
        var start: Int
        var end: Int
        var text: String { lines.joined(separator: "\n") }
        var wordCount: Int { Chunker.count(text) }
    }

    struct Section {
        var path: String
        var blocks: [Block] = []
    }

    static func count(_ text: String) -> Int {
        text.split { $0.isWhitespace }.filter { token in token.contains { $0.isLetter || $0.isNumber } }.count
    }

    public func chunks(_ markdown: String) -> [Chunk] {
        sections(markdown).flatMap(pack)
    }

    /// Reads the document into sections of blocks.
    func sections(_ markdown: String) -> [Section] {
        var sections: [Section] = [Section(path: "")]
        var headings: [(level: Int, text: String)] = []
        var offset = 0
        var paragraph: Block?
        var table: Block?
        var code: Block?
        func close() {
            if let p = paragraph { sections[sections.count - 1].blocks.append(p) }
            if let t = table { sections[sections.count - 1].blocks.append(t) }
            paragraph = nil
            table = nil
        }
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        for raw in lines {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            let start = offset
            let end = offset + line.utf16.count
            offset += raw.utf16.count + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var c = code {
                c.lines.append(line)
                c.end = end
                if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                    sections[sections.count - 1].blocks.append(c)
                    code = nil
                } else {
                    code = c
                }
                continue
            }
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                close()
                code = Block(kind: .code, lines: [line], start: start, end: end)
                continue
            }
            if let level = Self.headingLevel(trimmed) {
                close()
                let text = trimmed.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
                headings.removeAll { $0.level >= level }
                headings.append((level, text))
                sections.append(Section(path: headings.map { String(repeating: "#", count: $0.level) + " " + $0.text }.joined(separator: " > ")))
                continue
            }
            if trimmed.isEmpty {
                close()
                continue
            }
            if trimmed.hasPrefix("|") {
                if paragraph != nil, let p = paragraph {
                    sections[sections.count - 1].blocks.append(p)
                    paragraph = nil
                }
                if table == nil { table = Block(kind: .table, lines: [], start: start, end: end) }
                table?.lines.append(trimmed)
                table?.end = end
                continue
            }
            if table != nil { close() }
            if Self.isListItem(trimmed) {
                close()
                paragraph = Block(kind: .text, lines: [line], start: start, end: end)
                continue
            }
            if paragraph == nil { paragraph = Block(kind: .text, lines: [], start: start, end: end) }
            paragraph?.lines.append(line)
            paragraph?.end = end
        }
        if let c = code { sections[sections.count - 1].blocks.append(c) }
        close()
        return sections.filter { !$0.blocks.isEmpty }
    }

    static func headingLevel(_ line: String) -> Int? {
        let hashes = line.prefix { $0 == "#" }.count
        guard (1...6).contains(hashes) else { return nil }
        let rest = line.dropFirst(hashes)
        guard rest.first == " " || rest.isEmpty else { return nil }
        return hashes
    }

    static func isListItem(_ line: String) -> Bool {
        if line.hasPrefix("- ") || line.hasPrefix("* ") || line.hasPrefix("+ ") { return true }
        let digits = line.prefix { $0.isNumber }
        return !digits.isEmpty && digits.count <= 3 && (line.dropFirst(digits.count).hasPrefix(". ") || line.dropFirst(digits.count).hasPrefix(") "))
    }

    /// Splits blocks larger than a chunk: a table into row groups repeating the header, text into
    /// word windows.
    func pieces(_ block: Block) -> [Block] {
        guard block.wordCount > words else { return [block] }
        switch block.kind {
        case .table:
            let headerCount = block.lines.count > 1 && Self.isSeparator(block.lines[1]) ? 2 : 1
            let header = Array(block.lines.prefix(headerCount))
            let headerWords = Self.count(header.joined(separator: "\n"))
            var groups: [Block] = []
            var rows: [String] = []
            var size = headerWords
            for row in block.lines.dropFirst(headerCount) {
                let w = Self.count(row)
                if !rows.isEmpty && size + w > words {
                    groups.append(Block(kind: .table, lines: header + rows, start: block.start, end: block.end))
                    rows = []
                    size = headerWords
                }
                rows.append(row)
                size += w
            }
            if !rows.isEmpty { groups.append(Block(kind: .table, lines: header + rows, start: block.start, end: block.end)) }
            return groups
        case .text, .code:
            let tokens = block.text.split { $0.isWhitespace }.map(String.init)
            var out: [Block] = []
            var i = 0
            let step = max(1, words - overlap)
            while i < tokens.count {
                let slice = tokens[i..<min(tokens.count, i + words)]
                out.append(Block(kind: block.kind, lines: [slice.joined(separator: " ")], start: block.start, end: block.end))
                if i + words >= tokens.count { break }
                i += step
            }
            return out
        }
    }

    static func isSeparator(_ line: String) -> Bool {
        let inner = line.filter { $0 != "|" && $0 != " " }
        return !inner.isEmpty && inner.allSatisfy { $0 == "-" || $0 == ":" }
    }

    /// Packs a section's blocks into chunks of about `words`, each after the first starting with
    /// the previous chunk's last blocks (up to `overlap` words; a long text piece already overlaps).
    func pack(_ section: Section) -> [Chunk] {
        let blocks = section.blocks.flatMap(pieces)
        var chunks: [Chunk] = []
        var current: [Block] = []
        var size = 0
        func emit() {
            guard !current.isEmpty else { return }
            let text = current.map(\.text).joined(separator: "\n\n")
            chunks.append(Chunk(headingPath: section.path, text: text, wordCount: Self.count(text),
                                startOffset: current.map(\.start).min() ?? 0, endOffset: current.map(\.end).max() ?? 0))
        }
        for block in blocks {
            let w = block.wordCount
            if !current.isEmpty && size + w > words {
                emit()
                // The overlap: trailing whole blocks of the chunk just emitted, up to `overlap` words
                // (tables are not repeated: their row groups carry their own header).
                var carried: [Block] = []
                var carriedWords = 0
                for previous in current.reversed() {
                    let pw = previous.wordCount
                    guard previous.kind == .text, carriedWords + pw + w <= words else { break }
                    if carriedWords + pw <= overlap {
                        carried.insert(previous, at: 0)
                        carriedWords += pw
                        continue
                    }
                    // Part of a longer block: its last words.
                    let room = overlap - carriedWords
                    if room > 0 {
                        let tail = previous.text.split { $0.isWhitespace }.suffix(room).joined(separator: " ")
                        carried.insert(Block(kind: .text, lines: [tail], start: previous.start, end: previous.end), at: 0)
                        carriedWords += Self.count(tail)
                    }
                    break
                }
                current = carried
                size = carriedWords
            }
            current.append(block)
            size += w
        }
        emit()
        return chunks
    }
}
