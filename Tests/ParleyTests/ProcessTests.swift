import AsyncHTTPClient
import Foundation
import ParleyAgent
import NIOCore
import NIOHTTP1
import ParleyCore
import ParleyStorage
import Synchronization
import Testing

/// The real `parley` binary in a child process (a `ChildProcess`), its stdout and stderr merged and watched.
final class ParleyProcess: Sendable {
    private struct State {
        var output = ""
        var waiters: [(needle: String, lineComplete: Bool, continuation: CheckedContinuation<Void, Never>)] = []
        /// Set once the process has ended and all its output has been read.
        var exitCode: Int32?
        var exitWaiters: [CheckedContinuation<Int32, Never>] = []
    }
    /// Shared with the child's reader and waiter threads (a `Mutex` itself cannot be captured).
    private final class Box: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }
    private let state = Box()
    private let child: ChildProcess

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["PARLEY_BIN"] { return URL(fileURLWithPath: path) }
        return TestEnv.packageRoot.appendingPathComponent(".build/debug/parley")
    }

    init(_ arguments: [String], env: [String: String] = [:], directory: URL) throws {
        let path = Self.binary.path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) not built: run 'swift build' (scripts/test does)")
        }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PARLEY_") && !["DATABASE_URL", "PORT", "HOST", "LOG_LEVEL", "LOG_FORMAT"].contains($0.key) }
        environment.merge(env) { $1 }
        let state = self.state
        child = try ChildProcess(path, arguments, environment: environment, directory: directory, onOutput: { chunk in
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.output += chunk
                let text = s.output
                let hit = s.waiters.filter { ParleyProcess.has(text, $0.needle, lineComplete: $0.lineComplete) }
                s.waiters.removeAll { ParleyProcess.has(text, $0.needle, lineComplete: $0.lineComplete) }
                return hit.map(\.continuation)
            }
            ready.forEach { $0.resume() }
        }, onExit: { code in
            let (exitWaiters, lineWaiters) = state.withLock { s in
                s.exitCode = code
                defer { s.waiters = []; s.exitWaiters = [] }
                return (s.exitWaiters, s.waiters.map(\.continuation))
            }
            exitWaiters.forEach { $0.resume(returning: code) }
            lineWaiters.forEach { $0.resume() }  // wake line waiters: they will find the text missing
        })
    }

    var output: String { state.withLock { $0.output } }

    static func has(_ text: String, _ needle: String, lineComplete: Bool) -> Bool {
        guard let r = text.range(of: needle) else { return false }
        return !lineComplete || text[r.upperBound...].contains("\n")
    }

    /// Waits until the output contains `needle` and returns the output; fails on exit or timeout.
    /// Waits until the output contains `needle` (and, with `lineComplete`, the rest of its line).
    @discardableResult
    func waitFor(_ needle: String, lineComplete: Bool = false, timeout: Duration = .seconds(60)) async throws -> String {
        try await withDeadline(timeout, what: "'\(needle)' in the output") {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { s -> Bool in
                    if Self.has(s.output, needle, lineComplete: lineComplete) || s.exitCode != nil { return true }
                    s.waiters.append((needle, lineComplete, c))
                    return false
                }
                if now { c.resume() }
            }
        }
        let text = output
        guard text.contains(needle) else { throw TestFailure("process exited before printing '\(needle)':\n\(text)") }
        return text
    }

    /// The exit code, once the process has ended and all its output has been read.
    func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        try await withDeadline(timeout, what: "process exit") {
            await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
                let code = self.state.withLock { s -> Int32? in
                    if let code = s.exitCode { return code }
                    s.exitWaiters.append(c)
                    return nil
                }
                if let code { c.resume(returning: code) }
            }
        }
    }

    func signal(_ sig: Int32) { child.signal(sig) }

    /// The first complete output line containing `needle`.
    func line(containing needle: String) async throws -> String {
        let text = try await waitFor(needle, lineComplete: true)
        return String(text.split(separator: "\n").first { $0.contains(needle) } ?? "")
    }

    /// The base URL from the start-up banner.
    func baseURL() async throws -> String {
        let line = try await line(containing: "listening on http://")
        let word = try #require(line.split(separator: " ").first { (w: Substring) in w.hasPrefix("http://") }, "\(output)")
        return String(word)
    }

    func adminKey() async throws -> String {
        let line = try await line(containing: "Admin API key (shown once")
        return String(line.split(separator: " ").last ?? "")
    }
}

func withDeadline<T: Sendable>(_ timeout: Duration, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask { try? await Task.sleep(for: timeout); return nil }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TestFailure("timed out after \(timeout) waiting for \(what)") }
        return value
    }
}

struct HTTPResult { var status: Int; var body: String; var headers: [(String, String)] }

func http(_ url: String, method: HTTPMethod = .GET, key: String? = nil, json: String? = nil) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
    if let json {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 10 << 20)
    return HTTPResult(status: Int(response.status.code), body: String(buffer: body), headers: response.headers.map { ($0.name, $0.value) })
}

func tempDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

// Serialized: each test runs real server processes; one at a time keeps the machine's load bounded.
@Suite(.serialized) struct ProcessTests {
    @Test func firstStartServesThenDrainsInFlightRequestsOnSIGTERM() async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // No DATABASE_URL: the default is sqlite://parley.db in the working directory.
        let parley = try ParleyProcess(["serve", "--port", "0"], env: ["LOG_FORMAT": "json"], directory: dir)
        let base = try await parley.baseURL()
        let key = try await parley.adminKey()
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("parley.db").path))

        #expect(try await http(base + "/health").body == #"{"status":"ok"}"#)
        #expect(try await http(base + "/ready").status == 200)
        let metrics = try await http(base + "/metrics")
        #expect(metrics.status == 200 && metrics.body.contains("parley_http_requests_total"))
        try await Promtool.check(metrics.body)
        let tenant = try await http(base + "/v1/tenant", key: key)
        #expect(tenant.status == 200 && tenant.body.contains(#""slug":"default""#))
        let denied = try await http(base + "/v1/tenant")
        #expect(denied.status == 401)
        // JSON logs: the access line of that request carries its id.
        let requestID = try #require(denied.headers.first { $0.0.lowercased() == "x-request-id" }?.1)
        try await parley.waitFor(requestID, lineComplete: true)
        let logLine = try #require(parley.output.split(separator: "\n").first { $0.contains(requestID) && $0.hasPrefix("{") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(logLine.utf8)) as? [String: Any])
        #expect(object["request_id"] as? String == requestID && object["msg"] as? String == "request" && object["status"] as? String == "401")

        // A slow request: its body arrives in two parts, with SIGTERM in between.
        let body = ByteBuffer(string: #"{"name":"drain test","role":"viewer"}"#)
        let (parts, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
        var request = HTTPClientRequest(url: base + "/v1/api-keys")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .stream(parts, length: .known(Int64(body.readableBytes)))
        let slow = Task { () throws -> (Int, String) in
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        feed.yield(body.getSlice(at: 0, length: 10) ?? ByteBuffer())
        // The server counts the slow request and this scrape while the body is incomplete.
        try await withDeadline(.seconds(30), what: "the slow request to be in flight") {
            while !(try await http(base + "/metrics").body.contains("parley_http_requests_in_flight 2")) { await Task.yield() }
        }
        parley.signal(SIGTERM)
        try await parley.waitFor("shutting down")
        feed.yield(body.getSlice(at: 10, length: body.readableBytes - 10) ?? ByteBuffer())
        feed.finish()
        let (status, text) = try await slow.value
        #expect(status == 201, "in-flight request answered \(status): \(text)")
        #expect(text.contains(#""secret":"prk_"#))
        #expect(try await parley.waitForExit() == 0)
        #expect(parley.output.contains("stopped"))
    }

    @Test(arguments: [
        (["DATABASE_URL": "mysql://root@localhost/parley"], "invalid DATABASE_URL="),
        (["PORT": "eighty"], "invalid PORT="),
        (["LOG_FORMAT": "xml"], "invalid LOG_FORMAT="),
        (["PARLEY_MAX_BODY_BYTES": "-5"], "invalid PARLEY_MAX_BODY_BYTES="),
        (["PARLEY_HTTP_HEADER_TIMEOUT_SECONDS": "0"], "invalid PARLEY_HTTP_HEADER_TIMEOUT_SECONDS="),
        (["PARLEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "many"], "invalid PARLEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS="),
        (["PARLEY_SHUTDOWN_GRACE_SECONDS": "-1"], "invalid PARLEY_SHUTDOWN_GRACE_SECONDS="),
    ])
    func invalidSettingsStopStartUpWithOneLine(_ env: [String: String], _ expected: String) async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // No --port flag here: flags beat the environment.
        let parley = try ParleyProcess(["serve"], env: env, directory: dir)
        #expect(try await parley.waitForExit(timeout: .seconds(20)) == 2)
        let lines = parley.output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("parley: \(expected)"), "\(parley.output)")
    }

    /// The agent's done-when, end to end on the real binary with no AI provider configured.
    @Test func aRunWaitingForApprovalSurvivesARealRestart() async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = "prk_" + String(repeating: "r", count: 40)
        let first = try ParleyProcess(["serve", "--port", "0"], env: ["PARLEY_ADMIN_KEY": key], directory: dir)
        var base = try await first.baseURL()
        let chat = try await http(base + "/chat", method: .POST, key: key, json: #"{"message":"give me an account overview"}"#)
        #expect(chat.status == 200 && chat.body.contains("event: tool_end") && chat.body.contains("event: workflow_completed"))
        let other = try JSONValue.parse(try await http(base + "/v1/api-keys", method: .POST, key: key, json: #"{"name":"ops","role":"admin"}"#).body)
        let opsKey = try #require(other["secret"]?.stringValue)
        let session = try JSONValue.parse(try await http(base + "/v1/sessions", method: .POST, key: key, json: "{}").body)
        let sessionID = try #require(session["session_id"]?.stringValue)
        let paused = try JSONValue.parse(try await http(base + "/v1/sessions/\(sessionID)/messages", method: .POST, key: key,
                                                        json: #"{"content":"revoke the api key named bootstrap admin"}"#).body)
        let workflowID = try #require(paused["workflow_id"]?.stringValue)
        let approvalID = try #require(paused["approvals"]?[0]?["approval_id"]?.stringValue)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)

        let second = try ParleyProcess(["serve", "--port", "0"], env: ["PARLEY_ADMIN_KEY": key], directory: dir)
        base = try await second.baseURL()
        let status = try JSONValue.parse(try await http(base + "/api/workflows/\(workflowID)/status", key: key).body)
        #expect(status["status"] == "WAITING_APPROVAL")
        let decided = try await http(base + "/v1/workflows/\(workflowID)/approvals/\(approvalID)", method: .POST, key: opsKey, json: #"{"decision":"approve"}"#)
        #expect(decided.status == 200)
        let events = try await http(base + "/v1/workflows/\(workflowID)/events", key: opsKey)
        #expect(events.body.contains("event: approval_resolved") && events.body.contains("Revoked the API key bootstrap admin"))
        #expect(try await http(base + "/v1/tenant", key: key).status == 401)
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
    }

    @Test func anUnreachableDatabaseStopsStartUpWithAClearError() async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pg = try ParleyProcess(["serve", "--port", "0"], env: ["DATABASE_URL": "postgres://app:s3cret@127.0.0.1:9/parley", "PARLEY_DB_TIMEOUT_MS": "1000"], directory: dir)
        #expect(try await pg.waitForExit() == 1)
        #expect(pg.output.contains("parley: cannot use postgres://app@127.0.0.1:9/parley: database unavailable"), "\(pg.output)")
        #expect(!pg.output.contains("s3cret"))
        let sqlite = try ParleyProcess(["serve", "--port", "0"], env: ["DATABASE_URL": "sqlite:///no/such/dir/parley.db"], directory: dir)
        #expect(try await sqlite.waitForExit() == 1)
        #expect(sqlite.output.contains("directory /no/such/dir does not exist"), "\(sqlite.output)")
    }

    @Test(arguments: TestEnv.kinds)
    func twoServersStartingOnOneNewDatabaseMigrateAndBootstrapOnce(_ kind: DatabaseKind) async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await TestDatabases.withFreshURL(kind) { url in
            let env = ["DATABASE_URL": Self.urlString(url)]
            let a = try ParleyProcess(["serve", "--port", "0"], env: env, directory: dir)
            let b = try ParleyProcess(["serve", "--port", "0"], env: env, directory: dir)
            let urls = [try await a.baseURL(), try await b.baseURL()]
            for base in urls { #expect(try await http(base + "/ready").status == 200) }
            let keys = [a.output, b.output].filter { $0.contains("Admin API key (shown once") }
            #expect(keys.count == 1)
            let key = try await (a.output.contains("Admin API key (shown once") ? a : b).adminKey()
            for base in urls { #expect(try await http(base + "/v1/tenant", key: key).status == 200) }
            a.signal(SIGTERM)
            b.signal(SIGTERM)
            #expect(try await a.waitForExit() == 0)
            #expect(try await b.waitForExit() == 0)
        }
    }

    @Test func theCommandLineManagesMigrationsTenantsAndKeys() async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["DATABASE_URL": "sqlite://cli.db"]
        func run(_ args: [String]) async throws -> (Int32, String) {
            let p = try ParleyProcess(args, env: env, directory: dir)
            return (try await p.waitForExit(), p.output)
        }
        var (code, out) = try await run(["migrate", "--status"])
        #expect(code == 0 && out.contains("pending") && !out.contains("applied "))
        (code, out) = try await run(["migrate"])
        #expect(code == 0 && out.contains("applied 0001_"))
        (code, out) = try await run(["migrate", "--status"])
        #expect(code == 0 && out.contains("applied ") && !out.contains("pending"))
        (code, out) = try await run(["tenant", "create", "Smith & Jones LLP", "--time-zone", "America/Chicago"])
        #expect(code == 0 && out.contains("created tenant smith-jones-llp"), "\(out)")
        (code, out) = try await run(["tenant", "create", "Bad", "--time-zone", "Nowhere/City"])
        #expect(code == 1 && out.contains("time_zone must be an IANA zone"), "\(out)")
        (code, out) = try await run(["apikey", "create", "--tenant", "smith-jones-llp", "--role", "operator", "--name", "intake", "--expires-in", "30d"])
        #expect(code == 0, "\(out)")
        let secret = try #require(out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        (code, out) = try await run(["apikey", "list", "--tenant", "smith-jones-llp"])
        #expect(code == 0 && out.contains("intake") && out.contains("operator") && out.contains("active") && !out.contains(secret))
        let id = try #require(out.split(separator: "\n").last?.split(separator: " ").first.map(String.init))
        (code, out) = try await run(["apikey", "create", "--tenant", "smith-jones-llp", "--role", "root"])
        #expect(code == 2 && out.contains("invalid --role"))

        let server = try ParleyProcess(["serve", "--port", "0"], env: env, directory: dir)
        let base = try await server.baseURL()
        #expect(!server.output.contains("Admin API key"), "tenants exist already: no bootstrap key")
        #expect(try await http(base + "/v1/tenant", key: secret).body.contains("America/Chicago"))
        (code, out) = try await run(["apikey", "revoke", id, "--tenant", "smith-jones-llp"])
        #expect(code == 0 && out.contains("revoked key \(id)"), "\(out)")
        #expect(try await http(base + "/v1/tenant", key: secret).status == 401)
        server.signal(SIGINT)
        #expect(try await server.waitForExit() == 0)
        (code, out) = try await run(["version"])
        #expect(code == 0 && out == "parley \(ParleyVersion.current)\n")
    }

    @Test(.enabled(if: TestEnv.postgresURL != nil))
    func postgresGoingAwayGives503AndRecoversWithoutARestart() async throws {
        let dir = try tempDirectory()
        let cluster = dir.appendingPathComponent("pg").path
        let port = try await freePort()
        let script = TestEnv.packageRoot.appendingPathComponent("scripts/pg-cluster").path
        try await runScript(script, ["start", cluster, String(port)])
        // Swift has no async defer: the cluster is stopped on every path through `check`.
        do {
            try await check()
        } catch {
            try? await runScript(script, ["stop", cluster])
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        try await runScript(script, ["stop", cluster])
        try? FileManager.default.removeItem(at: dir)

        func check() async throws {
            let parley = try ParleyProcess(["serve", "--port", "0"], env: [
                "DATABASE_URL": "postgres://parley:parley@127.0.0.1:\(port)/postgres", "PARLEY_DB_TIMEOUT_MS": "1000",
            ], directory: dir)
            let base = try await parley.baseURL()
            let key = try await parley.adminKey()
            #expect(try await http(base + "/v1/tenant", key: key).status == 200)

            try await runScript(script, ["stop", cluster])
            let ready = try await http(base + "/ready")
            #expect(ready.status == 503 && ready.body.contains("database unavailable"), "\(ready.body)")
            let call = try await http(base + "/v1/tenant", key: key)
            #expect(call.status == 503 && call.body.contains("database_unavailable"), "\(call.body)")
            #expect(try await http(base + "/health").status == 200)

            try await runScript(script, ["resume", cluster, String(port)])
            try await withDeadline(.seconds(60), what: "recovery") {
                while try await http(base + "/ready").status != 200 { await Task.yield() }
            }
            #expect(try await http(base + "/v1/tenant", key: key).status == 200)
            parley.signal(SIGTERM)
            #expect(try await parley.waitForExit() == 0)
        }
    }

    static func urlString(_ url: DatabaseURL) -> String {
        switch url {
        case .sqlite(let path): return "sqlite://\(path)"
        case .sqliteMemory: return "sqlite::memory:"
        case .postgres(let t): return "postgres://\(t.user):\(t.password ?? "")@\(t.host):\(t.port)/\(t.database)"
        }
    }
}

/// Runs a command to completion, without Foundation's `Process` (see `ChildProcess`). The child is started with posix_spawn, reads `input` from a file and writes stdout and
/// stderr to one file; a thread of its own waits for it, so no thread of the concurrency pool blocks.
func runCommand(_ path: String, _ args: [String], input: Data? = nil) async throws -> (status: Int32, output: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-cmd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let inputPath = dir.appendingPathComponent("stdin").path
    let outputPath = dir.appendingPathComponent("output").path
    try (input ?? Data()).write(to: URL(fileURLWithPath: inputPath))

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, input == nil ? "/dev/null" : inputPath, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard spawned == 0 else { throw TestFailure("could not start \(path): \(String(cString: strerror(spawned)))") }
    let child = pid
    let status: Int32 = await withCheckedContinuation { c in
        Thread.detachNewThread {
            var raw: Int32 = 0
            while waitpid(child, &raw, 0) == -1 && errno == EINTR {}
            // Exited: its code; killed by a signal: 128 + the signal, as a shell reports it.
            let signal = raw & 0x7f
            c.resume(returning: signal == 0 ? (raw >> 8) & 0xff : 128 + signal)
        }
    }
    let text = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: outputPath))) ?? Data(), as: UTF8.self)
    return (status, text)
}

func freePort() async throws -> Int {
    let (_, text) = try await runCommand("/usr/bin/env", ["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
    return try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
}

func runScript(_ path: String, _ args: [String]) async throws {
    let (status, text) = try await runCommand(path, args)
    guard status == 0 else { throw TestFailure("\(path) \(args.joined(separator: " ")) exited \(status): \(text)") }
}
