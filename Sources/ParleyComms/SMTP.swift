import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

// MARK: - Public API

/// Where and how `SMTPClient` delivers mail.
public struct SMTPConfiguration: Sendable {
    public enum Security: String, Sendable, Equatable {
        /// Plain text throughout. Credentials are not sent unless `allowPlaintextAuth` is set.
        case none
        /// Connect in plain text, then STARTTLS (RFC 3207) is required: a server that does not
        /// offer it, or refuses it, fails the send with `SMTPError.startTLSRefused`. Usually port 587.
        case startTLS
        /// TLS from the first byte ("implicit TLS", RFC 8314). Usually port 465.
        case tls
    }

    /// Which certificate authorities the server's certificate must chain to.
    public enum Trust: Sendable, Equatable {
        /// The platform's trust store.
        case systemRoots
        /// Only these PEM certificates (one or more), e.g. a private CA, or a test CA.
        case certificatesPEM(String)
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    /// Never printed: `description` and `dump` show it redacted.
    public var password: String?
    /// The name sent in EHLO/HELO; should be this machine's fully qualified domain name.
    public var heloName: String
    /// Limits the TCP connect, and the wait for each reply of the server.
    public var timeout: Duration
    public var trust: Trust
    /// The name the certificate must carry (and the SNI), when it differs from `host`. When the
    /// name used is an IP address, no SNI is sent and the certificate must carry that IP address.
    public var tlsServerName: String?
    /// Lets AUTH run over an unencrypted connection (`security == .none`). Off by default.
    public var allowPlaintextAuth: Bool

    /// `port` defaults by `security`: 25 for `.none`, 587 for `.startTLS`, 465 for `.tls`.
    public init(
        host: String,
        port: Int? = nil,
        security: Security = .startTLS,
        username: String? = nil,
        password: String? = nil,
        heloName: String = "localhost",
        timeout: Duration = .seconds(30),
        trust: Trust = .systemRoots,
        tlsServerName: String? = nil,
        allowPlaintextAuth: Bool = false
    ) {
        self.host = host
        self.port = port ?? {
            switch security {
            case .none: 25
            case .startTLS: 587
            case .tls: 465
            }
        }()
        self.security = security
        self.username = username
        self.password = password
        self.heloName = heloName
        self.timeout = timeout
        self.trust = trust
        self.tlsServerName = tlsServerName
        self.allowPlaintextAuth = allowPlaintextAuth
    }
}

extension SMTPConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        let trustText: String
        switch trust {
        case .systemRoots: trustText = "systemRoots"
        case .certificatesPEM: trustText = "certificatesPEM(…)"
        }
        return "SMTPConfiguration(host: \(host), port: \(port), security: \(security.rawValue), "
            + "username: \(username ?? "nil"), password: \(password == nil ? "nil" : "<redacted>"), "
            + "heloName: \(heloName), timeout: \(timeout), trust: \(trustText), "
            + "tlsServerName: \(tlsServerName ?? "nil"), allowPlaintextAuth: \(allowPlaintextAuth))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "host": host, "port": port, "security": security, "username": username as Any,
            "password": password == nil ? "nil" : "<redacted>", "heloName": heloName, "timeout": timeout,
            "tlsServerName": tlsServerName as Any, "allowPlaintextAuth": allowPlaintextAuth,
        ], displayStyle: .struct)
    }
}

/// One message to deliver: the SMTP envelope and the full RFC 5322 text (see `MIMEBuilder`).
public struct SMTPMessage: Sendable, Equatable {
    /// The bare envelope sender ("a@example.com", no display name); "" for the null sender.
    public var from: String
    /// The bare envelope recipients.
    public var to: [String]
    /// The message: header, blank line, body. Line endings are sent as CRLF whatever they are
    /// here, and dot-stuffing is applied on the wire.
    public var raw: String

    public init(from: String, to: [String], raw: String) {
        self.from = from
        self.to = to
        self.raw = raw
    }
}

/// A recipient the server refused while others were accepted.
public struct SMTPRecipientRejection: Sendable, Equatable {
    public var address: String
    public var code: Int
    public var message: String
}

/// What a successful send reports.
public struct SMTPDelivery: Sendable, Equatable {
    public var acceptedRecipients: [String]
    /// Recipients refused at RCPT TO. Non-empty only when at least one other was accepted
    /// (when none is, `send` throws instead).
    public var rejectedRecipients: [SMTPRecipientRejection]
    /// The server's reply to the message data, often with its queue id ("2.0.0 Ok: queued as …").
    public var serverReply: String
}

public enum SMTPError: Error, Sendable, Equatable {
    /// The TCP connection could not be made (refused, unreachable, name not resolved).
    case connect(String)
    /// The connect, or a reply, took longer than `SMTPConfiguration.timeout`. A timeout waiting
    /// for the reply to the message data leaves it unknown whether the message was accepted.
    case timeout
    /// The connection ended or failed mid-conversation.
    case connectionLost(String)
    /// `.startTLS` was required but the server does not offer it, or answered STARTTLS with an error.
    case startTLSRefused(String)
    /// The TLS handshake failed (untrusted certificate, wrong name, no common protocol), or the
    /// trust configuration is unusable.
    case tlsFailed(String)
    /// Authentication failed or was impossible (5xx to AUTH, no common mechanism, no AUTH offered,
    /// or credentials withheld over plain text).
    case authFailed(String)
    /// A permanent (5xx) refusal: retrying the same message will not help.
    case rejected(code: Int, String)
    /// A temporary (4xx) refusal: retry later.
    case transient(code: Int, String)
    /// The server said something that is not SMTP, or not what the protocol allows at that point.
    case protocolError(String)
    /// The message or configuration cannot be sent as given (no recipients, an address with
    /// spaces, CR/LF or angle brackets, a bad EHLO name).
    case invalidRequest(String)

    /// Whether the same send may succeed later: network trouble and 4xx replies.
    public var isTransient: Bool {
        switch self {
        case .connect, .timeout, .connectionLost, .transient: true
        case .startTLSRefused, .tlsFailed, .authFailed, .rejected, .protocolError, .invalidRequest: false
        }
    }
}

extension SMTPError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .connect(let m): "SMTP connect failed: \(m)"
        case .timeout: "SMTP timed out"
        case .connectionLost(let m): "SMTP connection lost: \(m)"
        case .startTLSRefused(let m): "SMTP STARTTLS refused: \(m)"
        case .tlsFailed(let m): "SMTP TLS failed: \(m)"
        case .authFailed(let m): "SMTP authentication failed: \(m)"
        case .rejected(let code, let m): "SMTP rejected (\(code)): \(m)"
        case .transient(let code, let m): "SMTP temporary failure (\(code)): \(m)"
        case .protocolError(let m): "SMTP protocol error: \(m)"
        case .invalidRequest(let m): "SMTP invalid request: \(m)"
        }
    }
}

/// Sends mail over one new connection per `send` (RFC 5321): EHLO (HELO when EHLO is refused),
/// STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, MAIL FROM, RCPT TO for each recipient, DATA, QUIT.
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    let logger: Logger
    private let group: any EventLoopGroup

    public init(
        configuration: SMTPConfiguration,
        logger: Logger = Logger(label: "parley.smtp"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        self.group = eventLoopGroup
    }

    /// Delivers `message`. Throws `SMTPError`, or `CancellationError` when the task is cancelled
    /// (the connection is closed at once).
    ///
    /// Succeeds when the server accepted the message data for at least one recipient; recipients
    /// refused at RCPT TO are listed in the result. Throws when every recipient is refused:
    /// `.transient` if any refusal was 4xx, `.rejected` otherwise.
    @discardableResult
    public func send(_ message: SMTPMessage) async throws -> SMTPDelivery {
        try Task.checkCancellation()
        try Self.validate(message, configuration: configuration)
        let payload = SMTPWire.dataPayload(message.raw)
        var logger = self.logger
        logger[metadataKey: "smtp.server"] = "\(configuration.host):\(configuration.port)"

        let tls = try makeTLS()
        let connection = try await connect(tls: tls, logger: logger)
        do {
            let delivery = try await withTaskCancellationHandler {
                try await converse(connection, message: message, payload: payload, tls: tls)
            } onCancel: {
                connection.channel.close(promise: nil)
            }
            await connection.quit()
            logger.debug("smtp: message accepted", metadata: ["smtp.reply": "\(delivery.serverReply)"])
            return delivery
        } catch {
            if Task.isCancelled {
                await connection.close()
                throw CancellationError()
            }
            let failure = error as? SMTPError ?? .connectionLost("\(error)")
            switch failure {
            case .rejected, .transient, .authFailed, .startTLSRefused, .invalidRequest:
                // The conversation itself is intact: say goodbye properly.
                await connection.quit()
            default:
                await connection.close()
            }
            logger.debug("smtp: send failed", metadata: ["smtp.error": "\(failure)"])
            throw failure
        }
    }

    // MARK: Conversation

    private func converse(_ c: SMTPConnection, message: SMTPMessage, payload: SMTPWire.Payload, tls: SMTPTLSSetup?) async throws -> SMTPDelivery {
        let greeting = try await c.reply()
        guard greeting.code == 220 else { throw Self.failure(greeting, during: "greeting") }

        var capabilities = try await hello(c)
        var encrypted = configuration.security == .tls
        if configuration.security == .startTLS, let tls {
            guard capabilities.startTLS else {
                throw SMTPError.startTLSRefused("the server does not offer STARTTLS")
            }
            let reply = try await c.send("STARTTLS", startTLS: tls)
            guard reply.code == 220 else { throw SMTPError.startTLSRefused(reply.description) }
            encrypted = true
            // RFC 3207: forget everything learned before TLS and ask again.
            capabilities = try await hello(c)
        }

        if let username = configuration.username {
            try await authenticate(c, username: username, capabilities: capabilities, encrypted: encrypted)
        }

        var parameters = ""
        if let limit = capabilities.sizeLimit {
            if limit > 0, payload.bytes.count > limit {
                throw SMTPError.rejected(code: 552, "the message (\(payload.bytes.count) bytes) exceeds the server's size limit (\(limit) bytes)")
            }
            parameters += " SIZE=\(payload.bytes.count)"
        }
        if payload.hasEightBit, capabilities.eightBitMIME { parameters += " BODY=8BITMIME" }
        let utf8Addresses = ([message.from] + message.to).contains { $0.utf8.contains { $0 >= 0x80 } }
        if utf8Addresses, capabilities.smtpUTF8 { parameters += " SMTPUTF8" }

        let mail = try await c.send("MAIL FROM:<\(message.from)>\(parameters)")
        guard mail.code == 250 else { throw Self.failure(mail, during: "MAIL FROM") }

        var accepted: [String] = []
        var refused: [SMTPRecipientRejection] = []
        for recipient in message.to {
            let reply = try await c.send("RCPT TO:<\(recipient)>")
            switch reply.code {
            case 250, 251:
                accepted.append(recipient)
            case 421:
                throw Self.failure(reply, during: "RCPT TO <\(recipient)>")
            case 400..<600:
                refused.append(SMTPRecipientRejection(address: recipient, code: reply.code, message: reply.text))
            default:
                throw SMTPError.protocolError("unexpected reply to RCPT TO: \(reply)")
            }
        }
        guard !accepted.isEmpty else {
            let first = refused.first { $0.code < 500 } ?? refused.first
            let code = first?.code ?? 554
            let text = "every recipient was refused: " + refused.map { "<\($0.address)> \($0.code) \($0.message)" }.joined(separator: "; ")
            throw code < 500 ? SMTPError.transient(code: code, text) : SMTPError.rejected(code: code, text)
        }

        let data = try await c.send("DATA")
        guard data.code == 354 else { throw Self.failure(data, during: "DATA") }
        let final = try await c.sendData(payload.bytes)
        guard final.code == 250 else { throw Self.failure(final, during: "message data") }
        return SMTPDelivery(acceptedRecipients: accepted, rejectedRecipients: refused, serverReply: final.text)
    }

    private func hello(_ c: SMTPConnection) async throws -> SMTPCapabilities {
        let ehlo = try await c.send("EHLO \(configuration.heloName)")
        if ehlo.code == 250 { return SMTPCapabilities(ehlo: ehlo) }
        // 500/502/504/550 mean "no ESMTP here": fall back to HELO (RFC 5321 section 3.2).
        guard (500..<600).contains(ehlo.code) else { throw Self.failure(ehlo, during: "EHLO") }
        let helo = try await c.send("HELO \(configuration.heloName)")
        guard helo.code == 250 else { throw Self.failure(helo, during: "HELO") }
        return SMTPCapabilities()
    }

    private func authenticate(_ c: SMTPConnection, username: String, capabilities: SMTPCapabilities, encrypted: Bool) async throws {
        guard let password = configuration.password else {
            throw SMTPError.authFailed("a username is configured without a password")
        }
        guard encrypted || configuration.allowPlaintextAuth else {
            throw SMTPError.authFailed("refusing to send credentials over an unencrypted connection (use .startTLS or .tls, or set allowPlaintextAuth)")
        }
        guard !capabilities.authMechanisms.isEmpty else {
            throw SMTPError.authFailed("the server does not offer AUTH")
        }
        func base64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
        func check(_ reply: SMTPReply) throws {
            switch reply.code {
            case 235: return
            case 400..<500: throw SMTPError.transient(code: reply.code, "AUTH: \(reply.text)")
            case 500..<600: throw SMTPError.authFailed(reply.description)
            default: throw SMTPError.protocolError("unexpected reply to AUTH: \(reply)")
            }
        }

        if capabilities.authMechanisms.contains("PLAIN") {
            // RFC 4616: authorization identity (empty), NUL, user, NUL, password.
            let token = base64("\u{0}\(username)\u{0}\(password)")
            var reply = try await c.send("AUTH PLAIN \(token)", logAs: "AUTH PLAIN <redacted>")
            if reply.code == 334 {
                // A server that wants the credentials in a second step.
                reply = try await c.send(token, logAs: "<redacted>")
            }
            try check(reply)
        } else if capabilities.authMechanisms.contains("LOGIN") {
            var reply = try await c.send("AUTH LOGIN")
            guard reply.code == 334 else { try check(reply); throw SMTPError.protocolError("AUTH LOGIN: unexpected \(reply)") }
            reply = try await c.send(base64(username), logAs: "<redacted username>")
            guard reply.code == 334 else { try check(reply); throw SMTPError.protocolError("AUTH LOGIN: unexpected \(reply)") }
            reply = try await c.send(base64(password), logAs: "<redacted>")
            try check(reply)
        } else {
            throw SMTPError.authFailed("no common mechanism: the server offers \(capabilities.authMechanisms.sorted().joined(separator: " ")), this client PLAIN and LOGIN")
        }
    }

    /// A 4xx reply as `.transient`, a 5xx one as `.rejected`, anything else as a protocol error.
    static func failure(_ reply: SMTPReply, during stage: String) -> SMTPError {
        switch reply.code {
        case 400..<500: .transient(code: reply.code, "\(stage): \(reply.text)")
        case 500..<600: .rejected(code: reply.code, "\(stage): \(reply.text)")
        default: .protocolError("unexpected reply to \(stage): \(reply)")
        }
    }

    // MARK: Validation

    static func validate(_ message: SMTPMessage, configuration: SMTPConfiguration) throws {
        guard !message.to.isEmpty else { throw SMTPError.invalidRequest("the message has no recipients") }
        try validateAddress(message.from, role: "sender", allowEmpty: true)
        for recipient in message.to { try validateAddress(recipient, role: "recipient", allowEmpty: false) }
        let helo = configuration.heloName
        guard !helo.isEmpty, !helo.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.value >= 0x80 }) else {
            throw SMTPError.invalidRequest("the EHLO name \(String(reflecting: helo)) is not a domain name or address literal")
        }
        if let username = configuration.username, username.contains("\u{0}") || configuration.password?.contains("\u{0}") == true {
            throw SMTPError.invalidRequest("credentials must not contain NUL characters")
        }
    }

    /// A bare address: no display name, angle brackets, whitespace or control characters.
    static func validateAddress(_ address: String, role: String, allowEmpty: Bool) throws {
        if address.isEmpty {
            guard allowEmpty else { throw SMTPError.invalidRequest("an empty \(role) address") }
            return
        }
        let forbidden = address.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F || $0 == "<" || $0 == ">" }
        guard !forbidden, address.utf8.count <= 320 else {
            throw SMTPError.invalidRequest("the \(role) address \(String(reflecting: address)) is not a bare address (use \"user@example.com\", without a display name)")
        }
    }

    // MARK: Connection

    private func makeTLS() throws -> SMTPTLSSetup? {
        guard configuration.security != .none else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        switch configuration.trust {
        case .systemRoots:
            tls.trustRoots = .default
        case .certificatesPEM(let pem):
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
            } catch {
                throw SMTPError.tlsFailed("the trusted certificates PEM cannot be read: \(error)")
            }
            guard !certificates.isEmpty else { throw SMTPError.tlsFailed("the trusted certificates PEM holds no certificate") }
            tls.trustRoots = .certificates(certificates)
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw SMTPError.tlsFailed("cannot set up TLS: \(error)")
        }
        let name = configuration.tlsServerName ?? configuration.host
        // SNI must not carry an IP address; without a name NIOSSL checks the peer's IP against the certificate.
        let isIPAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        return SMTPTLSSetup(context: context, serverHostname: isIPAddress ? nil : name)
    }

    private func connect(tls: SMTPTLSSetup?, logger: Logger) async throws -> SMTPConnection {
        let timeout = TimeAmount(configuration.timeout)
        let implicitTLS = configuration.security == .tls ? tls : nil
        // Each channel's handler is noted as it is made, not looked up after connecting: a failed TLS
        // handshake can close the channel, and empty its pipeline, first. (Connecting to a name with
        // several addresses may make several channels.)
        let registry = SMTPHandlerRegistry()
        let channel: any NIOCore.Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let implicitTLS {
                            let ssl = try NIOSSLClientHandler(context: implicitTLS.context, serverHostname: implicitTLS.serverHostname)
                            try channel.pipeline.syncOperations.addHandler(ssl)
                        }
                        let handler = SMTPClientHandler(eventLoop: channel.eventLoop)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        registry.register(NIOLoopBound(handler, eventLoop: channel.eventLoop), for: channel)
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            if let timedOut = error as? NIOCore.ChannelError, case .connectTimeout = timedOut { throw SMTPError.timeout }
            if error is NIOSSLExtraError || error is NIOSSLError { throw SMTPError.tlsFailed("\(error)") }
            throw SMTPError.connect("\(configuration.host):\(configuration.port): \(error)")
        }
        guard let handler = registry.handler(for: channel) else {
            try? await channel.close()
            throw SMTPError.connectionLost("the connection has no SMTP handler")
        }
        logger.debug("smtp: connected", metadata: ["smtp.security": "\(configuration.security.rawValue)"])
        return SMTPConnection(channel: channel, handler: handler, timeout: timeout, logger: logger)
    }
}

// MARK: - Internals

/// The SMTP handler of each channel one connect makes.
final class SMTPHandlerRegistry: Sendable {
    private let handlers = Mutex<[ObjectIdentifier: NIOLoopBound<SMTPClientHandler>]>([:])

    func register(_ handler: NIOLoopBound<SMTPClientHandler>, for channel: any NIOCore.Channel) {
        handlers.withLock { $0[ObjectIdentifier(channel)] = handler }
    }

    func handler(for channel: any NIOCore.Channel) -> NIOLoopBound<SMTPClientHandler>? {
        handlers.withLock { $0[ObjectIdentifier(channel)] }
    }
}

struct SMTPTLSSetup: Sendable {
    var context: NIOSSLContext
    var serverHostname: String?
}

/// One reply of the server: a three-digit code and its text lines (RFC 5321 section 4.2).
struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
    var code: Int
    var lines: [String]

    var text: String { lines.joined(separator: " ") }
    var description: String { "\(code) \(text)" }
}

/// What EHLO told about the server (RFC 5321 section 4.1.1.1; SIZE RFC 1870, 8BITMIME RFC 6152,
/// AUTH RFC 4954, STARTTLS RFC 3207, SMTPUTF8 RFC 6531).
struct SMTPCapabilities: Sendable, Equatable {
    var startTLS = false
    var authMechanisms: Set<String> = []
    /// nil when SIZE is not advertised; 0 when advertised without a limit.
    var sizeLimit: Int?
    var eightBitMIME = false
    var smtpUTF8 = false

    init() {}

    init(ehlo reply: SMTPReply) {
        // The first line is the server's greeting; each further line is "KEYWORD [params]".
        for line in reply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = words.first else { continue }
            let keyword = first.uppercased()
            switch keyword {
            case "STARTTLS": startTLS = true
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "SIZE": sizeLimit = words.count > 1 ? Int(words[1]) ?? 0 : 0
            case "AUTH": authMechanisms.formUnion(words.dropFirst().map { $0.uppercased() })
            default:
                // The pre-RFC 4954 form some servers still send: "AUTH=LOGIN PLAIN".
                if keyword.hasPrefix("AUTH=") {
                    authMechanisms.insert(String(keyword.dropFirst(5)))
                    authMechanisms.formUnion(words.dropFirst().map { $0.uppercased() })
                }
            }
        }
        authMechanisms.remove("")
    }
}

/// Turns bytes from the server into replies. Multi-line replies ("250-…" lines, then "250 …")
/// are joined; a line may end in CRLF or a bare LF.
struct SMTPReplyParser {
    static let maxLineLength = 4096
    static let maxLines = 256

    private var buffer = ByteBuffer()
    private var code: Int?
    private var lines: [String] = []

    mutating func append(_ incoming: inout ByteBuffer) { buffer.writeBuffer(&incoming) }
    mutating func append(bytes: some Sequence<UInt8>) { buffer.writeBytes(bytes) }

    /// Bytes received but not yet part of a returned reply.
    var bufferedByteCount: Int { buffer.readableBytes }

    /// The next complete reply (consumed), or nil when more bytes are needed.
    mutating func next() throws -> SMTPReply? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
                guard view.count <= Self.maxLineLength else {
                    throw SMTPError.protocolError("a reply line longer than \(Self.maxLineLength) bytes")
                }
                buffer.discardReadBytes()
                return nil
            }
            let length = view.distance(from: view.startIndex, to: newline)
            guard var line = buffer.readBytes(length: length + 1) else { return nil }
            line.removeLast()
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            guard line.count <= Self.maxLineLength else {
                throw SMTPError.protocolError("a reply line longer than \(Self.maxLineLength) bytes")
            }
            if let reply = try accept(line) { return reply }
        }
    }

    private mutating func accept(_ line: [UInt8]) throws -> SMTPReply? {
        let digits = line.prefix(3)
        guard digits.count == 3, digits.allSatisfy({ (0x30...0x39).contains($0) }), (0x32...0x35).contains(line[0]) else {
            throw SMTPError.protocolError("not an SMTP reply: \(String(reflecting: String(decoding: line.prefix(80), as: UTF8.self)))")
        }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        if let expected = self.code, expected != code {
            throw SMTPError.protocolError("a multi-line reply changed its code from \(expected) to \(code)")
        }
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw SMTPError.protocolError("not an SMTP reply: \(String(reflecting: String(decoding: line.prefix(80), as: UTF8.self)))")
        }
        lines.append(line.count > 4 ? String(decoding: line[4...], as: UTF8.self) : "")
        if separator == UInt8(ascii: "-") {
            guard lines.count < Self.maxLines else { throw SMTPError.protocolError("a reply of more than \(Self.maxLines) lines") }
            self.code = code
            return nil
        }
        let reply = SMTPReply(code: code, lines: lines)
        self.code = nil
        lines = []
        return reply
    }
}

/// The DATA section as sent: line endings made CRLF, dot-stuffed (RFC 5321 section 4.5.2),
/// ending in CRLF, then the terminating ".\r\n".
enum SMTPWire {
    struct Payload: Sendable {
        var bytes: [UInt8]
        /// Whether any byte is outside 7-bit ASCII (BODY=8BITMIME is declared when offered).
        var hasEightBit: Bool
    }

    static func dataPayload(_ raw: String) -> Payload {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), dot = UInt8(ascii: ".")
        var out: [UInt8] = []
        out.reserveCapacity(raw.utf8.count + raw.utf8.count / 32 + 8)
        var hasEightBit = false
        var atLineStart = true
        var previousWasCR = false
        for byte in raw.utf8 {
            if byte == lf {
                if previousWasCR {
                    previousWasCR = false  // the CRLF was written when the CR was seen
                    continue
                }
                out.append(cr)
                out.append(lf)
                atLineStart = true
                continue
            }
            previousWasCR = false
            if byte == cr {
                out.append(cr)
                out.append(lf)
                atLineStart = true
                previousWasCR = true
                continue
            }
            if atLineStart, byte == dot { out.append(dot) }
            atLineStart = false
            if byte >= 0x80 { hasEightBit = true }
            out.append(byte)
        }
        if !atLineStart {
            out.append(cr)
            out.append(lf)
        }
        out.append(contentsOf: [dot, cr, lf])
        return Payload(bytes: out, hasEightBit: hasEightBit)
    }
}

/// The conversation side of one connection; every wait is bounded by `timeout`.
struct SMTPConnection: Sendable {
    let channel: any NIOCore.Channel
    let handler: NIOLoopBound<SMTPClientHandler>
    let timeout: TimeAmount
    let logger: Logger

    func reply() async throws -> SMTPReply {
        let handler = self.handler, timeout = self.timeout
        let reply = try await channel.eventLoop.flatSubmit { handler.value.nextReply(timeout: timeout) }.get()
        logger.trace("smtp S: \(reply)")
        return reply
    }

    /// Sends one command line (CRLF is added) and waits for its reply. `logAs` replaces the
    /// line in the log (credentials).
    func send(_ line: String, logAs: String? = nil, startTLS: SMTPTLSSetup? = nil, timeout: TimeAmount? = nil) async throws -> SMTPReply {
        logger.trace("smtp C: \(logAs ?? line)")
        var buffer = channel.allocator.buffer(capacity: line.utf8.count + 2)
        buffer.writeString(line)
        buffer.writeString("\r\n")
        return try await exchange(buffer, startTLS: startTLS, timeout: timeout ?? self.timeout)
    }

    /// Sends the prepared DATA section and waits for the final reply.
    func sendData(_ bytes: [UInt8]) async throws -> SMTPReply {
        logger.trace("smtp C: <\(bytes.count) bytes of message data>")
        return try await exchange(channel.allocator.buffer(bytes: bytes), startTLS: nil, timeout: timeout)
    }

    private func exchange(_ buffer: ByteBuffer, startTLS: SMTPTLSSetup?, timeout: TimeAmount) async throws -> SMTPReply {
        let handler = self.handler
        let reply = try await channel.eventLoop.flatSubmit {
            handler.value.command(buffer, startTLS: startTLS, timeout: timeout)
        }.get()
        logger.trace("smtp S: \(reply)")
        return reply
    }

    /// QUIT (briefly waiting for its reply, whatever it is), then close.
    func quit() async {
        _ = try? await send("QUIT", timeout: min(timeout, .seconds(5)))
        await close()
    }

    func close() async {
        try? await channel.close()
    }
}

/// Parses replies on the event loop and hands them to whoever waits for one. On the 220 reply
/// to STARTTLS it puts TLS in front of the pipeline before reading any further byte, and fails
/// when the server sent more in plain text (RFC 3207 section 4.2, the "STARTTLS injection" bug).
final class SMTPClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var parser = SMTPReplyParser()
    private var replies = CircularBuffer<SMTPReply>()
    private var failure: SMTPError?
    private var waiter: EventLoopPromise<SMTPReply>?
    private var timer: Scheduled<Void>?
    private var pendingStartTLS: SMTPTLSSetup?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        fail(.connectionLost("the SMTP handler was removed"))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard failure == nil else { return }
        parser.append(&incoming)
        do {
            while let reply = try parser.next() {
                if let tls = pendingStartTLS {
                    pendingStartTLS = nil
                    if reply.code == 220 {
                        guard parser.bufferedByteCount == 0 else {
                            throw SMTPError.protocolError("the server sent data after agreeing to STARTTLS, before the TLS handshake")
                        }
                        do {
                            let ssl = try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname)
                            try context.pipeline.syncOperations.addHandler(ssl, position: .first)
                        } catch {
                            throw SMTPError.tlsFailed("\(error)")
                        }
                    }
                }
                deliver(reply)
            }
        } catch {
            fail(error as? SMTPError ?? .protocolError("\(error)"))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(Self.classify(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connectionLost("the server closed the connection"))
        context.fireChannelInactive()
    }

    /// The next reply: one already received, or the next to arrive within `timeout`.
    func nextReply(timeout: TimeAmount) -> EventLoopFuture<SMTPReply> {
        if let reply = replies.popFirst() { return eventLoop.makeSucceededFuture(reply) }
        if let failure { return eventLoop.makeFailedFuture(failure) }
        guard waiter == nil else { return eventLoop.makeFailedFuture(SMTPError.protocolError("two reads at once")) }
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        waiter = promise
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        timer = eventLoop.scheduleTask(in: timeout) { bound.value.timedOut() }
        return promise.futureResult
    }

    /// Writes `bytes` and waits for the reply. With `startTLS`, a 220 reply switches to TLS.
    func command(_ bytes: ByteBuffer, startTLS: SMTPTLSSetup?, timeout: TimeAmount) -> EventLoopFuture<SMTPReply> {
        if let failure { return eventLoop.makeFailedFuture(failure) }
        guard let context else { return eventLoop.makeFailedFuture(SMTPError.connectionLost("not connected")) }
        pendingStartTLS = startTLS
        let written = eventLoop.makePromise(of: Void.self)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        written.futureResult.whenFailure { error in
            bound.value.fail(Self.classify(error))
        }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: written)
        return nextReply(timeout: timeout)
    }

    private func timedOut() {
        guard waiter != nil else { return }
        fail(.timeout)
        context?.close(promise: nil)
    }

    private func deliver(_ reply: SMTPReply) {
        if let waiter {
            self.waiter = nil
            timer?.cancel()
            timer = nil
            waiter.succeed(reply)
        } else {
            replies.append(reply)
        }
    }

    /// Records the first failure; every wait from now on fails with it (after replies already received).
    private func fail(_ error: SMTPError) {
        if failure == nil { failure = error }
        if let waiter, let failure {
            self.waiter = nil
            timer?.cancel()
            timer = nil
            waiter.fail(failure)
        }
    }

    static func classify(_ error: any Error) -> SMTPError {
        if let error = error as? SMTPError { return error }
        if let error = error as? NIOSSLError {
            if case .uncleanShutdown = error { return .connectionLost("the server closed the TLS connection") }
            return .tlsFailed("\(error)")
        }
        if error is NIOSSLExtraError || error is BoringSSLError { return .tlsFailed("\(error)") }
        return .connectionLost("\(error)")
    }
}
