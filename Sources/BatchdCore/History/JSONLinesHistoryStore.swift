import Foundation

/// The run history on disk (SPEC section 4): `<stateDir>/runs/<job>.jsonl`, one JSON line per
/// finished run, appended with one `write` on an `O_APPEND` descriptor and `fdatasync`ed when
/// `history.fsync` is on; `<stateDir>/running/<id>.json` marks a run in progress.
///
/// Opening the store recovers from a crash: a torn last line is cut off (and reported), and a
/// run still marked as running by a process that is gone becomes an `interrupted` record.
/// Latest-run questions read the ends of the files only.
public actor JSONLinesHistoryStore: HistoryStore {
    public let stateDirectory: String
    public let runsDirectory: String
    let runningDirectory: String
    let settings: HistorySettings
    private let ids: RunIDAllocator
    private var appendHandles: [String: Int32] = [:]
    private var latestCache: [String: RunRecord] = [:]
    private var lastSuccessCache: [String: Date] = [:]

    /// What opening the store found and repaired.
    public struct Recovery: Sendable {
        public var tornLines: [(file: String, bytesCut: Int)] = []
        public var interrupted: [RunRecord] = []
    }

    public private(set) var recovery = Recovery()

    public init(stateDirectory: String, settings: HistorySettings) throws(HistoryError) {
        self.stateDirectory = stateDirectory
        self.settings = settings
        runsDirectory = "\(stateDirectory)/runs"
        runningDirectory = "\(stateDirectory)/running"
        for directory in [stateDirectory, runsDirectory, runningDirectory, "\(stateDirectory)/state"] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw HistoryError("cannot create \(directory): \(error.localizedDescription)")
            }
        }
        var tornLines: [(String, Int)] = []
        var newestID: Int64 = 0
        for job in Self.jobFiles(in: runsDirectory) {
            let path = "\(runsDirectory)/\(job).jsonl"
            if let cut = try Self.cutTornLine(path) { tornLines.append((path, cut)) }
            if let last = Self.readLatest(path: path) { newestID = max(newestID, last.id) }
        }
        ids = try RunIDAllocator(path: "\(runsDirectory)/.last-id", atLeast: newestID)
        recovery.tornLines = tornLines
    }

    /// Turns runs left marked as running by a dead process into `interrupted` records.
    /// Called once by the daemon (and `once`) after opening.
    public func recoverInterruptedRuns(now: Date) throws -> [RunRecord] {
        var recorded: [RunRecord] = []
        let markers = (try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []
        for name in markers.sorted() where name.hasSuffix(".json") {
            let path = "\(runningDirectory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path),
                  let marker = try? JSONParser.parse(Array(data)),
                  let id = marker["id"]?.intValue, let job = marker["job"]?.stringValue, JobName.isValid(job) else {
                unlink(path)
                continue
            }
            if let pid = marker["pid"]?.intValue, pid != Int64(getpid()), kill(pid_t(pid), 0) == 0 {
                continue  // a run of another live process (`batchd once`)
            }
            if try !contains(id: id, job: job) {
                let record = RunRecord(
                    id: id, jobType: job, displayName: marker["displayName"]?.stringValue ?? job, status: .interrupted,
                    trigger: marker["trigger"]?.stringValue.flatMap(RunTrigger.init) ?? .schedule,
                    attempt: Int(marker["attempt"]?.intValue ?? 1),
                    startedAt: marker["startedAt"]?.stringValue.flatMap(Timestamp.parse) ?? now, completedAt: now,
                    error: "batchd stopped while this run was in progress (found at start-up)"
                )
                try append(record)
                recorded.append(record)
            }
            unlink(path)
        }
        recovery.interrupted = recorded
        return recorded
    }

    // MARK: HistoryStore

    public func allocateRunID() throws -> Int64 {
        try ids.next()
    }

    public func runStarted(id: Int64, job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) throws {
        let marker: JSONValue = [
            "id": .int(id), "job": .string(job), "displayName": .string(displayName), "trigger": .string(trigger.rawValue),
            "attempt": .int(Int64(attempt)), "startedAt": .string(Timestamp.iso8601(at)), "pid": .int(Int64(getpid())),
        ]
        do {
            try AtomicFile.write(Array(JSONWriter.string(marker).utf8), to: markerPath(id), sync: false)
        } catch {
            throw HistoryError(error.description)
        }
    }

    public func append(_ record: RunRecord) throws {
        let fd = try appendHandle(for: record.jobType)
        let line = record.line
        var info = stat()
        fstat(fd, &info)
        let sizeBefore = info.st_size
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written != line.count {
            let reason = written < 0 ? String(cString: strerror(errno)) : "short write (\(written) of \(line.count) bytes; disk full?)"
            // Never leave a torn line behind for the next record to follow.
            if written > 0 { _ = ftruncate(fd, sizeBefore) }
            throw HistoryError("cannot append to \(runsDirectory)/\(record.jobType).jsonl: \(reason)")
        }
        if settings.fsync, fdatasync(fd) != 0 {
            throw HistoryError("cannot sync \(runsDirectory)/\(record.jobType).jsonl: \(String(cString: strerror(errno)))")
        }
        unlink(markerPath(record.id))
        if record.id >= latestCache[record.jobType]?.id ?? 0 { latestCache[record.jobType] = record }
        if record.status == .completed, record.startedAt > lastSuccessCache[record.jobType] ?? .distantPast {
            lastSuccessCache[record.jobType] = record.startedAt
        }
    }

    public func latest(job: String) throws -> RunRecord? {
        if let cached = latestCache[job] { return cached }
        let record = Self.readLatest(path: path(of: job))
        if let record { latestCache[job] = record }
        return record
    }

    public func lastSuccess(job: String) throws -> Date? {
        if let cached = lastSuccessCache[job] { return cached }
        var found: Date?
        try scanBackwards(job: job) { record in
            guard record.status == .completed else { return true }
            found = record.startedAt
            return false
        }
        if let found { lastSuccessCache[job] = found }
        return found
    }

    public func run(id: Int64) throws -> RunRecord? {
        var found: RunRecord?
        for job in Self.jobFiles(in: runsDirectory) where found == nil {
            try scanBackwards(job: job) { record in
                if record.id == id { found = record }
                return found == nil && record.id > id
            }
        }
        return found
    }

    public func newest(limit: Int, job: String?, status: RunStatus?) throws -> [RunRecord] {
        let jobs = job.map { [$0] } ?? Self.jobFiles(in: runsDirectory)
        var runs: [RunRecord] = []
        for name in jobs {
            var taken = 0
            try scanBackwards(job: name) { record in
                if status == nil || record.status == status {
                    runs.append(record)
                    taken += 1
                }
                return taken < limit
            }
        }
        return Array(runs.sorted { $0.id > $1.id }.prefix(limit))
    }

    // MARK: Files

    nonisolated func path(of job: String) -> String {
        "\(runsDirectory)/\(job).jsonl"
    }

    private func markerPath(_ id: Int64) -> String {
        "\(runningDirectory)/\(id).json"
    }

    private func appendHandle(for job: String) throws -> Int32 {
        if let fd = appendHandles[job] { return fd }
        let fd = open(path(of: job), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HistoryError("cannot open \(path(of: job)): \(String(cString: strerror(errno)))")
        }
        appendHandles[job] = fd
        return fd
    }

    /// Whether the job's file holds run `id`, looking back only as far as ids can be that large.
    private func contains(id: Int64, job: String) throws -> Bool {
        var found = false
        var seen = 0
        try scanBackwards(job: job) { record in
            found = record.id == id
            seen += 1
            return !found && seen < 1000
        }
        return found
    }

    /// Visits the job's records newest first until `visit` returns false. Lines that do not
    /// parse are skipped (and were reported when the store opened).
    private func scanBackwards(job: String, _ visit: (RunRecord) -> Bool) throws {
        let fd = open(path(of: job), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw HistoryError("cannot read \(path(of: job)): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        var reader = ReverseLineReader(fd: fd, size: info.st_size)
        while let (line, _) = reader.previousLine() {
            guard !line.isEmpty, let record = try? RunRecord(line: line) else { continue }
            if !visit(record) { return }
        }
    }

    static func jobFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }
            .map { String($0.dropLast(6)) }
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
    static func cutTornLine(_ path: String) throws(HistoryError) -> Int? {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw HistoryError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
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
