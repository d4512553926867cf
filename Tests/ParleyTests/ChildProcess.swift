import Foundation
import Synchronization

/// A child process started with posix_spawn, the one way the tests start long-running children
/// (`runCommand` runs short ones to completion). Foundation's `Process` is not used: many
/// concurrent launches (their pipes' dispatch sources and the SIGCHLD monitor) have crashed
/// libdispatch on Linux. Two threads of its own read stdout and wait for the exit, so no thread of
/// the concurrency pool blocks. Every descriptor is close-on-exec, so a child spawned elsewhere in
/// the test run never inherits this one's pipes and holds them open.
final class ChildProcess: Sendable {
    enum Stderr { case mergeWithStdout, file(URL) }

    let pid: pid_t
    private let stdinWriter: Mutex<Int32?>
    private final class Shared: Sendable {
        let exited = Mutex(false)
        /// The exit is reported once the reader has seen end of file and the waiter has the code.
        let ending = Mutex<(eof: Bool, code: Int32?)>((false, nil))
    }
    private let shared = Shared()

    /// `onOutput` receives stdout as it arrives; `onExit` the exit code (128 + the signal when
    /// killed, as a shell reports it) once the process has ended and its output was read to the end.
    init(_ path: String, _ arguments: [String], environment: [String: String], directory: URL? = nil,
         pipeStdin: Bool = false, stderr: Stderr = .mergeWithStdout,
         onOutput: @escaping @Sendable (String) -> Void, onExit: @escaping @Sendable (Int32) -> Void) throws {
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard let pipe2 = Self.pipe2, pipe2(&fds, O_CLOEXEC) == 0 else { throw TestFailure("pipe2: \(String(cString: strerror(errno)))") }
            return (fds[0], fds[1])
        }
        let out = try makePipe()
        let input = pipeStdin ? try makePipe() : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        // dup2 clears close-on-exec on the child's copies only.
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        switch stderr {
        case .mergeWithStdout: posix_spawn_file_actions_adddup2(&actions, out.write, 2)
        case .file(let url): posix_spawn_file_actions_addopen(&actions, 2, url.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        }
        if let directory {
            guard let addChdir = Self.addChdir else { throw TestFailure("this C library has no posix_spawn_file_actions_addchdir_np") }
            _ = addChdir(&actions, directory.path)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, path, &actions, nil, argv, envp)
        close(out.write)
        if let input { close(input.read) }
        guard spawned == 0 else {
            close(out.read)
            if let input { close(input.write) }
            throw TestFailure("could not start \(path): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        self.stdinWriter = Mutex(input?.write)

        let shared = self.shared
        @Sendable func report(eof: Bool = false, code: Int32? = nil) {
            let done = shared.ending.withLock { e -> Int32? in
                if eof { e.eof = true }
                if let code { e.code = code }
                return e.eof ? e.code : nil
            }
            if let done { onExit(done) }
        }
        let readEnd = out.read
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                onOutput(String(decoding: buffer[0..<n], as: UTF8.self))
            }
            close(readEnd)
            report(eof: true)
        }
        let child = pid
        Thread.detachNewThread {
            // Wait without reaping first, so the id cannot be reused while `signal` may still use it.
            var info = siginfo_t()
            while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
            var raw: Int32 = 0
            shared.exited.withLock { exited in
                while waitpid(child, &raw, 0) == -1 && errno == EINTR {}
                exited = true
            }
            let signal = raw & 0x7f
            report(code: signal == 0 ? (raw >> 8) & 0xff : 128 + signal)
        }
    }

    /// glibc has these; Swift's Glibc module does not import them (they need _GNU_SOURCE), so they
    /// are looked up by name. pipe2 sets close-on-exec atomically, with no window for another
    /// thread's spawn to inherit the descriptors.
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2: Pipe2? = dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }

    /// Sends a signal while the child runs (once it is reaped, its id may belong to another process).
    func signal(_ sig: Int32) {
        shared.exited.withLock { if !$0 { kill(pid, sig) } }
    }

    var isRunning: Bool { !shared.exited.withLock { $0 } }

    /// Closes the child's standard input (it reads end of file).
    func closeStdin() {
        stdinWriter.withLock { fd in
            if let f = fd { close(f) }
            fd = nil
        }
    }

    deinit {
        closeStdin()
        signal(SIGTERM)
    }
}
