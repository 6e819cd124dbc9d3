import FoundationEssentials
import Glibc

/// Brings a job's index in line with its JSON Lines file: checks that the last entry points at
/// a line with its id that ends where the file ends; indexes the lines beyond it (a crash
/// between the line and its entry, or another process's appends); rebuilds the whole index
/// from the file when it is missing, damaged, or does not match.
struct IndexSync {
    let index: JobIndex
    let file: String
    /// The file, open for reading: the store's append descriptor for it.
    let fd: Int32
    let forceRebuild: Bool
    /// Index the file up to here (a line boundary) rather than to its end.
    var upTo: Int64?

    struct Outcome {
        /// Why the index was rebuilt, when it was.
        var rebuilt: String?
        var unreadableLines = 0
    }

    func run() throws(HistoryError) -> Outcome {
        let size = upTo ?? LineScanner.size(of: fd)
        if forceRebuild { return try rebuild(size: size, reason: "rebuild requested") }
        guard let last = index.last else {
            if index.count > 0 { return try rebuild(size: size, reason: "the index did not match the file") }
            return size > 0 ? try rebuild(size: size, reason: "the index was missing") : Outcome()
        }
        guard last.end <= size, LineScanner.record(at: last, fd: fd)?.id == last.id else {
            return try rebuild(size: size, reason: "the index did not match the file")
        }
        guard last.end < size else { return Outcome() }
        let scanned = try LineScanner.entries(of: file, from: last.end, to: size)
        for entry in scanned.entries { try index.append(entry) }
        return Outcome(unreadableLines: scanned.unreadable)
    }

    private func rebuild(size: Int64, reason: String) throws(HistoryError) -> Outcome {
        let scanned = try LineScanner.entries(of: file, from: 0, to: size)
        try index.replace(with: scanned.entries)
        return Outcome(rebuilt: reason, unreadableLines: scanned.unreadable)
    }
}

/// Reading runs straight from a JSON Lines file: the rebuild path and the unindexed tail.
enum LineScanner {
    static func size(of file: String) -> Int64 {
        var info = stat()
        return stat(file, &info) == 0 ? Int64(info.st_size) : 0
    }

    static func size(of fd: Int32) -> Int64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Index entries for the lines in [from, to); lines that do not parse are counted, not indexed.
    static func entries(of file: String, from start: Int64, to end: Int64) throws(HistoryError) -> (entries: [JobIndex.Entry], unreadable: Int) {
        guard end > start else { return ([], 0) }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HistoryError("cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var entries: [JobIndex.Entry] = []
        var unreadable = 0
        var position = start
        var pending: [UInt8] = []
        var pendingOffset = start
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while position < end {
            let want = Int(min(Int64(buffer.count), end - position))
            let count = pread(fd, &buffer, want, off_t(position))
            if count <= 0 { break }
            position += Int64(count)
            pending += buffer[0..<count]
            var lineStart = 0
            while let newline = pending[lineStart...].firstIndex(of: 0x0A) {
                let line = pending[lineStart..<newline]
                let offset = pendingOffset + Int64(lineStart)
                if let record = try? RunRecord(line: line) {
                    entries.append(.init(id: record.id, offset: offset, length: UInt32(line.count + 1), status: record.status,
                                         startedAtMs: Int64((record.startedAt.timeIntervalSince1970 * 1000).rounded())))
                } else if !line.isEmpty {
                    unreadable += 1
                }
                lineStart = newline + 1
            }
            pendingOffset += Int64(lineStart)
            pending.removeFirst(lineStart)
        }
        return (entries, unreadable)
    }

    /// The record an entry points at, or nil when the bytes there are not that line.
    static func record(at entry: JobIndex.Entry, fd: Int32) -> RunRecord? {
        guard entry.length > 0, entry.length < 64 << 20 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(entry.length))
        guard pread(fd, &bytes, bytes.count, off_t(entry.offset)) == bytes.count, bytes.last == 0x0A else { return nil }
        return try? RunRecord(line: bytes.dropLast())
    }
}
