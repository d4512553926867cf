import Foundation
import MCP
import ParleyMCPServer
import Testing

/// The built-in calculator and filesystem servers (docs/mcp.md, "Built-in servers"), driven by an
/// in-process `MCP.Client` over the transport `BuiltinMCPServers.connect` returns.
@Suite struct MCPBuiltinServerTests {
    /// A fresh data directory, removed afterwards.
    static func withDataDirectory(_ body: (URL) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-mcp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try await body(dir)
    }

    static func withClient(_ servers: BuiltinMCPServers, _ name: String, tenant: String = "tenant-a",
                           _ body: (MCP.Client) async throws -> Void) async throws {
        let client = MCP.Client(name: "tests", version: "1")
        _ = try await client.connect(transport: try await servers.connect(name: name, tenantID: tenant))
        do {
            try await body(client)
        } catch {
            await client.disconnect()
            throw error
        }
        await client.disconnect()
    }

    /// Calls a tool: its text and whether it failed.
    static func call(_ client: MCP.Client, _ tool: String, _ arguments: [String: Value]) async throws -> (text: String, isError: Bool) {
        let (content, isError) = try await client.callTool(name: tool, arguments: arguments)
        let text = content.map { if case .text(let t, _, _) = $0 { t } else { "" } }.joined()
        return (text, isError ?? false)
    }

    @Test func theCalculatorComputesAndRefusesWhatHasNoFiniteAnswer() async throws {
        try await Self.withDataDirectory { dir in
            try await Self.withClient(BuiltinMCPServers(dataDirectory: dir), "calculator") { client in
                let tools = try await client.listTools().tools
                #expect(Set(tools.map(\.name)) == ["add", "subtract", "multiply", "divide", "power"])
                #expect(tools.allSatisfy { $0.annotations.readOnlyHint == true })
                let cases: [(String, Value, Value, String)] = [
                    ("add", 2, 3, "5"), ("subtract", 2, 3.5, "-1.5"), ("multiply", 6, 7, "42"), ("divide", 7, 2, "3.5"),
                    ("power", 2, 10, "1024"), ("power", 9, 0.5, "3"), ("divide", -1, 4, "-0.25"),
                ]
                for (op, a, b, expected) in cases {
                    let r = try await Self.call(client, op, ["a": a, "b": b])
                    #expect(!r.isError && r.text == expected, "\(op)(\(a), \(b)) = \(r.text)")
                }
                let failures: [(String, [String: Value], String)] = [
                    ("divide", ["a": 1, "b": 0], "division by zero"),
                    ("divide", ["a": 0, "b": 0], "division by zero"),
                    ("power", ["a": 0, "b": -1], "division by zero"),
                    ("multiply", ["a": 1e308, "b": 10], "overflow"),
                    ("add", ["a": 1.7e308, "b": 1.7e308], "overflow"),
                    ("power", ["a": 10, "b": 400], "overflow"),
                    ("power", ["a": -8, "b": 0.5], "not a real number"),
                    ("add", ["a": 1], "'b' is required"),
                    ("add", ["a": "1", "b": 2], "'a' must be a number"),
                    ("add", ["a": 1, "b": 2, "c": 3], "unknown argument 'c'"),
                ]
                for (op, args, message) in failures {
                    let r = try await Self.call(client, op, args)
                    #expect(r.isError && r.text.contains(message), "\(op)(\(args)): \(r.text)")
                }
                await #expect(throws: MCPError.self) { _ = try await client.callTool(name: "modulo", arguments: ["a": 1, "b": 2]) }
            }
        }
    }

    @Test func theFilesystemReadsWritesListsSearchesAndDeletesInTheTenantsOwnDirectory() async throws {
        try await Self.withDataDirectory { dir in
            let servers = BuiltinMCPServers(dataDirectory: dir)
            try await Self.withClient(servers, "filesystem") { client in
                #expect(Set(try await client.listTools().tools.map(\.name))
                        == ["read_file", "write_file", "list_directory", "create_directory", "delete", "search", "info"])
                var r = try await Self.call(client, "write_file", ["path": "notes/today.txt", "content": "héllo\n"])
                #expect(!r.isError, "\(r.text)")
                r = try await Self.call(client, "write_file", ["path": "notes/today.txt", "content": "more", "append": true])
                #expect(!r.isError && r.text.contains("11 bytes"), "\(r.text)")
                r = try await Self.call(client, "read_file", ["path": "./notes//today.txt"])
                #expect(r.text == "héllo\nmore")
                r = try await Self.call(client, "create_directory", ["path": "a/b/c"])
                #expect(!r.isError, "\(r.text)")
                r = try await Self.call(client, "list_directory", [:])
                #expect(r.text == "directory\ta\ndirectory\tnotes", "\(r.text)")
                r = try await Self.call(client, "info", ["path": "notes/today.txt"])
                #expect(r.text.contains("type: file") && r.text.contains("size: 11"), "\(r.text)")
                r = try await Self.call(client, "search", ["pattern": "*.txt"])
                #expect(r.text == "notes/today.txt", "\(r.text)")
                r = try await Self.call(client, "search", ["pattern": "TODAY", "path": "notes"])
                #expect(r.text == "notes/today.txt", "\(r.text)")
                r = try await Self.call(client, "delete", ["path": "a"])
                #expect(r.isError && r.text.contains("not empty"), "\(r.text)")
                r = try await Self.call(client, "delete", ["path": "a", "recursive": true])
                #expect(!r.isError, "\(r.text)")
                r = try await Self.call(client, "delete", ["path": "notes/today.txt"])
                #expect(!r.isError, "\(r.text)")
                r = try await Self.call(client, "read_file", ["path": "notes/today.txt"])
                #expect(r.isError && r.text.contains("does not exist"), "\(r.text)")
                r = try await Self.call(client, "delete", ["path": "."])
                #expect(r.isError, "the sandbox itself cannot be deleted: \(r.text)")
            }
            // Another tenant sees none of it.
            try await Self.withClient(servers, "filesystem", tenant: "tenant-b") { client in
                let r = try await Self.call(client, "list_directory", ["path": "."])
                #expect(r.text == "(empty)", "\(r.text)")
            }
            await #expect(throws: BuiltinToolError.self) { _ = try await servers.connect(name: "filesystem", tenantID: "../tenant-b") }
            await #expect(throws: BuiltinToolError.self) { _ = try await servers.connect(name: "shell", tenantID: "tenant-a") }
        }
    }

    @Test func noPathLeavesTheSandbox() async throws {
        try await Self.withDataDirectory { dir in
            let servers = BuiltinMCPServers(dataDirectory: dir)
            let fm = FileManager.default
            // Outside the sandbox: a secret file and another tenant's files.
            let outside = dir.appendingPathComponent("outside")
            try fm.createDirectory(at: outside, withIntermediateDirectories: true)
            try Data("secret".utf8).write(to: outside.appendingPathComponent("secret.txt"))
            try await Self.withClient(servers, "filesystem", tenant: "tenant-b") { client in
                _ = try await Self.call(client, "write_file", ["path": "theirs.txt", "content": "b's"])
            }
            try await Self.withClient(servers, "filesystem") { client in
                _ = try await Self.call(client, "create_directory", ["path": "inside"])
                let root = dir.appendingPathComponent("tenants/tenant-a/files")
                // Links planted inside (by anything other than these tools), pointing out and in.
                try fm.createSymbolicLink(atPath: root.appendingPathComponent("out").path, withDestinationPath: outside.path)
                try fm.createSymbolicLink(atPath: root.appendingPathComponent("secret.txt").path,
                                          withDestinationPath: outside.appendingPathComponent("secret.txt").path)
                try fm.createSymbolicLink(atPath: root.appendingPathComponent("neighbour").path,
                                          withDestinationPath: dir.appendingPathComponent("tenants/tenant-b/files").path)
                try fm.createSymbolicLink(atPath: root.appendingPathComponent("in").path, withDestinationPath: "inside")

                let attempts: [(String, [String: Value], String)] = [
                    ("read_file", ["path": "../../tenant-b/files/theirs.txt"], "'..'"),
                    ("read_file", ["path": "inside/../../../outside/secret.txt"], "'..'"),
                    ("read_file", ["path": "/etc/passwd"], "absolute"),
                    ("read_file", ["path": .string(outside.appendingPathComponent("secret.txt").path)], "absolute"),
                    ("read_file", ["path": "~/secret.txt"], "absolute"),
                    ("read_file", ["path": "secret.txt\u{0}.png"], "NUL"),
                    ("read_file", ["path": "secret.txt"], "symbolic link"),
                    ("read_file", ["path": "out/secret.txt"], "symbolic link"),
                    ("read_file", ["path": "neighbour/theirs.txt"], "symbolic link"),
                    ("list_directory", ["path": "out"], "symbolic link"),
                    ("list_directory", ["path": "in"], "symbolic link"),
                    ("write_file", ["path": "secret.txt", "content": "overwritten"], "symbolic link"),
                    ("write_file", ["path": "out/new.txt", "content": "x"], "symbolic link"),
                    ("write_file", ["path": "../escaped.txt", "content": "x"], "'..'"),
                    ("create_directory", ["path": "out/sub"], "symbolic link"),
                    ("delete", ["path": "out/secret.txt"], "symbolic link"),
                    ("delete", ["path": ".."], "'..'"),
                    ("search", ["pattern": "*", "path": "out"], "symbolic link"),
                    ("search", ["pattern": "*", "path": ".."], "'..'"),
                    ("info", ["path": "out/secret.txt"], "symbolic link"),
                    ("info", ["path": "../outside"], "'..'"),
                ]
                for (tool, args, reason) in attempts {
                    let r = try await Self.call(client, tool, args)
                    #expect(r.isError && r.text.contains(reason), "\(tool)(\(args)): \(r.text)")
                }
                // Nothing outside changed, and a search does not descend into links.
                #expect(try String(contentsOf: outside.appendingPathComponent("secret.txt"), encoding: .utf8) == "secret")
                #expect(!fm.fileExists(atPath: outside.appendingPathComponent("new.txt").path))
                #expect(!fm.fileExists(atPath: dir.appendingPathComponent("tenants/tenant-a/escaped.txt").path))
                let found = try await Self.call(client, "search", ["pattern": "*.txt"])
                #expect(found.text == "secret.txt", "only the link's own name matches, nothing behind it: \(found.text)")
                // Deleting a link removes the link, never what it points to.
                let removed = try await Self.call(client, "delete", ["path": "out"])
                #expect(!removed.isError, "\(removed.text)")
                #expect(fm.fileExists(atPath: outside.appendingPathComponent("secret.txt").path))
            }
        }
    }

    @Test func sizeLimitsHold() async throws {
        try await Self.withDataDirectory { dir in
            var limits = FilesystemLimits()
            limits.maxFileBytes = 100
            limits.maxTotalBytes = 250
            let servers = BuiltinMCPServers(dataDirectory: dir, filesystemLimits: limits)
            try await Self.withClient(servers, "filesystem") { client in
                var r = try await Self.call(client, "write_file", ["path": "big.txt", "content": .string(String(repeating: "x", count: 101))])
                #expect(r.isError && r.text.contains("at most 100"), "\(r.text)")
                for name in ["1.txt", "2.txt"] {
                    r = try await Self.call(client, "write_file", ["path": .string(name), "content": .string(String(repeating: "x", count: 100))])
                    #expect(!r.isError, "\(r.text)")
                }
                r = try await Self.call(client, "write_file", ["path": "3.txt", "content": .string(String(repeating: "x", count: 100))])
                #expect(r.isError && r.text.contains("limit is 250"), "\(r.text)")
                r = try await Self.call(client, "write_file", ["path": "1.txt", "content": "y", "append": true])
                #expect(r.isError && r.text.contains("at most 100"), "\(r.text)")
                // A file put there by other means, larger than a read may return.
                try Data(repeating: 0x41, count: 150).write(to: dir.appendingPathComponent("tenants/tenant-a/files/large.txt"))
                r = try await Self.call(client, "read_file", ["path": "large.txt"])
                #expect(r.isError && r.text.contains("at most 100"), "\(r.text)")
                r = try await Self.call(client, "read_file", ["path": .string(String(repeating: "a/", count: 600))])
                #expect(r.isError && r.text.contains("longer than"), "\(r.text)")
                r = try await Self.call(client, "read_file", ["path": 42])
                #expect(r.isError && r.text.contains("must be a string"), "\(r.text)")
            }
        }
    }
}
