import FoundationEssentials
import Glibc

/// The run history on disk (SPEC section 4): `<stateDir>/runs/<job>.jsonl`, one JSON line per
/// finished run, appended with one `write` on an `O_APPEND` descriptor and `fdatasync`ed when
/// `history.fsync` is on; `runs/<job>.idx` indexes it (see `JobIndex`); `running/<id>.json`
/// marks a run in progress.
///
/// Roles. The *owner* (the daemon; `once` and `reindex` when no daemon runs) holds
/// `runs/.index.lock`, repairs the files when it opens them (a torn last line is cut off and
/// reported; an index that does not match its file is caught up or rebuilt) and keeps the
/// indexes. An *appender* (`once` beside a running daemon) only appends lines; a *reader*
/// (`runs`, `status`) only reads. Both find runs the index does not cover yet in the file's
/// unindexed tail, which the owner indexes on its next append or start.
///
/// Every query reads index entries and the lines it returns: nothing scans a whole file.
public actor JSONLinesHistoryStore: HistoryStore {
    public enum Role: Sendable {
        case owner, appender, reader
    }

    public let stateDirectory: String
    public let runsDirectory: String
    let runningDirectory: String
    let settings: HistorySettings
    public nonisolated let role: Role
    private let ids: RunIDAllocator?
    private let indexLock: Int32
    /// Open descriptors: a bounded number, the most recently used (see `DescriptorCache`).
    private var appendFiles: DescriptorCache<AppendFile>
    private var indexes: DescriptorCache<JobIndex>
    private var lastSuccessCache: [String: Date] = [:]
    /// Each job's latest run, as the owner last saw it. Lines another process appends
    /// (`batchd once` beside the daemon) are announced by the appender adding one byte to
    /// `runs/.appended`; a change of that file's size (or inode) empties the cache. The size,
    /// not the mtime: two appends within one tick of the kernel's coarse clock leave the same
    /// mtime. So a status answer for ten thousand jobs costs one `stat` and ten thousand
    /// dictionary lookups. The jobs known to have no run yet are a set of their own: as empty
    /// optional slots in the dictionary they were 144 bytes each (2.5 MB for ten thousand new jobs).
    private var latestCache: [String: RunRecord] = [:]
    private var jobsWithoutRuns: Set<String> = []
    private var appendedMark: (size: off_t, inode: ino_t)?
    /// The runs this process has started and not recorded yet.
    private let journal: RunJournal

    /// What opening the store found and repaired.
    public struct Recovery: Sendable {
        public var tornLines: [(file: String, bytesCut: Int)] = []
        public var rebuiltIndexes: [(job: String, reason: String)] = []
        public var unreadableLines: [(file: String, count: Int)] = []
        public var interrupted: [RunRecord] = []
    }

    public private(set) var recovery = Recovery()

    /// How many syncs the appends have cost so far (group commit shares one among many runs).
    public private(set) var syncRounds = 0

    /// Opens the store in `role`. Asking for `.owner` waits for ownership when `waitForOwnership`
    /// is set (the daemon: a `once` holds it only briefly), and otherwise gives an appender when
    /// another process owns the indexes (`once` beside a running daemon).
    public init(stateDirectory: String, settings: HistorySettings, role wanted: Role = .owner,
                waitForOwnership: Bool = false, rebuildIndexes: Bool = false) throws(HistoryError) {
        self.stateDirectory = stateDirectory
        self.settings = settings
        runsDirectory = "\(stateDirectory)/runs"
        runningDirectory = "\(stateDirectory)/running"
        journal = RunJournal(directory: runningDirectory)
        if wanted != .reader {
            for directory in [stateDirectory, runsDirectory, runningDirectory, "\(stateDirectory)/state"] {
                do {
                    try PathText.createDirectories(directory)
                } catch {
                    throw HistoryError("cannot create \(directory): \(error)")
                }
            }
        }
        var role = wanted
        var lockFD: Int32 = -1
        if wanted == .owner {
            lockFD = open("\(runsDirectory)/.index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            if lockFD < 0 || flock(lockFD, waitForOwnership ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 { role = .appender }
        }
        self.role = role
        indexLock = lockFD
        var recovery = Recovery()
        var newestID: Int64 = 0
        // The files the checks open stay open for the jobs' next runs (as many as the cache holds).
        let capacity = DescriptorBudget.filesPerKind
        var opened = DescriptorCache<JobIndex>(capacity: capacity)
        var openedFiles = DescriptorCache<AppendFile>(capacity: capacity)
        for job in Self.jobFiles(in: runsDirectory) {
            let path = "\(runsDirectory)/\(job).jsonl"
            if role == .owner {
                let file = try AppendFile(path: path)
                if let cut = try Self.cutTornLine(file) { recovery.tornLines.append((path, cut)) }
                let index = try JobIndex(directory: runsDirectory, job: job, writable: true)
                let sync = try IndexSync(index: index, file: path, fd: file.fd, forceRebuild: rebuildIndexes).run()
                if let reason = sync.rebuilt { recovery.rebuiltIndexes.append((job, reason)) }
                if sync.unreadableLines > 0 { recovery.unreadableLines.append((path, sync.unreadableLines)) }
                newestID = max(newestID, index.highestID)
                opened.insert(index, for: job)
                openedFiles.insert(file, for: job)
            } else if role == .appender {
                newestID = max(newestID, Self.readLatest(path: path)?.id ?? 0)
            }
        }
        indexes = opened
        appendFiles = openedFiles
        ids = role == .reader ? nil : try RunIDAllocator(path: "\(runsDirectory)/.last-id", atLeast: newestID)
        self.recovery = recovery
    }

    deinit {
        if indexLock >= 0 { close(indexLock) }  // releases ownership
    }

    /// Turns runs left marked as running by a dead process into `interrupted` records: the
    /// entries of run journals (`running/<pid>.jsonl`, see `RunJournal`) of processes that are
    /// gone, and the one-run marker files (`running/<id>.json`) of batchd 0.1. Called once by
    /// the daemon after opening, before any run starts.
    public func recoverInterruptedRuns(now: Date) throws -> [RunRecord] {
        var recorded: [RunRecord] = []
        var seen: Set<Int64> = []
        let files = (try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []
        for name in files.sorted() {
            let path = "\(runningDirectory)/\(name)"
            if name.hasSuffix(".compact") {
                unlink(path)  // a compaction cut short; the journal it was for is still there
                continue
            }
            guard name.hasSuffix(".jsonl") || name.hasSuffix(".json") else { continue }
            let entries = RunJournal.entries(in: path)
            // A journal names its process; a marker file says it inside.
            let owner = name.hasSuffix(".jsonl") ? Int32(name.dropLast(6)) : entries.first?.pid
            if let owner, owner != getpid(), kill(owner, 0) == 0 {
                continue  // the runs of another live process (`batchd once`)
            }
            for entry in entries where seen.insert(entry.id).inserted {
                guard try run(id: entry.id) == nil else { continue }
                let record = RunRecord(
                    id: entry.id, jobType: entry.job, displayName: entry.displayName, status: .interrupted,
                    trigger: entry.trigger, attempt: entry.attempt, startedAt: entry.startedAt ?? now, completedAt: now,
                    error: "batchd stopped while this run was in progress (found at start-up)"
                )
                try append([record])
                recorded.append(record)
            }
            unlink(path)
        }
        recovery.interrupted = recorded
        return recorded
    }

    // MARK: HistoryStore: writing

    public func allocateRunID() throws -> Int64 {
        guard let ids else { throw HistoryError("the history is open read-only") }
        return try ids.next()
    }

    public func runStarted(id: Int64, job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) throws {
        guard role != .reader else { throw HistoryError("the history is open read-only") }
        try journal.started(.init(id: id, job: job, displayName: displayName, trigger: trigger, attempt: attempt, startedAt: at, pid: nil))
    }

    /// Both steps inside the actor, for every run at once: one hop, one lock of the id file and
    /// one journal `write` for runs that start together.
    // `async`, though nothing in it waits: called on the store itself from an async context, a
    // synchronous one would lose to the protocol extension's async version (one id and one
    // marker at a time), which Swift prefers there.
    public func beginRuns(_ runs: [RunStart]) async throws -> [BegunRun] {
        guard let ids else { throw HistoryError("the history is open read-only") }
        guard !runs.isEmpty else { return [] }
        let first = try ids.next(count: runs.count)
        let entries = runs.enumerated().map { number, run in
            RunJournal.Entry(id: first + Int64(number), job: run.job, displayName: run.displayName, trigger: run.trigger,
                             attempt: run.attempt, startedAt: run.at, pid: nil)
        }
        var markerError: String?
        do {
            try journal.started(entries)
        } catch {
            markerError = "\(error)"
        }
        return entries.map { BegunRun(id: $0.id, markerError: markerError) }
    }

    public func append(_ records: [RunRecord]) throws {
        guard role != .reader else { throw HistoryError("the history is open read-only") }
        // Write every line first (in order, each with one `write`), then make them durable
        // together: runs that finish together share one sync (see `GroupCommit`).
        var written: [RunRecord] = []
        var files: [String: AppendFile] = [:]
        var failure: HistoryError?
        for record in records {
            do {
                files[record.jobType] = try writeLine(of: record)
                written.append(record)
            } catch {
                failure = error
                break
            }
        }
        if settings.fsync, !files.isEmpty {
            do {
                syncRounds += 1
                try GroupCommit.sync(Array(files.values))
            } catch {
                // The lines are in the files (readers see them, and writing them again would
                // record the runs twice), but maybe not on the platter: say so.
                throw HistoryAppendFailure(recorded: written.count, error: error, durable: false)
            }
        }
        // From here on the runs are recorded: the journal can forget them.
        for record in written { journal.recorded(record.id) }
        if let failure {
            throw HistoryAppendFailure(recorded: written.count, error: failure, durable: true)
        }
    }

    /// Appends one line and indexes it; returns the file it went to. The index and retention
    /// are caches and housekeeping: their failures never un-record the run.
    private func writeLine(of record: RunRecord) throws(HistoryError) -> AppendFile {
        let file = try appendFile(for: record.jobType)
        let line = record.line
        var info = stat()
        fstat(file.fd, &info)
        let sizeBefore = info.st_size
        let written = line.withUnsafeBytes { write(file.fd, $0.baseAddress, $0.count) }
        if written != line.count {
            // A short write means the disk filled up in the middle of the line (the next write
            // would fail with ENOSPC): never leave a torn line behind for the next record.
            let reason = written < 0 ? String(cString: strerror(errno)) : "\(String(cString: strerror(ENOSPC))) (\(written) of \(line.count) bytes written)"
            if written > 0 { _ = ftruncate(file.fd, sizeBefore) }
            throw HistoryError("cannot append to \(path(of: record.jobType)): \(reason)")
        }
        if record.status == .completed, record.startedAt > lastSuccessCache[record.jobType] ?? .distantPast {
            lastSuccessCache[record.jobType] = record.startedAt
        }
        latestCache[record.jobType] = record
        jobsWithoutRuns.remove(record.jobType)
        guard role == .owner else {
            // Tell the owner that its view of this job is out of date.
            let mark = open("\(runsDirectory)/.appended", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            if mark >= 0 {
                var newline = UInt8(ascii: "\n")
                _ = write(mark, &newline, 1)
                close(mark)
            }
            return file
        }
        do {
            // Index the line; lines another process appended first are caught up on the way.
            let index = try ownedIndex(for: record.jobType)
            if index.last?.end ?? 0 != Int64(sizeBefore) {
                _ = try IndexSync(index: index, file: path(of: record.jobType), fd: file.fd, forceRebuild: false, upTo: Int64(sizeBefore)).run()
            }
            try index.append(.init(id: record.id, offset: Int64(sizeBefore), length: UInt32(line.count), status: record.status,
                                   startedAtMs: Int64((record.startedAt.timeIntervalSince1970 * 1000).rounded())))
            if index.count >= settings.maxRunsPerJob + Self.retentionSlack(settings.maxRunsPerJob) {
                try applyRetention(job: record.jobType)
            }
        } catch {
            // The run is recorded; only the index lags behind its file (a full disk). The next
            // append, or the next start, catches it up.
        }
        return file
    }

    // MARK: HistoryStore: reading

    /// Served from the cache when it holds the job: the scheduler asks for every job's latest
    /// run at start-up and the first status.json asks again, and reading and parsing the line
    /// twice for ten thousand jobs is what a start-up with history spent most on.
    public func latest(job: String) throws -> RunRecord? {
        forgetIfAppendedElsewhere()
        return try cachedLatest(job: job)
    }

    /// `latest` once the cache is known to be current.
    private func cachedLatest(job: String) throws -> RunRecord? {
        if let cached = latestCache[job] { return cached }
        if jobsWithoutRuns.contains(job) { return nil }
        let view = try view(of: job)
        let latest = try view.newestFirst(limit: 1) { _ in true }.first.flatMap { try view.record($0) }
        if let latest { latestCache[job] = latest } else { jobsWithoutRuns.insert(job) }
        return latest
    }

    /// Empties the caches when another process has appended since the last look (it touches
    /// `runs/.appended`): one `stat`.
    private func forgetIfAppendedElsewhere() {
        var info = stat()
        let mark = stat("\(runsDirectory)/.appended", &info) == 0 ? (size: info.st_size, inode: info.st_ino) : nil
        if mark?.size != appendedMark?.size || mark?.inode != appendedMark?.inode {
            latestCache = [:]
            jobsWithoutRuns = []
            lastSuccessCache = [:]
            appendedMark = mark
        }
    }

    public func lastSuccess(job: String) throws -> Date? {
        if let cached = lastSuccessCache[job] { return cached }
        let view = try view(of: job)
        guard let entry = try view.newestFirst(limit: 1, where: { $0.status == .completed }).first else { return nil }
        let date = Date(timeIntervalSince1970: Double(entry.startedAtMs) / 1000)
        lastSuccessCache[job] = date
        return date
    }

    public func run(id: Int64) throws -> RunRecord? {
        for job in Self.jobFiles(in: runsDirectory) {
            let view = try view(of: job)
            if let entry = view.find(id: id) { return try view.record(entry) }
        }
        return nil
    }

    public func newest(limit: Int, job: String?, status: RunStatus?) throws -> [RunRecord] {
        let jobs = job.map { [$0] } ?? Self.jobFiles(in: runsDirectory)
        var candidates: [(entry: JobIndex.Entry, view: HistoryView)] = []
        for name in jobs where FileManager.default.fileExists(atPath: path(of: name)) {
            let view = try view(of: name)
            candidates += try view.newestFirst(limit: limit) { status == nil || $0.status == status }.map { ($0, view) }
        }
        return try candidates.sorted { $0.entry.id > $1.entry.id }.prefix(limit).compactMap { try $0.view.record($0.entry) }
    }

    // `async` for the same reason as `beginRuns`: the extension's version knows no cache.
    public func summaries(of jobs: [String]) async throws -> [String: JobHistorySummary] {
        forgetIfAppendedElsewhere()
        var result: [String: JobHistorySummary] = [:]
        result.reserveCapacity(jobs.count)
        for job in jobs {
            let latest = try cachedLatest(job: job)
            result[job] = JobHistorySummary(latest: latest, lastSuccess: latest == nil ? nil : try lastSuccess(job: job))
        }
        return result
    }

    /// The latest run of every job that has a history file, for `status` and the API.
    public func latestByJob() throws -> [String: RunRecord] {
        var result: [String: RunRecord] = [:]
        forgetIfAppendedElsewhere()
        for job in Self.jobFiles(in: runsDirectory) {
            result[job] = try cachedLatest(job: job)
        }
        return result
    }

    // MARK: Files

    nonisolated func path(of job: String) -> String {
        "\(runsDirectory)/\(job).jsonl"
    }

    private func appendFile(for job: String) throws(HistoryError) -> AppendFile {
        let path = path(of: job)
        return try appendFiles.file(job) { () throws(HistoryError) in try AppendFile(path: path) }
    }

    private func ownedIndex(for job: String) throws -> JobIndex {
        let directory = runsDirectory
        return try indexes.file(job) { () throws(HistoryError) in try JobIndex(directory: directory, job: job, writable: true) }
    }

    /// The job's index together with the file's unindexed tail.
    private func view(of job: String) throws -> HistoryView {
        // A job with no history file yet gets an empty view, not a new empty index file.
        let owned = role == .owner && (indexes.peek(job) != nil || FileManager.default.fileExists(atPath: path(of: job)))
        let index = owned ? try ownedIndex(for: job) : try JobIndex(directory: runsDirectory, job: job, writable: false)
        return try HistoryView(index: index, file: path(of: job))
    }

    /// Retention: past `maxRunsPerJob` (plus a slack, so that it is not done on every append),
    /// the newest runs are copied to a temporary file that is renamed over the old one, so that
    /// `tail -f`, `grep` and `jq` readers always see whole lines; the index shifts with them.
    private func applyRetention(job: String) throws {
        guard let index = try? ownedIndex(for: job), index.count > settings.maxRunsPerJob,
              let firstKept = index.entry(at: index.count - settings.maxRunsPerJob) else { return }
        let source = path(of: job)
        let temporary = "\(source).retention-\(getpid())"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw HistoryError("retention: cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw HistoryError("retention: cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var offset = off_t(firstKept.offset)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = pread(input, &buffer, buffer.count, offset)
            if count <= 0 { break }
            guard buffer.withUnsafeBytes({ write(output, $0.baseAddress, count) }) == count else {
                close(output)
                unlink(temporary)
                throw HistoryError("retention: cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            offset += off_t(count)
        }
        if settings.fsync { fdatasync(output) }
        close(output)
        guard rename(temporary, source) == 0 else {
            unlink(temporary)
            throw HistoryError("retention: cannot replace \(source): \(String(cString: strerror(errno)))")
        }
        appendFiles.remove(job)  // it points at the old file
        var kept: [JobIndex.Entry] = []
        for number in (index.count - settings.maxRunsPerJob)..<index.count {
            guard var entry = index.entry(at: number) else { continue }
            entry.offset -= firstKept.offset
            kept.append(entry)
        }
        try index.replace(with: kept)
    }

    static func retentionSlack(_ maximum: Int) -> Int {
        max(1, min(1000, maximum / 10))
    }

    static func jobFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }
            .map { String($0.dropLast(6)) }
            .filter(JobName.isValid)
            .sorted()
    }

    static func readLatest(path: String) -> RunRecord? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        var reader = ReverseLineReader(fd: fd, size: info.st_size)
        while let (line, _) = reader.previousLine() {
            if let record = try? RunRecord(line: line) { return record }
        }
        return nil
    }

    /// Cuts a last line that has no newline (a write cut short by a crash); returns the bytes cut.
    static func cutTornLine(_ file: AppendFile) throws(HistoryError) -> Int? {
        let fd = file.fd, path = file.path
        var info = stat()
        fstat(fd, &info)
        guard info.st_size > 0 else { return nil }
        var last: UInt8 = 0
        guard pread(fd, &last, 1, info.st_size - 1) == 1, last != 0x0A else { return nil }
        var reader = ReverseLineReader(fd: fd, size: info.st_size)
        var keep: off_t = 0
        while let (_, offset) = reader.previousLine() {
            if offset < info.st_size, offset > 0 {
                keep = offset
                break
            }
        }
        guard ftruncate(fd, keep) == 0 else {
            throw HistoryError("cannot cut the torn last line of \(path): \(String(cString: strerror(errno)))")
        }
        fsync(fd)
        return Int(info.st_size - keep)
    }
}
