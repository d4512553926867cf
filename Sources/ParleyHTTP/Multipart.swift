import Foundation
import Hummingbird
import NIOCore
import ParleyCore

/// One part of a `multipart/form-data` body (RFC 7578): its field name, the file name the client
/// gave, its own Content-Type and its bytes.
public struct MultipartPart: Sendable, Equatable {
    public var name: String
    public var filename: String?
    public var contentType: String?
    public var body: [UInt8]

    public init(name: String, filename: String? = nil, contentType: String? = nil, body: [UInt8]) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.body = body
    }

    /// The part as UTF-8 text (a plain form field); 400 when it is not valid UTF-8.
    public func text() throws(ParleyError) -> String {
        guard let s = String(validating: body, as: UTF8.self) else {
            throw .badRequest("the form field '\(name)' is not UTF-8 text", code: "invalid_multipart")
        }
        return s
    }
}

/// A parsed form: at most one part per name.
public struct MultipartForm: Sendable, Equatable {
    public var parts: [MultipartPart]
    public subscript(name: String) -> MultipartPart? { parts.first { $0.name == name } }
}

/// Bounds on a form, checked while it streams in (nothing past a bound is buffered).
public struct MultipartLimits: Sendable, Equatable {
    /// The whole body, boundaries and headers included.
    public var maxTotalBytes: Int
    public var maxParts: Int
    /// One part's header block.
    public var maxHeaderBytes: Int

    public init(maxTotalBytes: Int, maxParts: Int = 16, maxHeaderBytes: Int = 8 * 1024) {
        self.maxTotalBytes = maxTotalBytes
        self.maxParts = maxParts
        self.maxHeaderBytes = maxHeaderBytes
    }
}

/// A strict, incremental `multipart/form-data` parser: feed it the body as it arrives, then
/// call `finish()`. CRLF line ends, a boundary of 1-70 characters from the Content-Type, one
/// `Content-Disposition: form-data; name=...` per part; only the field names given are accepted,
/// each at most once. Every problem is a typed 4xx naming what to change.
public struct MultipartParser: Sendable {
    enum State: Sendable { case preamble, afterDelimiter, headers, body, done }

    let delimiter: [UInt8]       // "--" + boundary
    let bodyDelimiter: [UInt8]   // CRLF "--" + boundary
    let fields: Set<String>
    let limits: MultipartLimits
    private var state = State.preamble
    private var buffer: [UInt8] = []
    private var total = 0
    private var parts: [MultipartPart] = []
    private var current: MultipartPart? = nil
    /// Whether preamble bytes were dropped (a delimiter must then follow a CRLF).
    private var discarded = false

    public init(boundary: String, fields: Set<String>, limits: MultipartLimits) {
        delimiter = Array(("--" + boundary).utf8)
        bodyDelimiter = Array(("\r\n--" + boundary).utf8)
        self.fields = fields
        self.limits = limits
    }

    /// The boundary of a `multipart/form-data` Content-Type; 400 `missing_boundary` without a valid one.
    public static func boundary(contentType: String) throws(ParleyError) -> String {
        var params = Self.parameters(contentType).makeIterator()
        let media = params.next()?.key.lowercased() ?? ""
        guard media == "multipart/form-data" else {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_media_type", "a form upload must be multipart/form-data, got '\(media.prefix(60))'")
        }
        var found: String? = nil
        while let p = params.next() { if p.key.lowercased() == "boundary" { found = p.value } }
        // RFC 2046: 1 to 70 characters of a restricted set, not ending in a space.
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
        guard let boundary = found, (1...70).contains(boundary.count), boundary.allSatisfy(allowed.contains), boundary.last != " " else {
            throw .badRequest("the Content-Type has no valid boundary: send 'multipart/form-data; boundary=<1 to 70 characters>'", code: "missing_boundary")
        }
        return boundary
    }

    /// Splits `value; a=b; c="d"` into (value, ""), (a, b), (c, d), honouring quotes and escapes.
    static func parameters(_ header: String) -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        var segment = ""
        var segments: [String] = []
        var quoted = false
        var escaped = false
        for ch in header {
            if escaped { segment.append(ch); escaped = false; continue }
            if quoted && ch == "\\" { segment.append(ch); escaped = true; continue }
            if ch == "\"" { quoted.toggle() }
            if ch == ";" && !quoted { segments.append(segment); segment = ""; continue }
            segment.append(ch)
        }
        segments.append(segment)
        for (i, raw) in segments.enumerated() {
            let s = raw.trimmingCharacters(in: .whitespaces)
            if i == 0 { out.append((s, "")); continue }
            guard let eq = s.firstIndex(of: "=") else { out.append((s, "")); continue }
            let key = s[..<eq].trimmingCharacters(in: .whitespaces)
            var value = s[s.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                var unescaped = ""
                var esc = false
                for ch in value.dropFirst().dropLast() {
                    if esc { unescaped.append(ch); esc = false } else if ch == "\\" { esc = true } else { unescaped.append(ch) }
                }
                value = unescaped
            }
            out.append((key, value))
        }
        return out
    }

    static func invalid(_ message: String) -> ParleyError { .badRequest("malformed multipart body: \(message)", code: "invalid_multipart") }

    /// Takes the next bytes of the body.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(ParleyError) {
        total += bytes.count
        guard total <= limits.maxTotalBytes else {
            throw ParleyError(.payloadTooLarge, code: "payload_too_large", "the form is larger than this route accepts (\(limits.maxTotalBytes) bytes)")
        }
        guard state != .done else { return }  // the epilogue is ignored
        buffer.append(contentsOf: bytes)
        var read = 0
        defer { buffer.removeFirst(read) }
        while true {
            switch state {
            case .preamble:
                // The first delimiter opens the body, or ends a preamble line.
                if !discarded, read == 0, buffer.count >= delimiter.count, buffer[0..<delimiter.count].elementsEqual(delimiter) {
                    read += delimiter.count
                    state = .afterDelimiter
                } else if let at = Self.find(bodyDelimiter, in: buffer, from: read) {
                    read = at + bodyDelimiter.count
                    state = .afterDelimiter
                } else {
                    // The body must start with a delimiter, or hold one after a preamble line:
                    // keep only what could begin it.
                    if buffer.count >= delimiter.count && !buffer[0..<delimiter.count].elementsEqual(delimiter) || discarded {
                        let keep = max(read, buffer.count - (bodyDelimiter.count - 1))
                        if keep > read { discarded = true; read = keep }
                    }
                    return
                }
            case .afterDelimiter:
                // "--" closes the form; otherwise optional padding, then CRLF.
                guard buffer.count - read >= 2 else { return }
                if buffer[read] == UInt8(ascii: "-") && buffer[read + 1] == UInt8(ascii: "-") {
                    closeCurrent()
                    state = .done
                    read = buffer.count
                    return
                }
                var i = read
                while i < buffer.count, buffer[i] == UInt8(ascii: " ") || buffer[i] == UInt8(ascii: "\t") { i += 1 }
                guard i - read <= 64 else { throw Self.invalid("a boundary line is followed by more than 64 spaces") }
                guard i + 2 <= buffer.count else { return }
                guard buffer[i] == 13, buffer[i + 1] == 10 else {
                    throw Self.invalid("a boundary line must end with CRLF (is the boundary also inside a part?)")
                }
                closeCurrent()
                read = i + 2
                state = .headers
            case .headers:
                let end: Int
                if buffer.count - read >= 2, buffer[read] == 13, buffer[read + 1] == 10 {
                    end = read  // no header lines at all
                } else if let at = Self.find([13, 10, 13, 10], in: buffer, from: read) {
                    end = at + 2
                } else {
                    if buffer.count - read > limits.maxHeaderBytes { throw Self.headerTooLarge(limits) }
                    return
                }
                guard end - read <= limits.maxHeaderBytes else { throw Self.headerTooLarge(limits) }
                current = try part(headers: Array(buffer[read..<end]))
                read = end + 2
                state = .body
            case .body:
                if let at = Self.find(bodyDelimiter, in: buffer, from: read) {
                    current?.body.append(contentsOf: buffer[read..<at])
                    read = at + bodyDelimiter.count
                    state = .afterDelimiter
                } else {
                    // Everything but a possible partial delimiter at the end belongs to the part.
                    let safe = max(read, buffer.count - (bodyDelimiter.count - 1))
                    current?.body.append(contentsOf: buffer[read..<safe])
                    read = safe
                    return
                }
            case .done:
                read = buffer.count
                return
            }
        }
    }

    /// The parts, once the closing delimiter was read; 400 `truncated_multipart` before that.
    public func finish() throws(ParleyError) -> MultipartForm {
        guard state == .done else {
            let boundary = String(decoding: delimiter.dropFirst(2), as: UTF8.self)
            let problem = state == .preamble ? "it has no boundary line '--\(boundary)'" : "it ends before the closing boundary line '--\(boundary)--'"
            throw .badRequest("the multipart body is incomplete: \(problem)", code: "truncated_multipart")
        }
        return MultipartForm(parts: parts)
    }

    static func headerTooLarge(_ limits: MultipartLimits) -> ParleyError {
        .badRequest("a part's headers are longer than \(limits.maxHeaderBytes) bytes", code: "multipart_header_too_large")
    }

    private mutating func closeCurrent() {
        if let p = current { parts.append(p) }
        current = nil
    }

    /// A part from its header block (CRLF-separated lines, ending with CRLF).
    private func part(headers block: [UInt8]) throws(ParleyError) -> MultipartPart {
        guard let text = String(validating: block, as: UTF8.self) else { throw Self.invalid("a part's headers are not UTF-8") }
        var disposition: String? = nil
        var contentType: String? = nil
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), !line.hasPrefix(" "), !line.hasPrefix("\t") else {
                throw Self.invalid("the header line '\(line.prefix(60))' is not 'Name: value'")
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-disposition":
                guard disposition == nil else { throw Self.invalid("a part has two Content-Disposition headers") }
                disposition = value
            case "content-type": contentType = value
            default: continue  // Content-Transfer-Encoding and others carry nothing RFC 7578 needs
            }
        }
        guard let disposition else { throw Self.invalid("a part has no Content-Disposition header") }
        let params = Self.parameters(disposition)
        guard params.first?.key.lowercased() == "form-data" else {
            throw Self.invalid("a part's Content-Disposition must be form-data, got '\(disposition.prefix(60))'")
        }
        func param(_ key: String) throws(ParleyError) -> String? {
            let values = params.dropFirst().filter { $0.key.lowercased() == key }
            guard values.count <= 1 else { throw Self.invalid("a part's Content-Disposition names '\(key)' twice") }
            return values.first?.value
        }
        guard let name = try param("name"), !name.isEmpty else { throw Self.invalid("a part's Content-Disposition has no name") }
        guard fields.contains(name) else {
            throw .badRequest("unknown form field '\(name.prefix(60))'; this route reads " + fields.sorted().joined(separator: ", "), code: "unknown_part")
        }
        guard !parts.contains(where: { $0.name == name }) else {
            throw .badRequest("the form field '\(name.prefix(60))' is sent twice; send each field once", code: "duplicate_part")
        }
        guard parts.count + 1 <= limits.maxParts else {
            throw .badRequest("the form has more than \(limits.maxParts) parts; send only " + fields.sorted().joined(separator: ", "), code: "too_many_parts")
        }
        return MultipartPart(name: name, filename: try param("filename"), contentType: contentType, body: [])
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count - start >= needle.count else { return nil }
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count, haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

extension Request {
    /// Whether the body is `multipart/form-data`.
    public var isMultipartForm: Bool {
        headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "multipart/form-data"
    }

    /// Reads a `multipart/form-data` body part by part as it arrives, within `limit` bytes.
    public func multipartForm(limit: Int, fields: Set<String>, maxParts: Int = 16) async throws -> MultipartForm {
        let boundary = try MultipartParser.boundary(contentType: headers[.contentType] ?? "")
        var parser = MultipartParser(boundary: boundary, fields: fields, limits: MultipartLimits(maxTotalBytes: limit, maxParts: maxParts))
        for try await chunk in body {
            try parser.feed(chunk.readableBytesView)
        }
        return try parser.finish()
    }
}
