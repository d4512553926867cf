import ParleyCore

/// How a font's character codes become text and how wide each is.
struct PDFFont {
    var twoByte = false
    var toUnicode: [UInt32: String] = [:]
    var encoding: [UInt8: String] = [:]
    var firstChar = 0
    var widths: [Double] = []
    var cidWidths: [Int: Double] = [:]
    var defaultWidth = 500.0
    var hasUnicode: Bool { !toUnicode.isEmpty || !twoByte }

    /// Each glyph's text and advance (in thousandths of the font size).
    func decode(_ raw: [UInt8]) -> [(text: String, width: Double, isSpace: Bool)] {
        var out: [(String, Double, Bool)] = []
        var k = 0
        while k < raw.count {
            var code: UInt32
            if twoByte, k + 1 < raw.count {
                code = UInt32(raw[k]) << 8 | UInt32(raw[k + 1]); k += 2
            } else {
                code = UInt32(raw[k]); k += 1
            }
            let text: String
            if let mapped = toUnicode[code] { text = mapped }
            else if twoByte { text = "" }
            else if let mapped = encoding[UInt8(truncatingIfNeeded: code)] { text = mapped }
            else if [0x7F, 0x81, 0x8D, 0x8F, 0x90, 0x9D].contains(code) { text = "•" }  // WinAnsi's unused codes show a bullet
            else { text = String(Character(windows1252(UInt8(truncatingIfNeeded: code)))) }
            let width: Double
            if twoByte { width = cidWidths[Int(code)] ?? defaultWidth }
            else {
                let index = Int(code) - firstChar
                width = index >= 0 && index < widths.count ? widths[index] : defaultWidth
            }
            out.append((text, width, !twoByte && code == 32))
        }
        return out
    }
}

/// A run of text placed on the page.
struct PDFSpan {
    var x: Double
    var y: Double
    var endX: Double
    var size: Double
    var text: String
}

struct PDFMatrix {
    var a = 1.0, b = 0.0, c = 0.0, d = 1.0, e = 0.0, f = 0.0

    static let identity = PDFMatrix()

    /// self × other.
    func concat(_ m: PDFMatrix) -> PDFMatrix {
        PDFMatrix(a: a * m.a + b * m.c, b: a * m.b + b * m.d,
                  c: c * m.a + d * m.c, d: c * m.b + d * m.d,
                  e: e * m.a + f * m.c + m.e, f: e * m.b + f * m.d + m.f)
    }

    static func translate(_ x: Double, _ y: Double) -> PDFMatrix { PDFMatrix(e: x, f: y) }

    init(a: Double = 1, b: Double = 0, c: Double = 0, d: Double = 1, e: Double = 0, f: Double = 0) {
        self.a = a; self.b = b; self.c = c; self.d = d; self.e = e; self.f = f
    }

    init?(_ array: [PDFObject]?) {
        guard let array, array.count == 6 else { return nil }
        let v = array.compactMap(\.number)
        guard v.count == 6 else { return nil }
        self.init(a: v[0], b: v[1], c: v[2], d: v[3], e: v[4], f: v[5])
    }
}

/// Runs a page's content streams and collects its text spans with their positions.
struct PDFTextExtractor {
    static let maxOperations = 20_000_000
    static let maxFormDepth = 8

    let file: PDFFile
    var spans: [PDFSpan] = []
    var operations = 0
    var sawImage = false
    var undecodableGlyphs = 0
    private var fontCache: [String: PDFFont] = [:]
    /// The forms being drawn (a form that draws itself is drawn once).
    private var activeForms: Set<Int> = []

    private struct GState {
        var ctm = PDFMatrix.identity
        var font = PDFFont()
        var fontSize = 12.0
        var charSpacing = 0.0
        var wordSpacing = 0.0
        var scale = 1.0
        var leading = 0.0
    }

    init(file: PDFFile) {
        self.file = file
    }

    mutating func run(content: PDFObject?, resources: [String: PDFObject]) throws(ParleyError) {
        var streams: [PDFObject] = []
        switch file.resolve(content) {
        case .array(let parts): streams = parts
        case .some(let one): streams = [one]
        case .none: break
        }
        var data: [UInt8] = []
        for part in streams {
            if let bytes = try file.streamData(part) { data += bytes; data.append(0x0A) }
        }
        try interpret(data, resources: resources, ctm: .identity, depth: 0)
    }

    private mutating func interpret(_ data: [UInt8], resources: [String: PDFObject], ctm: PDFMatrix, depth: Int) throws(ParleyError) {
        var lexer = PDFLexer(data)
        var operands: [PDFObject] = []
        var gs = GState()
        gs.ctm = ctm
        var stack: [GState] = []
        var tm = PDFMatrix.identity
        var tlm = PDFMatrix.identity
        let fonts = file.dict(resources["Font"]) ?? [:]
        let xobjects = file.dict(resources["XObject"]) ?? [:]

        while let token = lexer.object() {
            guard case .op(let op) = token else {
                if operands.count < 64 { operands.append(token) }
                continue
            }
            operations += 1
            if operations > Self.maxOperations {
                throw ConvertError.tooLarge("the PDF's pages draw more than \(Self.maxOperations) operations (the most accepted); split it into smaller files")
            }
            defer { operands.removeAll(keepingCapacity: true) }
            func num(_ i: Int) -> Double { i < operands.count ? operands[i].number ?? 0 : 0 }
            switch op {
            case "q": if stack.count < 256 { stack.append(gs) }
            case "Q": if let last = stack.popLast() { gs = last }
            case "cm":
                if operands.count == 6 { gs.ctm = PDFMatrix(a: num(0), b: num(1), c: num(2), d: num(3), e: num(4), f: num(5)).concat(gs.ctm) }
            case "BT": tm = .identity; tlm = .identity
            case "Tf":
                if operands.count == 2, let name = operands[0].name {
                    gs.font = font(name, fonts)
                    gs.fontSize = num(1)
                }
            case "Tc": gs.charSpacing = num(0)
            case "Tw": gs.wordSpacing = num(0)
            case "Tz": gs.scale = num(0) / 100
            case "TL": gs.leading = num(0)
            case "Td":
                tlm = PDFMatrix.translate(num(0), num(1)).concat(tlm); tm = tlm
            case "TD":
                gs.leading = -num(1)
                tlm = PDFMatrix.translate(num(0), num(1)).concat(tlm); tm = tlm
            case "Tm":
                if operands.count == 6 { tlm = PDFMatrix(a: num(0), b: num(1), c: num(2), d: num(3), e: num(4), f: num(5)); tm = tlm }
            case "T*":
                tlm = PDFMatrix.translate(0, -gs.leading).concat(tlm); tm = tlm
            case "Tj":
                if let s = operands.last?.bytes { show([.string(s)], gs: gs, tm: &tm) }
            case "'":
                tlm = PDFMatrix.translate(0, -gs.leading).concat(tlm); tm = tlm
                if let s = operands.last?.bytes { show([.string(s)], gs: gs, tm: &tm) }
            case "\"":
                if operands.count == 3 {
                    gs.wordSpacing = num(0); gs.charSpacing = num(1)
                    tlm = PDFMatrix.translate(0, -gs.leading).concat(tlm); tm = tlm
                    if let s = operands[2].bytes { show([.string(s)], gs: gs, tm: &tm) }
                }
            case "TJ":
                if let items = operands.last?.array { show(items, gs: gs, tm: &tm) }
            case "Do":
                guard let name = operands.last?.name, let ref = xobjects[name] else { break }
                guard case .stream(let d, _) = file.resolve(ref) else { break }
                if d["Subtype"]?.name == "Image" { sawImage = true; break }
                guard d["Subtype"]?.name == "Form", depth < Self.maxFormDepth, let formData = try file.streamData(ref) else { break }
                let formNumber: Int
                if case .ref(let n) = ref { formNumber = n } else { formNumber = -1 - depth }
                guard !activeForms.contains(formNumber) else { break }
                activeForms.insert(formNumber)
                defer { activeForms.remove(formNumber) }
                let matrix = PDFMatrix(file.resolve(d["Matrix"])?.array) ?? .identity
                let formResources = file.dict(d["Resources"]) ?? resources
                try interpret(formData, resources: formResources, ctm: matrix.concat(gs.ctm), depth: depth + 1)
            case "BI":
                sawImage = true
                // Inline image: skip its dictionary and data up to "EI".
                while let t = lexer.object() { if case .op("ID") = t { break } }
                var k = lexer.i + 1
                while k + 2 < data.count {
                    if data[k] == UInt8(ascii: "E"), data[k + 1] == UInt8(ascii: "I"), PDFLexer.isWhite(data[k - 1]), k + 2 >= data.count || PDFLexer.isWhite(data[k + 2]) { break }
                    k += 1
                }
                lexer.i = min(k + 2, data.count)
            default:
                break
            }
        }
    }

    private mutating func show(_ items: [PDFObject], gs: GState, tm: inout PDFMatrix) {
        let fs = gs.fontSize
        let th = gs.scale
        var text = ""
        var advance = 0.0
        var startMatrix = tm.concat(gs.ctm)
        func flush(_ matrixAtEnd: PDFMatrix, into spans: inout [PDFSpan]) {
            guard !text.isEmpty else { return }
            let size = abs(fs) * max(abs(startMatrix.d), abs(startMatrix.b), 0.01)
            let endX = matrixAtEnd.e
            if startMatrix.e.isFinite, startMatrix.f.isFinite, endX.isFinite, size.isFinite {
                spans.append(PDFSpan(x: startMatrix.e, y: startMatrix.f, endX: max(endX, startMatrix.e), size: size, text: text))
            }
            text = ""
        }
        for item in items {
            switch item {
            case .string(let raw):
                for glyph in gs.font.decode(raw) {
                    if glyph.text.isEmpty && gs.font.twoByte { undecodableGlyphs += 1 }
                    text += glyph.text
                    let tx = (glyph.width / 1000 * fs + gs.charSpacing + (glyph.isSpace ? gs.wordSpacing : 0)) * th
                    advance += tx
                    tm = PDFMatrix.translate(tx, 0).concat(tm)
                }
            case .int, .real:
                let adjust = -(item.number ?? 0) / 1000
                let tx = adjust * fs * th
                if adjust > 2.5 {
                    flush(tm.concat(gs.ctm), into: &spans)
                    tm = PDFMatrix.translate(tx, 0).concat(tm)
                    startMatrix = tm.concat(gs.ctm)
                    continue
                }
                if adjust > 0.2, let last = text.last, last != " " { text += " " }
                tm = PDFMatrix.translate(tx, 0).concat(tm)
            default:
                break
            }
        }
        flush(tm.concat(gs.ctm), into: &spans)
    }

    private mutating func font(_ name: String, _ fonts: [String: PDFObject]) -> PDFFont {
        let key: String
        if case .ref(let n) = fonts[name] { key = "#\(n)" } else { key = name + "@\(fonts.count)" }
        if let cached = fontCache[key] { return cached }
        var font = PDFFont()
        guard let d = file.dict(fonts[name]) else { fontCache[key] = font; return font }
        if d["Subtype"]?.name == "Type0" {
            font.twoByte = true
            font.defaultWidth = 1000
            if let descendant = file.dict(file.resolve(d["DescendantFonts"])?.array?.first) {
                font.defaultWidth = descendant["DW"]?.number ?? 1000
                if let w = file.resolve(descendant["W"])?.array { font.cidWidths = Self.cidWidths(w, file: file) }
            }
        } else {
            let base = d["BaseFont"]?.name ?? ""
            font.defaultWidth = base.contains("Courier") ? 600 : base.contains("Times") ? 460 : 520
            font.firstChar = d["FirstChar"]?.int ?? 0
            font.widths = (file.resolve(d["Widths"])?.array ?? []).map { file.resolve($0)?.number ?? 0 }
            if let descriptor = file.dict(d["FontDescriptor"]), let missing = descriptor["MissingWidth"]?.number, missing > 0 {
                font.defaultWidth = missing
            }
            font.encoding = Self.encoding(file.resolve(d["Encoding"]), file: file)
        }
        if let cmap = try? file.streamData(d["ToUnicode"]) {
            let parsed = PDFCMap.parse(cmap)
            font.toUnicode = parsed.map
            if parsed.codeLength == 1 && font.twoByte { font.twoByte = false }
        }
        fontCache[key] = font
        return font
    }

    private static func cidWidths(_ w: [PDFObject], file: PDFFile) -> [Int: Double] {
        var out: [Int: Double] = [:]
        var k = 0
        while k < w.count, out.count < 100_000 {
            guard let first = w[k].int else { k += 1; continue }
            if k + 1 < w.count, let list = file.resolve(w[k + 1])?.array {
                for (offset, value) in list.enumerated() { out[first + offset] = value.number ?? 0 }
                k += 2
            } else if k + 2 < w.count, let last = w[k + 1].int, let width = w[k + 2].number {
                if last >= first && last - first < 65_536 { for c in first...last { out[c] = width } }
                k += 3
            } else {
                k += 1
            }
        }
        return out
    }

    private static func encoding(_ value: PDFObject?, file: PDFFile) -> [UInt8: String] {
        var map: [UInt8: String] = [:]
        var base: String?
        var differences: [PDFObject] = []
        switch value {
        case .name(let n): base = n
        case .dict(let d):
            base = d["BaseEncoding"]?.name
            differences = file.resolve(d["Differences"])?.array ?? []
        default: break
        }
        if base == "StandardEncoding" || base == "MacRomanEncoding" {
            map[0x27] = "’"
            map[0x60] = "‘"
        }
        var code = 0
        for item in differences {
            if let n = item.int { code = n; continue }
            if let glyph = item.name {
                if code >= 0 && code < 256, let text = PDFGlyphNames.text(for: glyph) { map[UInt8(code)] = text }
                code += 1
            }
        }
        return map
    }
}

/// A ToUnicode CMap: character codes to text.
enum PDFCMap {
    static func parse(_ data: [UInt8]) -> (map: [UInt32: String], codeLength: Int) {
        var lexer = PDFLexer(data)
        var map: [UInt32: String] = [:]
        var codeLength = 2
        var sawCodespace = false
        var pending: [PDFObject] = []
        var mode = ""
        func code(_ b: [UInt8]) -> UInt32 { b.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        func text(_ b: [UInt8]) -> String {
            var units: [UInt16] = []
            var k = 0
            while k + 1 < b.count { units.append(UInt16(b[k]) << 8 | UInt16(b[k + 1])); k += 2 }
            if b.count % 2 == 1 { units.append(UInt16(b[b.count - 1])) }
            return String(decoding: units, as: UTF16.self)
        }
        while let token = lexer.object(), map.count < 200_000 {
            guard case .op(let op) = token else {
                pending.append(token)
                if mode == "bfchar", pending.count == 2 {
                    if let src = pending[0].bytes, let dst = pending[1].bytes { map[code(src)] = text(dst) }
                    pending = []
                } else if mode == "bfrange", pending.count == 3 {
                    if let lo = pending[0].bytes, let hi = pending[1].bytes {
                        let a = code(lo), b = code(hi)
                        if b >= a && b - a < 65_536 {
                            if let dst = pending[2].bytes, !dst.isEmpty {
                                var units: [UInt16] = []
                                var k = 0
                                while k + 1 < dst.count { units.append(UInt16(dst[k]) << 8 | UInt16(dst[k + 1])); k += 2 }
                                if units.isEmpty { units = [UInt16(dst[0])] }
                                for offset in 0...(b - a) {
                                    var u = units
                                    u[u.count - 1] = u[u.count - 1] &+ UInt16(truncatingIfNeeded: offset)
                                    map[a + offset] = String(decoding: u, as: UTF16.self)
                                }
                            } else if let list = pending[2].array {
                                for (offset, item) in list.enumerated() where UInt32(offset) <= b - a {
                                    if let dst = item.bytes { map[a + UInt32(offset)] = text(dst) }
                                }
                            }
                        }
                    }
                    pending = []
                } else if mode == "codespacerange", pending.count == 2 {
                    if let lo = pending[0].bytes, !sawCodespace { codeLength = lo.count; sawCodespace = true }
                    pending = []
                }
                continue
            }
            switch op {
            case "beginbfchar": mode = "bfchar"
            case "beginbfrange": mode = "bfrange"
            case "begincodespacerange": mode = "codespacerange"
            default: mode = op.hasPrefix("end") ? "" : mode
            }
            pending = []
        }
        return (map, codeLength)
    }
}

/// Glyph names (from a font's /Differences) to text: `uniXXXX`, `uXXXX[XX]`, letters, digits and
/// the common punctuation names.
enum PDFGlyphNames {
    static let names: [String: String] = [
        "space": " ", "exclam": "!", "quotedbl": "\"", "numbersign": "#", "dollar": "$", "percent": "%",
        "ampersand": "&", "quotesingle": "'", "quoteright": "’", "quoteleft": "‘", "parenleft": "(", "parenright": ")",
        "asterisk": "*", "plus": "+", "comma": ",", "hyphen": "-", "minus": "−", "period": ".", "slash": "/",
        "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
        "eight": "8", "nine": "9", "colon": ":", "semicolon": ";", "less": "<", "equal": "=", "greater": ">",
        "question": "?", "at": "@", "bracketleft": "[", "backslash": "\\", "bracketright": "]", "asciicircum": "^",
        "underscore": "_", "grave": "`", "braceleft": "{", "bar": "|", "braceright": "}", "asciitilde": "~",
        "quotedblleft": "“", "quotedblright": "”", "endash": "–", "emdash": "—", "bullet": "•", "ellipsis": "…",
        "fi": "fi", "fl": "fl", "ff": "ff", "ffi": "ffi", "ffl": "ffl", "Euro": "€", "trademark": "™", "copyright": "©",
        "registered": "®", "degree": "°", "nbspace": " ", "sterling": "£", "yen": "¥", "section": "§",
        "eacute": "é", "egrave": "è", "aacute": "á", "agrave": "à", "adieresis": "ä", "odieresis": "ö",
        "udieresis": "ü", "germandbls": "ß", "ccedilla": "ç", "ntilde": "ñ", "multiply": "×",
    ]

    static func text(for glyph: String) -> String? {
        if let known = names[glyph] { return known }
        if glyph.count == 1 { return glyph }
        if glyph.hasPrefix("uni"), glyph.count == 7, let v = UInt32(glyph.dropFirst(3), radix: 16), let s = Unicode.Scalar(v) { return String(Character(s)) }
        if glyph.hasPrefix("u"), (5...7).contains(glyph.count), let v = UInt32(glyph.dropFirst(1), radix: 16), let s = Unicode.Scalar(v) { return String(Character(s)) }
        return nil
    }
}
