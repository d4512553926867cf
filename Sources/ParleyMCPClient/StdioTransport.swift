import Foundation
import Logging
import MCP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Why a stdio server could not be used.
public struct MCPProcessError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A message was not delivered to the server (its process had ended): sending it again to a new
/// process is safe.
struct MCPNotDelivered: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// A child process started with posix_spawn (no shell; Foundation's `Process` is not used, as
/// concurrent launches have crashed libdispatch on Linux). Every descriptor is close-on-exec, so
/// no other child inherits its pipes. Two threads of its own read its output and wait for its
/// exit, so no thread of the concurrency pool blocks.
final class SpawnedProcess: Sendable {
    let pid: pid_t
    private let stdinWriter: Mutex<Int32?>
    private final class Exit: Sendable { let exited = Mutex(false) }
    private let exit = Exit()

    /// `onLine` receives each line of standard output; `onExit` the exit status once the process
    /// ended and its output was read to the end (128 + the signal when killed).
    init(command: String, arguments: [String], environment: [String: String],
         onLine: @escaping @Sendable (Data) -> Void, onExit: @escaping @Sendable (Int32) -> Void) throws(MCPProcessError) {
        func makePipe() throws(MCPProcessError) -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard let pipe2 = Self.pipe2, pipe2(&fds, O_CLOEXEC) == 0 else { throw MCPProcessError("could not create a pipe: \(String(cString: strerror(errno)))") }
            return (fds[0], fds[1])
        }
        _ = Self.ignoreBrokenPipes
        let out = try makePipe()
        let input: (read: Int32, write: Int32)
        do { input = try makePipe() } catch { close(out.read); close(out.write); throw error }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a signal to Parley's group (a terminal's Ctrl-C) is not also its.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([command] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, command, &actions, &attributes, argv, envp)
        close(out.write)
        close(input.read)
        guard spawned == 0 else {
            close(out.read)
            close(input.write)
            throw MCPProcessError("could not start '\(command)': \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        self.stdinWriter = Mutex(input.write)

        let ending = Mutex<(eof: Bool, code: Int32?)>((false, nil))
        @Sendable func report(eof: Bool = false, code: Int32? = nil) {
            let done = ending.withLock { e -> Int32? in
                if eof { e.eof = true }
                if let code { e.code = code }
                return e.eof ? e.code : nil
            }
            if let done { onExit(done) }
        }
        let readEnd = out.read
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var line = Data()
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                var start = 0
                for i in 0..<n where buffer[i] == UInt8(ascii: "\n") {
                    line.append(contentsOf: buffer[start..<i])
                    if !line.isEmpty { onLine(line) }
                    line = Data()
                    start = i + 1
                }
                line.append(contentsOf: buffer[start..<n])
            }
            close(readEnd)
            report(eof: true)
        }
        let exit = self.exit
        let child = pid
        Thread.detachNewThread {
            // Wait without reaping first, so the id cannot be reused while `signal` may still use it.
            var info = siginfo_t()
            while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
            var raw: Int32 = 0
            exit.exited.withLock { exited in
                while waitpid(child, &raw, 0) == -1 && errno == EINTR {}
                exited = true
            }
            let signal = raw & 0x7f
            report(code: signal == 0 ? (raw >> 8) & 0xff : 128 + signal)
        }
    }

    /// Writing to a server that has exited must fail with EPIPE, not end Parley with SIGPIPE.
    private static let ignoreBrokenPipes: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    /// glibc has it; Swift's Glibc module does not import it (it needs _GNU_SOURCE).
    private static let pipe2: Pipe2? = dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }

    var isRunning: Bool { !exit.exited.withLock { $0 } }

    /// Sends a signal while the child runs (once it is reaped, its id may belong to another process).
    func signal(_ sig: Int32) {
        exit.exited.withLock { if !$0 { kill(pid, sig) } }
    }

    /// Writes all of `data` to the child's standard input.
    func write(_ data: Data) throws(MCPProcessError) {
        let failure: String? = stdinWriter.withLock { fd -> String? in
            guard let fd else { return "the server's input is closed" }
            return data.withUnsafeBytes { raw -> String? in
                guard let base = raw.baseAddress else { return nil }
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, base + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return "could not write to the server: \(String(cString: strerror(errno)))"
                    }
                    offset += n
                }
                return nil
            }
        }
        if let failure { throw MCPProcessError(failure) }
    }

    func closeStdin() {
        stdinWriter.withLock { fd in
            if let f = fd { close(f) }
            fd = nil
        }
    }

    /// Closes its input, asks it to stop (SIGTERM) and kills it (SIGKILL) if it is still running after `grace`.
    func terminate(grace: Duration) async {
        closeStdin()
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        signal(SIGKILL)
    }

    deinit {
        closeStdin()
        signal(SIGKILL)
    }
}

/// An MCP transport over a command Parley starts: JSON-RPC messages one per line on its standard
/// input and output. One process per transport; when it dies, the receive stream ends with an error.
actor StdioProcessTransport: MCP.Transport {
    nonisolated let logger: Logger
    let command: String
    let arguments: [String]
    let environment: [String: String]
    let stopGrace: Duration
    private var process: SpawnedProcess?
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let onExit: @Sendable (Int32) -> Void

    init(command: String, arguments: [String], environment: [String: String], stopGrace: Duration = .seconds(2), logger: Logger,
         onExit: @escaping @Sendable (Int32) -> Void) {
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.stopGrace = stopGrace
        self.logger = logger
        self.onExit = onExit
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    func connect() async throws {
        guard process == nil else { return }
        let continuation = self.continuation
        let onExit = self.onExit
        let command = self.command
        process = try SpawnedProcess(command: command, arguments: arguments, environment: environment,
                                     onLine: { continuation.yield($0) },
                                     onExit: { code in
                                         continuation.finish(throwing: MCPProcessError("the server process '\(command)' exited (status \(code))"))
                                         onExit(code)
                                     })
    }

    func disconnect() async {
        await process?.terminate(grace: stopGrace)
        continuation.finish()
    }

    func send(_ data: Data) async throws {
        guard let process, process.isRunning else { throw MCPNotDelivered(description: "the server process '\(command)' is not running") }
        var line = data
        line.append(UInt8(ascii: "\n"))
        do {
            try process.write(line)
        } catch {
            throw MCPNotDelivered(description: error.message)
        }
    }

    nonisolated func receive() -> AsyncThrowingStream<Data, any Error> { stream }

    /// Whether the process runs (it may have ended before its death was handled).
    var isAlive: Bool { process?.isRunning ?? false }
}
