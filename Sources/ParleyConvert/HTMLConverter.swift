import Foundation
import ParleyCore

/// A tolerant HTML tokenizer: tags with attributes (quoted or not), text with entities,
/// comments and doctypes skipped, `script`/`style` contents dropped. Never fails on bad markup.
struct HTMLTokenizer {
    enum Token {
        case start(name: String, attributes: [String: String], selfClosing: Bool)
        case end(name: String)
        case text(String)
    }

    private let bytes: [UInt8]
    private var i = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
    }

    mutating func next() -> Token? {
        while i < bytes.count {
            if bytes[i] != UInt8(ascii: "<") {
                let start = i
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "<") { i += 1 }
                return .text(HTMLEntities.decode(bytes[start..<i]))
            }
            guard i + 1 < bytes.count else { i += 1; return .text("<") }
            let c = bytes[i + 1]
            if c == UInt8(ascii: "!") {
                if starts("<!--", at: i) {
                    i = find("-->", from: i + 4).map { $0 + 3 } ?? bytes.count
                } else {
                    i = find(">", from: i + 2).map { $0 + 1 } ?? bytes.count
                }
                continue
            }
            if c == UInt8(ascii: "?") {
                i = find(">", from: i + 2).map { $0 + 1 } ?? bytes.count
                continue
            }
            if c == UInt8(ascii: "/") {
                let nameStart = i + 2
                var j = nameStart
                while j < bytes.count, isNameByte(bytes[j]) { j += 1 }
                let name = String(decoding: bytes[nameStart..<j], as: UTF8.self).lowercased()
                i = find(">", from: j).map { $0 + 1 } ?? bytes.count
                if name.isEmpty { continue }
                return .end(name: name)
            }
            guard isLetter(c) else {
                i += 1
                return .text("<")
            }
            return startTag()
        }
        return nil
    }

    private mutating func startTag() -> Token {
        var j = i + 1
        let nameStart = j
        while j < bytes.count, isNameByte(bytes[j]) { j += 1 }
        let name = String(decoding: bytes[nameStart..<j], as: UTF8.self).lowercased()
        var attributes: [String: String] = [:]
        var selfClosing = false
        while j < bytes.count {
            while j < bytes.count && isSpace(bytes[j]) { j += 1 }
            guard j < bytes.count else { break }
            if bytes[j] == UInt8(ascii: ">") { j += 1; break }
            if bytes[j] == UInt8(ascii: "/") { selfClosing = true; j += 1; continue }
            let attrStart = j
            while j < bytes.count, !isSpace(bytes[j]), bytes[j] != UInt8(ascii: "="), bytes[j] != UInt8(ascii: ">"), bytes[j] != UInt8(ascii: "/") { j += 1 }
            let attrName = String(decoding: bytes[attrStart..<j], as: UTF8.self).lowercased()
            if j == attrStart { j += 1; continue }
            while j < bytes.count && isSpace(bytes[j]) { j += 1 }
            var value = ""
            if j < bytes.count && bytes[j] == UInt8(ascii: "=") {
                j += 1
                while j < bytes.count && isSpace(bytes[j]) { j += 1 }
                if j < bytes.count && (bytes[j] == UInt8(ascii: "\"") || bytes[j] == UInt8(ascii: "'")) {
                    let quote = bytes[j]
                    let valueStart = j + 1
                    j = valueStart
                    while j < bytes.count && bytes[j] != quote { j += 1 }
                    value = HTMLEntities.decode(bytes[valueStart..<min(j, bytes.count)])
                    j = min(j + 1, bytes.count)
                } else {
                    let valueStart = j
                    while j < bytes.count, !isSpace(bytes[j]), bytes[j] != UInt8(ascii: ">") { j += 1 }
                    value = HTMLEntities.decode(bytes[valueStart..<j])
                }
            }
            if attributes[attrName] == nil { attributes[attrName] = value }
        }
        i = j
        if name == "script" || name == "style" || name == "template" || name == "noscript" {
            // Raw text: skip to the matching end tag.
            var k = i
            let closing = Array("</\(name)".utf8)
            while k < bytes.count {
                if bytes[k] == UInt8(ascii: "<"), k + closing.count <= bytes.count,
                   zip(bytes[k..<(k + closing.count)], closing).allSatisfy({ lower($0) == $1 }) { break }
                k += 1
            }
            i = k
        }
        return .start(name: name, attributes: attributes, selfClosing: selfClosing)
    }

    private func starts(_ s: String, at index: Int) -> Bool { bytes.hasText(s, at: index) }

    private func find(_ s: String, from: Int) -> Int? { bytes.firstIndex(of: Array(s.utf8), from: from) }

    private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 || b == 0x0C }
    private func isLetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
    private func isNameByte(_ b: UInt8) -> Bool { isLetter(b) || (b >= 48 && b <= 57) || b == UInt8(ascii: "-") || b == UInt8(ascii: ":") || b == UInt8(ascii: "_") }
    private func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }
}

enum HTMLEntities {
    static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{a0}", "copy": "©", "reg": "®",
        "trade": "™", "hellip": "…", "mdash": "—", "ndash": "–", "lsquo": "‘", "rsquo": "’", "ldquo": "“",
        "rdquo": "”", "euro": "€", "pound": "£", "yen": "¥", "cent": "¢", "times": "×", "divide": "÷", "deg": "°",
        "middot": "·", "bull": "•", "laquo": "«", "raquo": "»", "sect": "§", "para": "¶", "plusmn": "±",
        "frac12": "½", "frac14": "¼", "frac34": "¾", "larr": "←", "rarr": "→", "uarr": "↑", "darr": "↓",
        "shy": "\u{ad}", "zwj": "\u{200d}", "zwnj": "\u{200c}", "thinsp": "\u{2009}", "ensp": "\u{2002}", "emsp": "\u{2003}",
        "auml": "ä", "ouml": "ö", "uuml": "ü", "Auml": "Ä", "Ouml": "Ö", "Uuml": "Ü", "szlig": "ß",
        "eacute": "é", "egrave": "è", "ecirc": "ê", "aacute": "á", "agrave": "à", "acirc": "â", "ccedil": "ç",
        "iacute": "í", "oacute": "ó", "uacute": "ú", "ntilde": "ñ", "Eacute": "É", "oslash": "ø", "aring": "å",
    ]

    static func decode(_ raw: ArraySlice<UInt8>) -> String {
        let text = String(decoding: raw, as: UTF8.self)
        guard raw.contains(UInt8(ascii: "&")) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semi = after.prefix(32).firstIndex(of: ";") {
                let name = String(after[..<semi])
                if let value = named[name] {
                    out += value
                    rest = after[after.index(after: semi)...]
                    continue
                }
                if name.hasPrefix("#") {
                    let digits = name.dropFirst()
                    let code = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
                    if let code, code != 0, let scalar = Unicode.Scalar(code) {
                        out.unicodeScalars.append(scalar)
                        rest = after[after.index(after: semi)...]
                        continue
                    }
                }
            }
            out += "&"
            rest = after
        }
        out += rest
        return out
    }
}

/// HTML to Markdown: headings, paragraphs, lists (nested), links, emphasis, code and preformatted
/// blocks, block quotes, images, and tables as Markdown tables; scripts and styles dropped.
/// Iterative, with the open-element depth capped.
struct HTMLConverter {
    let limits: ConversionLimits

    private static let voidElements: Set<String> = ["br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "param", "source", "track", "wbr"]
    private static let blockElements: Set<String> = ["p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "figure", "figcaption", "form", "fieldset", "address", "dl", "dt", "dd", "details", "summary", "center"]
    private static let breakMark: Character = "\u{E000}"

    private struct ListState { var ordered: Bool; var counter: Int }
    private struct InlineMark { var tag: String; var offset: Int; var generation: Int; var href: String? }
    private struct TableState { var rows: [[String]] = []; var row: [String]? = nil; var inCell = false }

    private struct State {
        var out = ""
        var inline = ""
        var generation = 0
        var stack: [String] = []
        var lists: [ListState] = []
        var itemPrefix: String?
        var quoteDepth = 0
        var preDepth = 0
        var pre = ""
        var heading = 0
        var marks: [InlineMark] = []
        var tables: [TableState] = []
        var title: String?
        var inTitle = false
        var titleText = ""
        var firstHeading: String?
        var skipDepth = 0
        var lastWasItem = false
    }

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        var tokenizer = HTMLTokenizer(bytes)
        var s = State()
        while let token = tokenizer.next() {
            switch token {
            case .start(let name, let attrs, let selfClosing):
                try start(name, attrs, selfClosing: selfClosing, &s)
            case .end(let name):
                try end(name, &s)
            case .text(let text):
                if s.inTitle { s.titleText += text; continue }
                if s.skipDepth > 0 { continue }
                if s.preDepth > 0 { s.pre += text; continue }
                appendText(text, &s)
            }
            if s.out.utf8.count > limits.maxOutputBytes { throw Markdown.outputTooLarge(limits) }
        }
        while !s.tables.isEmpty { try closeTable(&s) }
        flush(&s)
        let title = s.title ?? s.firstHeading
        return ConvertedDocument(format: .html, title: title, markdown: Markdown.tidy(s.out))
    }

    private func appendText(_ text: String, _ s: inout State) {
        let breakMark = Self.breakMark.unicodeScalars.first
        for u in text.unicodeScalars {
            if u == "\u{a0}" {
                s.inline.unicodeScalars.append(" ")
            } else if Markdown.isSpace(u) {
                if let last = s.inline.unicodeScalars.last, last != " ", last != breakMark { s.inline.unicodeScalars.append(" ") }
            } else {
                s.inline.unicodeScalars.append(u)
            }
        }
    }

    private func start(_ name: String, _ attrs: [String: String], selfClosing: Bool, _ s: inout State) throws(ParleyError) {
        if name == "title" { s.inTitle = true; return }
        if name == "body", s.stack.contains("head") { try end("head", &s) }
        if name == "head" || name == "svg" || name == "select" || s.skipDepth > 0 {
            if !selfClosing && !Self.voidElements.contains(name) {
                s.stack.append(name)
                s.skipDepth += 1
                if s.stack.count > limits.maxNestingDepth { throw ConvertError.tooDeep(.html, limits.maxNestingDepth) }
            }
            return
        }
        // Implied end tags.
        switch name {
        case "p": if s.stack.last == "p" { try end("p", &s) }
        case "li": if let top = s.stack.last(where: { $0 == "li" || $0 == "ul" || $0 == "ol" }), top == "li" { try end("li", &s) }
        case "tr": if let top = s.stack.last(where: { ["tr", "table"].contains($0) }), top == "tr" { try end("tr", &s) }
        case "td", "th": if let top = s.stack.last(where: { ["td", "th", "table"].contains($0) }), top != "table" { try end(top, &s) }
        default: break
        }
        if !Self.voidElements.contains(name) && !selfClosing {
            s.stack.append(name)
            if s.stack.count > limits.maxNestingDepth { throw ConvertError.tooDeep(.html, limits.maxNestingDepth) }
        }
        let inCell = s.tables.last?.inCell == true
        switch name {
        case "h1", "h2", "h3", "h4", "h5", "h6":
            flush(&s)
            if !inCell { s.heading = Int(String(name.dropFirst())) ?? 1 }
        case "ul", "ol":
            flush(&s)
            s.lists.append(ListState(ordered: name == "ol", counter: min(max(Int(attrs["start"] ?? "1") ?? 1, 0), 1_000_000_000)))
        case "li":
            flush(&s)
            if !inCell, !s.lists.isEmpty {
                let depth = s.lists.count - 1
                let list = s.lists[depth]
                s.itemPrefix = String(repeating: "   ", count: min(depth, 8)) + (list.ordered ? "\(list.counter). " : "- ")
                s.lists[depth].counter += 1
            }
        case "blockquote":
            flush(&s)
            s.quoteDepth += 1
        case "pre":
            flush(&s)
            s.preDepth += 1
            if s.preDepth == 1 { s.pre = "" }
        case "br":
            if s.preDepth > 0 { s.pre += "\n" } else { s.inline.append(Self.breakMark) }
        case "hr":
            flush(&s)
            if !inCell { emit("---", &s) }
        case "img":
            let alt = Markdown.collapse(attrs["alt"] ?? "").trimmingWhitespace()
            if let src = attrs["src"], !src.isEmpty, !src.hasPrefix("data:") {
                s.inline += "![\(alt)](\(src.replacingSpaces()))"
            } else if !alt.isEmpty {
                s.inline += alt
            }
        case "strong", "b", "em", "i", "code", "a", "kbd", "tt":
            if s.preDepth > 0 { break }
            s.marks.append(InlineMark(tag: name, offset: s.inline.utf8.count, generation: s.generation, href: attrs["href"]))
        case "table":
            flush(&s)
            if inCell { break }
            s.tables.append(TableState())
        case "tr":
            if var t = s.tables.last, !t.inCell {
                if let row = t.row { t.rows.append(row) }
                t.row = []
                s.tables[s.tables.count - 1] = t
            }
        case "td", "th":
            if var t = s.tables.last, !t.inCell {
                if t.row == nil { t.row = [] }
                t.inCell = true
                s.tables[s.tables.count - 1] = t
                s.inline = ""
                s.generation += 1
            }
        default:
            if Self.blockElements.contains(name) { flush(&s) }
        }
    }

    private func end(_ name: String, _ s: inout State) throws(ParleyError) {
        if name == "title" { s.inTitle = false; s.title = Markdown.collapse(s.titleText).trimmingWhitespace().nilIfEmpty; return }
        guard let index = s.stack.lastIndex(of: name) else { return }
        // Close what was left open inside it.
        while s.stack.count > index + 1, let top = s.stack.last { try end(top, &s) }
        s.stack.removeLast()
        if s.skipDepth > 0 { s.skipDepth -= 1; return }
        let inCell = s.tables.last?.inCell == true
        switch name {
        case "h1", "h2", "h3", "h4", "h5", "h6":
            if inCell { s.inline += " "; break }
            let text = inlineText(&s, cell: true)
            if !text.isEmpty {
                if s.firstHeading == nil { s.firstHeading = text }
                emit(String(repeating: "#", count: max(1, s.heading)) + " " + text, &s)
            }
            s.heading = 0
        case "ul", "ol":
            flush(&s)
            if !s.lists.isEmpty { s.lists.removeLast() }
            if s.lists.isEmpty { s.lastWasItem = false }
        case "li":
            flush(&s)
            s.itemPrefix = nil
        case "blockquote":
            flush(&s)
            s.quoteDepth = max(0, s.quoteDepth - 1)
        case "pre":
            s.preDepth = max(0, s.preDepth - 1)
            if s.preDepth == 0 {
                var code = s.pre
                while code.hasSuffix("\n") { code.removeLast() }
                while code.hasPrefix("\n") { code.removeFirst() }
                if inCell { s.inline += " " + Markdown.collapse(code) + " " }
                else if !code.isEmpty { emit("```\n" + code + "\n```", &s) }
                s.pre = ""
            }
        case "strong", "b", "em", "i", "code", "a", "kbd", "tt":
            guard let markIndex = s.marks.lastIndex(where: { $0.tag == name }) else { break }
            let mark = s.marks[markIndex]
            s.marks.removeSubrange(markIndex...)
            guard mark.generation == s.generation, mark.offset <= s.inline.utf8.count else { break }
            let split = s.inline.utf8.index(s.inline.startIndex, offsetBy: mark.offset)
            let before = String(s.inline[..<split])
            let content = String(s.inline[split...])
            guard !content.trimmingWhitespace().isEmpty else { break }
            switch name {
            case "strong", "b": s.inline = before + Markdown.emphasize(content, marker: "**")
            case "em", "i": s.inline = before + Markdown.emphasize(content, marker: "*")
            case "a":
                if let href = mark.href, !href.isEmpty, !href.lowercased().hasPrefix("javascript:"), !href.hasPrefix("#") {
                    s.inline = before + "[" + content.trimmingWhitespace() + "](" + href.replacingSpaces() + ")" + (content.last == " " ? " " : "")
                }
            default:
                let tick = content.contains("`") ? "``" : "`"
                s.inline = before + Markdown.emphasize(content, marker: tick)
            }
        case "td", "th":
            if var t = s.tables.last, t.inCell {
                let text = inlineText(&s, cell: true)
                t.row = (t.row ?? []) + [text]
                t.inCell = false
                s.tables[s.tables.count - 1] = t
                let cells = t.rows.count * max(1, t.row?.count ?? 1)
                if cells > limits.maxTableCells { throw ConvertError.tooManyCells(limits.maxTableCells) }
            }
        case "tr":
            if var t = s.tables.last, !t.inCell {
                if let row = t.row { t.rows.append(row) }
                t.row = nil
                s.tables[s.tables.count - 1] = t
            }
        case "table":
            if s.tables.last?.inCell == true { break }
            if !s.tables.isEmpty { try closeTable(&s) }
        default:
            if Self.blockElements.contains(name) { flush(&s) }
        }
    }

    private func closeTable(_ s: inout State) throws(ParleyError) {
        guard var t = s.tables.popLast() else { return }
        if t.inCell { t.row = (t.row ?? []) + [inlineText(&s, cell: true)] }
        if let row = t.row { t.rows.append(row) }
        let table = try Markdown.table(t.rows, limits: limits)
        if !table.isEmpty { emit(String(table.dropLast()), &s) }
    }

    /// The current inline text, trimmed, and a new inline buffer.
    private func inlineText(_ s: inout State, cell: Bool) -> String {
        var text = s.inline.trimmingWhitespace()
        s.inline = ""
        s.generation += 1
        s.marks.removeAll()
        if text.contains(Self.breakMark) {
            text = text.split(separator: Self.breakMark).map { String($0).trimmingWhitespace() }.joined(separator: cell ? " " : "  \n")
        }
        return text
    }

    /// Ends the current paragraph (in a table cell, only a space).
    private func flush(_ s: inout State) {
        if s.tables.last?.inCell == true {
            if let last = s.inline.last, last != " " { s.inline.append(" ") }
            return
        }
        let text = inlineText(&s, cell: false)
        guard !text.isEmpty else { return }
        if let prefix = s.itemPrefix {
            s.itemPrefix = nil
            let indent = String(repeating: " ", count: prefix.count)
            emit(prefix + text.replacingOccurrences(of: "\n", with: "\n" + indent), &s, item: true)
        } else if !s.lists.isEmpty {
            let indent = String(repeating: "   ", count: min(s.lists.count, 8))
            emit(indent + text, &s, item: true)
        } else {
            emit(text, &s)
        }
    }

    private func emit(_ block: String, _ s: inout State, item: Bool = false) {
        var text = block
        if s.quoteDepth > 0 {
            let marker = String(repeating: "> ", count: min(s.quoteDepth, 8))
            text = text.split(separator: "\n", omittingEmptySubsequences: false).map { marker + $0 }.joined(separator: "\n")
        }
        s.out += (item && s.lastWasItem ? "" : "\n") + text + "\n"
        s.lastWasItem = item
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }

    func replacingSpaces() -> String {
        contains(" ") ? split(separator: " ", omittingEmptySubsequences: false).joined(separator: "%20") : self
    }
}
