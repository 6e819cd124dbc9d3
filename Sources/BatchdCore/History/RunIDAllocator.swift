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

    /// `count` consecutive ids under one lock (runs that start together); returns the first.
    /// They are taken at one moment, so ids still increase in time across processes.
    func next(count: Int) throws(HistoryError) -> Int64 {
        precondition(count > 0)
        return try locked { $0 + Int64(count) } - Int64(count - 1)
    }

    @discardableResult
    private func locked(_ update: (Int64) -> Int64) throws(HistoryError) -> Int64 {
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw HistoryError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        // Digits read and written in place, with no `String` in between: this is every run's.
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 32 bytes on the stack
        let next = try withUnsafeMutableBytes(of: &buffer) { bytes throws(HistoryError) -> Int64 in
            let count = pread(fd, bytes.baseAddress, bytes.count, 0)
            // The first line, as `Int64` reads it: anything but digits (spaces aside), or too many,
            // is 0, and the store's floor (the newest id in the history) takes over. Only the
            // first line: a longer file (written by hand) keeps its tail after our 20 bytes.
            var current: Int64 = 0
            for byte in bytes.prefix(max(0, count)).prefix(while: { $0 != 0x0A }) where byte != 0x20 {
                let (times, overflow) = current.multipliedReportingOverflow(by: 10)
                guard (48...57).contains(byte), !overflow, times <= Int64.max - Int64(byte - 48) else {
                    current = 0
                    break
                }
                current = times + Int64(byte - 48)
            }
            let next = update(current)
            // Fixed width (19 digits, the most an Int64 has), so that no truncation is ever needed.
            var rest = next
            for position in stride(from: 18, through: 0, by: -1) {
                bytes[position] = UInt8(48 + rest % 10)
                rest /= 10
            }
            bytes[19] = 0x0A
            guard pwrite(fd, bytes.baseAddress, 20, 0) == 20 else {
                throw HistoryError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            return next
        }
        return next
    }
}
