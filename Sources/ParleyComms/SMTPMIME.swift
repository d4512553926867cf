import Foundation

/// Builds RFC 5322 / MIME messages for `SMTPMessage.raw`: CRLF line endings, no line over 998
/// characters (header lines folded near 78), RFC 2047 encoded-words (UTF-8, base64) for non-ASCII
/// header text, and 7bit, quoted-printable or base64 bodies as the content needs.
public enum MIMEBuilder {
    /// A complete message. `from` and each of `to` are "user@example.com" or
    /// "Display Name <user@example.com>" (the name may be non-ASCII, or quoted). With no `to`,
    /// the To field is left out (the envelope alone decides who gets the message).
    /// With `html`, the body is multipart/alternative (text first, then HTML); otherwise text/plain.
    /// `messageID` gets angle brackets when it has none. `extraHeaders` are added after the
    /// standard ones as unstructured text (non-ASCII is encoded-word encoded, CR/LF become spaces);
    /// a name that is not a valid field name, or that the builder sets itself, is left out.
    public static func build(
        from: String,
        to: [String],
        subject: String,
        text: String,
        html: String? = nil,
        messageID: String,
        date: Date,
        extraHeaders: [(String, String)] = []
    ) -> String {
        var header: [String] = []
        header.append(field("Date", tokens: [formatDate(date)]))
        header.append(field("From", tokens: mailboxTokens(from)))
        if !to.isEmpty { header.append(field("To", tokens: mailboxListTokens(to))) }
        header.append(field("Subject", tokens: unstructuredTokens(subject)))
        let id = singleLine(messageID).trimmingCharacters(in: .whitespaces)
        header.append(field("Message-ID", tokens: [id.hasPrefix("<") ? id : "<\(id)>"]))
        header.append("MIME-Version: 1.0")
        for (name, value) in extraHeaders {
            guard isValidFieldName(name), !reservedFields.contains(name.lowercased()) else { continue }
            header.append(field(name, tokens: unstructuredTokens(value)))
        }

        let textPart = bodyPart(text, subtype: "plain")
        guard let html else {
            // The message must end in CRLF: a text without a final line break gains one.
            let body = textPart.body.isEmpty || textPart.body.hasSuffix(crlf) ? textPart.body : textPart.body + crlf
            return (header + textPart.headers).joined(separator: crlf) + crlf + crlf + body
        }
        let htmlPart = bodyPart(html, subtype: "html")
        let boundary = makeBoundary(seed: messageID + "\u{0}" + text + "\u{0}" + html, avoiding: [textPart.body, htmlPart.body])
        header.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
        var message = header.joined(separator: crlf) + crlf + crlf
        // The CRLF before each "--boundary" belongs to the delimiter (RFC 2046 section 5.1.1), so a
        // part's content is exactly its body, final line break or not.
        message += "--\(boundary)"
        for part in [textPart, htmlPart] {
            message += crlf + part.headers.joined(separator: crlf) + crlf + crlf + part.body + crlf + "--\(boundary)"
        }
        message += "--" + crlf
        return message
    }

    /// The bare address of "Display Name <user@example.com>" (or of a bare address), for the SMTP envelope.
    public static func address(of mailbox: String) -> String {
        parseMailbox(mailbox).address
    }

    // MARK: Header fields

    static let crlf = "\r\n"
    private static let reservedFields: Set<String> = [
        "date", "from", "to", "subject", "message-id", "mime-version", "content-type", "content-transfer-encoding",
    ]
    /// Folding aims at this line length (RFC 5322 section 2.1.1 "SHOULD"); 998 is the hard limit.
    static let preferredLineLength = 78

    /// "Name: token token…", folded between tokens so lines stay near 78 characters.
    static func field(_ name: String, tokens: [String]) -> String {
        var lines: [String] = []
        var line = name + ":"
        var lineHasToken = false
        for token in tokens {
            // An empty token stands for a run of spaces in unstructured text: never fold there,
            // which would leave a line of nothing but whitespace.
            if lineHasToken, !token.isEmpty, line.count + 1 + token.count > preferredLineLength {
                lines.append(line)
                line = " " + token
            } else {
                line += " " + token
            }
            lineHasToken = true
        }
        lines.append(line)
        return lines.joined(separator: crlf)
    }

    /// Unstructured text (Subject, extra fields) as foldable tokens: plain words when it is
    /// printable ASCII with short words, otherwise encoded-words.
    static func unstructuredTokens(_ value: String) -> [String] {
        let value = singleLine(value)
        let words = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let plain = value.unicodeScalars.allSatisfy { ($0.value >= 0x20 && $0.value < 0x7F) || $0 == "\t" }
            && !value.contains("=?")
            && words.allSatisfy { $0.count <= 900 }
        if value.isEmpty { return [] }
        return plain ? words : encodedWords(value)
    }

    /// RFC 2047 "=?UTF-8?B?…?=" words of at most 75 characters, each holding whole UTF-8 characters.
    static func encodedWords(_ value: String) -> [String] {
        let maxBytes = 45  // 60 base64 characters + 12 of "=?UTF-8?B?" and "?=" = 72
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in value.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > maxBytes {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words
    }

    /// Display name and address of "Name <addr>", "\"Quoted, Name\" <addr>", "<addr>" or "addr".
    static func parseMailbox(_ mailbox: String) -> (name: String, address: String) {
        let trimmed = singleLine(mailbox).trimmingCharacters(in: .whitespaces)
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else { return ("", trimmed) }
        let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
        var name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
        if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") {
            var unescaped = ""
            var escaping = false
            for character in name.dropFirst().dropLast() {
                if escaping || character != "\\" {
                    unescaped.append(character)
                    escaping = false
                } else {
                    escaping = true
                }
            }
            name = unescaped
        }
        return (name, address.trimmingCharacters(in: .whitespaces))
    }

    /// A mailbox as tokens: the display name (atoms, one quoted-string, or encoded-words), then "<addr>".
    static func mailboxTokens(_ mailbox: String) -> [String] {
        let (name, address) = parseMailbox(mailbox)
        guard !name.isEmpty else { return [address] }
        return phraseTokens(name) + ["<\(address)>"]
    }

    static func mailboxListTokens(_ mailboxes: [String]) -> [String] {
        var tokens: [String] = []
        for (index, mailbox) in mailboxes.enumerated() {
            var mailboxTokens = mailboxTokens(mailbox)
            if index < mailboxes.count - 1, let last = mailboxTokens.popLast() { mailboxTokens.append(last + ",") }
            tokens += mailboxTokens
        }
        return tokens
    }

    private static let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~".unicodeScalars)

    static func phraseTokens(_ name: String) -> [String] {
        let words = name.split(separator: " ").map(String.init)
        let printable = name.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }
        guard printable, !name.contains("=?"), name.count <= 900 else { return encodedWords(name) }
        if words.allSatisfy({ $0.unicodeScalars.allSatisfy(atext.contains) }) { return words }
        var quoted = "\""
        for character in name {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        quoted.append("\"")
        return [quoted]
    }

    static func isValidFieldName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 76 && name.unicodeScalars.allSatisfy { $0.value >= 33 && $0.value <= 126 && $0 != ":" }
    }

    /// CR and LF become spaces: a header value cannot start a new field.
    static func singleLine(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 }))
    }

    /// RFC 5322 date-time in UTC: "Sat, 21 Nov 2026 03:44:00 +0000".
    static func formatDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        let weekday = days[((c.weekday ?? 1) - 1 + 7) % 7]
        let month = months[((c.month ?? 1) - 1 + 12) % 12]
        return "\(weekday), \(two(c.day)) \(month) \(c.year ?? 1970) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }

    // MARK: Bodies

    struct Part {
        var headers: [String]
        /// The encoded content, CRLF line endings; it ends in CRLF only when the content does
        /// (base64: always, which decoders ignore).
        var body: String
    }

    /// text/`subtype` in UTF-8: 7bit when it is ASCII with lines of at most 998 characters,
    /// base64 when more than a third of its bytes are non-ASCII, quoted-printable otherwise.
    static func bodyPart(_ content: String, subtype: String) -> Part {
        let bytes = Array(normalizeNewlines(content).utf8)
        let contentType = "Content-Type: text/\(subtype); charset=utf-8"
        if isSevenBitSafe(bytes) {
            return Part(headers: [contentType, "Content-Transfer-Encoding: 7bit"], body: String(decoding: bytes, as: UTF8.self))
        }
        let nonASCII = bytes.lazy.filter { $0 >= 0x80 }.count
        if nonASCII * 3 > bytes.count {
            return Part(headers: [contentType, "Content-Transfer-Encoding: base64"], body: base64Lines(bytes))
        }
        return Part(headers: [contentType, "Content-Transfer-Encoding: quoted-printable"], body: quotedPrintable(bytes))
    }

    /// Every line break (CRLF, CR or LF) as CRLF.
    static func normalizeNewlines(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n").replacingOccurrences(of: "\n", with: crlf)
    }

    /// ASCII without NUL or other control characters except tab, CRLF-separated lines of at most 998 bytes.
    static func isSevenBitSafe(_ bytes: [UInt8]) -> Bool {
        var lineLength = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0D {
                guard index + 1 < bytes.count, bytes[index + 1] == 0x0A else { return false }
                lineLength = 0
                index += 2
                continue
            }
            guard byte < 0x80, byte >= 0x20 || byte == 0x09, byte != 0x7F else { return false }
            lineLength += 1
            if lineLength > 998 { return false }
            index += 1
        }
        return true
    }

    /// RFC 2045 section 6.7: encoded lines of at most 76 characters, soft breaks as "=",
    /// CRLF line breaks kept as hard breaks, trailing whitespace encoded.
    static func quotedPrintable(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3 / 2)
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        let endsWithBreak = start == bytes.count && !bytes.isEmpty
        if !endsWithBreak || bytes.isEmpty { lines.append(bytes[start..<bytes.count]) }

        for (lineIndex, line) in lines.enumerated() {
            var lineLength = 0
            let last = line.endIndex - 1
            for position in line.indices {
                let byte = line[position]
                let isTrailingSpace = position == last && (byte == 0x20 || byte == 0x09)
                let literal = ((byte >= 33 && byte <= 126 && byte != 0x3D) || byte == 0x20 || byte == 0x09) && !isTrailingSpace
                let encoded: [UInt8] = literal ? [byte] : [0x3D, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                // Room must remain for a soft break ("=") unless this is the line's last byte.
                let limit = position == last ? 76 : 75
                if lineLength + encoded.count > limit {
                    out += [0x3D, 0x0D, 0x0A]
                    lineLength = 0
                }
                out += encoded
                lineLength += encoded.count
            }
            if lineIndex < lines.count - 1 || endsWithBreak { out += [0x0D, 0x0A] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Base64 in lines of 76 characters, each ending in CRLF.
    static func base64Lines(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "" }
        let encoded = Array(Data(bytes).base64EncodedString().utf8)
        var out = ""
        for start in stride(from: 0, to: encoded.count, by: 76) {
            out += String(decoding: encoded[start..<min(start + 76, encoded.count)], as: UTF8.self) + crlf
        }
        return out
    }

    /// A boundary that cannot occur in quoted-printable or base64 text ("=_"), checked against
    /// the parts anyway, and derived from the content so the output is reproducible.
    static func makeBoundary(seed: String, avoiding parts: [String]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in seed.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        var counter = 0
        while true {
            let hex = String(hash &+ UInt64(counter), radix: 16)
            let boundary = "=_parley_" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
            if !parts.contains(where: { $0.contains(boundary) }) { return boundary }
            counter += 1
        }
    }
}
