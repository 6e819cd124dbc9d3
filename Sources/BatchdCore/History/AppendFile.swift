import FoundationEssentials
import Glibc

/// A JSON Lines file opened for appending; closed when the store lets go of it.
final class AppendFile: Sendable {
    let fd: Int32
    let path: String

    init(path: String) throws(HistoryError) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.path = path
    }

    deinit {
        close(fd)
    }
}
