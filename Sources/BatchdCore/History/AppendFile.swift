import CBatchdSystem
import FoundationEssentials
import Glibc

/// A JSON Lines file opened for appending; closed when the store lets go of it. Open for reading
/// too: the owner's start-up checks the file's last line through the same descriptor it then
/// keeps for the job's next run.
final class AppendFile: Sendable {
    let fd: Int32
    let path: String

    init(path: String) throws(HistoryError) {
        fd = CBatchd_move_to_band(open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644))
        guard fd >= 0 else { throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.path = path
    }

    deinit {
        close(fd)
    }
}
