import BatchdCore
import BatchdTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// Group commit: runs that finish together share one sync, in the store (real files, fsync on)
/// and in the manager, which hands the runs that gathered during one append to the next.
@Suite("Group commit")
struct GroupCommitTests {
    let t0 = EngineHarness.t0

    func record(_ id: Int64, _ job: String) -> RunRecord {
        RunRecord(id: id, jobType: job, displayName: job, status: .completed, trigger: .schedule, attempt: 1,
                  startedAt: t0.addingTimeInterval(Double(id)), completedAt: t0.addingTimeInterval(Double(id) + 1))
    }

    @Test func runsHandedOverTogetherCostOneSyncWhateverTheirFiles() async throws {
        let folder = HistoryStoreTests.Folder()
        let store = try JSONLinesHistoryStore(stateDirectory: folder.path, settings: HistorySettings(fsync: true))
        var together: [RunRecord] = []
        for job in ["a", "b", "c", "d", "e"] {
            together.append(record(try await store.allocateRunID(), job))
            together.append(record(try await store.allocateRunID(), job))
        }
        try await store.append(together)
        #expect(await store.syncRounds == 1, "ten runs over five files: one syncfs")
        for one in 0..<3 {
            try await store.append(record(try await store.allocateRunID(), "a"))
            #expect(await store.syncRounds == 2 + one, "one run at a time: one fdatasync each")
        }
        #expect(try await store.newest(limit: 20, job: nil, status: nil).count == 13)
        #expect(try await store.latest(job: "e") == together[9])
        // The same lines a reader opening the files afresh sees.
        let reader = try JSONLinesHistoryStore(stateDirectory: folder.path, settings: HistorySettings(), role: .reader)
        #expect(try await reader.run(id: together[4].id) == together[4])
    }

    @Test func theManagerHandsRunsThatFinishedDuringAnAppendOverInOneBatch() async throws {
        let history = GatedHistoryStore()
        let config = try ConfigLoader(registry: EngineHarness.registry).load(bytes: Array("""
        maxConcurrentJobs: 5
        jobs:
          a: { type: scripted, enabled: true, runOnStart: true }
          b: { type: scripted, enabled: true, runOnStart: true }
          c: { type: scripted, enabled: true, runOnStart: true }
          d: { type: scripted, enabled: true, runOnStart: true }
          e: { type: scripted, enabled: true, runOnStart: true }
        """.utf8), path: "batch.yaml").get()
        var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        let engine = Engine(config: config, history: history, clock: ManualClock(wall: t0), logger: logger, environment: [:])
        await engine.prepare()
        let loop = Task { await engine.run() }
        // The first run to finish is held in its append; the other four finish meanwhile and
        // wait in the manager (each leaves `runningJobs` once its record is queued).
        await history.waitForFirstAppend()
        while await engine.runningJobs().count > 1 { await Task.yield() }
        await history.open()
        await history.waitForRecords(5)
        #expect(await history.batchSizes == [1, 4])
        await engine.shutdown(grace: .zero)
        await loop.value
    }
}

/// An in-memory history whose first append waits until the test opens it.
actor GatedHistoryStore: HistoryStore {
    private let inner = InMemoryHistoryStore()
    private(set) var batchSizes: [Int] = []
    private var isOpen = false
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []
    private var firstAppendWaiters: [CheckedContinuation<Void, Never>] = []
    private var recordWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

    func open() {
        isOpen = true
        for waiter in gateWaiters { waiter.resume() }
        gateWaiters = []
    }

    func waitForFirstAppend() async {
        guard batchSizes.isEmpty else { return }
        await withCheckedContinuation { firstAppendWaiters.append($0) }
    }

    func waitForRecords(_ count: Int) async {
        guard await inner.records.count < count else { return }
        await withCheckedContinuation { recordWaiters.append((count, $0)) }
    }

    func append(_ records: [RunRecord]) async throws {
        batchSizes.append(records.count)
        for waiter in firstAppendWaiters { waiter.resume() }
        firstAppendWaiters = []
        if !isOpen { await withCheckedContinuation { gateWaiters.append($0) } }
        await inner.append(records)
        let total = await inner.records.count
        recordWaiters.removeAll { waiter in
            guard total >= waiter.count else { return false }
            waiter.continuation.resume()
            return true
        }
    }

    func allocateRunID() async -> Int64 { await inner.allocateRunID() }
    func runStarted(id: Int64, job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) async {}
    func latest(job: String) async -> RunRecord? { await inner.latest(job: job) }
    func lastSuccess(job: String) async -> Date? { await inner.lastSuccess(job: job) }
    func run(id: Int64) async -> RunRecord? { await inner.run(id: id) }
    func newest(limit: Int, job: String?, status: RunStatus?) async -> [RunRecord] {
        await inner.newest(limit: limit, job: job, status: status)
    }
}
