import BatchdCore
import Foundation

/// History kept in memory, for tests that care about scheduling rather than files.
public actor InMemoryHistoryStore: HistoryStore {
    public private(set) var records: [RunRecord] = []
    public private(set) var started: [Int64] = []
    private var lastID: Int64 = 0

    public init(records: [RunRecord] = []) {
        self.records = records
        lastID = records.map(\.id).max() ?? 0
    }

    public func allocateRunID() -> Int64 {
        lastID += 1
        return lastID
    }

    public func runStarted(id: Int64, job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) {
        started.append(id)
    }

    public func append(_ newRecords: [RunRecord]) {
        records += newRecords
    }

    public func latest(job: String) -> RunRecord? {
        records.last { $0.jobType == job }
    }

    public func lastSuccess(job: String) -> Date? {
        records.last { $0.jobType == job && $0.status == .completed }?.startedAt
    }

    public func run(id: Int64) -> RunRecord? {
        records.first { $0.id == id }
    }

    public func newest(limit: Int, job: String?, status: RunStatus?) -> [RunRecord] {
        Array(records.filter { (job == nil || $0.jobType == job) && (status == nil || $0.status == status) }
            .sorted { $0.id > $1.id }.prefix(limit))
    }
}
