import CBatchdSystem
import Foundation

/// A program the tests start (the batchd binary, a registry, jq, mount), spawned with
/// `posix_spawn` and reaped with `waitpid` on its own pid only.
///
/// Why not Foundation's `Process`: on Linux its one monitor thread reaps children with a
/// blocking `wait4` on one pid at a time, so with several children alive a `waitUntilExit`
/// can spin at 100 % CPU for ever while the monitor waits for another, still-running child
/// (seen here: registries of parallel tests, a suite hung at 200 % CPU). Here each `wait()`
/// reaps its own child, and `isRunning` only peeks (`WNOWAIT`), so nothing waits for anything
/// but what it asked for.
public final class Subprocess: @unchecked Sendable {  // `status` and `reaping` behind `condition`
    /// Where a standard stream of the child goes.
    public enum Stream {
        case null
        /// A file, opened for reading (stdin) or truncated for writing (stdout, stderr).
        case file(String)
        /// A pipe whose other end the parent gets as `stdinWriter` / `stdoutReader` / `stderrReader`.
        case pipe
        /// stderr only: where stdout goes.
        case stdout
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let pid: pid_t
    /// The parent's ends of the pipes asked for (closed by their users, or at deinit).
    public let stdinWriter: FileHandle?, stdoutReader: FileHandle?, stderrReader: FileHandle?
    private let condition = NSCondition()
    private var status: Int32?
    private var reaping = false

    /// Starts `executable` (a path) with `arguments`, in `directory`, with `environment` (this
    /// process's when nil). Signals are unblocked and at their defaults in the child, whatever
    /// the calling thread has blocked; descriptors other than 0, 1 and 2 are not inherited.
    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil, directory: String? = nil,
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEnds: [Int32] = []
        defer { childEnds.forEach { close($0) } }

        func pipeEnd(for target: Int32) throws -> FileHandle {
            var ends: [Int32] = [0, 0]
            guard CBatchd_pipe_cloexec(&ends) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
            let (parent, child) = target == 0 ? (ends[1], ends[0]) : (ends[0], ends[1])
            childEnds.append(child)
            posix_spawn_file_actions_adddup2(&actions, child, target)
            return FileHandle(fileDescriptor: parent, closeOnDealloc: true)
        }
        func route(_ stream: Stream, to target: Int32) throws -> FileHandle? {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, target, path, target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            case .pipe:
                return try pipeEnd(for: target)
            case .stdout:
                posix_spawn_file_actions_adddup2(&actions, 1, target)
            }
            return nil
        }
        stdinWriter = try route(stdin, to: 0)
        stdoutReader = try route(stdout, to: 1)
        stderrReader = try route(stderr, to: 2)
        CBatchd_spawn_actions_closefrom(&actions, 3)
        if let directory { CBatchd_spawn_actions_chdir(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = [executable] + arguments
        let environ = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var cArgv = argv.map { strdup($0) } + [nil], cEnviron = environ.map { strdup($0) } + [nil]
        defer { (cArgv + cEnviron).forEach { free($0) } }
        var child: pid_t = 0
        let code = posix_spawn(&child, executable, &actions, &attributes, &cArgv, &cEnviron)
        guard code == 0 else { throw Failure(description: "cannot start \(executable): \(String(cString: strerror(code)))") }
        pid = child
    }

    deinit {
        if isRunning { kill(pid, SIGKILL) }
        wait()
    }

    /// Whether the child has not exited yet. Never reaps it (that is `wait`'s job).
    public var isRunning: Bool {
        condition.withLock {
            guard status == nil else { return false }
            var info = siginfo_t()
            return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == 0
        }
    }

    public func signal(_ number: Int32) {
        condition.withLock { if status == nil { kill(pid, number) } }
    }

    public func terminate() { signal(SIGTERM) }

    /// Blocks until the child exits; its exit status, or 128 + the signal that ended it (as a shell says).
    @discardableResult
    public func wait() -> Int32 {
        condition.lock()
        defer { condition.unlock() }
        while status == nil, reaping { condition.wait() }
        if let status { return status }
        reaping = true
        condition.unlock()
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1, errno == EINTR {}
        condition.lock()
        reaping = false
        // WIFEXITED / WTERMSIG, spelled out (the C macros are not imported).
        let signal = raw & 0x7f
        status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        condition.broadcast()
        return status!
    }
}
