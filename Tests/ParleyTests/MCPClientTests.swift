import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MCP
import NIOCore
import ParleyAgent
import ParleyApp
import ParleyCore
import ParleyMCPClient
import ParleyServer
import ParleyStorage
import SQLKit
import Synchronization
import Testing

/// The Python MCP servers the tests run: `mcp-server-time` and `mcp-server-git` (stdio) and
/// Tests/mcp/http_server.py (Streamable HTTP, written with the official `mcp` package).
enum MCPPeers {
    static let python = ProcessInfo.processInfo.environment["PARLEY_TEST_PYTHON"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build-py/bin/python").path
    static var bin: URL { URL(fileURLWithPath: python).deletingLastPathComponent() }
    static let httpScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("mcp/http_server.py")

    static let availability = Task<Bool, Never> {
        let imports = (try? await runCommand("/usr/bin/env", [python, "-c", "import mcp, uvicorn"]))?.status == 0
        let ok = imports && FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("mcp-server-time").path)
            && FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("mcp-server-git").path)
        if !ok {
            print("MCP server tests skipped: needs mcp, mcp-server-time and mcp-server-git (Tests/requirements.txt) in the interpreter's venv (PARLEY_TEST_PYTHON)")
        }
        return ok
    }

    /// Whether the real servers are installed; CI must have them.
    static var available: Bool {
        get async throws {
            let ok = await availability.value
            if !ok && ProcessInfo.processInfo.environment["CI"] == "true" { throw TestFailure("CI must run the MCP client tests: install Tests/requirements.txt") }
            return ok
        }
    }

    /// A per-test link to a venv command, so the test can find (and kill) exactly its own process.
    static func uniqueCommand(_ name: String) throws -> (path: String, directory: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-mcp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let link = dir.appendingPathComponent(name)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: bin.appendingPathComponent(name))
        return (link.path, dir)
    }

    /// Process ids whose command line mentions `marker`.
    static func processes(mentioning marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(marker)
        }
    }

    /// Waits (bounded) until `condition` holds; a poll of the process table, not a synchronising sleep.
    static func eventually(_ what: String, _ condition: () -> Bool) async throws {
        for _ in 0..<500 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("timed out waiting until \(what)")
    }
}

/// The Streamable HTTP test server (Tests/mcp/http_server.py) on a free loopback port.
final class MCPHTTPTestServer: Sendable {
    let port: Int
    private let process: ChildProcess

    private init(port: Int, process: ChildProcess) {
        self.port = port
        self.process = process
    }

    var url: String { "http://127.0.0.1:\(port)/mcp" }

    static func with<T>(_ body: (MCPHTTPTestServer) async throws -> T) async throws -> T {
        let output = Mutex("")
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let process = try ChildProcess("/usr/bin/env", [MCPPeers.python, "-u", MCPPeers.httpScript.path],
                                       environment: ProcessInfo.processInfo.environment, onOutput: { chunk in
            let all = output.withLock { $0 += chunk; return $0 }
            if let line = all.split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }) { continuation.yield(String(line)) }
        }, onExit: { _ in continuation.finish() })
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            process.signal(SIGTERM)
        }
        var iterator = lines.makeAsyncIterator()
        let line = await iterator.next()
        watchdog.cancel()
        guard let line, let port = Int(line.dropFirst(5)) else {
            throw TestFailure("the MCP HTTP test server did not start:\n\(output.withLock { $0 })")
        }
        let server = MCPHTTPTestServer(port: port, process: process)
        defer { server.stop() }
        return try await body(server)
    }

    func stop() {
        process.signal(SIGKILL)
    }

    var isRunning: Bool { process.isRunning }
}

@Suite("MCPClientTests")
struct MCPClientTests {
    static func stdioEnv(_ commands: [String], extra: [String: String] = [:]) -> [String: String] {
        ["PARLEY_MCP_STDIO_COMMANDS": commands.joined(separator: ",")].merging(extra) { $1 }
    }

    @Test(arguments: TestEnv.kinds)
    func theRegistryRefusesBadInputAndNeverReturnsSecrets(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: Self.stdioEnv(["/bin/true"])) { client, seeded, store, clock in
            let admin = seeded.adminKey
            // A command the installation does not allow, a misspelt field, a bad name, a private address.
            var error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "sh", "transport": "stdio", "command": "/bin/sh"], status: .badRequest)
            #expect(error["error"]?["code"] == "mcp_command_not_allowed")
            #expect(error["error"]?["message"]?.stringValue?.contains("PARLEY_MCP_STDIO_COMMANDS") == true)
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "t", "transport": "stdio", "comand": "/bin/true"], status: .badRequest)
            #expect(error["error"]?["code"] == "unknown_field" && error["error"]?["message"]?.stringValue?.contains("comand") == true)
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "Bad__Name", "transport": "stdio", "command": "/bin/true"], status: .badRequest)
            #expect(error["error"]?["code"] == "invalid_mcp_server")
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "lan", "transport": "http", "url": "http://10.1.2.3/mcp"], status: .badRequest)
            #expect(error["error"]?["code"] == "outbound_address_refused")
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "local", "transport": "http", "url": "http://127.0.0.1:9/mcp"], status: .badRequest)
            #expect(error["error"]?["code"] == "outbound_address_refused")
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "mixed", "transport": "stdio", "command": "/bin/true", "url": "http://example.com"], status: .badRequest)
            #expect(error["error"]?["message"]?.stringValue?.contains("'url' applies to http servers") == true)
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "x", "transport": "ftp"], status: .badRequest)
            #expect(error["error"]?["code"] == "invalid_mcp_server")
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "x", "transport": "stdio", "command": "/bin/true", "timeout_ms": 5], status: .badRequest)
            #expect(error["error"]?["message"]?.stringValue?.contains("timeout_ms") == true)
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "x", "transport": "stdio", "command": "/bin/true", "tool_policies": ["t": "maybe"]], status: .badRequest)
            #expect(error["error"]?["message"]?.stringValue?.contains("tool_policies.t") == true)

            // Env values are secrets: sealed at rest, never returned.
            let created = try await client.postJSON(admin, "/v1/mcp/servers", [
                "name": "noop", "transport": "stdio", "command": "/bin/true", "args": ["--flag"], "env": ["API_TOKEN": "hunter2-secret"],
            ], status: .created)
            #expect(created["env"] == ["API_TOKEN"] && created["args"] == ["--flag"] && created["enabled"] == true)
            #expect(!created.serialized().contains("hunter2"))
            let id = try #require(created["id"]?.stringValue)
            let listed = try await client.getJSON(admin, "/v1/mcp/servers")
            #expect(listed["data"]?.arrayValue?.count == 1 && !listed.serialized().contains("hunter2"))
            #expect(try await !client.getJSON(admin, "/v1/mcp/servers/\(id)").serialized().contains("hunter2"))
            let row = try await store.read { db in try await db.raw("SELECT secrets_sealed, config FROM mcp_servers").first() }
            let sealed = try row?.decode(column: "secrets_sealed", as: String?.self) ?? nil
            #expect(sealed?.contains("hunter2") == false && sealed?.hasPrefix("v1.") == true)
            let config = try row?.decode(column: "config", as: String.self)
            #expect(config?.contains("API_TOKEN") == true)

            // One name per tenant; only admins change the registry.
            error = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "noop", "transport": "stdio", "command": "/bin/true"], status: .conflict)
            #expect(error["error"]?["code"] == "mcp_server_name_taken")
            let operatorKey = try #require(try await seeded.key(store, clock: clock, role: .operator).secret)
            _ = try await client.postJSON(operatorKey, "/v1/mcp/servers", ["name": "op", "transport": "stdio", "command": "/bin/true"], status: .forbidden)
            #expect(try await client.getJSON(operatorKey, "/v1/mcp/servers")["data"]?.arrayValue?.count == 1)

            // PATCH: checked the same way; the transport cannot change.
            _ = try await client.patchJSON(admin, "/v1/mcp/servers/\(id)", ["transport": "http"], status: .badRequest)
            _ = try await client.patchJSON(admin, "/v1/mcp/servers/\(id)", ["max_output_bytes": 1], status: .badRequest)
            _ = try await client.patchJSON(admin, "/v1/mcp/servers/\(id)", ["timeoutMs": 1000], status: .badRequest)
            let patched = try await client.patchJSON(admin, "/v1/mcp/servers/noop", ["timeout_ms": 1500, "enabled": false, "env": ["OTHER": "s3cr3t-value"]])
            #expect(patched["timeout_ms"] == 1500 && patched["enabled"] == false && patched["env"] == ["OTHER"])
            #expect(!patched.serialized().contains("s3cr3t"))
            // A disabled server is not called.
            error = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "noop", "tool": "x", "arguments": [:]], status: .conflict)
            #expect(error["error"]?["code"] == "mcp_server_disabled")
            error = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "nope", "tool": "x"], status: .notFound)
            #expect(error["error"]?["code"] == "mcp_server_not_found")
            _ = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "noop", "tool": "x", "arguments": [1]], status: .badRequest)
            _ = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "noop", "tool": "x", "argument": [:]], status: .badRequest)
            // The registry's audit trail.
            let audit = try await client.getJSON(admin, "/v1/audit-log")
            #expect(audit.serialized().contains("mcp_server.create") && audit.serialized().contains("mcp_server.update"))
            #expect(!audit.serialized().contains("hunter2"))
            _ = try await client.deleteJSON(admin, "/v1/mcp/servers/\(id)")
            _ = try await client.getJSON(admin, "/v1/mcp/servers/\(id)", status: .notFound)
            _ = try await client.getJSON(admin, "/v1/mcp/executions?bogus=1", status: .badRequest)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aStdioServerIsDiscoveredCalledRecordedAndRestartedAfterItDies(_ kind: DatabaseKind) async throws {
        guard try await MCPPeers.available else { return }
        let (command, dir) = try MCPPeers.uniqueCommand("mcp-server-time")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await withAgentServer(kind, env: Self.stdioEnv([command])) { client, seeded, _, _ in
            let admin = seeded.adminKey
            let created = try await client.postJSON(admin, "/v1/mcp/servers", [
                "name": "time", "transport": "stdio", "command": .string(command), "args": ["--local-timezone", "UTC"],
            ], status: .created)
            let id = try #require(created["id"]?.stringValue)
            #expect(created["tools"] == .null && created["health"]?["status"] == "unknown")
            let discovered = try await client.postJSON(admin, "/v1/mcp/servers/\(id)/discover", [:])
            let tools = try #require(discovered["tools"]?.arrayValue)
            let current = try #require(tools.first { $0["name"] == "get_current_time" })
            #expect(current["agent_tool"] == "time__get_current_time")
            #expect(current["input_schema"]?["properties"]?["timezone"]?["type"] == "string")
            #expect(tools.contains { $0["name"] == "convert_time" })
            #expect(discovered["health"]?["status"] == "up")

            let first = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "time", "tool": "get_current_time", "arguments": ["timezone": "UTC"]])
            #expect(first["outcome"] == "success", "\(first)")
            #expect(first["output"]?.stringValue?.contains("\"timezone\": \"UTC\"") == true || first["output"]?.stringValue?.contains("UTC") == true)
            // Arguments are checked against the discovered schema first.
            let bad = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "time", "tool": "get_current_time", "arguments": ["timezone": 5]], status: .badRequest)
            #expect(bad["error"]?["code"] == "invalid_arguments")
            _ = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "time", "tool": "nope", "arguments": [:]], status: .notFound)

            // One process serves concurrent calls.
            let pids = MCPPeers.processes(mentioning: command)
            #expect(pids.count == 1)
            try await withThrowingTaskGroup(of: JSONValue.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await client.postJSON(admin, "/v1/mcp/execute", ["server": .string(id), "tool": "get_current_time", "arguments": ["timezone": "Europe/Paris"]]) }
                }
                for try await r in group { #expect(r["outcome"] == "success") }
            }
            #expect(MCPPeers.processes(mentioning: command) == pids)

            // Killed: the next call starts it again.
            let pid = try #require(pids.first)
            kill(pid, SIGKILL)
            // Gone from the process table: reaped by Parley, which so knows it ended.
            try await MCPPeers.eventually("the server process is reaped") { !FileManager.default.fileExists(atPath: "/proc/\(pid)") }
            let again = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "time", "tool": "get_current_time", "arguments": ["timezone": "UTC"]])
            #expect(again["outcome"] == "success", "\(again)")
            let restarted = MCPPeers.processes(mentioning: command)
            #expect(restarted.count == 1 && restarted.first != pid)
            #expect(try await client.getJSON(admin, "/v1/mcp/servers/\(id)/health")["status"] == "up")

            // Every call is recorded, newest first, with who made it.
            let executions = try await client.getJSON(admin, "/v1/mcp/executions?limit=2&server_id=\(id)")
            let rows = try #require(executions["data"]?.arrayValue)
            #expect(rows.count == 2 && executions["next_cursor"]?.stringValue != nil)
            #expect(rows[0]["tool"] == "get_current_time" && rows[0]["server"] == "time" && rows[0]["outcome"] == "success")
            #expect(rows[0]["actor"]?.stringValue?.hasPrefix("api_key:") == true && rows[0]["input"]?["timezone"] == "UTC")
            let all = try await client.getJSON(admin, "/v1/mcp/executions?limit=200")
            #expect(all["data"]?.arrayValue?.count == 6)
            // Deleting the server stops its process.
            _ = try await client.deleteJSON(admin, "/v1/mcp/servers/\(id)")
            try await MCPPeers.eventually("the deleted server's process stopped") { MCPPeers.processes(mentioning: command).isEmpty }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func theGitServerRunsOverStdioOnARepository(_ kind: DatabaseKind) async throws {
        guard try await MCPPeers.available else { return }
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("parley-mcp-git-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: repo) }
        try "hello\n".write(to: repo.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        for args in [["init", "-q", "-b", "main"], ["add", "README.md"],
                     ["-c", "user.name=Test", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first commit"]] {
            #expect(try await runCommand("/usr/bin/git", ["-C", repo.path] + args).status == 0)
        }
        let git = MCPPeers.bin.appendingPathComponent("mcp-server-git").path
        try await withAgentServer(kind, env: Self.stdioEnv([git])) { client, seeded, _, _ in
            let admin = seeded.adminKey
            _ = try await client.postJSON(admin, "/v1/mcp/servers", [
                "name": "git", "transport": "stdio", "command": .string(git), "args": ["--repository", .string(repo.path)], "timeout_ms": 30000,
            ], status: .created)
            let discovered = try await client.postJSON(admin, "/v1/mcp/servers/git/discover", [:])
            let names = discovered["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.contains("git_status") && names.contains("git_log"))
            let log = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "git", "tool": "git_log", "arguments": ["repo_path": .string(repo.path)]])
            #expect(log["outcome"] == "success" && log["output"]?.stringValue?.contains("first commit") == true, "\(log)")
            // A tool error from the server is recorded as such.
            let wrong = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "git", "tool": "git_log", "arguments": ["repo_path": "/nonexistent-parley"]])
            #expect(wrong["outcome"] == "tool_error" || wrong["outcome"] == "unavailable", "\(wrong)")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aStreamableHTTPServerAnswersWithEventStreamsWithinLimits(_ kind: DatabaseKind) async throws {
        guard try await MCPPeers.available else { return }
        try await MCPHTTPTestServer.with { http in
          // The model calls the tool that sleeps past the time limit: the run goes on with a tool error.
          try await ProviderTestServer.with(script: [
              ScriptedTurn.toolCalls([("c1", "remote__slow", #"{"seconds":30}"#)]), ScriptedTurn.answer("The tool timed out."),
          ]) { baseURL, provider in
            try await withAgentServer(kind, env: ["PARLEY_OUTBOUND_ALLOW": "127.0.0.1"], provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                let admin = seeded.adminKey
                let created = try await client.postJSON(admin, "/v1/mcp/servers", [
                    "name": "remote", "transport": "http", "url": .string(http.url), "headers": ["X-Api-Key": "header-secret-42"],
                    "timeout_ms": 4000, "max_output_bytes": 1000, "tool_policies": ["slow": "auto"],
                ], status: .created)
                #expect(created["headers"] == ["X-Api-Key"] && !created.serialized().contains("header-secret-42"))
                let discovered = try await client.postJSON(admin, "/v1/mcp/servers/remote/discover", [:])
                let names = Set(discovered["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                #expect(names.isSuperset(of: ["echo", "whoami", "slow", "huge"]), "\(discovered)")
                let events = try await client.chat(admin, "run the slow tool")
                let end = try #require(events.first { $0.event == "tool_end" })
                #expect(end.data["tool"] == "remote__slow" && end.data["success"] == false, "\(end.data)")
                #expect(end.data["output"]?.stringValue?.contains("did not answer within 4 s") == true, "\(end.data)")
                #expect(events.last?.event == "workflow_completed")
                // The model read the error as the tool's result.
                let second = try #require(provider.requests.last?.json)
                #expect(second.serialized().contains("did not answer within 4 s"))
                let echo = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "echo", "arguments": ["text": "héllo"]])
                #expect(echo["outcome"] == "success" && echo["output"] == "echo: héllo", "\(echo)")
                // The server saw the configured header (and the session's protocol version).
                let whoami = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "whoami", "arguments": [:]])
                #expect(whoami["output"]?.stringValue?.contains("key=header-secret-42") == true, "\(whoami)")
                #expect(whoami["output"]?.stringValue?.contains("version=2025-11-25") == true || whoami["output"]?.stringValue?.contains("version=2025-06-18") == true)
                // A tool that sleeps past the timeout answers a timeout, not a hang.
                let slow = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "slow", "arguments": ["seconds": 30]])
                #expect(slow["outcome"] == "timeout" && slow["output"]?.stringValue?.contains("4 s") == true, "\(slow)")
                #expect((slow["duration_ms"]?.intValue ?? 0) < 15_000)
                // Huge output is cut at the server's limit.
                let huge = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "huge", "arguments": ["size": 200_000]])
                #expect(huge["outcome"] == "success" && huge["output_truncated"] == true, "\(huge)")
                #expect((huge["output"]?.stringValue?.utf8.count ?? 0) < 1200)
                #expect(huge["output"]?.stringValue?.contains("output truncated: the tool returned 200000 bytes") == true)
                // The session survives the calls above; after the server forgets it, Parley initializes again.
                _ = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "forget_sessions", "arguments": [:]])
                let after = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "echo", "arguments": ["text": "again"]])
                #expect(after["outcome"] == "success" && after["output"] == "echo: again", "\(after)")
                #expect(try await client.getJSON(admin, "/v1/mcp/servers/remote/health")["status"] == "up")
                // The server goes away: health marks it down and the agent loses its tools.
                #expect(try await client.getJSON(admin, "/v1/tools")["data"]?.arrayValue?.contains { $0["name"] == "remote__echo" } == true)
                http.stop()
                try await MCPPeers.eventually("the HTTP test server stopped") { !http.isRunning }
                let health = try await client.getJSON(admin, "/v1/mcp/servers/remote/health")
                #expect(health["status"] == "down" && health["error"]?.stringValue?.isEmpty == false)
                #expect(!(health.serialized().contains("header-secret-42")))
                #expect(try await client.getJSON(admin, "/v1/tools")["data"]?.arrayValue?.contains { $0["name"] == "remote__echo" } == false)
                let failed = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "remote", "tool": "echo", "arguments": ["text": "x"]])
                // Refused connections are retried by the HTTP client until the call's time limit.
                #expect(failed["outcome"] == "unavailable" || failed["outcome"] == "timeout", "\(failed)")
                let discoverDown = try await client.postJSON(admin, "/v1/mcp/servers/remote/discover", [:], status: .serviceUnavailable)
                #expect(discoverDown["error"]?["code"] == "mcp_server_unavailable")
            }
          }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anAgentRunCallsAnMCPToolAndOneNeedingApprovalPausesTheRun(_ kind: DatabaseKind) async throws {
        guard try await MCPPeers.available else { return }
        let time = MCPPeers.bin.appendingPathComponent("mcp-server-time").path
        try await ProviderTestServer.with(script: [
            ScriptedTurn.toolCalls([("c1", "time__get_current_time", #"{"timezone":"UTC"}"#)]), ScriptedTurn.answer("It is noon in UTC."),
            ScriptedTurn.toolCalls([("c2", "time__convert_time", #"{"source_timezone":"UTC","time":"12:00","target_timezone":"Asia/Tokyo"}"#)]),
            ScriptedTurn.answer("Converted."),
        ]) { baseURL, provider in
            try await withAgentServer(kind, env: Self.stdioEnv([time]), provider: ScriptedTurn.provider(baseURL)) { client, seeded, _, _ in
                let admin = seeded.adminKey
                _ = try await client.postJSON(admin, "/v1/mcp/servers", [
                    "name": "time", "transport": "stdio", "command": .string(time), "args": ["--local-timezone", "UTC"],
                    "tool_policies": ["get_current_time": "auto", "convert_time": "require_approval"],
                ], status: .created)
                // An agent may list the tools of a registered server, discovered or not; others are refused.
                _ = try await client.postJSON(admin, "/v1/agents", ["name": "clock", "tools": ["time__get_current_time"]], status: .created)
                let refused = try await client.postJSON(admin, "/v1/agents", ["name": "bad", "tools": ["nope__tool"]], status: .badRequest)
                #expect(refused["error"]?["code"] == "unknown_tool")
                _ = try await client.postJSON(admin, "/v1/mcp/servers/time/discover", [:])
                let tools = try await client.getJSON(admin, "/v1/tools")
                let listed = try #require(tools["data"]?.arrayValue?.first { $0["name"] == "time__get_current_time" })
                #expect(listed["mode"] == "auto")

                let events = try await client.chat(admin, "what time is it?")
                let end = try #require(events.first { $0.event == "tool_end" })
                #expect(end.data["tool"] == "time__get_current_time" && end.data["status"] == "success", "\(end.data)")
                #expect(end.data["output"]?.stringValue?.contains("UTC") == true)
                #expect(events.last?.event == "workflow_completed")
                // The model was offered the tool with the server's schema.
                let offered = try #require(provider.requests.first?.json)["tools"]?.arrayValue ?? []
                #expect(offered.contains { $0["function"]?["name"] == "time__get_current_time" && $0["function"]?["parameters"]?["properties"]?["timezone"] != nil })
                let workflowID = try #require(events.first?.data["workflow_id"]?.stringValue)
                let executions = try await client.getJSON(admin, "/v1/mcp/executions")
                #expect(executions["data"]?[0]?["workflow_id"]?.stringValue == workflowID)

                // convert_time needs approval: the run pauses before calling the server.
                let run = try await client.ask(admin, "convert noon to Tokyo", status: .accepted)
                #expect(run["status"] == "WAITING_APPROVAL", "\(run)")
                #expect(run["approvals"]?[0]?["tool"] == "time__convert_time")
                #expect(try await client.getJSON(admin, "/v1/mcp/executions")["data"]?.arrayValue?.count == 1)
            }
        }
    }
}

/// A built-in server (transport `builtin`): an in-process `MCP.Server` over an in-memory transport,
/// given to the server at assembly like the installation's own built-ins.
@Suite struct MCPBuiltinServerTests {
    /// Keeps the in-process servers alive while their tenants use them.
    final class Servers: Sendable {
        let all = Mutex<[MCP.Server]>([])
    }

    static func calculator(_ servers: Servers) -> MCPBuiltinServer {
        MCPBuiltinServer(name: "calculator", description: "Adds numbers.") { _ in
            let (client, serverSide) = await InMemoryTransport.createConnectedPair()
            let server = MCP.Server(name: "calculator", version: "1.0.0", capabilities: .init(tools: .init()))
            await server.withMethodHandler(ListTools.self) { _ in
                ListTools.Result(tools: [MCP.Tool(name: "add", description: "Adds a and b.",
                                                  inputSchema: .object(["type": "object", "properties": .object(["a": .object(["type": "number"]), "b": .object(["type": "number"])]),
                                                                        "required": .array(["a", "b"])]),
                                                  annotations: .init(readOnlyHint: true))])
            }
            await server.withMethodHandler(CallTool.self) { params in
                let a = params.arguments?["a"]?.doubleValue ?? Double(params.arguments?["a"]?.intValue ?? 0)
                let b = params.arguments?["b"]?.doubleValue ?? Double(params.arguments?["b"]?.intValue ?? 0)
                return CallTool.Result(content: [.text(text: String(a + b), annotations: nil, _meta: nil)], isError: false)
            }
            try await server.start(transport: serverSide)
            servers.all.withLock { $0.append(server) }
            return client
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aBuiltInServerIsListedDiscoveredAndCalledLikeAnyOther(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        let servers = Servers()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            var deps = ServerDependencies(config: try ParleyConfig.load(ConfigSources()), store: store, clock: clock, logger: logger,
                                          migrations: ParleySchema.migrations, keyring: .random(), packs: ParleySchema.packs)
            deps.mcpBuiltins = [Self.calculator(servers)]
            try await buildApplication(deps).test(.router) { client in
                let admin = seeded.adminKey
                let refused = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "calc", "transport": "builtin", "builtin": "abacus"], status: .badRequest)
                #expect(refused["error"]?["message"]?.stringValue?.contains("built-in: calculator") == true)
                let created = try await client.postJSON(admin, "/v1/mcp/servers", ["name": "calc", "transport": "builtin", "builtin": "calculator"], status: .created)
                #expect(created["builtin"] == "calculator")
                let discovered = try await client.postJSON(admin, "/v1/mcp/servers/calc/discover", [:])
                #expect(discovered["tools"]?[0]?["name"] == "add" && discovered["tools"]?[0]?["read_only"] == true)
                let sum = try await client.postJSON(admin, "/v1/mcp/execute", ["server": "calc", "tool": "add", "arguments": ["a": 2, "b": 3.5]])
                #expect(sum["outcome"] == "success" && sum["output"] == "5.5", "\(sum)")
                // A read-only tool runs without approval unless the tenant says otherwise.
                let tools = try await client.getJSON(admin, "/v1/tools")
                let add = try #require(tools["data"]?.arrayValue?.first { $0["name"] == "calc__add" })
                #expect(add["mode"] == "auto" && add["has_side_effects"] == false)
                _ = try await client.putJSON(admin, "/v1/tools/calc__add/policy", ["mode": "require_approval"])
                #expect(try await client.getJSON(admin, "/v1/tools")["data"]?.arrayValue?.first { $0["name"] == "calc__add" }?["mode"] == "require_approval")
                #expect(try await client.getJSON(admin, "/v1/mcp/servers/calc/health")["status"] == "up")
            }
        }
    }
}
