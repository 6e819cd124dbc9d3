import BatchdCore
import Foundation
import Synchronization
import Testing

/// The JSON Lines store and its index on real files in a temporary folder.
@Suite("Run history on real files")
struct HistoryStoreTests {
    final class Folder {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-history-\(UUID().uuidString)").path
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ name: String) -> String { "\(path)/runs/\(name)" }
    }

    let t0 = Timestamp.parse("2026-11-29T12:00:00.000Z")!

    func record(_ id: Int64, _ job: String, _ status: RunStatus = .completed, at offset: Double = 0) -> RunRecord {
        RunRecord(id: id, jobType: job, displayName: job, status: status, trigger: .schedule, attempt: 1,
                  startedAt: t0.addingTimeInterval(offset), completedAt: t0.addingTimeInterval(offset + 1),
                  itemsChecked: Int(id), error: status == .completed ? nil : "boom", result: ["n": .int(id)])
    }

    func store(_ folder: Folder, maxRuns: Int = 10_000, role: JSONLinesHistoryStore.Role = .owner) throws -> JSONLinesHistoryStore {
        try JSONLinesHistoryStore(stateDirectory: folder.path, settings: HistorySettings(maxRunsPerJob: maxRuns, maxLogEntriesPerRun: 100, fsync: false), role: role)
    }

    /// Appends `count` runs round-robin over `jobs`, every fifth one failed.
    func fill(_ store: JSONLinesHistoryStore, count: Int, jobs: [String]) async throws -> [RunRecord] {
        var records: [RunRecord] = []
        for n in 0..<count {
            let id = try await store.allocateRunID()
            let run = record(id, jobs[n % jobs.count], n % 5 == 4 ? .failed : .completed, at: Double(n))
            try await store.append(run)
            records.append(run)
        }
        return records
    }

    /// Makes this process's journal a dead process's (pid 999999), then opens the store again
    /// and recovers: what a restart after a crash finds.
    func recoverAsIfThisProcessHadDied(_ folder: Folder) async throws -> (JSONLinesHistoryStore, [RunRecord]) {
        let journal = "\(folder.path)/running/\(getpid()).jsonl"
        let text = try String(contentsOfFile: journal, encoding: .utf8).replacingOccurrences(of: "\"pid\":\(getpid())", with: "\"pid\":999999")
        try text.write(toFile: "\(folder.path)/running/999999.jsonl", atomically: true, encoding: .utf8)
        unlink(journal)
        let reopened = try store(folder)
        return (reopened, try await reopened.recoverInterruptedRuns(now: t0.addingTimeInterval(60)))
    }

    @Test func everyQueryAnswersFromTheFiles() async throws {
        let folder = Folder()
        let history = try store(folder)
        let records = try await fill(history, count: 30, jobs: ["a", "b", "c"])
        #expect(try await history.latest(job: "a") == records[27])
        #expect(try await history.latest(job: "nope") == nil)
        #expect(try await history.run(id: 14) == records[13])
        #expect(try await history.run(id: 999) == nil)
        #expect(try await history.newest(limit: 4, job: nil, status: nil) == Array(records.suffix(4).reversed()))
        #expect(try await history.newest(limit: 3, job: "b", status: nil).map(\.id) == [29, 26, 23])
        #expect(try await history.newest(limit: 10, job: nil, status: .failed).map(\.id) == [30, 25, 20, 15, 10, 5])
        #expect(try await history.lastSuccess(job: "c") == records[26].startedAt)
        #expect(try await history.latestByJob().mapValues(\.id) == ["a": 28, "b": 29, "c": 30])
        // The file is the spec's format: one JSON object per line, ids in order.
        let lines = try String(contentsOfFile: folder.file("a.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 10)
        #expect(lines.first?.hasPrefix(#"{"id":1,"jobType":"a","displayName":"a","status":"completed","trigger":"schedule","attempt":1,"startedAt":"2026-11-29T12:00:00.000Z","completedAt":"2026-11-29T12:00:01.000Z","durationMs":1000,"itemsChecked":1,"itemsUpdated":0,"error":null,"result":{"n":1},"logs":[]}"#) == true)
    }

    @Test func idsKeepIncreasingAcrossRestarts() async throws {
        let folder = Folder()
        _ = try await fill(try store(folder), count: 5, jobs: ["a"])
        let reopened = try store(folder)
        #expect(try await reopened.allocateRunID() == 6)
        // Even when the id file is lost, the history itself says where ids stand.
        unlink(folder.file(".last-id"))
        #expect(try await store(folder).allocateRunID() == 6)
        // So does a garbled or overlong id file; a short one written by hand is read as it says.
        for garbage in ["12a4\n", "99999999999999999999999\n", "\u{0}\u{0}\u{0}"] {
            _ = FileManager.default.createFile(atPath: folder.file(".last-id"), contents: Data(garbage.utf8))
            let id = try await store(folder).allocateRunID()
            #expect(id == 6, "id file \(garbage.debugDescription) gave \(id)")
        }
        _ = FileManager.default.createFile(atPath: folder.file(".last-id"), contents: Data("41\n".utf8))
        #expect(try await store(folder).allocateRunID() == 42)
        #expect(try String(contentsOfFile: folder.file(".last-id"), encoding: .utf8) == "0000000000000000042\n")
    }

    @Test func aDeletedIndexIsRebuiltFromTheFile() async throws {
        let folder = Folder()
        let records = try await fill(try store(folder), count: 12, jobs: ["a", "b"])
        unlink(folder.file("a.idx"))
        let reopened = try store(folder)
        #expect(await reopened.recovery.rebuiltIndexes.map(\.job) == ["a"])
        #expect(await reopened.recovery.rebuiltIndexes.first?.reason == "the index was missing")
        #expect(try await reopened.run(id: 3) == records[2])
        #expect(try await reopened.latest(job: "a") == records[10])
    }

    @Test func aCorruptIndexIsRebuiltFromTheFile() async throws {
        let folder = Folder()
        let records = try await fill(try store(folder), count: 12, jobs: ["a"])
        let garbage = [UInt8](repeating: 0x5A, count: 32 * 12)
        _ = FileManager.default.createFile(atPath: folder.file("a.idx"), contents: Data(garbage))
        let reopened = try store(folder)
        #expect(await reopened.recovery.rebuiltIndexes.first?.reason == "the index did not match the file")
        #expect(try await reopened.newest(limit: 100, job: "a", status: nil) == records.reversed())
    }

    @Test func anIndexBehindItsFileIsCaughtUp() async throws {
        let folder = Folder()
        let history = try store(folder)
        let records = try await fill(history, count: 6, jobs: ["a"])
        // Cut the last two entries off the index, as a crash between line and entry would.
        truncate(folder.file("a.idx"), 32 * 4)
        let reopened = try store(folder)
        #expect(await reopened.recovery.rebuiltIndexes.isEmpty)
        #expect(try await reopened.latest(job: "a") == records[5])
        #expect(try await reopened.run(id: 5) == records[4])
    }

    @Test func aTornLastLineIsCutOffAndReported() async throws {
        let folder = Folder()
        let records = try await fill(try store(folder), count: 3, jobs: ["a"])
        let handle = try #require(FileHandle(forWritingAtPath: folder.file("a.jsonl")))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"id":4,"jobType":"a","status":"compl"#.utf8))
        try handle.close()
        let reopened = try store(folder)
        #expect(await reopened.recovery.tornLines.map(\.bytesCut) == [37])
        let text = try String(contentsOfFile: folder.file("a.jsonl"), encoding: .utf8)
        #expect(text.hasSuffix("}\n") && text.split(separator: "\n").count == 3)
        // The next record follows a whole line.
        let next = record(try await reopened.allocateRunID(), "a")
        try await reopened.append(next)
        #expect(try await reopened.newest(limit: 10, job: "a", status: nil) == [next] + records.reversed())
    }

    @Test func retentionKeepsTheNewestRunsAndReadersOnlyEverSeeWholeLines() async throws {
        let folder = Folder()
        let history = try store(folder, maxRuns: 50)
        let stop = Atomic<Bool>(false)
        let reading = Atomic<Bool>(false)
        let path = folder.file("a.jsonl")
        _ = try await fill(history, count: 1, jobs: ["a"])
        // A reader that keeps reading the file while retention rewrites it underneath. Every
        // line it sees whole must parse. An unterminated tail is an append caught in progress
        // (the kernel grows a file page by page, so a line that crosses a page boundary can be
        // seen half written, as with any log file); that is not retention's doing.
        let reader = Task.detached { () -> (reads: Int, torn: Int) in
            var reads = 0, torn = 0
            while !stop.load(ordering: .relaxed) {
                guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { continue }
                reads += 1
                reading.store(true, ordering: .relaxed)
                let whole = data[..<((data.lastIndex(of: 0x0A) ?? data.startIndex - 1) + 1)]
                for line in whole.split(separator: 0x0A) where (try? JSONParser.parse(Array(line))) == nil { torn += 1 }
            }
            return (reads, torn)
        }
        while !reading.load(ordering: .relaxed) { await Task.yield() }
        let records = try await fill(history, count: 2000, jobs: ["a"])
        stop.store(true, ordering: .relaxed)
        let seen = await reader.value
        #expect(seen.reads > 0)
        #expect(seen.torn == 0)
        let kept = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(kept.count >= 50 && kept.count < 55)
        #expect(try await history.latest(job: "a") == records.last)
        #expect(try await history.newest(limit: 50, job: "a", status: nil) == Array(records.suffix(50).reversed()))
        #expect(try await history.run(id: 1) == nil)  // compacted away
        #expect(try await history.run(id: 1990) == records[1988])
    }

    @Test func aRunLeftRunningByADeadProcessBecomesInterruptedOnce() async throws {
        let folder = Folder()
        let history = try store(folder)
        _ = try await fill(history, count: 2, jobs: ["a"])
        let recordedLater = try await history.allocateRunID()
        try await history.runStarted(id: recordedLater, job: "a", displayName: "A", trigger: .schedule, attempt: 1, at: t0)
        let id = try await history.allocateRunID()
        try await history.runStarted(id: id, job: "a", displayName: "A", trigger: .manual, attempt: 2, at: t0)
        try await history.append(record(recordedLater, "a"))
        // The journal of this process lists the run still in flight.
        let (reopened, interrupted) = try await recoverAsIfThisProcessHadDied(folder)
        #expect(interrupted.map(\.id) == [id], "the run recorded meanwhile is not interrupted")
        #expect(interrupted.first?.status == .interrupted && interrupted.first?.trigger == .manual && interrupted.first?.attempt == 2)
        #expect(interrupted.first?.startedAt == t0)
        #expect(try await reopened.run(id: id)?.status == .interrupted)
        #expect(try await store(folder).recoverInterruptedRuns(now: Date()).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(folder.path)/running").isEmpty)
    }

    @Test func theJournalIsEmptiedWhenNoRunIsInFlightAndOldMarkerFilesAreRead() async throws {
        let folder = Folder()
        let history = try store(folder)
        let journal = "\(folder.path)/running/\(getpid()).jsonl"
        for _ in 0..<3 {
            let id = try await history.allocateRunID()
            try await history.runStarted(id: id, job: "a", displayName: "A", trigger: .schedule, attempt: 1, at: t0)
            #expect(LineScannerSize.of(journal) > 0)
            try await history.append(record(id, "a"))
            #expect(LineScannerSize.of(journal) == 0, "no run in flight: the journal is empty")
        }
        // A marker file of batchd 0.1 (one run, one file), of a dead process.
        try #"{"id":77,"job":"b","displayName":"B","trigger":"retry","attempt":3,"startedAt":"2026-11-29T12:00:00.000Z","pid":999999}"#
            .write(toFile: "\(folder.path)/running/77.json", atomically: true, encoding: .utf8)
        try "{\"id\":78,\"job\":\"b\",\"displ".write(toFile: "\(folder.path)/running/999998.jsonl", atomically: true, encoding: .utf8)  // torn
        let recovered = try await store(folder).recoverInterruptedRuns(now: t0)
        #expect(recovered.map(\.id) == [77] && recovered.first?.trigger == .retry && recovered.first?.attempt == 3)
    }

    /// Runs that start together (`beginRuns`) take consecutive ids under one lock of the id file
    /// and write their start markers in one append: each must still be found as interrupted when
    /// the process dies before its record, and ids must stay unique beside another process's.
    @Test func runsBegunTogetherTakeConsecutiveIdsAndEachLeavesAMarker() async throws {
        let folder = Folder()
        let history = try store(folder)
        _ = try await fill(history, count: 2, jobs: ["a"])
        // Through the protocol, as the job manager calls it (the store's own version, not the
        // protocol extension's one-by-one default, must answer there too).
        let engineView: any HistoryStore = history
        let begun = try await engineView.beginRuns([
            RunStart(job: "a", displayName: "A", trigger: .schedule, attempt: 1, at: t0),
            RunStart(job: "b", displayName: "B", trigger: .manual, attempt: 2, at: t0.addingTimeInterval(1)),
            RunStart(job: "c", displayName: "C", trigger: .retry, attempt: 3, at: t0.addingTimeInterval(2)),
        ])
        #expect(begun.map(\.id) == [3, 4, 5])
        #expect(begun.allSatisfy { $0.markerError == nil })
        #expect(try await engineView.beginRuns([]).isEmpty)
        try await history.append(record(4, "b"))
        // The journal of this process lists the two runs still in flight.
        let (reopened, interrupted) = try await recoverAsIfThisProcessHadDied(folder)
        #expect(interrupted.map(\.id) == [3, 5], "the run recorded meanwhile is not interrupted")
        #expect(interrupted.map(\.jobType) == ["a", "c"])
        #expect(interrupted.map(\.trigger) == [.schedule, .retry] && interrupted.map(\.attempt) == [1, 3])
        #expect(interrupted.last?.startedAt == t0.addingTimeInterval(2))
        #expect(try await reopened.allocateRunID() == 6)
    }

    @Test func batchesOfIdsFromTwoStoresNeverOverlap() async throws {
        let folder = Folder()
        let owner = try store(folder)
        let appender = try store(folder)  // another process would open the id file the same way
        #expect(appender.role == .appender)
        let start = RunStart(job: "a", displayName: "A", trigger: .schedule, attempt: 1, at: t0)
        let batches = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for n in 0..<40 {
                let history: any HistoryStore = n.isMultiple(of: 2) ? owner : appender
                group.addTask { try await history.beginRuns(Array(repeating: start, count: 1 + n % 7)).map(\.id) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for batch in batches {
            #expect(batch == Array(batch[0]..<batch[0] + Int64(batch.count)), "a batch's ids are consecutive: \(batch)")
        }
        let all = batches.flatMap { $0 }.sorted()
        #expect(all == Array(1...Int64(all.count)), "every id once, none skipped")
    }

    @Test func anAppenderBesideTheOwnerIsSeenAndIndexed() async throws {
        let folder = Folder()
        let owner = try store(folder)
        _ = try await fill(owner, count: 3, jobs: ["a"])
        let appender = try store(folder)  // asks for ownership, gets appending
        #expect(appender.role == .appender)
        #expect(try await owner.summaries(of: ["a"])["a"]?.latest?.id == 3)  // cached by the owner now
        let fromOnce = record(try await appender.allocateRunID(), "a")
        try await appender.append(fromOnce)
        #expect(fromOnce.id == 4)
        #expect(try await owner.latest(job: "a") == fromOnce)  // through the unindexed tail
        #expect(try await owner.summaries(of: ["a"])["a"]?.latest == fromOnce, "the appender's mark empties the owner's cache")
        let next = record(try await owner.allocateRunID(), "a")
        try await owner.append(next)  // indexes the appender's line on the way
        let reader = try store(folder, role: .reader)
        #expect(try await reader.newest(limit: 2, job: "a", status: nil) == [next, fromOnce])
        #expect(try await reader.run(id: 4) == fromOnce)
        // Appends in quick succession, within one tick of the kernel's coarse clock (an mtime
        // would not tell them apart), are each seen at once.
        for _ in 0..<3 {
            let quick = record(try await appender.allocateRunID(), "a")
            try await appender.append(quick)
            #expect(try await owner.latest(job: "a") == quick)
            #expect(try await owner.summaries(of: ["a"])["a"]?.latest == quick)
        }
    }
}

enum LineScannerSize {
    static func of(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
    }
}

@Suite("JSON text")
struct JSONTextTests {
    @Test func stringsAreEscapedAndRoundTrip() throws {
        let tricky = "plain \"quoted\" back\\slash\nnew\tline\r\u{01}\u{7F} ünïcødé 🚀"
        let text = JSONWriter.string(.string(tricky))
        #expect(text == #""plain \"quoted\" back\\slash\nnew\tline\r\u0001\u007f ünïcødé 🚀""#)
        #expect(try JSONParser.parse(text) == .string(tricky))
        #expect(JSONWriter.string(["a": [1, .double(2.5), nil, true], "": ""]) == #"{"a":[1,2.5,null,true],"":""}"#)
    }
}
