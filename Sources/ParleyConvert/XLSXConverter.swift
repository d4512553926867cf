import ParleyCore

/// Spreadsheets: each sheet as `## Sheet name` and a Markdown table of its used cells. Cells are
/// kept sparse (only those with a value), so a sheet claiming a million rows costs nothing;
/// fully empty rows and columns are dropped.
struct XLSXConverter {
    let limits: ConversionLimits

    func convert(_ bytes: [UInt8]) throws(ParleyError) -> ConvertedDocument {
        var budget = ExpansionBudget(limit: limits.maxExpandedBytes)
        let zip = try ZipArchive(bytes, format: .xlsx)
        guard let workbook = try zip.read("xl/workbook.xml", budget: &budget) else {
            throw ConvertError.unreadable(.xlsx, "it has no xl/workbook.xml; is it an Excel workbook?")
        }
        let rels = try Relationships(zip.read("xl/_rels/workbook.xml.rels", budget: &budget), folder: "xl", format: .xlsx)
        let strings = try sharedStrings(zip.read("xl/sharedStrings.xml", budget: &budget))
        let dateStyles = try dateStyleIndexes(zip.read("xl/styles.xml", budget: &budget))
        let title = try coreTitle(zip, budget: &budget)

        var sheets: [(name: String, path: String)] = []
        var reader = XMLReader(workbook, format: .xlsx)
        while let event = try reader.next() {
            if case .start("sheet", let attrs) = event, let id = attrs["id"], let target = rels.byId[id] {
                sheets.append((attrs["name"] ?? "Sheet \(sheets.count + 1)", target.path))
            }
        }
        var out = ""
        var cellsSeen = 0
        for sheet in sheets {
            guard let data = try zip.read(sheet.path, budget: &budget) else { continue }
            let rows = try readSheet(data, strings: strings, dateStyles: dateStyles, cellsSeen: &cellsSeen)
            out += "## " + sheet.name + "\n\n"
            let table = try Markdown.table(rows, limits: limits)
            out += table.isEmpty ? "(empty sheet)\n\n" : table + "\n"
            if out.utf8.count > limits.maxOutputBytes { throw Markdown.outputTooLarge(limits) }
        }
        return ConvertedDocument(format: .xlsx, title: title, markdown: Markdown.tidy(out))
    }

    /// The sheet's non-empty rows, with the columns that hold any value.
    private func readSheet(_ data: [UInt8], strings: [String], dateStyles: Set<Int>, cellsSeen: inout Int) throws(ParleyError) -> [[String]] {
        var reader = XMLReader(data, format: .xlsx)
        var cells: [Int: [Int: String]] = [:]
        var usedColumns = Set<Int>()
        var rowNumber = 0
        var nextColumn = 0
        var cellRef: (row: Int, col: Int)?
        var cellType = "n"
        var cellStyle = 0
        var value = ""
        var inValue = false
        var inInline = false
        while let event = try reader.next() {
            switch event {
            case .start(let name, let attrs):
                switch name {
                case "row":
                    rowNumber = attrs["r"].flatMap { Int($0) } ?? rowNumber + 1
                    nextColumn = 0
                case "c":
                    let col = attrs["r"].flatMap(Self.column(of:)) ?? nextColumn
                    cellRef = (rowNumber, col)
                    nextColumn = col + 1
                    cellType = attrs["t"] ?? "n"
                    cellStyle = attrs["s"].flatMap { Int($0) } ?? 0
                    value = ""
                case "v": inValue = true
                case "is": inInline = true
                case "t": if inInline { inValue = true }
                default: break
                }
            case .text(let text):
                if inValue { value += text }
            case .end(let name):
                switch name {
                case "v", "t": inValue = false
                case "is": inInline = false
                case "c":
                    guard let ref = cellRef else { break }
                    cellRef = nil
                    let shown = display(value, type: cellType, style: cellStyle, strings: strings, dateStyles: dateStyles)
                    guard !shown.trimmingWhitespace().isEmpty else { break }
                    cellsSeen += 1
                    if cellsSeen > limits.maxTableCells { throw ConvertError.tooManyCells(limits.maxTableCells) }
                    cells[ref.row, default: [:]][ref.col] = shown
                    usedColumns.insert(ref.col)
                default: break
                }
            }
        }
        let columns = usedColumns.sorted()
        guard cells.count.multipliedReportingOverflow(by: columns.count).partialValue <= limits.maxTableCells else {
            throw ConvertError.tooManyCells(limits.maxTableCells)
        }
        return cells.keys.sorted().map { r in
            let row = cells[r] ?? [:]
            return columns.map { row[$0] ?? "" }
        }
    }

    private func display(_ raw: String, type: String, style: Int, strings: [String], dateStyles: Set<Int>) -> String {
        switch type {
        case "s":
            guard let index = Int(raw.trimmingWhitespace()), index >= 0, index < strings.count else { return "" }
            return strings[index]
        case "b": return raw == "1" ? "TRUE" : "FALSE"
        case "str", "inlineStr", "e": return raw
        default:
            if dateStyles.contains(style), let serial = Double(raw) { return Self.date(fromSerial: serial) }
            return Self.number(raw)
        }
    }

    /// "3.0" -> "3", "1.2E-2" kept; other text unchanged.
    static func number(_ raw: String) -> String {
        if raw.hasSuffix(".0"), Double(raw) != nil { return String(raw.dropLast(2)) }
        return raw
    }

    /// An Excel serial date (1900 system) as ISO 8601, with the time when it has one.
    static func date(fromSerial serial: Double) -> String {
        guard serial.isFinite, serial >= 0, serial < 2_958_466 else { return String(serial) }
        var days = Int(serial.rounded(.down))
        let seconds = Int(((serial - Double(days)) * 86_400).rounded())
        // Serial 60 is Excel's fictitious 1900-02-29; days after it are shifted by one.
        if days > 60 { days -= 1 }
        // Days since 1899-12-31 to a civil date (Howard Hinnant's algorithm, from 1970-01-01).
        let z = days - 25_568 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var text = "\(y)-\(two(m))-\(two(d))"
        if seconds > 0 && seconds < 86_400 {
            text += " \(two(seconds / 3600)):\(two(seconds / 60 % 60))"
            if seconds % 60 != 0 { text += ":\(two(seconds % 60))" }
        }
        return text
    }

    /// "AB12" -> 27 (zero-based column).
    static func column(of ref: String) -> Int? {
        var col = 0
        var letters = 0
        for u in ref.utf8 {
            if u >= 65 && u <= 90 { col = col * 26 + Int(u - 64) }
            else if u >= 97 && u <= 122 { col = col * 26 + Int(u - 96) }
            else { break }
            letters += 1
            if letters > 3 { return nil }
        }
        return letters == 0 ? nil : col - 1
    }

    private func sharedStrings(_ bytes: [UInt8]?) throws(ParleyError) -> [String] {
        guard let bytes else { return [] }
        var strings: [String] = []
        var reader = XMLReader(bytes, format: .xlsx)
        var current = ""
        var inText = false
        var inPhonetic = false
        while let event = try reader.next() {
            switch event {
            case .start(let name, _):
                if name == "si" { current = "" } else if name == "t" { inText = !inPhonetic } else if name == "rPh" { inPhonetic = true }
            case .text(let t):
                if inText { current += t }
            case .end(let name):
                if name == "si" { strings.append(current) } else if name == "t" { inText = false } else if name == "rPh" { inPhonetic = false }
            }
        }
        return strings
    }

    /// Indexes into `cellXfs` whose number format shows a date.
    private func dateStyleIndexes(_ bytes: [UInt8]?) throws(ParleyError) -> Set<Int> {
        guard let bytes else { return [] }
        var custom: [Int: String] = [:]
        var formats: [Int] = []
        var inCellXfs = false
        var reader = XMLReader(bytes, format: .xlsx)
        while let event = try reader.next() {
            switch event {
            case .start(let name, let attrs):
                if name == "numFmt", let id = attrs["numFmtId"].flatMap({ Int($0) }) { custom[id] = attrs["formatCode"] ?? "" }
                else if name == "cellXfs" { inCellXfs = true }
                else if name == "xf", inCellXfs { formats.append(attrs["numFmtId"].flatMap { Int($0) } ?? 0) }
            case .end(let name):
                if name == "cellXfs" { inCellXfs = false }
            case .text:
                break
            }
        }
        var dates = Set<Int>()
        for (index, id) in formats.enumerated() {
            if (14...22).contains(id) || (45...47).contains(id) { dates.insert(index); continue }
            if let code = custom[id], Self.isDateFormat(code) { dates.insert(index) }
        }
        return dates
    }

    static func isDateFormat(_ code: String) -> Bool {
        var inQuote = false, inBracket = false
        for ch in code.lowercased() {
            switch ch {
            case "\"": inQuote.toggle()
            case "[": inBracket = true
            case "]": inBracket = false
            case "d", "m", "y", "h", "s": if !inQuote && !inBracket { return true }
            default: break
            }
        }
        return false
    }
}
