import Foundation
@testable import ParleyComms
import Testing

// MARK: - Helpers

private enum SMTPTestText {
    /// Decodes RFC 2047 encoded-words (B and Q, UTF-8) in an unfolded header value; whitespace
    /// between adjacent encoded-words is dropped, as RFC 2047 section 6.2 says.
    static func decodeHeader(_ value: String) -> String {
        let unfolded = value.replacingOccurrences(of: "\r\n", with: "")
        var out = ""
        var previousWasEncoded = false
        for (index, word) in unfolded.split(separator: " ", omittingEmptySubsequences: false).enumerated() {
            let separator = index == 0 ? "" : " "
            if word.hasPrefix("=?"), word.hasSuffix("?="), let decoded = decodeWord(String(word)) {
                out += (previousWasEncoded ? "" : separator) + decoded
                previousWasEncoded = true
            } else {
                out += separator + word
                previousWasEncoded = false
            }
        }
        return out
    }

    static func decodeWord(_ word: String) -> String? {
        let parts = word.dropFirst(2).dropLast(2).split(separator: "?", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].uppercased() == "UTF-8" else { return nil }
        switch parts[1].uppercased() {
        case "B":
            guard let data = Data(base64Encoded: String(parts[2])) else { return nil }
            return String(data: data, encoding: .utf8)
        case "Q":
            return decodeQuotedPrintable(parts[2].replacingOccurrences(of: "_", with: " "))
        default:
            return nil
        }
    }

    /// RFC 2045 quoted-printable: "=XX" bytes, "=" CRLF soft breaks.
    static func decodeQuotedPrintable(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: b - 0x30
            case 0x41...0x46: b - 0x41 + 10
            default: nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "=") {
                if i + 2 < bytes.count, bytes[i + 1] == 0x0D, bytes[i + 2] == 0x0A {
                    i += 3
                    continue
                }
                if i + 2 < bytes.count, let high = hex(bytes[i + 1]), let low = hex(bytes[i + 2]) {
                    out.append(high << 4 | low)
                    i += 3
                    continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The header section and the body of a message.
    static func split(_ message: String) -> (header: String, body: String)? {
        guard let range = message.range(of: "\r\n\r\n") else { return nil }
        return (String(message[..<range.lowerBound]), String(message[range.upperBound...]))
    }

    /// A header field's value, unfolded (the first field of that name).
    static func field(_ name: String, in header: String) -> String? {
        let unfolded = header.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: "\t")
        for line in unfolded.components(separatedBy: "\r\n") where line.lowercased().hasPrefix(name.lowercased() + ":") {
            return String(line.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Fails when a line break is not CRLF, or a line is longer than `limit`.
    static func checkLines(_ text: String, limit: Int = 998, sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(text.utf8)
        for (index, byte) in bytes.enumerated() {
            if byte == 0x0A, index == 0 || bytes[index - 1] != 0x0D {
                Issue.record("bare LF at byte \(index)", sourceLocation: sourceLocation)
                return
            }
            if byte == 0x0D, index + 1 >= bytes.count || bytes[index + 1] != 0x0A {
                Issue.record("bare CR at byte \(index)", sourceLocation: sourceLocation)
                return
            }
        }
        for line in text.components(separatedBy: "\r\n") where line.utf8.count > limit {
            Issue.record("a line of \(line.utf8.count) bytes: \(line.prefix(60))…", sourceLocation: sourceLocation)
        }
    }
}

// MARK: - MIMEBuilder

@Suite("MIMEBuilder")
struct MIMEBuilderTests {
    let date = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func plainASCIIMessageIsExact() {
        let raw = MIMEBuilder.build(
            from: "Parley <noreply@parley.test>", to: ["alice@example.com", "Bob Smith <bob@example.com>"],
            subject: "Hello there", text: "Hi Alice,\nsee you.\n", messageID: "abc123@parley.test", date: date,
            extraHeaders: [("Reply-To", "support@parley.test")])
        #expect(raw == """
            Date: Fri, 15 Jan 2027 08:00:00 +0000\r
            From: Parley <noreply@parley.test>\r
            To: alice@example.com, Bob Smith <bob@example.com>\r
            Subject: Hello there\r
            Message-ID: <abc123@parley.test>\r
            MIME-Version: 1.0\r
            Reply-To: support@parley.test\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: 7bit\r
            \r
            Hi Alice,\r
            see you.\r

            """)
    }

    @Test func nonASCIISubjectAndDisplayNameAreEncodedWords() throws {
        let subject = "Grüße aus Köln — 東京の天気 🌧️ und noch ein ziemlich langer Betreff, der gefaltet werden muss"
        let raw = MIMEBuilder.build(from: "Jürgen Müller <j@example.com>", to: ["Zoë <zoe@example.com>"], subject: subject,
                                    text: "x", messageID: "<m1@parley.test>", date: date)
        SMTPTestText.checkLines(raw, limit: 998)
        let (header, _) = try #require(SMTPTestText.split(raw))
        #expect(header.unicodeScalars.allSatisfy { $0.isASCII })
        for line in header.components(separatedBy: "\r\n") {
            #expect(line.count <= 78 + 12, "header line too long: \(line)")
        }
        let encodedSubject = try #require(SMTPTestText.field("Subject", in: header))
        #expect(encodedSubject.hasPrefix("=?UTF-8?B?"))
        for word in encodedSubject.split(separator: " ") { #expect(word.count <= 75) }
        #expect(SMTPTestText.decodeHeader(encodedSubject) == subject)
        let from = try #require(SMTPTestText.field("From", in: header))
        #expect(from.hasSuffix(" <j@example.com>"))
        #expect(SMTPTestText.decodeHeader(from) == "Jürgen Müller <j@example.com>")
        #expect(SMTPTestText.field("Message-ID", in: header) == "<m1@parley.test>")
    }

    @Test func displayNamesWithSpecialsAreQuoted() throws {
        let raw = MIMEBuilder.build(from: "\"Smith, J. \\\"Jay\\\"\" <j@example.com>", to: ["x@example.com"], subject: "s",
                                    text: "t", messageID: "m@x", date: date)
        let (header, _) = try #require(SMTPTestText.split(raw))
        #expect(SMTPTestText.field("From", in: header) == "\"Smith, J. \\\"Jay\\\"\" <j@example.com>")
        #expect(MIMEBuilder.address(of: "\"Smith, J.\" <j@example.com>") == "j@example.com")
        #expect(MIMEBuilder.address(of: "plain@example.com") == "plain@example.com")
    }

    @Test func headerInjectionIsNeutralised() throws {
        let raw = MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: "Hi\r\nBcc: victim@example.com",
                                    text: "t", messageID: "m@x", date: date,
                                    extraHeaders: [("X-Tag", "one\nX-Evil: two"), ("Bad Name", "v"), ("Subject", "again"), ("X-Empty", "")])
        let (header, _) = try #require(SMTPTestText.split(raw))
        let names = header.components(separatedBy: "\r\n").filter { !$0.hasPrefix(" ") }.compactMap { $0.split(separator: ":").first.map(String.init) }
        #expect(names == ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "X-Tag", "X-Empty", "Content-Type", "Content-Transfer-Encoding"])
        #expect(SMTPTestText.field("Subject", in: header) == "Hi  Bcc: victim@example.com")
        #expect(SMTPTestText.field("X-Tag", in: header) == "one X-Evil: two")
    }

    @Test func longASCIISubjectIsFoldedAtSpaces() throws {
        let subject = (1...40).map { "word\($0)" }.joined(separator: " ")
        let raw = MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: subject, text: "t", messageID: "m@x", date: date)
        let (header, _) = try #require(SMTPTestText.split(raw))
        #expect(header.components(separatedBy: "\r\n").allSatisfy { $0.count <= 78 })
        #expect(SMTPTestText.field("Subject", in: header) == subject)
    }

    @Test func nonASCIITextIsQuotedPrintable() throws {
        let text = "Grüße,\nthe price is 100 € = 1 = one.\nTrailing space \n" + String(repeating: "long line é ", count: 20) + "\n.\n"
        let raw = MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: "s", text: text, messageID: "m@x", date: date)
        SMTPTestText.checkLines(raw, limit: 998)
        let (header, body) = try #require(SMTPTestText.split(raw))
        #expect(SMTPTestText.field("Content-Transfer-Encoding", in: header) == "quoted-printable")
        #expect(SMTPTestText.field("Content-Type", in: header) == "text/plain; charset=utf-8")
        #expect(body.unicodeScalars.allSatisfy { $0.isASCII })
        for line in body.components(separatedBy: "\r\n") { #expect(line.count <= 76, "QP line too long: \(line)") }
        #expect(body.contains("Gr=C3=BC=C3=9Fe,\r\n"))
        #expect(body.contains("100 =E2=82=AC =3D 1"))
        #expect(body.contains("Trailing space=20\r\n"))
        #expect(SMTPTestText.decodeQuotedPrintable(body) == text.replacingOccurrences(of: "\n", with: "\r\n"))
    }

    @Test func mostlyNonLatinTextIsBase64() throws {
        let text = "東京の天気は雨です。明日は晴れるでしょう。\n"
        let raw = MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: "天気", text: text, messageID: "m@x", date: date)
        let (header, body) = try #require(SMTPTestText.split(raw))
        #expect(SMTPTestText.field("Content-Transfer-Encoding", in: header) == "base64")
        let decoded = try #require(Data(base64Encoded: body.replacingOccurrences(of: "\r\n", with: "")))
        #expect(String(data: decoded, encoding: .utf8) == text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(body.components(separatedBy: "\r\n").allSatisfy { $0.count <= 76 })
    }

    @Test func overlongASCIILineIsWrappedByQuotedPrintable() throws {
        let text = String(repeating: "a", count: 5000)
        let raw = MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: "s", text: text, messageID: "m@x", date: date)
        SMTPTestText.checkLines(raw, limit: 78)
        let (header, body) = try #require(SMTPTestText.split(raw))
        #expect(SMTPTestText.field("Content-Transfer-Encoding", in: header) == "quoted-printable")
        #expect(SMTPTestText.decodeQuotedPrintable(body) == text + "\r\n")
    }

    @Test func htmlMakesMultipartAlternative() throws {
        let raw = MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: "s", text: "plain\n",
                                    html: "<p>Grüße</p>", messageID: "m@x", date: date)
        SMTPTestText.checkLines(raw)
        let (header, body) = try #require(SMTPTestText.split(raw))
        let contentType = try #require(SMTPTestText.field("Content-Type", in: header))
        #expect(contentType.hasPrefix("multipart/alternative; boundary=\"=_parley_"))
        let boundary = String(contentType.split(separator: "\"")[1])
        #expect(SMTPTestText.field("Content-Transfer-Encoding", in: header) == nil)
        #expect(body == """
            --\(boundary)\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: 7bit\r
            \r
            plain\r
            \r
            --\(boundary)\r
            Content-Type: text/html; charset=utf-8\r
            Content-Transfer-Encoding: quoted-printable\r
            \r
            <p>Gr=C3=BC=C3=9Fe</p>\r
            --\(boundary)--\r

            """)
        // Reproducible: the same input gives the same bytes.
        #expect(raw == MIMEBuilder.build(from: "a@example.com", to: ["b@example.com"], subject: "s", text: "plain\n",
                                         html: "<p>Grüße</p>", messageID: "m@x", date: date))
    }

    @Test func boundaryAvoidsPartContent() {
        let seed = "m@x"
        let first = MIMEBuilder.makeBoundary(seed: seed, avoiding: [])
        let second = MIMEBuilder.makeBoundary(seed: seed, avoiding: ["text mentioning \(first) verbatim"])
        #expect(first != second)
    }

    @Test func quotedPrintableKeepsSoftBreaksOutsideEscapes() {
        // 74 ASCII bytes then a multi-byte character: its "=XX" triplets must not straddle a soft break.
        let text = String(repeating: "x", count: 74) + "éé"
        let encoded = MIMEBuilder.quotedPrintable(Array(text.utf8))
        for line in encoded.components(separatedBy: "\r\n") {
            #expect(line.count <= 76)
            #expect(!line.dropLast().hasSuffix("=") || line.hasSuffix("="), "split escape in \(line)")
        }
        #expect(SMTPTestText.decodeQuotedPrintable(encoded) == text)
    }

    @Test func dateIsRFC5322() {
        #expect(MIMEBuilder.formatDate(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        #expect(MIMEBuilder.formatDate(Date(timeIntervalSince1970: 1_709_251_199)) == "Thu, 29 Feb 2024 23:59:59 +0000")
    }
}

// MARK: - Wire format, replies, capabilities

@Suite("SMTP wire format")
struct SMTPWireTests {
    @Test func dotStuffing() {
        let payload = SMTPWire.dataPayload(".leading\r\nmiddle.dot\r\n.\r\n..two\r\nlast")
        #expect(String(decoding: payload.bytes, as: UTF8.self) == "..leading\r\nmiddle.dot\r\n..\r\n...two\r\nlast\r\n.\r\n")
        #expect(!payload.hasEightBit)
    }

    @Test func lineEndingsBecomeCRLF() {
        let payload = SMTPWire.dataPayload("a\nb\rc\r\n.d\n\n")
        #expect(String(decoding: payload.bytes, as: UTF8.self) == "a\r\nb\r\nc\r\n..d\r\n\r\n.\r\n")
    }

    @Test func emptyAndEightBitBodies() {
        #expect(String(decoding: SMTPWire.dataPayload("").bytes, as: UTF8.self) == ".\r\n")
        let payload = SMTPWire.dataPayload("Subject: x\r\n\r\nGrüße\r\n")
        #expect(payload.hasEightBit)
        #expect(String(decoding: payload.bytes, as: UTF8.self) == "Subject: x\r\n\r\nGrüße\r\n.\r\n")
    }

    @Test func multiLineRepliesSplitAnywhere() throws {
        let wire = "250-parley.test Hello\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n220 ready\n"
        let bytes = Array(wire.utf8)
        // Every split point of the stream into two reads gives the same two replies.
        for cut in 0...bytes.count {
            var parser = SMTPReplyParser()
            var replies: [SMTPReply] = []
            parser.append(bytes: bytes[..<cut])
            while let reply = try parser.next() { replies.append(reply) }
            parser.append(bytes: bytes[cut...])
            while let reply = try parser.next() { replies.append(reply) }
            #expect(parser.bufferedByteCount == 0)
            #expect(replies == [
                SMTPReply(code: 250, lines: ["parley.test Hello", "SIZE 1000", "AUTH PLAIN LOGIN", "STARTTLS"]),
                SMTPReply(code: 220, lines: ["ready"]),
            ])
        }
    }

    @Test(arguments: ["hello\r\n", "25\r\n", "250x\r\n", "250-a\r\n251 b\r\n", "650 nope\r\n"])
    func malformedRepliesAreProtocolErrors(_ wire: String) {
        var parser = SMTPReplyParser()
        parser.append(bytes: Array(wire.utf8))
        #expect(throws: SMTPError.self) {
            while try parser.next() != nil {}
        }
    }

    @Test func bareCodeAndOverlongLine() throws {
        var parser = SMTPReplyParser()
        parser.append(bytes: Array("354\r\n".utf8))
        #expect(try parser.next() == SMTPReply(code: 354, lines: [""]))
        parser.append(bytes: Array(String(repeating: "2", count: 5000).utf8))
        #expect(throws: SMTPError.self) { _ = try parser.next() }
    }

    @Test func capabilities() {
        let ehlo = SMTPReply(code: 250, lines: ["mx.example.com greets you", "size 35882577", "8BITMIME", "AUTH=LOGIN",
                                                 "AUTH PLAIN xoauth2", "STARTTLS", "SMTPUTF8", "PIPELINING"])
        let caps = SMTPCapabilities(ehlo: ehlo)
        #expect(caps.startTLS && caps.eightBitMIME && caps.smtpUTF8)
        #expect(caps.sizeLimit == 35_882_577)
        #expect(caps.authMechanisms == ["LOGIN", "PLAIN", "XOAUTH2"])
        // The greeting line is not a capability, and no SIZE means no limit known.
        let bare = SMTPCapabilities(ehlo: SMTPReply(code: 250, lines: ["STARTTLS"]))
        #expect(!bare.startTLS && bare.sizeLimit == nil && bare.authMechanisms.isEmpty)
    }

    @Test func configurationNeverPrintsThePassword() {
        let config = SMTPConfiguration(host: "smtp.example.com", username: "mailer", password: "hunter2-secret")
        #expect(config.port == 587)
        for text in [config.description, String(reflecting: config), "\(config)", { var s = ""; dump(config, to: &s); return s }()] {
            #expect(!text.contains("hunter2"), "leaked in: \(text)")
            #expect(text.contains("<redacted>"))
        }
        #expect(SMTPConfiguration(host: "h", security: .tls).port == 465)
        #expect(SMTPConfiguration(host: "h", security: .none).port == 25)
    }

    @Test func invalidRequestsFailBeforeConnecting() async {
        // Port 9 on a TEST-NET address: never reached, the request is refused first.
        let client = SMTPClient(configuration: SMTPConfiguration(host: "192.0.2.1", port: 9, security: .none, timeout: .milliseconds(100)))
        for message in [
            SMTPMessage(from: "a@example.com", to: [], raw: "x"),
            SMTPMessage(from: "A <a@example.com>", to: ["b@example.com"], raw: "x"),
            SMTPMessage(from: "a@example.com", to: ["b@example.com>\r\nRCPT TO:<c@example.com"], raw: "x"),
            SMTPMessage(from: "a@example.com", to: [""], raw: "x"),
        ] {
            await #expect {
                try await client.send(message)
            } throws: { error in
                guard case .invalidRequest = error as? SMTPError else { return false }
                return true
            }
        }
    }

    @Test func errorClassification() {
        #expect(SMTPError.transient(code: 451, "x").isTransient)
        #expect(SMTPError.timeout.isTransient)
        #expect(SMTPError.connect("x").isTransient)
        #expect(SMTPError.connectionLost("x").isTransient)
        #expect(!SMTPError.rejected(code: 550, "x").isTransient)
        #expect(!SMTPError.authFailed("x").isTransient)
        #expect(!SMTPError.tlsFailed("x").isTransient)
        #expect(!SMTPError.startTLSRefused("x").isTransient)
        #expect(SMTPClient.failure(SMTPReply(code: 452, lines: ["full"]), during: "RCPT") == .transient(code: 452, "RCPT: full"))
        #expect(SMTPClient.failure(SMTPReply(code: 554, lines: ["no"]), during: "DATA") == .rejected(code: 554, "DATA: no"))
    }
}

// MARK: - Against a real SMTP server (aiosmtpd on 127.0.0.1)

@Suite("SMTP client against aiosmtpd", .enabled(Comment(rawValue: SMTPTestServer.skipReason)) { await SMTPTestServer.isAvailable })
struct SMTPServerTests {
    static let date = Date(timeIntervalSince1970: 1_800_000_000)

    func config(_ server: SMTPTestServer, security: SMTPConfiguration.Security = .none, auth: Bool = false,
                timeout: Duration = .seconds(20)) throws -> SMTPConfiguration {
        SMTPConfiguration(
            host: "127.0.0.1", port: server.port, security: security,
            username: auth ? SMTPTestServer.user : nil, password: auth ? SMTPTestServer.password : nil,
            heloName: "client.parley.test", timeout: timeout,
            trust: security == .none ? .systemRoots : .certificatesPEM(try server.caPEM))
    }

    static let simple = SMTPMessage(from: "sender@parley.test", to: ["rcpt@example.com"],
                                    raw: "From: sender@parley.test\r\nTo: rcpt@example.com\r\nSubject: hi\r\n\r\nHello.\r\n")

    func expectError(_ expected: (SMTPError) -> Bool, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("expected an SMTPError, the send succeeded", sourceLocation: sourceLocation)
        } catch let error as SMTPError {
            #expect(expected(error), "unexpected \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected an SMTPError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func plainDeliveryKeepsExactBytesAndUndoesDotStuffing() async throws {
        try await SMTPTestServer.with { server in
            let raw = "From: sender@parley.test\r\nTo: rcpt@example.com\r\nSubject: dots\r\n\r\n"
                + ".leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n.\r\n...\r\nlast line\r\n"
            let client = SMTPClient(configuration: try config(server))
            let delivery = try await client.send(SMTPMessage(from: "sender@parley.test", to: ["rcpt@example.com", "second@example.com"], raw: raw))
            #expect(delivery.acceptedRecipients == ["rcpt@example.com", "second@example.com"])
            #expect(delivery.rejectedRecipients.isEmpty)
            #expect(delivery.serverReply == "2.0.0 Ok: queued as PARLEY0001")

            let received = try server.onlyMessage()
            #expect(received.data == raw)
            #expect(received.mailFrom == "sender@parley.test")
            #expect(received.rcptTos == ["rcpt@example.com", "second@example.com"])
            #expect(received.helo == "client.parley.test")
            #expect(received.esmtp)
            #expect(!received.tls)
            #expect(received.auth == nil)
            #expect(received.mailOptions == ["SIZE=\(SMTPWire.dataPayload(raw).bytes.count)"])
        }
    }

    @Test func bareLineFeedsAndMissingFinalNewlineAreNormalised() async throws {
        try await SMTPTestServer.with { server in
            let client = SMTPClient(configuration: try config(server))
            try await client.send(SMTPMessage(from: "", to: ["rcpt@example.com"], raw: "Subject: lf\n\nline one\n.dot\nno final newline"))
            let received = try server.onlyMessage()
            #expect(received.data == "Subject: lf\r\n\r\nline one\r\n.dot\r\nno final newline\r\n")
            #expect(received.mailFrom == "<>")  // aiosmtpd's spelling of the null sender
        }
    }

    @Test func mimeMessageDecodesWithPythonsEmailPackage() async throws {
        try await SMTPTestServer.with { server in
            let subject = "Grüße aus Köln — 東京 🌧️ with a subject long enough to need several encoded words"
            let text = "Hallo Zoë,\n\nthe total is 100 € = 1 = one.\n.\nA line with a dot above.\n"
            let html = "<p>Hallo <b>Zoë</b>, 100 €</p>\n"
            let raw = MIMEBuilder.build(from: "Jürgen Müller <j@parley.test>", to: ["Zoë <zoe@example.com>", "bob@example.com"],
                                        subject: subject, text: text, html: html, messageID: "m-1@parley.test", date: Self.date,
                                        extraHeaders: [("X-Parley-Message", "msg_01")])
            let client = SMTPClient(configuration: try config(server))
            try await client.send(SMTPMessage(from: MIMEBuilder.address(of: "Jürgen Müller <j@parley.test>"),
                                              to: ["zoe@example.com", "bob@example.com"], raw: raw))
            let received = try server.onlyMessage()
            #expect(received.data == raw)
            #expect(received.parseError == nil)
            #expect(received.defects == [])
            #expect(received.subject == subject)
            #expect(received.fromDisplayName == "Jürgen Müller")
            #expect(received.fromAddress == "j@parley.test")
            #expect(received.toAddresses == ["zoe@example.com", "bob@example.com"])
            #expect(received.contentType == "multipart/alternative")
            #expect(received.text == text)
            #expect(received.html == html)
            // The MIME text is 7-bit, so BODY=8BITMIME is not declared.
            #expect(!received.mailOptions.contains("BODY=8BITMIME"))
        }
    }

    @Test func eightBitBodyDeclares8BITMIME() async throws {
        try await SMTPTestServer.with { server in
            let raw = "Subject: raw\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"
            try await SMTPClient(configuration: try config(server)).send(SMTPMessage(from: "a@parley.test", to: ["b@example.com"], raw: raw))
            let received = try server.onlyMessage()
            #expect(received.data == raw)
            #expect(received.mailOptions.contains("BODY=8BITMIME"))
        }
    }

    @Test func startTLSThenAuthPlainAfterFreshEHLO() async throws {
        // AUTH is only advertised inside TLS: the client must EHLO again after STARTTLS to see it.
        try await SMTPTestServer.with(["--tls", "starttls", "--auth", "\(SMTPTestServer.user):\(SMTPTestServer.password)",
                                       "--auth-require-tls", "--auth-required"]) { server in
            let client = SMTPClient(configuration: try config(server, security: .startTLS, auth: true))
            try await client.send(Self.simple)
            let received = try server.onlyMessage()
            #expect(received.tls)
            #expect(received.auth?.user == SMTPTestServer.user)
            #expect(received.auth?.mechanism == "PLAIN")
            #expect(received.data == Self.simple.raw)
        }
    }

    @Test func authLoginWhenPlainIsNotOffered() async throws {
        try await SMTPTestServer.with(["--tls", "starttls", "--auth", "\(SMTPTestServer.user):\(SMTPTestServer.password)",
                                       "--auth-mechanisms", "LOGIN", "--auth-require-tls"]) { server in
            try await SMTPClient(configuration: try config(server, security: .startTLS, auth: true)).send(Self.simple)
            let received = try server.onlyMessage()
            #expect(received.auth?.mechanism == "LOGIN")
            #expect(received.tls)
        }
    }

    @Test func implicitTLS() async throws {
        try await SMTPTestServer.with(["--tls", "implicit", "--auth", "\(SMTPTestServer.user):\(SMTPTestServer.password)"]) { server in
            try await SMTPClient(configuration: try config(server, security: .tls, auth: true)).send(Self.simple)
            let received = try server.onlyMessage()
            #expect(received.tls)
            #expect(received.tlsVersion == "TLSv1.3" || received.tlsVersion == "TLSv1.2")
            #expect(received.auth?.mechanism == "PLAIN")
        }
    }

    @Test func wrongPasswordIsAuthFailed() async throws {
        try await SMTPTestServer.with(["--tls", "starttls", "--auth", "\(SMTPTestServer.user):other", "--auth-require-tls"]) { server in
            await expectError({ if case .authFailed(let m) = $0 { m.hasPrefix("535") } else { false } }) {
                try await SMTPClient(configuration: try config(server, security: .startTLS, auth: true)).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test(arguments: ["PLAIN", "LOGIN"])
    func serverRejectingAuthIsAuthFailed(_ mechanism: String) async throws {
        try await SMTPTestServer.with(["--tls", "starttls", "--auth", "\(SMTPTestServer.user):\(SMTPTestServer.password)",
                                       "--auth-mechanisms", mechanism, "--reject-auth", "--auth-require-tls"]) { server in
            await expectError({ if case .authFailed = $0 { !$0.isTransient } else { false } }) {
                try await SMTPClient(configuration: try config(server, security: .startTLS, auth: true)).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func credentialsAreNotSentInPlainTextUnlessAllowed() async throws {
        try await SMTPTestServer.with(["--auth", "\(SMTPTestServer.user):\(SMTPTestServer.password)"]) { server in
            var configuration = try config(server, auth: true)
            await expectError({ if case .authFailed(let m) = $0 { m.contains("unencrypted") } else { false } }) {
                try await SMTPClient(configuration: configuration).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
            configuration.allowPlaintextAuth = true
            try await SMTPClient(configuration: configuration).send(Self.simple)
            try #expect(server.onlyMessage().auth?.user == SMTPTestServer.user)
        }
    }

    @Test func authWithoutServerSupportIsAuthFailed() async throws {
        try await SMTPTestServer.with(["--tls", "starttls"]) { server in
            await expectError({ $0 == .authFailed("the server does not offer AUTH") }) {
                try await SMTPClient(configuration: try config(server, security: .startTLS, auth: true)).send(Self.simple)
            }
        }
    }

    @Test func refusedSTARTTLSIsStartTLSRefused() async throws {
        try await SMTPTestServer.with(["--tls", "starttls", "--refuse-starttls"]) { server in
            await expectError({ if case .startTLSRefused(let m) = $0 { m.hasPrefix("454") } else { false } }) {
                try await SMTPClient(configuration: try config(server, security: .startTLS)).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func missingSTARTTLSIsStartTLSRefused() async throws {
        try await SMTPTestServer.with { server in
            var configuration = try config(server)
            configuration.security = .startTLS
            await expectError({ $0 == .startTLSRefused("the server does not offer STARTTLS") }) {
                try await SMTPClient(configuration: configuration).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func plainTextAfterSTARTTLSReplyIsAProtocolError() async throws {
        try await SMTPTestServer.with(["--tls", "starttls", "--inject-after-starttls"]) { server in
            await expectError({ if case .protocolError(let m) = $0 { m.contains("after agreeing to STARTTLS") } else { false } }) {
                try await SMTPClient(configuration: try config(server, security: .startTLS)).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func untrustedCertificateIsTLSFailed() async throws {
        try await SMTPTestServer.with(["--tls", "starttls"]) { server in
            var configuration = try config(server, security: .startTLS)
            configuration.trust = .systemRoots
            await expectError({ if case .tlsFailed = $0 { true } else { false } }) {
                try await SMTPClient(configuration: configuration).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func certificateForAnotherNameIsTLSFailed() async throws {
        // A certificate for "localhost" only (no IP address in it).
        try await SMTPTestServer.with(["--tls", "implicit", "--cert-name", "localhost"]) { server in
            var configuration = try config(server, security: .tls)
            // Connecting to 127.0.0.1, the certificate must name that address.
            await expectError({ if case .tlsFailed = $0 { true } else { false } }) {
                try await SMTPClient(configuration: configuration).send(Self.simple)
            }
            configuration.tlsServerName = "mail.example.org"
            await expectError({ if case .tlsFailed = $0 { true } else { false } }) {
                try await SMTPClient(configuration: configuration).send(Self.simple)
            }
            try #expect(server.messages().isEmpty)
            configuration.tlsServerName = "localhost"
            try await SMTPClient(configuration: configuration).send(Self.simple)
            // By name: "localhost" may resolve to ::1 (nothing listens there) before 127.0.0.1.
            configuration.host = "localhost"
            configuration.tlsServerName = nil
            try await SMTPClient(configuration: configuration).send(Self.simple)
            try #expect(server.messages().count == 2)
            try #expect(server.messages().allSatisfy(\.tls))
        }
    }

    @Test func heloFallbackWhenEHLOIsRejected() async throws {
        try await SMTPTestServer.with(["--no-ehlo"]) { server in
            try await SMTPClient(configuration: try config(server)).send(Self.simple)
            let received = try server.onlyMessage()
            #expect(!received.esmtp)
            #expect(received.helo == "client.parley.test")
            #expect(received.mailOptions.isEmpty)
            #expect(received.data == Self.simple.raw)
        }
    }

    @Test func every550RecipientIsRejected() async throws {
        try await SMTPTestServer.with(["--rcpt-reply", "550 5.1.1 no such user"]) { server in
            let message = SMTPMessage(from: "a@parley.test", to: ["x@example.com", "y@example.com"], raw: "Subject: s\r\n\r\nb\r\n")
            await expectError({ error in
                guard case .rejected(550, let text) = error else { return false }
                return text.contains("<x@example.com> 550") && text.contains("<y@example.com> 550") && !error.isTransient
            }) {
                try await SMTPClient(configuration: try config(server)).send(message)
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func someRecipientsRejectedStillDelivers() async throws {
        try await SMTPTestServer.with(["--reject-rcpt", "nobody@example.com"]) { server in
            let message = SMTPMessage(from: "a@parley.test", to: ["nobody@example.com", "ok@example.com"], raw: "Subject: s\r\n\r\nb\r\n")
            let delivery = try await SMTPClient(configuration: try config(server)).send(message)
            #expect(delivery.acceptedRecipients == ["ok@example.com"])
            #expect(delivery.rejectedRecipients == [SMTPRecipientRejection(address: "nobody@example.com", code: 550, message: "5.1.1 <nobody@example.com>: no such user")])
            try #expect(server.onlyMessage().rcptTos == ["ok@example.com"])
        }
    }

    @Test func transient451AtRCPT() async throws {
        try await SMTPTestServer.with(["--rcpt-reply", "451 4.3.0 try again later"]) { server in
            await expectError({ if case .transient(451, _) = $0 { $0.isTransient } else { false } }) {
                try await SMTPClient(configuration: try config(server)).send(Self.simple)
            }
        }
    }

    @Test func transient451AtMAIL() async throws {
        try await SMTPTestServer.with(["--mail-reply", "451 4.7.1 greylisted"]) { server in
            await expectError({ $0 == .transient(code: 451, "MAIL FROM: 4.7.1 greylisted") }) {
                try await SMTPClient(configuration: try config(server)).send(Self.simple)
            }
        }
    }

    @Test func permanentRefusalOfTheData() async throws {
        try await SMTPTestServer.with(["--data-reply", "554 5.6.0 content rejected"]) { server in
            await expectError({ $0 == .rejected(code: 554, "message data: 5.6.0 content rejected") }) {
                try await SMTPClient(configuration: try config(server)).send(Self.simple)
            }
        }
    }

    @Test func messageOverTheAdvertisedSizeIsRejectedBeforeSending() async throws {
        try await SMTPTestServer.with(["--size-limit", "100"]) { server in
            let raw = "Subject: big\r\n\r\n" + String(repeating: "0123456789\r\n", count: 20)
            await expectError({ if case .rejected(552, let m) = $0 { m.contains("size limit (100 bytes)") } else { false } }) {
                try await SMTPClient(configuration: try config(server)).send(SMTPMessage(from: "a@parley.test", to: ["b@example.com"], raw: raw))
            }
            try #expect(server.messages().isEmpty)
        }
    }

    @Test func largeMessageRoundTrips() async throws {
        try await SMTPTestServer.with { server in
            var raw = "Subject: large\r\n\r\n"
            for i in 0..<20_000 { raw += (i % 7 == 0 ? "." : "") + "line \(i) of a large message body, with some padding text\r\n" }
            try await SMTPClient(configuration: try config(server)).send(SMTPMessage(from: "a@parley.test", to: ["b@example.com"], raw: raw))
            try #expect(server.onlyMessage().data == raw)
        }
    }

    @Test func severalSendsEachUseTheirOwnConnection() async throws {
        try await SMTPTestServer.with(["--tls", "starttls"]) { server in
            let client = SMTPClient(configuration: try config(server, security: .startTLS))
            for i in 1...3 {
                let delivery = try await client.send(SMTPMessage(from: "a@parley.test", to: ["b@example.com"], raw: "Subject: \(i)\r\n\r\nbody \(i)\r\n"))
                #expect(delivery.serverReply == "2.0.0 Ok: queued as PARLEY000\(i)")
            }
            try #expect(server.messages().map(\.data) == (1...3).map { "Subject: \($0)\r\n\r\nbody \($0)\r\n" })
        }
    }

    @Test func silentServerTimesOut() async throws {
        try await SMTPTestServer.with(["--stall"]) { server in
            let started = ContinuousClock.now
            await expectError({ $0 == .timeout && $0.isTransient }) {
                try await SMTPClient(configuration: try config(server, timeout: .milliseconds(300))).send(Self.simple)
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test func cancellationClosesTheConnection() async throws {
        try await SMTPTestServer.with(["--stall"]) { server in
            let client = SMTPClient(configuration: try config(server, timeout: .seconds(60)))
            let started = ContinuousClock.now
            let task = Task { try await client.send(Self.simple) }
            _ = try await server.waitForLine(startingWith: "CONNECTED")
            task.cancel()
            let result = await task.result
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    @Test func connectionRefusedIsConnectError() async throws {
        let port = try await SMTPTestServer.with { $0.port }  // stopped: nothing listens there now
        let client = SMTPClient(configuration: SMTPConfiguration(host: "127.0.0.1", port: port, security: .none, timeout: .seconds(5)))
        await expectError({ if case .connect = $0 { $0.isTransient } else { false } }) {
            try await client.send(Self.simple)
        }
    }
}
