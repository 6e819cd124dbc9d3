import CBatchdSystem
import FoundationEssentials
import Glibc
import Synchronization

/// Runs one child process in its own process group and watches it to the end on a thread of
/// its own (blocking `poll` stays off Swift's small cooperative pool), one of `WatcherThreads`.
///
/// The thread polls the child's stdout and stderr (each line goes to `onLine`), a pidfd that
/// becomes readable when the child exits, and an eventfd that cancellation writes to. Ending a
/// child means SIGTERM to its whole group, then SIGKILL after `killGrace`; processes the child
/// left behind in its group are ended the same way once it exits, so a job never leaves
/// anything running and never holds its pipes open past its end.
public enum ChildProcess {
    public enum Stream: Sendable {
        case stdout, stderr
    }

    public struct Termination: Sendable, Equatable {
        /// The exit status, when the child exited.
        public var exitStatus: Int32?
        /// The signal that ended the child, when one did.
        public var signal: Int32?
        /// Whether batchd had to signal the group (cancellation, timeout or leftovers).
        public var signalledGroup: Bool
        /// Whether processes were still in the group after the child exited.
        public var leftoversEnded: Bool

        public var succeeded: Bool { exitStatus == 0 }

        public var summary: String {
            if let exitStatus { return "exited with status \(exitStatus)" }
            if let signal { return "killed by \(ChildProcess.signalName(signal))" }
            return "ended"
        }
    }

    public enum SpawnError: Error, CustomStringConvertible {
        case programNotFound(String)
        case notExecutable(String)
        case workingDirectoryMissing(String)
        case system(String, Int32)

        public var description: String {
            switch self {
            case .programNotFound(let program): "command not found: \(program)"
            case .notExecutable(let program): "permission denied: \(program) is not executable"
            case .workingDirectoryMissing(let path): "working directory does not exist: \(path)"
            case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Starts `argv` and returns when it and everything left in its group have ended. Task
    /// cancellation ends the group (SIGTERM, then SIGKILL after `killGrace`).
    ///
    /// The spawn itself happens on the watcher's thread too: `posix_spawn` costs a fraction of a
    /// millisecond, and twenty of them at one instant must not hold up Swift's small pool (and
    /// with it the scheduler).
    public static func run(
        _ argv: [String], environment: [String: String], workingDirectory: String?,
        killGrace: Duration = .seconds(10), onLine: @escaping @Sendable (Stream, String) -> Void
    ) async throws(SpawnError) -> Termination {
        let cancellation = CancellationLatch()
        let outcome: Result<Termination, SpawnError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                WatcherThreads.shared.run { kit in
                    do {
                        let watcher = try spawn(argv, environment: environment, workingDirectory: workingDirectory,
                                                killGrace: killGrace, wakeFD: kit.wakeFD, onLine: onLine)
                        cancellation.attach(watcher)
                        continuation.resume(returning: .success(watcher.watch(readingInto: kit.readBuffer)))
                    } catch {
                        continuation.resume(returning: .failure(error as! SpawnError))
                    }
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
        return try outcome.get()
    }

    private static func spawn(
        _ argv: [String], environment: [String: String], workingDirectory: String?,
        killGrace: Duration, wakeFD: Int32, onLine: @escaping @Sendable (Stream, String) -> Void
    ) throws(SpawnError) -> ChildWatcher {
        guard let program = argv.first, !program.isEmpty else { throw .programNotFound("") }
        if let workingDirectory {
            var info = stat()
            guard stat(workingDirectory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw .workingDirectoryMissing(workingDirectory)
            }
        }
        var stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        guard CBatchd_pipe_cloexec(&stdoutPipe) == 0 else { throw .system("pipe", errno) }
        guard CBatchd_pipe_cloexec(&stderrPipe) == 0 else {
            close(stdoutPipe[0]); close(stdoutPipe[1])
            throw .system("pipe", errno)
        }
        var pid: pid_t = 0
        var pidFD: Int32 = -1
        let code = withCStrings(argv.map { ($0, nil) }) { cArgv in
            withCStrings(environment.map { ($0.key, $0.value) }) { cEnvironment in
                ChildRegistry.spawning {
                    let code = CBatchd_spawn(cArgv, cEnvironment, workingDirectory, stdoutPipe[1], stderrPipe[1],
                                             program.contains("/") ? 0 : 1, &pid, &pidFD)
                    return (code, code == 0 ? pid : nil)
                }
            }
        }
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard code == 0 else {
            close(stdoutPipe[0]); close(stderrPipe[0])
            switch code {
            case ENOENT: throw .programNotFound(program)
            case EACCES: throw .notExecutable(program)
            default: throw .system("cannot start \(program)", code)
            }
        }
        if pidFD < 0 { pidFD = CBatchd_pidfd_open(pid) }  // a kernel that could not hand one over
        return ChildWatcher(pid: pid, pidFD: pidFD, stdout: stdoutPipe[0], stderr: stderrPipe[0], wakeFD: wakeFD,
                            killGrace: killGrace, onLine: onLine)
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGTERM: "SIGTERM", SIGKILL: "SIGKILL", SIGINT: "SIGINT", SIGHUP: "SIGHUP",
                                      SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGPIPE: "SIGPIPE", SIGQUIT: "SIGQUIT"]
        return names[signal] ?? "signal \(signal)"
    }

    /// `strings` as a NULL-terminated array of C strings, `name=value` where a value is given,
    /// all in one allocation: the environment alone is dozens of strings per run, and each was
    /// an interpolated Swift string and then a `strdup` of it.
    private static func withCStrings<R>(_ strings: [(String, String?)], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let bytes = strings.reduce(0) { $0 + $1.0.utf8.count + ($1.1.map { $0.utf8.count + 1 } ?? 0) + 1 }
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes, 1))
        defer { storage.deallocate() }
        let pointers = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: strings.count + 1)
        defer { pointers.deallocate() }
        var offset = 0
        func append(_ text: String) {
            var text = text
            text.withUTF8 { utf8 in
                if let base = utf8.baseAddress { memcpy(storage + offset, base, utf8.count) }
                offset += utf8.count
            }
        }
        for (index, (name, value)) in strings.enumerated() {
            pointers[index] = UnsafePointer(storage + offset)
            append(name)
            if let value {
                storage[offset] = CChar(bitPattern: UInt8(ascii: "="))
                offset += 1
                append(value)
            }
            storage[offset] = 0
            offset += 1
        }
        pointers[strings.count] = nil
        return body(UnsafePointer(pointers))
    }
}

/// The thread that watches one child: see `ChildProcess`.
final class ChildWatcher: @unchecked Sendable {
    // Written once before the thread starts, then touched by that thread only,
    // except `wakeFD` (the watcher thread's own), which cancellation writes to (eventfd
    // writes are thread-safe).
    private let pid: pid_t
    private let stdoutFD: Int32
    private let stderrFD: Int32
    private let wakeFD: Int32
    private let pidFD: Int32
    private let killGrace: Duration
    private let onLine: @Sendable (ChildProcess.Stream, String) -> Void
    private let terminationRequested = Atomic<Bool>(false)

    /// Lines longer than this are cut into pieces, so one runaway line cannot exhaust memory.
    static let maximumLineLength = 16 * 1024

    init(pid: pid_t, pidFD: Int32, stdout: Int32, stderr: Int32, wakeFD: Int32, killGrace: Duration,
         onLine: @escaping @Sendable (ChildProcess.Stream, String) -> Void) {
        self.pid = pid
        self.pidFD = pidFD
        self.stdoutFD = stdout
        self.stderrFD = stderr
        self.wakeFD = wakeFD
        self.killGrace = killGrace
        self.onLine = onLine
    }

    func requestTermination() {
        terminationRequested.store(true, ordering: .sequentiallyConsistent)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func now() -> ContinuousClock.Instant { ContinuousClock.now }

    /// Watches the child to its end, reading its output through `chunk`.
    func watch(readingInto chunk: UnsafeMutableRawBufferPointer) -> ChildProcess.Termination {
        var termination = ChildProcess.Termination(exitStatus: nil, signal: nil, signalledGroup: false, leftoversEnded: false)
        var buffers: [Int32: [UInt8]] = [stdoutFD: [], stderrFD: []]
        var open: Set<Int32> = [stdoutFD, stderrFD]
        var exited = false
        var killDeadline: ContinuousClock.Instant?
        var killed = false
        var groupGone = false  // no process left in the group: none can join it again

        func signalGroup(_ signal: Int32) {
            termination.signalledGroup = true
            kill(-pid, signal)
        }
        func startEnding() {
            guard killDeadline == nil else { return }
            signalGroup(SIGTERM)
            killDeadline = now() + killGrace
        }
        func groupAlive() -> Bool { ProcessTable.groupHasLiveMembers(pid) }

        while true {
            if exited, open.isEmpty, killed || groupGone || !groupAlive() { break }
            var fds: [pollfd] = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if !exited { fds.append(pollfd(fd: pidFD >= 0 ? pidFD : -1, events: Int16(POLLIN), revents: 0)) }
            fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))

            // Wait for output, the exit, a cancellation, or the next step of ending the group.
            var timeout: Int32 = -1
            if let deadline = killDeadline, !killed {
                let remaining = now().duration(to: deadline)
                timeout = Int32(max(0, min(remaining.milliseconds, 60_000)))
            }
            if pidFD < 0 && !exited { timeout = timeout < 0 ? 20 : min(timeout, 20) }  // no pidfd: poll the exit
            if exited && open.isEmpty { timeout = timeout < 0 ? 20 : min(timeout, 20) }   // waiting for the group to go
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { break }

            for index in fds.indices where fds[index].revents != 0 {
                let fd = fds[index].fd
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    if terminationRequested.load(ordering: .sequentiallyConsistent) { startEnding() }
                } else if fd == pidFD {
                    continue  // handled below through waitpid
                } else {
                    let count = read(fd, chunk.baseAddress, chunk.count)
                    if count > 0 {
                        buffers[fd]!.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
                        emitLines(from: &buffers[fd]!, stream: fd == stdoutFD ? .stdout : .stderr, final: false)
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        emitLines(from: &buffers[fd]!, stream: fd == stdoutFD ? .stdout : .stderr, final: true)
                        open.remove(fd)
                        close(fd)
                    }
                }
            }
            if !exited {
                var status: Int32 = 0
                let reaped = waitpid(pid, &status, WNOHANG)
                if reaped == pid {
                    exited = true
                    ChildRegistry.finished(pid)
                    if status & 0x7f == 0 {
                        termination.exitStatus = (status >> 8) & 0xff
                    } else {
                        termination.signal = status & 0x7f
                    }
                    if groupAlive() {
                        termination.leftoversEnded = true
                        startEnding()
                    } else {
                        groupGone = true
                    }
                } else if reaped < 0 && errno == ECHILD {
                    exited = true  // reaped elsewhere (should not happen); do not spin
                    ChildRegistry.finished(pid)
                }
            }
            if let deadline = killDeadline, !killed, now() >= deadline {
                signalGroup(SIGKILL)
                killed = true
            }
        }
        for fd in open { close(fd) }
        if pidFD >= 0 { close(pidFD) }
        return termination
    }

    private func emitLines(from buffer: inout [UInt8], stream: ChildProcess.Stream, final: Bool) {
        var start = 0
        while let newline = buffer[start...].firstIndex(of: 0x0A) {
            emit(buffer[start..<newline], stream)
            start = newline + 1
        }
        while buffer.count - start > Self.maximumLineLength {
            emit(buffer[start..<(start + Self.maximumLineLength)], stream)
            start += Self.maximumLineLength
        }
        if final, start < buffer.count {
            emit(buffer[start...], stream)
            start = buffer.count
        }
        buffer.removeFirst(start)
    }

    private func emit(_ bytes: ArraySlice<UInt8>, _ stream: ChildProcess.Stream) {
        var line = bytes
        if line.last == 0x0D { line = line.dropLast() }
        onLine(stream, String(decoding: line, as: UTF8.self))
    }
}

/// Carries a cancellation that may come before the child exists to its watcher once it does.
private final class CancellationLatch: Sendable {
    private let state = Mutex<(cancelled: Bool, watcher: ChildWatcher?)>((false, nil))

    func attach(_ watcher: ChildWatcher) {
        let cancelled = state.withLock { state -> Bool in
            state.watcher = watcher
            return state.cancelled
        }
        if cancelled { watcher.requestTermination() }
    }

    func cancel() {
        let watcher = state.withLock { state -> ChildWatcher? in
            state.cancelled = true
            return state.watcher
        }
        watcher?.requestTermination()
    }
}
