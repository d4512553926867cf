import Foundation
import MCP
import ParleyAgent
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bounds of the filesystem server, per call and per tenant.
public struct FilesystemLimits: Sendable {
    /// The largest file `read_file` returns and `write_file` writes.
    public var maxFileBytes: Int = 1 << 20
    /// All of a tenant's files together.
    public var maxTotalBytes: Int = 100 << 20
    /// Entries a listing or a search returns, and a search (or a quota check) visits.
    public var maxListEntries: Int = 1000
    public var maxVisited: Int = 20_000
    public var maxPathBytes: Int = 1024
    public var maxDepth: Int = 32

    public init() {}
}

/// A tenant's directory, and every path inside it reached without leaving it: a path is relative,
/// has no `..` and no NUL byte, and is walked one component at a time with `openat` and
/// `O_NOFOLLOW`, so no symbolic link is followed anywhere (one planted inside, pointing out, is
/// refused, and so is one pointing in), and a component swapped for a link mid-walk fails the
/// open instead of escaping.
struct FilesystemSandbox: Sendable {
    let root: String
    let limits: FilesystemLimits

    init(root: String, limits: FilesystemLimits) throws {
        self.root = root
        self.limits = limits
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    static func tenantRoot(_ dataDirectory: URL, tenantID: String) throws -> String {
        guard !tenantID.isEmpty, tenantID.utf8.count <= 64,
              tenantID.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }) else {
            throw BuiltinToolError("'\(tenantID.prefix(64))' is not a tenant id")
        }
        return dataDirectory.appendingPathComponent("tenants").appendingPathComponent(tenantID).appendingPathComponent("files").path
    }

    // MARK: paths

    /// The components of a path inside the sandbox ("" or "." is the sandbox itself).
    func components(_ path: String) throws -> [String] {
        if path.contains("\u{0}") { throw BuiltinToolError("the path contains a NUL byte") }
        if path.utf8.count > limits.maxPathBytes { throw BuiltinToolError("the path is longer than \(limits.maxPathBytes) bytes") }
        if path.hasPrefix("/") || path.hasPrefix("~") {
            throw BuiltinToolError("'\(path.prefix(200))' is absolute: paths are relative to your files' directory (e.g. notes/today.txt)")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        if parts.contains("..") { throw BuiltinToolError("'\(path.prefix(200))' contains '..': paths may not leave your files' directory") }
        if parts.count > limits.maxDepth { throw BuiltinToolError("the path is deeper than \(limits.maxDepth) directories") }
        if let long = parts.first(where: { $0.utf8.count > 255 }) { throw BuiltinToolError("'\(long.prefix(40))…' is longer than 255 bytes") }
        return parts
    }

    /// Opens the sandbox's root directory.
    func openRoot() throws -> Int32 {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw BuiltinToolError("your files' directory cannot be opened (\(Self.errnoText()))") }
        return fd
    }

    /// Opens the directory `parts` names, never following a link; with `create`, makes missing ones.
    func openDirectory(_ parts: [String], display: String, create: Bool = false) throws -> Int32 {
        var fd = try openRoot()
        for part in parts {
            var next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, part, 0o700) != 0 && errno != EEXIST {
                    let text = Self.errnoText()
                    close(fd)
                    throw BuiltinToolError("cannot create directory '\(display)': \(text)")
                }
                next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if next < 0 {
                let failure = errno
                let isLink = Self.isSymlink(fd, part)
                close(fd)
                if isLink { throw BuiltinToolError("'\(display)' goes through a symbolic link; links are not followed") }
                switch failure {
                case ENOENT: throw BuiltinToolError("'\(display)' does not exist")
                case ENOTDIR: throw BuiltinToolError("'\(display)' goes through a file, not a directory")
                default: throw BuiltinToolError("cannot open '\(display)': \(Self.errnoText(failure))")
                }
            }
            close(fd)
            fd = next
        }
        return fd
    }

    /// The directory holding the path's last component (opened), and that component's name.
    func parent(_ path: String, create: Bool = false) throws -> (fd: Int32, name: String) {
        let parts = try components(path)
        guard let name = parts.last else { throw BuiltinToolError("name a file or directory inside your files' directory, not the directory itself") }
        return (try openDirectory(Array(parts.dropLast()), display: path, create: create), name)
    }

    static func isSymlink(_ dir: Int32, _ name: String) -> Bool {
        var st = stat()
        return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "file"
        case S_IFDIR: "directory"
        case S_IFLNK: "symlink"
        default: "other"
        }
    }

    /// The names in an open directory (its descriptor stays open).
    func names(in dir: Int32, limit: Int) throws -> [String] {
        let copy = dup(dir)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw BuiltinToolError("cannot read the directory: \(Self.errnoText())")
        }
        defer { closedir(stream) }
        var out: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            out.append(name)
            if out.count >= limit { break }
        }
        return out.sorted()
    }

    /// Bytes used by the tenant's files (bounded by `maxVisited`; links are not followed).
    func usedBytes() throws -> Int {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        var total = 0
        var visited = 0
        func walk(_ dir: Int32, depth: Int) throws {
            for name in try names(in: dir, limit: limits.maxVisited) {
                visited += 1
                if visited > limits.maxVisited { return }
                var st = stat()
                guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFREG { total += Int(st.st_size) }
                if (st.st_mode & S_IFMT) == S_IFDIR, depth < limits.maxDepth {
                    let child = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard child >= 0 else { continue }
                    defer { close(child) }
                    try walk(child, depth: depth + 1)
                }
            }
        }
        try walk(rootFD, depth: 0)
        return total
    }

    // MARK: operations

    func read(_ path: String) throws -> String {
        let (dir, name) = try parent(path)
        defer { close(dir) }
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw refusal(errno, dir: dir, name: name, path: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw BuiltinToolError("'\(path)' is not a regular file") }
        guard Int(st.st_size) <= limits.maxFileBytes else {
            throw BuiltinToolError("'\(path)' has \(st.st_size) bytes; read_file returns files of at most \(limits.maxFileBytes)")
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw BuiltinToolError("cannot read '\(path)': \(Self.errnoText())") }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > limits.maxFileBytes { throw BuiltinToolError("'\(path)' grew past \(limits.maxFileBytes) bytes while being read") }
        }
        guard let text = String(data: data, encoding: .utf8) else { throw BuiltinToolError("'\(path)' is not UTF-8 text") }
        return text
    }

    func write(_ path: String, content: String, append: Bool) throws -> Int {
        let bytes = Array(content.utf8)
        guard bytes.count <= limits.maxFileBytes else {
            throw BuiltinToolError("the content has \(bytes.count) bytes; write_file writes at most \(limits.maxFileBytes)")
        }
        let (dir, name) = try parent(path, create: true)
        defer { close(dir) }
        var existing = stat()
        let exists = fstatat(dir, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        if exists, (existing.st_mode & S_IFMT) == S_IFLNK { throw BuiltinToolError("'\(path)' is a symbolic link; links are not followed") }
        if exists, (existing.st_mode & S_IFMT) != S_IFREG { throw BuiltinToolError("'\(path)' exists and is not a regular file") }
        let previous = exists ? Int(existing.st_size) : 0
        let after = append ? previous + bytes.count : bytes.count
        guard after <= limits.maxFileBytes else { throw BuiltinToolError("'\(path)' would have \(after) bytes; files hold at most \(limits.maxFileBytes)") }
        let used = try usedBytes()
        guard used - previous + after <= limits.maxTotalBytes else {
            throw BuiltinToolError("your files would take \(used - previous + after) bytes; the limit is \(limits.maxTotalBytes): delete something first")
        }
        let fd = openat(dir, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (append ? O_APPEND : O_TRUNC), 0o600)
        guard fd >= 0 else { throw refusal(errno, dir: dir, name: name, path: path) }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { throw BuiltinToolError("cannot write '\(path)': \(Self.errnoText())") }
            written += n
        }
        return after
    }

    func list(_ path: String) throws -> [Value] {
        let parts = try components(path)
        let dir = try openDirectory(parts, display: path)
        defer { close(dir) }
        return try names(in: dir, limit: limits.maxListEntries).map { name in
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return ["name": .string(name), "type": "unknown"] }
            var entry: [String: Value] = ["name": .string(name), "type": .string(Self.kind(st.st_mode))]
            if (st.st_mode & S_IFMT) == S_IFREG { entry["size"] = .int(Int(st.st_size)) }
            return .object(entry)
        }
    }

    func makeDirectory(_ path: String) throws {
        let parts = try components(path)
        guard !parts.isEmpty else { throw BuiltinToolError("name the directory to create") }
        close(try openDirectory(parts, display: path, create: true))
    }

    /// Deletes a file, a link (the link itself), or a directory (non-empty only with `recursive`).
    func delete(_ path: String, recursive: Bool) throws -> Int {
        let (dir, name) = try parent(path)
        defer { close(dir) }
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw refusal(errno, dir: dir, name: name, path: path) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            guard unlinkat(dir, name, 0) == 0 else { throw BuiltinToolError("cannot delete '\(path)': \(Self.errnoText())") }
            return 1
        }
        var removed = 0
        func empty(_ parentFD: Int32, _ child: String, depth: Int) throws {
            let fd = openat(parentFD, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw BuiltinToolError("cannot open '\(child)' inside '\(path)': \(Self.errnoText())") }
            defer { close(fd) }
            for entry in try names(in: fd, limit: limits.maxVisited) {
                var est = stat()
                guard fstatat(fd, entry, &est, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                if (est.st_mode & S_IFMT) == S_IFDIR {
                    guard depth < limits.maxDepth else { throw BuiltinToolError("'\(path)' is nested deeper than \(limits.maxDepth) directories") }
                    try empty(fd, entry, depth: depth + 1)
                    guard unlinkat(fd, entry, AT_REMOVEDIR) == 0 else { throw BuiltinToolError("cannot delete '\(entry)': \(Self.errnoText())") }
                } else {
                    guard unlinkat(fd, entry, 0) == 0 else { throw BuiltinToolError("cannot delete '\(entry)': \(Self.errnoText())") }
                }
                removed += 1
            }
        }
        if recursive { try empty(dir, name, depth: 0) }
        guard unlinkat(dir, name, AT_REMOVEDIR) == 0 else {
            if errno == ENOTEMPTY { throw BuiltinToolError("'\(path)' is a directory that is not empty: pass recursive: true to delete it with everything in it") }
            throw BuiltinToolError("cannot delete '\(path)': \(Self.errnoText())")
        }
        return removed + 1
    }

    /// Paths under `path` whose name matches: a glob (`*`, `?`, `[...]`) or, without those, a
    /// case-insensitive part of the name.
    func search(_ pattern: String, under path: String) throws -> (matches: [String], complete: Bool) {
        if pattern.contains("\u{0}") { throw BuiltinToolError("the pattern contains a NUL byte") }
        guard !pattern.isEmpty, pattern.utf8.count <= 255 else { throw BuiltinToolError("the pattern must have 1 to 255 bytes") }
        let parts = try components(path)
        let start = try openDirectory(parts, display: path)
        defer { close(start) }
        let glob = pattern.contains(where: { "*?[".contains($0) })
        let needle = pattern.lowercased()
        var matches: [String] = []
        var visited = 0
        var complete = true
        func walk(_ dir: Int32, prefix: String, depth: Int) throws {
            for name in try names(in: dir, limit: limits.maxVisited) {
                visited += 1
                if visited > limits.maxVisited || matches.count >= limits.maxListEntries { complete = false; return }
                let relative = prefix.isEmpty ? name : prefix + "/" + name
                if glob ? fnmatch(pattern, name, 0) == 0 : name.lowercased().contains(needle) { matches.append(relative) }
                var st = stat()
                if fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR, depth < limits.maxDepth {
                    let child = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard child >= 0 else { continue }
                    defer { close(child) }
                    try walk(child, prefix: relative, depth: depth + 1)
                }
            }
        }
        try walk(start, prefix: parts.joined(separator: "/"), depth: parts.count)
        return (matches, complete)
    }

    func info(_ path: String) throws -> [String: Value] {
        let parts = try components(path)
        var st = stat()
        if parts.isEmpty {
            let fd = try openRoot()
            defer { close(fd) }
            guard fstat(fd, &st) == 0 else { throw BuiltinToolError("cannot read your files' directory: \(Self.errnoText())") }
        } else {
            let (dir, name) = try parent(path)
            defer { close(dir) }
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw refusal(errno, dir: dir, name: name, path: path) }
        }
        let modified = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        var out: [String: Value] = [
            "path": .string(parts.isEmpty ? "." : parts.joined(separator: "/")), "type": .string(Self.kind(st.st_mode)),
            "size": .int(Int(st.st_size)), "modified_at": .string(Timestamps.format(modified)),
            "permissions": .string(String(st.st_mode & 0o777, radix: 8)),
        ]
        if (st.st_mode & S_IFMT) == S_IFLNK { out["note"] = "a symbolic link: the filesystem tools do not follow it" }
        return out
    }

    /// Why opening `name` failed, in words.
    func refusal(_ code: Int32, dir: Int32, name: String, path: String) -> BuiltinToolError {
        if code == ELOOP || Self.isSymlink(dir, name) { return BuiltinToolError("'\(path)' is a symbolic link; links are not followed") }
        switch code {
        case ENOENT: return BuiltinToolError("'\(path)' does not exist")
        case EISDIR: return BuiltinToolError("'\(path)' is a directory")
        case ENOTDIR: return BuiltinToolError("'\(path)' goes through a file, not a directory")
        default: return BuiltinToolError("cannot open '\(path)': \(Self.errnoText(code))")
        }
    }
}

/// The filesystem server's tools over one tenant's sandbox.
enum FilesystemTools {
    static func schema(_ properties: [String: Value], required: [String]) -> Value {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }), "additionalProperties": false]
    }

    static let path: Value = ["type": "string", "description": "A path relative to your files' directory, e.g. notes/today.txt"]

    static func tools(_ sandbox: FilesystemSandbox) -> [BuiltinTool] {
        func tool(_ name: String, _ description: String, _ schema: Value, readOnly: Bool, destructive: Bool = false,
                  _ run: @escaping @Sendable (Arguments) throws -> CallTool.Result) -> BuiltinTool {
            let allowed = Set(schema.objectValue?["properties"]?.objectValue?.keys.map { $0 } ?? [])
            return BuiltinTool(
                definition: MCP.Tool(name: name, description: description, inputSchema: schema,
                                     annotations: .init(readOnlyHint: readOnly, destructiveHint: readOnly ? nil : destructive, openWorldHint: false)),
                run: { arguments in try run(try Arguments(arguments, allowed: allowed)) })
        }
        return [
            tool("read_file", "Read a UTF-8 text file (at most \(sandbox.limits.maxFileBytes) bytes).", schema(["path": path], required: ["path"]),
                 readOnly: true) { args in
                let p = try args.string("path")
                let text = try sandbox.read(p)
                return .structured(["path": .string(p), "content": .string(text)], text: text)
            },
            tool("write_file", "Write a UTF-8 text file, creating it and its directories; replaces it unless append is true.",
                 schema(["path": path, "content": ["type": "string"], "append": ["type": "boolean"]], required: ["path", "content"]),
                 readOnly: false, destructive: true) { args in
                let p = try args.string("path")
                let size = try sandbox.write(p, content: try args.string("content"), append: try args.bool("append", default: false))
                return .structured(["path": .string(p), "size": .int(size)], text: "Wrote \(p) (\(size) bytes)")
            },
            tool("list_directory", "List a directory's entries with their type and size.", schema(["path": path], required: []),
                 readOnly: true) { args in
                let p = try args.optionalString("path") ?? "."
                let entries = try sandbox.list(p)
                let text = entries.map { e in "\(e.objectValue?["type"]?.stringValue ?? "?")\t\(e.objectValue?["name"]?.stringValue ?? "")" }.joined(separator: "\n")
                return .structured(["path": .string(p), "entries": .array(entries)], text: text.isEmpty ? "(empty)" : text)
            },
            tool("create_directory", "Create a directory (and its parents).", schema(["path": path], required: ["path"]), readOnly: false) { args in
                let p = try args.string("path")
                try sandbox.makeDirectory(p)
                return .structured(["path": .string(p), "created": true], text: "Created \(p)")
            },
            tool("delete", "Delete a file, or a directory (one with contents only with recursive: true).",
                 schema(["path": path, "recursive": ["type": "boolean"]], required: ["path"]), readOnly: false, destructive: true) { args in
                let p = try args.string("path")
                let n = try sandbox.delete(p, recursive: try args.bool("recursive", default: false))
                return .structured(["path": .string(p), "deleted": .int(n)], text: "Deleted \(p) (\(n) entr\(n == 1 ? "y" : "ies"))")
            },
            tool("search", "Find files and directories by name: a glob (*.txt) or part of the name, under path (default: everything).",
                 schema(["pattern": ["type": "string"], "path": path], required: ["pattern"]), readOnly: true) { args in
                let found = try sandbox.search(try args.string("pattern"), under: try args.optionalString("path") ?? ".")
                return .structured(["matches": .array(found.matches.map { .string($0) }), "complete": .bool(found.complete)],
                                   text: found.matches.isEmpty ? "No matches" : found.matches.joined(separator: "\n"))
            },
            tool("info", "Describe a file or directory: type, size, modification time, permissions.", schema(["path": path], required: ["path"]),
                 readOnly: true) { args in
                let facts = try sandbox.info(try args.string("path"))
                let text = facts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.stringValue ?? Calculator.describe($0.value))" }
                return .structured(.object(facts), text: text.joined(separator: "\n"))
            },
        ]
    }
}
