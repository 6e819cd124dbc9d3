import FoundationEssentials
import Glibc

/// The runs this process has started and not yet recorded: `<stateDir>/running/<pid>.jsonl`,
/// one JSON line per started run, written with one `write` on an `O_APPEND` descriptor before
/// anyone is told the run started. A run whose line is there and whose record is not in the
/// history was cut short (a crash, `kill -9`): the next owner of the history turns it into an
/// `interrupted` record (`entries(in:)`).
///
/// One file per process, so that `batchd once` beside the daemon keeps its own. The file is
/// emptied whenever no run of the process is in flight, and rewritten with only the runs in
/// flight once it passes 1 MiB, so it stays small without a file per run: a file created,
/// renamed and deleted per run cost more than the rest of a no-op run (ext4 inode allocation
/// in a busy folder, measured here).
final class RunJournal {
    struct Entry {
        var id: Int64
        var job: String
        var displayName: String
        var trigger: RunTrigger
        var attempt: Int
        var startedAt: Date?
        /// The process that wrote it: a live one still owns its runs.
        var pid: Int32?
    }

    static let compactionSize = 1 << 20

    let path: String
    /// This process, named in every line (read once: it is in every run's line).
    private let pid = getpid()
    private var fd: Int32 = -1
    private var size = 0
    private var inFlight: [Int64: [UInt8]] = [:]

    init(directory: String) {
        path = "\(directory)/\(getpid()).jsonl"
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func started(_ entry: Entry) throws(HistoryError) {
        try started([entry])
    }

    /// The lines of runs that start together, in one `write`: all of them are in the journal,
    /// or (the write failed) none.
    func started(_ entries: [Entry]) throws(HistoryError) {
        try openIfNeeded()
        let lines = entries.map { Self.line($0, pid: $0.pid ?? pid) }
        let bytes = lines.count == 1 ? lines[0] : lines.flatMap { $0 }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            if written > 0 { _ = ftruncate(fd, off_t(size)) }  // no torn line for the next entry
            throw HistoryError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        size += bytes.count
        for (entry, line) in zip(entries, lines) { inFlight[entry.id] = line }
    }

    /// The run is in the history now: its line is no longer needed.
    func recorded(_ id: Int64) {
        guard inFlight.removeValue(forKey: id) != nil else { return }
        if inFlight.isEmpty {
            if ftruncate(fd, 0) == 0 { size = 0 }
        } else if size > Self.compactionSize {
            compact()
        }
    }

    private func openIfNeeded() throws(HistoryError) {
        guard fd < 0 else { return }
        // A journal of this pid left by an earlier process (pids are reused) is kept, under a
        // name that says no live process owns it, for the next owner's recovery.
        if FileManager.default.fileExists(atPath: path), LineScanner.size(of: path) > 0 {
            rename(path, "\(PathText.directory(of: path))/stale-\(UInt64.random(in: 0...UInt64.max)).jsonl")
        }
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))") }
        size = 0
    }

    /// Rewrites the journal with only the runs in flight (a temporary file renamed over it).
    private func compact() {
        let temporary = "\(path).compact"
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard output >= 0 else { return }
        let lines = inFlight.values.flatMap { $0 }
        guard lines.withUnsafeBytes({ write(output, $0.baseAddress, $0.count) }) == lines.count, rename(temporary, path) == 0 else {
            close(output)
            unlink(temporary)
            return  // the journal keeps growing; correct, only larger
        }
        close(fd)
        fd = output
        size = lines.count
    }

    /// The entry as one line, newline included; written field by field, with no `JSONValue` in
    /// between (a line for every run).
    static func line(_ entry: Entry, pid: Int32) -> [UInt8] {
        var object = JSONObjectWriter(capacity: 160)
        object.field("id", entry.id)
        object.field("job", entry.job)
        object.field("displayName", entry.displayName)
        object.field("trigger", entry.trigger.rawValue)
        object.field("attempt", Int64(entry.attempt))
        object.field("startedAt", entry.startedAt.map(Timestamp.iso8601) ?? "")
        object.field("pid", Int64(pid))
        return object.finish(terminator: 0x0A)
    }

    /// The runs a journal (or a marker file of batchd 0.1, one run as one JSON object) lists;
    /// lines that do not parse (the torn last line of a crash) are left out.
    static func entries(in file: String) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: file) else { return [] }
        return data.split(separator: 0x0A).compactMap { line in
            guard let value = try? JSONParser.parse(Array(line)),
                  let id = value["id"]?.intValue, let job = value["job"]?.stringValue, JobName.isValid(job) else { return nil }
            return Entry(
                id: id, job: job, displayName: value["displayName"]?.stringValue ?? job,
                trigger: value["trigger"]?.stringValue.flatMap(RunTrigger.init) ?? .schedule,
                attempt: Int(value["attempt"]?.intValue ?? 1),
                startedAt: value["startedAt"]?.stringValue.flatMap(Timestamp.parse),
                pid: value["pid"]?.intValue.map { Int32(truncatingIfNeeded: $0) }
            )
        }
    }
}
