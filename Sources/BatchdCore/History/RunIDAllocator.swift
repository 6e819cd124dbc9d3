import FoundationEssentials
import Glibc

/// Hands out run ids that are unique across jobs and across processes (the daemon and
/// `batchd once` may record at the same time): the last id lives in `runs/.last-id`, read and
/// bumped under `flock`. It is not synced: after a crash the next start takes the larger of it
/// and the newest id in the history files, so an id that reached a record is never reused.
final class RunIDAllocator: @unchecked Sendable {  // used from one actor only
    private let fd: Int32
    let path: String

    init(path: String, atLeast floor: Int64) throws(HistoryError) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))") }
        try locked { current in max(current, floor) }
    }

    deinit {
        close(fd)
    }

    func next() throws(HistoryError) -> Int64 {
        try locked { $0 + 1 }
    }

    @discardableResult
    private func locked(_ update: (Int64) -> Int64) throws(HistoryError) -> Int64 {
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw HistoryError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingWhitespace() : ""
        let next = update(Int64(text) ?? 0)
        // Fixed width (19 digits, the most an Int64 has), so that no truncation is ever needed.
        let digits = String(next)
        let bytes = Array((String(repeating: "0", count: max(0, 19 - digits.count)) + digits + "\n").utf8)
        guard pwrite(fd, bytes, bytes.count, 0) == bytes.count else {
            throw HistoryError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return next
    }
}
