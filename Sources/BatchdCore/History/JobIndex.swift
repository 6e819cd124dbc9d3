import CBatchdSystem
import FoundationEssentials
import Glibc

/// The index of one job's history file: `runs/<job>.idx`, one fixed 32-byte entry per line of
/// `runs/<job>.jsonl`, in file order. It makes "the latest run", "run by id" and "the newest N"
/// cost a few `pread`s whatever the history's size.
///
/// Entry layout (little-endian): id Int64 · offset Int64 · length UInt32 · status UInt8 ·
/// 3 bytes reserved · startedAt Int64 (milliseconds since 1970).
///
/// Ids within one job's file increase, except for rare records appended out of order (an
/// `interrupted` record written at start-up, a `batchd once` racing the daemon on the same
/// job); those are also listed in `runs/<job>.ooo` (8 bytes each: the entry number), which
/// id lookups read in full.
///
/// The index is a cache: it is checked against the JSON Lines file when the store opens (the
/// last entry must end where the file ends), caught up or rebuilt from the file when it does
/// not match, and never synced on its own.
final class JobIndex: @unchecked Sendable {  // used from the store's actor only
    struct Entry: Equatable {
        var id: Int64
        var offset: Int64
        var length: UInt32
        var status: RunStatus
        var startedAtMs: Int64

        var end: Int64 { offset + Int64(length) }
    }

    static let entrySize = 32
    static let statusCodes: [RunStatus] = [.completed, .failed, .timeout, .cancelled, .interrupted]

    let job: String
    let path: String
    let outOfOrderPath: String
    private let fd: Int32
    private(set) var count: Int
    private var lastID: Int64

    let writable: Bool

    /// Opens (a writable one creates) the index of `job`. A read-only one of a missing index is
    /// empty: the reader then finds every run in the file's unindexed tail.
    init(directory: String, job: String, writable: Bool) throws(HistoryError) {
        self.job = job
        self.writable = writable
        path = "\(directory)/\(job).idx"
        outOfOrderPath = "\(directory)/\(job).ooo"
        fd = CBatchd_move_to_band(writable ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) : open(path, O_RDONLY | O_CLOEXEC))
        guard fd >= 0 || (!writable && errno == ENOENT) else {
            throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        if fd >= 0 { fstat(fd, &info) }
        count = Int(info.st_size) / Self.entrySize
        if writable, Int(info.st_size) % Self.entrySize != 0 {
            _ = ftruncate(fd, off_t(count * Self.entrySize))  // a torn entry: the catch-up redoes it
        }
        lastID = 0
        let lastEntry = count > 0 ? entry(at: count - 1) : nil
        lastID = lastEntry?.id ?? 0
        // Read once: an append asks for it next (one `pread` less for every job's first run
        // after its index was opened).
        if writable { cachedLast = .some(lastEntry) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    var highestID: Int64 { lastID }

    func entry(at index: Int) -> Entry? {
        guard index >= 0, index < count else { return nil }
        var bytes = [UInt8](repeating: 0, count: Self.entrySize)
        guard pread(fd, &bytes, Self.entrySize, off_t(index * Self.entrySize)) == Self.entrySize else { return nil }
        return Self.decode(bytes)
    }

    /// The last entry, kept in memory by a writable index (every append asks for it).
    private var cachedLast: Entry??

    var last: Entry? {
        if let cachedLast { return cachedLast }
        let value = entry(at: count - 1)
        if writable { cachedLast = .some(value) }
        return value
    }

    func append(_ entry: Entry) throws(HistoryError) {
        guard writable else { throw HistoryError("\(path) is open read-only") }
        let bytes = Self.encode(entry)
        guard pwrite(fd, bytes, bytes.count, off_t(count * Self.entrySize)) == bytes.count else {
            throw HistoryError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        if entry.id < lastID {
            var number = Int64(count).littleEndian
            let ooo = open(outOfOrderPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            if ooo >= 0 {
                _ = write(ooo, &number, 8)
                close(ooo)
            }
        }
        lastID = max(lastID, entry.id)
        count += 1
        cachedLast = .some(entry)
    }

    /// Replaces the whole index (after a rebuild or a retention rewrite).
    func replace(with entries: [Entry]) throws(HistoryError) {
        guard writable else { throw HistoryError("\(path) is open read-only") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * Self.entrySize)
        var outOfOrder: [UInt8] = []
        var highest: Int64 = 0
        for (number, entry) in entries.enumerated() {
            bytes += Self.encode(entry)
            if entry.id < highest { withUnsafeBytes(of: Int64(number).littleEndian) { outOfOrder += $0 } }
            highest = max(highest, entry.id)
        }
        guard ftruncate(fd, 0) == 0, pwrite(fd, bytes, bytes.count, 0) == bytes.count else {
            throw HistoryError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        unlink(outOfOrderPath)
        if !outOfOrder.isEmpty {
            do {
                try AtomicFile.write(outOfOrder, to: outOfOrderPath, sync: false)
            } catch {
                throw HistoryError(error.description)
            }
        }
        count = entries.count
        lastID = highest
        cachedLast = .some(entries.last)
    }

    /// The entry of run `id`: a binary search over the (increasing) ids, then the short list of
    /// entries that were appended out of order.
    func find(id: Int64) -> Entry? {
        var low = 0, high = count - 1
        while low <= high {
            let middle = (low + high) / 2
            guard let entry = entry(at: middle) else { return nil }
            if entry.id == id { return entry }
            if entry.id < id { low = middle + 1 } else { high = middle - 1 }
        }
        guard let data = FileManager.default.contents(atPath: outOfOrderPath) else { return nil }
        let numbers = data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }.map { Int(Int64(littleEndian: $0)) }
        return numbers.lazy.compactMap { self.entry(at: $0) }.first { $0.id == id }
    }

    /// Entries from the newest back, while `visit` returns true.
    func visitNewestFirst(_ visit: (Entry) -> Bool) {
        var index = count - 1
        let batch = 256
        while index >= 0 {
            let first = max(0, index - batch + 1)
            let size = (index - first + 1) * Self.entrySize
            var bytes = [UInt8](repeating: 0, count: size)
            guard pread(fd, &bytes, size, off_t(first * Self.entrySize)) == size else { return }
            for position in stride(from: index - first, through: 0, by: -1) {
                let start = position * Self.entrySize
                guard let entry = Self.decode(Array(bytes[start..<(start + Self.entrySize)])) else { continue }
                if !visit(entry) { return }
            }
            index = first - 1
        }
    }

    static func encode(_ entry: Entry) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: entrySize)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: entry.id.littleEndian, toByteOffset: 0, as: Int64.self)
            raw.storeBytes(of: entry.offset.littleEndian, toByteOffset: 8, as: Int64.self)
            raw.storeBytes(of: entry.length.littleEndian, toByteOffset: 16, as: UInt32.self)
            raw.storeBytes(of: UInt8(statusCodes.firstIndex(of: entry.status)!), toByteOffset: 20, as: UInt8.self)
            raw.storeBytes(of: entry.startedAtMs.littleEndian, toByteOffset: 24, as: Int64.self)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> Entry? {
        bytes.withUnsafeBytes { raw -> Entry? in
            let code = Int(raw.load(fromByteOffset: 20, as: UInt8.self))
            guard code < statusCodes.count else { return nil }
            return Entry(
                id: Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: Int64.self)),
                offset: Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: Int64.self)),
                length: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self)),
                status: statusCodes[code],
                startedAtMs: Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: Int64.self))
            )
        }
    }
}
