import FoundationEssentials
import Glibc

/// One daemon per state directory: `<stateDir>/daemon.lock`, held with `flock` for the daemon's
/// life. The kernel drops the lock when the process dies, so a crash never leaves it stale.
public final class StateLock: Sendable {
    private let fd: Int32
    public let path: String

    public init(stateDirectory: String) throws(HistoryError) {
        path = "\(stateDirectory)/daemon.lock"
        do {
            try PathText.createDirectories(stateDirectory)
        } catch {
            throw HistoryError("cannot create the state directory \(stateDirectory): \(error)")
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, 32, 0)
            let holder = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingWhitespace() : "?"
            // No close here: the throw runs deinit (every property is set), which closes `fd`.
            throw HistoryError("another batchd daemon (pid \(holder)) is already running on \(stateDirectory); one daemon per state directory (once, runs, status and reindex still work)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit {
        close(fd)  // drops the lock, if this process held it
    }
}
