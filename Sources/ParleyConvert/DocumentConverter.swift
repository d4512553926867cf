import Foundation
import ParleyCore

/// The formats Parley turns into Markdown.
public enum DocumentFormat: String, Sendable, CaseIterable, Codable {
    case pdf, docx, xlsx, pptx, html, csv, json, text, markdown
}

/// Bounds every conversion keeps, whatever the file claims: a hostile file (a ZIP bomb, a
/// million empty rows, entity expansion) ends in `document_too_large` or `unreadable_document`
/// within these, never in a crash or a hang.
public struct ConversionLimits: Sendable, Equatable {
    /// Largest input file.
    public var maxInputBytes: Int
    /// Largest total of uncompressed bytes read out of a container (DOCX, XLSX, PPTX) or stream (PDF).
    public var maxExpandedBytes: Int
    /// Largest Markdown produced.
    public var maxOutputBytes: Int
    /// Most table cells (rows x columns) in one document: a spreadsheet claiming a million rows
    /// or a CSV of empty fields stops here.
    public var maxTableCells: Int
    /// Deepest nesting of HTML elements, JSON arrays and objects, XML elements.
    public var maxNestingDepth: Int

    public init(maxInputBytes: Int = 50 << 20, maxExpandedBytes: Int = 200 << 20, maxOutputBytes: Int = 20 << 20,
                maxTableCells: Int = 1_000_000, maxNestingDepth: Int = 128) {
        self.maxInputBytes = maxInputBytes
        self.maxExpandedBytes = maxExpandedBytes
        self.maxOutputBytes = maxOutputBytes
        self.maxTableCells = maxTableCells
        self.maxNestingDepth = maxNestingDepth
    }

    public static let `default` = ConversionLimits()
}

/// A document converted to Markdown.
public struct ConvertedDocument: Sendable, Equatable {
    public var format: DocumentFormat
    /// The document's title when it names one (a first heading, a `<title>`, document properties).
    public var title: String?
    public var markdown: String

    public init(format: DocumentFormat, title: String?, markdown: String) {
        self.format = format
        self.title = title
        self.markdown = markdown
    }
}

/// Turns a file's bytes into Markdown: headings, lists, links and tables as Markdown tables.
/// Errors are `ParleyError`s: 415 `unsupported_format`, 413 `document_too_large`,
/// 422 `unreadable_document`.
public struct DocumentConverter: Sendable {
    public var limits: ConversionLimits

    public init(limits: ConversionLimits = .default) {
        self.limits = limits
    }

    /// The format of a file, from its name, its declared content type, then its first bytes.
    public func detect(_ bytes: [UInt8], filename: String?, contentType: String?) -> DocumentFormat? {
        if let ext = filename.flatMap({ $0.split(separator: ".").last.map { $0.lowercased() } }) {
            switch ext {
            case "md", "markdown": return .markdown
            case "txt", "text", "log": return .text
            case "htm", "html", "xhtml": return .html
            case "csv", "tsv": return .csv
            case "json": return .json
            case "pdf": return .pdf
            case "docx": return .docx
            case "xlsx": return .xlsx
            case "pptx": return .pptx
            default: break
            }
        }
        if let type = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() {
            switch type {
            case "text/markdown": return .markdown
            case "text/plain": return .text
            case "text/html", "application/xhtml+xml": return .html
            case "text/csv", "text/tab-separated-values": return .csv
            case "application/json": return .json
            case "application/pdf": return .pdf
            case "application/vnd.openxmlformats-officedocument.wordprocessingml.document": return .docx
            case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": return .xlsx
            case "application/vnd.openxmlformats-officedocument.presentationml.presentation": return .pptx
            default: break
            }
        }
        return sniff(bytes)
    }

    /// The format from the first bytes: a PDF header, an Office ZIP container (by its parts),
    /// an HTML start, a JSON object or array.
    private func sniff(_ bytes: [UInt8]) -> DocumentFormat? {
        if bytes.prefix(1024).starts(with: Array("%PDF-".utf8)) || bytes.prefix(1024).firstRange(of: Array("%PDF-".utf8)) != nil { return .pdf }
        if ZipArchive.isZip(bytes), let zip = try? ZipArchive(bytes, format: .docx) {
            if zip.contains("word/document.xml") { return .docx }
            if zip.contains("xl/workbook.xml") { return .xlsx }
            if zip.contains("ppt/presentation.xml") { return .pptx }
            return nil
        }
        let head = String(decoding: bytes.prefix(512), as: UTF8.self).trimmingWhitespace().lowercased()
        if head.hasPrefix("<!doctype html") || head.hasPrefix("<html") || head.hasPrefix("<!--") && head.contains("<html") { return .html }
        if head.hasPrefix("{") || head.hasPrefix("[") { return .json }
        return nil
    }

    public func convert(_ bytes: [UInt8], filename: String? = nil, contentType: String? = nil) throws(ParleyError) -> ConvertedDocument {
        guard bytes.count <= limits.maxInputBytes else {
            throw ParleyError(.payloadTooLarge, code: "document_too_large",
                              "the document is \(bytes.count) bytes; the largest accepted is \(limits.maxInputBytes)")
        }
        if let ext = filename?.split(separator: ".").last?.lowercased(), let modern = ["doc": "docx", "xls": "xlsx", "ppt": "pptx", "rtf": "docx", "odt": "docx", "ods": "xlsx", "odp": "pptx"][ext],
           detect(bytes, filename: nil, contentType: nil) == nil {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_format",
                              "the .\(ext) format is not supported; save the document as .\(modern) (or PDF) and send it again")
        }
        guard let format = detect(bytes, filename: filename, contentType: contentType) else {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_format",
                              "the document's format is not recognised; send one of: " + DocumentFormat.allCases.map(\.rawValue).joined(separator: ", ") + " (named by its file extension or content type)")
        }
        let document: ConvertedDocument
        switch format {
        case .markdown, .text:
            let text = decodeText(bytes[...])
            let title = text.split(separator: "\n").first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)).trimmingCharacters(in: .whitespaces) }
            document = ConvertedDocument(format: format, title: title, markdown: text)
        case .html: document = try HTMLConverter(limits: limits).convert(bytes)
        case .csv: document = try CSVConverter(limits: limits).convert(bytes)
        case .json: document = try JSONConverter(limits: limits).convert(bytes)
        case .docx: document = try DOCXConverter(limits: limits).convert(bytes)
        case .xlsx: document = try XLSXConverter(limits: limits).convert(bytes)
        case .pptx: document = try PPTXConverter(limits: limits).convert(bytes)
        case .pdf: document = try PDFConverter(limits: limits).convert(bytes)
        }
        guard document.markdown.utf8.count <= limits.maxOutputBytes else { throw Markdown.outputTooLarge(limits) }
        return document
    }
}
