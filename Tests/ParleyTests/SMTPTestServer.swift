import Foundation
import Synchronization
import Testing

/// A message the test SMTP server accepted, as scripts/smtp-test-server.py recorded it.
struct SMTPReceivedMessage: Decodable, Sendable {
    struct Auth: Decodable, Sendable {
        var user: String
        var mechanism: String
    }

    var mailFrom: String
    var rcptTos: [String]
    var mailOptions: [String]
    var helo: String?
    var esmtp: Bool
    var tls: Bool
    var tlsVersion: String?
    var auth: Auth?
    var dataB64: String
    // What Python's email package (an independent MIME parser) made of the message.
    var subject: String?
    var fromDisplayName: String?
    var fromAddress: String?
    var toAddresses: [String]?
    var contentType: String?
    var text: String?
    var html: String?
    var defects: [String]?
    var parseError: String?

    /// The message data exactly as received, dot-stuffing undone.
    var data: String {
        String(decoding: Data(base64Encoded: dataB64) ?? Data(), as: UTF8.self)
    }
}

/// scripts/smtp-test-server.py (aiosmtpd) in a child process on 127.0.0.1, one per test.
final class SMTPTestServer: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let user = "parley"
    static let password = "s3cret-pässword"

    /// The interpreter: PARLEY_TEST_PYTHON, else python3 on the PATH.
    static let python: String = ProcessInfo.processInfo.environment["PARLEY_TEST_PYTHON"] ?? "python3"

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/smtp-test-server.py")

    static let skipReason = "needs Python with aiosmtpd and trustme (pip install aiosmtpd==1.4.6 trustme==1.2.1; the interpreter is PARLEY_TEST_PYTHON or python3)"

    /// Whether the interpreter can import what the server needs; checked once, without blocking a
    /// thread of the concurrency pool (Python's start-up is slow on a loaded machine).
    static let availability = Task<Bool, Never> {
        let available = (try? await runCommand("/usr/bin/env", [python, "-c", "import aiosmtpd, trustme"]))?.status == 0
        if !available { print("SMTP server tests skipped: \(skipReason)") }
        return available
    }

    static var isAvailable: Bool {
        get async { await availability.value }
    }

    private struct State {
        var stdout = ""
        var exitStatus: Int32?
        var lineWaiters: [(prefix: String, continuation: CheckedContinuation<String, any Error>)] = []
        var exitWaiters: [CheckedContinuation<Void, Never>] = []

        /// The first complete stdout line starting with `prefix`.
        func line(_ prefix: String) -> String? {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                .first { $0.hasPrefix(prefix) }.map(String.init)
        }
    }

    private final class Box: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    let directory: URL
    let port: Int
    private let process: ChildProcess
    private let state: Box

    private init(directory: URL, port: Int, process: ChildProcess, state: Box) {
        self.directory = directory
        self.port = port
        self.process = process
        self.state = state
    }

    /// The PEM of the CA that signed the server's certificate (with --tls).
    var caPEM: String {
        get throws { try String(contentsOf: directory.appendingPathComponent("ca.pem"), encoding: .utf8) }
    }

    /// What the server wrote on stderr so far (attached to failures).
    var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
    }

    /// Every message accepted so far, in order.
    func messages() throws -> [SMTPReceivedMessage] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("message-") && $0.hasSuffix(".json") }
            .sorted()
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try files.map { name in
            try decoder.decode(SMTPReceivedMessage.self, from: Data(contentsOf: directory.appendingPathComponent(name)))
        }
    }

    /// The one message accepted (fails when there were none or several).
    func onlyMessage() throws -> SMTPReceivedMessage {
        let messages = try messages()
        guard messages.count == 1, let message = messages.first else {
            throw Failure(description: "expected one received message, got \(messages.count); server log:\n\(log)")
        }
        return message
    }

    /// Runs `body` against a server started with `arguments` (see the script's --help), and stops it afterwards.
    static func with<T>(_ arguments: [String] = [], _ body: (SMTPTestServer) async throws -> T) async throws -> T {
        let server = try await start(arguments)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            let log = server.log
            await server.stop()
            if !log.isEmpty { Issue.record("SMTP test server log:\n\(log)") }
            throw error
        }
    }

    static func start(_ arguments: [String]) async throws -> SMTPTestServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-smtp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logURL = directory.appendingPathComponent("server.log")
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            throw Failure(description: "cannot create \(logURL.path)")
        }
        let state = Box()
        let process = try ChildProcess("/usr/bin/env", [python, "-u", script.path, "--record-dir", directory.path] + arguments,
                                       environment: ProcessInfo.processInfo.environment, pipeStdin: true, stderr: .file(logURL),
                                       onOutput: { chunk in
            let ready = state.withLock { s -> [(CheckedContinuation<String, any Error>, String)] in
                s.stdout += chunk
                var ready: [(CheckedContinuation<String, any Error>, String)] = []
                var waiting: [(prefix: String, continuation: CheckedContinuation<String, any Error>)] = []
                for waiter in s.lineWaiters {
                    if let line = s.line(waiter.prefix) {
                        ready.append((waiter.continuation, line))
                    } else {
                        waiting.append(waiter)
                    }
                }
                s.lineWaiters = waiting
                return ready
            }
            for (continuation, line) in ready { continuation.resume(returning: line) }
        }, onExit: { status in
            let (lineWaiters, exitWaiters) = state.withLock { s in
                s.exitStatus = status
                defer {
                    s.lineWaiters = []
                    s.exitWaiters = []
                }
                return (s.lineWaiters, s.exitWaiters)
            }
            let log = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            for waiter in lineWaiters {
                waiter.continuation.resume(throwing: Failure(description: "the SMTP test server exited (\(status)) before printing \"\(waiter.prefix)\":\n\(log)"))
            }
            exitWaiters.forEach { $0.resume() }
        })

        do {
            let line = try await waitForLine(startingWith: "PORT ", state: state, process: process)
            guard let port = Int(line.dropFirst(5).trimmingCharacters(in: .whitespaces)) else {
                throw Failure(description: "the SMTP test server printed \(String(reflecting: line))")
            }
            return SMTPTestServer(directory: directory, port: port, process: process, state: state)
        } catch {
            await stop(process: process, state: state)
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Waits until the server prints a line starting with `prefix` (the first such line), at most 60 s.
    func waitForLine(startingWith prefix: String) async throws -> String {
        try await Self.waitForLine(startingWith: prefix, state: state, process: process)
    }

    private static func waitForLine(startingWith prefix: String, state: Box, process: ChildProcess) async throws -> String {
        // Not a synchronisation sleep: only a bound, should the interpreter hang.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            process.signal(SIGTERM)
        }
        defer { watchdog.cancel() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            let immediate: Result<String, any Error>? = state.withLock { s in
                if let line = s.line(prefix) { return .success(line) }
                if let status = s.exitStatus {
                    return .failure(Failure(description: "the SMTP test server exited (\(status)) before printing \"\(prefix)\""))
                }
                s.lineWaiters.append((prefix, continuation))
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Stops the server (EOF on its stdin, then SIGTERM), waits for it to exit, and removes its directory.
    func stop() async {
        await Self.stop(process: process, state: state)
        try? FileManager.default.removeItem(at: directory)
    }

    private static func stop(process: ChildProcess, state: Box) async {
        process.closeStdin()
        process.signal(SIGTERM)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { s in
                if s.exitStatus != nil { return true }
                s.exitWaiters.append(continuation)
                return false
            }
            if exited { continuation.resume() }
        }
    }
}
