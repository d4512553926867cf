import Foundation
import NIOCore
import NIOPosix
import ParleyAgent
import ParleyCore
import Synchronization
import Testing

/// A TCP client that sends raw bytes and collects everything the server sends until it closes.
final class RawClient: Sendable {
    private struct State {
        var received: [UInt8] = []
        var closed = false
        var waiters: [UInt64: (predicate: @Sendable (String, Bool) -> Bool, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextWaiter: UInt64 = 0
    }
    private final class Box: Sendable {
        let mutex = Mutex(State())
        func update(_ body: (inout State) -> Void) {
            let ready = mutex.withLock { s -> [CheckedContinuation<Void, Never>] in
                body(&s)
                let text = String(decoding: s.received, as: UTF8.self)
                let done = s.waiters.filter { $0.value.predicate(text, s.closed) }
                for id in done.keys { s.waiters[id] = nil }
                return done.map(\.value.continuation)
            }
            ready.forEach { $0.resume() }
        }
    }
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let box: Box
        init(box: Box) { self.box = box }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            box.update { $0.received += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) {
            box.update { $0.closed = true }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // The server closed its side (after answering): as good as closed for a client.
            if let e = event as? ChannelEvent, e == .inputClosed { box.update { $0.closed = true } }
        }
    }

    private let state: Box
    let channel: any Channel

    private init(channel: any Channel, box: Box) {
        self.channel = channel
        self.state = box
    }

    static func connect(port: Int) async throws -> RawClient {
        let box = Box()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Collector(box: box)) } }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, box: box)
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }
    func send(_ bytes: [UInt8]) async throws { try await channel.writeAndFlush(ByteBuffer(bytes: bytes)) }
    /// Closes our sending side only (the server sees the end of the request stream).
    func finishSending() async throws { try await channel.close(mode: .output) }
    func close() { channel.close(promise: nil) }

    var text: String { state.mutex.withLock { String(decoding: $0.received, as: UTF8.self) } }
    var bytes: [UInt8] { state.mutex.withLock { $0.received } }
    var isClosed: Bool { state.mutex.withLock { $0.closed } }

    /// Waits until `predicate(received text, closed)` holds; fails after `timeout`.
    @discardableResult
    func wait(_ timeout: Duration, for what: String, _ predicate: @escaping @Sendable (String, Bool) -> Bool) async throws -> String {
        let state = self.state
        _ = try await withDeadline(timeout, what: what) { () -> Bool in
            let id = state.mutex.withLock { s -> UInt64 in s.nextWaiter += 1; return s.nextWaiter }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.mutex.withLock { s -> Bool in
                        if Task.isCancelled || predicate(String(decoding: s.received, as: UTF8.self), s.closed) { return true }
                        s.waiters[id] = (predicate, c)
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                state.mutex.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
            }
            return true
        }
        return text
    }

    /// Waits for the server to close the connection and returns all it sent.
    func answerAndClose(within timeout: Duration = .seconds(10)) async throws -> String {
        try await wait(timeout, for: "the server to answer and close") { _, closed in closed }
    }
}

/// The real binary, spoken to over raw TCP: whatever a client sends, it gets an answer or a
/// close within a bound, and the server keeps serving. Nested in `ProcessTests`, so its process
/// launches are serialized with theirs (concurrent launches have crashed libdispatch on Linux).
extension ProcessTests {
    @Suite struct RawTCPTests {
        static let key = "prk_" + String(repeating: "t", count: 40)

        /// A fresh server on a fresh SQLite database, with short timeouts so the tests stay quick.
        struct Server {
            let process: ParleyProcess
            let dir: URL
            let base: String
            let port: Int

            static func start(_ env: [String: String] = [:], in existing: URL? = nil) async throws -> Server {
                let dir = try existing ?? tempDirectory()
                var settings = ["PARLEY_ADMIN_KEY": RawTCPTests.key, "PARLEY_HTTP_HEADER_TIMEOUT_SECONDS": "1",
                                "PARLEY_HTTP_IDLE_TIMEOUT_SECONDS": "2", "PARLEY_SHUTDOWN_GRACE_SECONDS": "2"]
                settings.merge(env) { $1 }
                let process = try ParleyProcess(["serve", "--port", "0"], env: settings, directory: dir)
                let base = try await process.baseURL()
                let port = try #require(Int(base.split(separator: ":").last ?? ""))
                return Server(process: process, dir: dir, base: base, port: port)
            }

            func connect() async throws -> RawClient { try await RawClient.connect(port: port) }

            /// Still serving, and never logged an error it did not handle.
            func assertHealthy() async throws {
                #expect(try await http(base + "/health").status == 200)
                #expect(!process.output.contains("unhandled error"), "\(process.output)")
                #expect(!process.output.contains("internal_error"), "\(process.output)")
                // Refused connections end quietly: no error log per malformed request.
                #expect(!process.output.contains("Error handling upgrade result"), "\(process.output)")
            }

            func stop() async throws {
                process.signal(SIGTERM)
                #expect(try await process.waitForExit(timeout: .seconds(20)) == 0)
            }
        }

        @Test func transportSettingsFollowTheLayersAndAreValidated() throws {
            #expect(try ParleyConfig.load(ConfigSources()).transport == TransportSettings())
            let layered = try ParleyConfig.load(ConfigSources(
                environment: ["PARLEY_HTTP_IDLE_TIMEOUT_SECONDS": "5"],
                file: ["PARLEY_HTTP_IDLE_TIMEOUT_SECONDS": "7", "PARLEY_SHUTDOWN_GRACE_SECONDS": "3", "PARLEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "0"]))
            #expect(layered.transport == TransportSettings(idleTimeoutSeconds: 5, maxConnectionsPerAddress: 0, shutdownGraceSeconds: 3))
            #expect(throws: ConfigError.invalid(setting: "PARLEY_HTTP_HEADER_TIMEOUT_SECONDS", value: "0", accepts: "an integer from 1 to 3600")) {
                try ParleyConfig.load(ConfigSources(environment: ["PARLEY_HTTP_HEADER_TIMEOUT_SECONDS": "0"]))
            }
        }

        /// A client-to-server WebSocket text frame (masked with a zero key: the payload is unchanged).
        static func maskedTextFrame(_ text: String) -> [UInt8] {
            let payload = Array(text.utf8)
            precondition(payload.count < 126)
            return [0x81, 0x80 | UInt8(payload.count), 0, 0, 0, 0] + payload
        }

        /// The status of every response in `text`, in order.
        static func statuses(_ text: String) -> [String] {
            // A status line is "HTTP/1.1 " and three digits (bodies may mention "HTTP/1.1 (...").
            text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }.filter { $0.count == 3 && $0.allSatisfy(\.isNumber) }
        }

        /// The `id:` of every SSE event in a (chunked) response, in order.
        static func sseIDs(_ text: String) -> [Int] {
            // By scalars: "\r\n" (chunk framing) is one Character, which would hide the line break.
            text.unicodeScalars.split(separator: "\n").map { String($0) }.compactMap { line in
                line.hasPrefix("id: ") ? Int(line.dropFirst(4).trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            }
        }

        static func status(_ text: String) -> Int? {
            guard text.hasPrefix("HTTP/1.1 ") else { return nil }
            return Int(text.dropFirst(9).prefix(3))
        }

        @Test func malformedRequestsAreAnswered400AndClosed() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            let cases: [(String, [UInt8])] = [
                ("a request line that is not HTTP", Array("HELLO WORLD\r\n\r\n".utf8)),
                ("a raw 0xFF byte in the path", Array("GET /v1/".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
                ("a raw 0xFF byte in the query", Array("GET /health?q=".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
                ("a header line without a colon", Array("GET /health HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n".utf8)),
                ("an unknown HTTP version", Array("GET /health HTTP/7.0\r\nHost: x\r\n\r\n".utf8)),
            ]
            for (what, bytes) in cases {
                let client = try await server.connect()
                try await client.send(bytes)
                let answer = try await client.answerAndClose()
                #expect(Self.status(answer) == 400, "\(what): \(answer)")
                #expect(answer.contains("\"code\":\"malformed_request\""), "\(what): \(answer)")
                #expect(answer.lowercased().contains("connection: close"), "\(what): \(answer)")
            }
            try await server.assertHealthy()
            try await server.stop()
        }

        @Test func aMalformedRequestAfterAGoodOneOnTheSameConnectionIsAnswered400() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            let client = try await server.connect()
            try await client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\nHELLO WORLD\r\n\r\n")
            let answer = try await client.answerAndClose()
            let statuses = Self.statuses(answer)
            #expect(statuses == ["200", "400"], "\(answer)")
            try await server.stop()
        }

        @Test func hugeHeadersAreAnswered431AndClosed() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            let client = try await server.connect()
            try await client.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n")
            let answer = try await client.answerAndClose()
            #expect(Self.status(answer) == 431, "\(answer.prefix(300))")
            #expect(answer.contains("headers_too_large"))
            try await server.assertHealthy()
            try await server.stop()
        }

        @Test func malformedChunkingAndShortBodiesAreAnswered400AndClosed() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            let auth = "Authorization: Bearer \(Self.key)\r\nContent-Type: application/json\r\n"
            // A chunk size that is not hexadecimal.
            let chunked = try await server.connect()
            try await chunked.send("POST /v1/sessions HTTP/1.1\r\nHost: x\r\n\(auth)Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n")
            let answer1 = try await chunked.answerAndClose()
            #expect(Self.status(answer1) == 400 && answer1.contains("malformed_request"), "\(answer1)")
            // A body shorter than its Content-Length, then the client stops sending.
            let short = try await server.connect()
            try await short.send("POST /v1/sessions HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 100\r\n\r\n{\"title\":")
            try await short.finishSending()
            let answer2 = try await short.answerAndClose()
            #expect(Self.status(answer2) == 400 && answer2.contains("malformed_request"), "\(answer2)")
            // The same, but the client waits: the idle timeout (2 s) answers 408 and closes.
            let stalled = try await server.connect()
            try await stalled.send("POST /v1/sessions HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 100\r\n\r\n{\"title\":")
            let answer3 = try await stalled.answerAndClose(within: .seconds(8))
            #expect(Self.status(answer3) == 408 && answer3.contains("request_timeout"), "\(answer3)")
            // A short body and a full close: nothing to answer, and nothing unhandled logged.
            let gone = try await server.connect()
            try await gone.send("POST /v1/sessions HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 100\r\n\r\n{")
            gone.close()
            try await server.assertHealthy()
            // Not a session was created from the partial bodies.
            let sessions = try await http(server.base + "/v1/sessions", key: Self.key)
            #expect(sessions.body.contains("\"data\":[]"), "\(sessions.body)")
            try await server.stop()
        }

        @Test func bodiesOverARoutesLimitAre413() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            // The console's sign-in takes at most 4 KiB (collected with collectBody(upTo:)).
            let big = try await http(server.base + "/v1/auth/session", method: .POST,
                                     json: #"{"api_key":""# + String(repeating: "k", count: 5000) + #""}"#)
            #expect(big.status == 413 && big.body.contains("payload_too_large"), "\(big.status) \(big.body)")
            try await server.assertHealthy()
            try await server.stop()
        }

        @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            let client = try await server.connect()
            try await client.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: first-one\r\n\r\n"
                                  + "GET /v1/tenant HTTP/1.1\r\nHost: x\r\nX-Request-ID: second-one\r\n\r\n")
            let text = try await client.wait(.seconds(10), for: "two answers") { text, _ in text.contains("second-one\r\n") && text.hasSuffix("}") }
            let first = try #require(text.range(of: "first-one"))
            let second = try #require(text.range(of: "second-one"))
            #expect(first.lowerBound < second.lowerBound)
            let statuses = Self.statuses(text)
            #expect(statuses == ["200", "401"], "\(text)")
            client.close()
            try await server.stop()
        }

        @Test func earlyCloseAndHalfSentRequestsAreTimedOut() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            // Gone half-way through the headers.
            let early = try await server.connect()
            try await early.send("GET /health HTTP/1.1\r\nHo")
            early.close()
            // Slowloris: a head that never ends gets 408 after the header timeout (1 s) and a close.
            let started = ContinuousClock.now
            let slow = try await server.connect()
            try await slow.send("GET /health HTTP/1.1\r\nHost: x\r\n")
            try await slow.send("X-A: 1\r\n")
            let answer = try await slow.answerAndClose(within: .seconds(8))
            #expect(Self.status(answer) == 408 && answer.contains("request_timeout"), "\(answer)")
            #expect(ContinuousClock.now - started >= .milliseconds(900))
            // A connection that never sends anything is closed after the idle timeout (2 s).
            let idle = try await server.connect()
            let nothing = try await idle.answerAndClose(within: .seconds(8))
            #expect(nothing.isEmpty)
            try await server.assertHealthy()
            try await server.stop()
        }

        @Test func oneAddressMayHoldOnlySoManyConnections() async throws {
            let server = try await Server.start(["PARLEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "4", "PARLEY_HTTP_IDLE_TIMEOUT_SECONDS": "30"])
            defer { try? FileManager.default.removeItem(at: server.dir) }
            var held: [RawClient] = []
            for _ in 0..<4 {
                let c = try await server.connect()
                try await c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                try await c.wait(.seconds(10), for: "an answer") { text, _ in text.hasSuffix("}") }
                held.append(c)
            }
            let over = try await server.connect()
            let refused = try await over.answerAndClose()
            #expect(Self.status(refused) == 503 && refused.contains("too_many_connections"), "\(refused)")
            // Closing one makes room again (the server notices the close asynchronously).
            held.removeFirst().close()
            var admitted = false
            for _ in 0..<50 where !admitted {
                let c = try await server.connect()
                try await c.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                admitted = Self.status(try await c.answerAndClose()) == 200
            }
            #expect(admitted)
            held.forEach { $0.close() }
            try await server.stop()
        }

        @Test func webSocketWithoutAValidKeyIs401WithTheErrorEnvelope() async throws {
            let server = try await Server.start()
            defer { try? FileManager.default.removeItem(at: server.dir) }
            let upgrade = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            for (auth, code) in [("", "missing_api_key"), ("Authorization: Bearer prk_wrong\r\n", "invalid_api_key")] {
                let client = try await server.connect()
                try await client.send(upgrade + auth + "\r\n")
                let answer = try await client.answerAndClose()
                #expect(Self.status(answer) == 401, "\(answer)")
                #expect(answer.contains("\"error\":{") && answer.contains("request_id"), "\(answer)")
                #expect(answer.contains(code) || code == "invalid_api_key", "\(answer)")
            }
            // With the key it upgrades.
            let ok = try await server.connect()
            try await ok.send(upgrade + "Authorization: Bearer \(Self.key)\r\n\r\n")
            let switched = try await ok.wait(.seconds(10), for: "101") { text, _ in text.contains("\r\n\r\n") }
            #expect(Self.status(switched) == 101, "\(switched)")
            ok.close()
            try await server.stop()
        }

        /// A rolling deploy: SIGTERM while a client follows a run that waits for approval. The
        /// stream ends with `reconnect`, the process exits 0 in time, and after a restart the client
        /// resumes with Last-Event-ID and sees the approval through.
        @Test func sigtermEndsLiveStreamsWithReconnectAndExitsZero() async throws {
            let dir = try tempDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let first = try await Server.start(["PARLEY_HTTP_IDLE_TIMEOUT_SECONDS": "60", "PARLEY_SHUTDOWN_GRACE_SECONDS": "5"], in: dir)
            let created = try await http(first.base + "/v1/api-keys", method: .POST, key: Self.key, json: #"{"name":"ci-bot","role":"viewer"}"#)
            #expect(created.status == 201, "\(created.body)")
            let session = try JSONValue.parse(try await http(first.base + "/v1/sessions", method: .POST, key: Self.key, json: "{}").body)
            let sessionID = try #require(session["session_id"]?.stringValue)
            let paused = try JSONValue.parse(try await http(first.base + "/v1/sessions/\(sessionID)/messages", method: .POST, key: Self.key,
                                                            json: #"{"content":"revoke the api key named ci-bot"}"#).body)
            let workflowID = try #require(paused["workflow_id"]?.stringValue, "\(paused)")
            let approvalID = try #require(paused["approvals"]?[0]?["approval_id"]?.stringValue, "\(paused)")

            let follower = try await first.connect()
            try await follower.send("GET /v1/workflows/\(workflowID)/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.key)\r\n\r\n")
            try await follower.wait(.seconds(10), for: "approval_required on the stream") { text, _ in text.contains("event: approval_required") }
            // And one over WebSocket: subscribe (a masked text frame, as clients must send).
            let socket = try await first.connect()
            try await socket.send("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                  + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(Self.key)\r\n\r\n")
            try await socket.wait(.seconds(10), for: "the upgrade") { text, _ in text.contains("\r\n\r\n") }
            try await socket.send(Self.maskedTextFrame(#"{"type":"subscribe","workflow_id":"\#(workflowID)"}"#))
            try await socket.wait(.seconds(10), for: "approval_required on the socket") { text, _ in text.contains("approval_required") }
            let signalled = ContinuousClock.now
            first.process.signal(SIGTERM)
            let streamed = try await follower.wait(.seconds(5), for: "the reconnect event") { text, _ in text.contains("event: reconnect") }
            #expect(streamed.contains("retry: "), "\(streamed)")
            // The socket: each followed run's reconnect, the connection's, then close code 1012.
            let frames = try await socket.wait(.seconds(5), for: "the socket's reconnect and close") { text, _ in text.contains("server_shutdown") }
            #expect(frames.contains(#""seq":"#) && frames.contains(#""type":"reconnect""#), "\(frames)")
            try await socket.wait(.seconds(10), for: "the socket to close") { _, closed in closed }
            let raw = socket.bytes
            let close = try #require(raw.indices.last { raw[$0] == 0x88 }, "no close frame")
            #expect(raw.count >= close + 4 && raw[close + 2] == 0x03 && raw[close + 3] == 0xF4, "close code is not 1012")
            #expect(try await first.process.waitForExit(timeout: .seconds(10)) == 0, "\(first.process.output)")
            #expect(ContinuousClock.now - signalled < .seconds(10))
            // The last real event id the client saw is where it resumes.
            let idLines = Self.sseIDs(streamed)
            let lastID = try #require(idLines.last, "\(streamed)")

            let second = try await Server.start(in: dir)
            let resumed = try await second.connect()
            try await resumed.send("GET /v1/workflows/\(workflowID)/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.key)\r\nLast-Event-ID: \(lastID)\r\n\r\n")
            try await resumed.wait(.seconds(10), for: "the resumed stream's headers") { text, _ in text.contains("\r\n\r\n") }
            let decided = try await http(second.base + "/v1/workflows/\(workflowID)/approvals/\(approvalID)", method: .POST, key: Self.key,
                                         json: #"{"decision":"approve"}"#)
            #expect(decided.status == 200, "\(decided.body)")
            let rest = try await resumed.wait(.seconds(20), for: "the run's end on the resumed stream") { text, _ in text.contains("event: workflow_completed") }
            #expect(rest.contains("event: approval_resolved"), "\(rest)")
            let ids = Self.sseIDs(rest)
            #expect(!ids.isEmpty && ids.allSatisfy { $0 > lastID }, "\(ids) after \(lastID)")
            resumed.close()
            try await second.stop()
        }
    }
}
