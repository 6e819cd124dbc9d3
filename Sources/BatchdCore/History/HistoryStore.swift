import FoundationEssentials
import Glibc

/// Where finished runs go and where the latest-run questions are answered.
///
/// The engine only appends; the CLI and HTTP API read. `JSONLinesHistoryStore` is the real one
/// (one JSON line per run, per job file); tests may use an in-memory one.
public protocol HistoryStore: Sendable {
    /// A new run id: positive, unique across jobs and processes, increasing in time.
    func allocateRunID() async throws -> Int64
    /// Remembers that a run has started, so that a crash leaves it as `interrupted`.
    func runStarted(id: Int64, job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) async throws
    /// `allocateRunID` and `runStarted` for runs that start together, in one call: one trip to
    /// the store for all of them. An allocation failure throws (none of them can start); a
    /// marker failure does not stop a run and comes back as its `markerError`. The ids come
    /// back in the order of `runs`.
    func beginRuns(_ runs: [RunStart]) async throws -> [BegunRun]
    /// Records finished runs, in order. When this returns, all of them are recorded (on disk
    /// when fsync is on); runs handed over together share the cost of making them durable. A
    /// failure is a `HistoryAppendFailure`, which says how many of them were recorded first.
    func append(_ records: [RunRecord]) async throws
    func latest(job: String) async throws -> RunRecord?
    /// When `job` last completed successfully: where its interval schedule counts from.
    func lastSuccess(job: String) async throws -> Date?
    func run(id: Int64) async throws -> RunRecord?
    /// The newest runs, newest first, optionally of one job and with one status.
    func newest(limit: Int, job: String?, status: RunStatus?) async throws -> [RunRecord]
    /// The latest run and last success of each of `jobs`, in one call (status answers ask for
    /// every job at once).
    func summaries(of jobs: [String]) async throws -> [String: JobHistorySummary]
}

/// A run about to start, as its start marker names it.
public struct RunStart: Sendable {
    public var job: String
    public var displayName: String
    public var trigger: RunTrigger
    public var attempt: Int
    public var at: Date

    public init(job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) {
        self.job = job
        self.displayName = displayName
        self.trigger = trigger
        self.attempt = attempt
        self.at = at
    }
}

/// A run's id, and why its start marker could not be written, if it could not.
public struct BegunRun: Sendable {
    public var id: Int64
    public var markerError: String?

    public init(id: Int64, markerError: String?) {
        self.id = id
        self.markerError = markerError
    }
}

/// What status says of a job's history.
public struct JobHistorySummary: Sendable, Equatable {
    public var latest: RunRecord?
    public var lastSuccess: Date?

    public init(latest: RunRecord?, lastSuccess: Date?) {
        self.latest = latest
        self.lastSuccess = lastSuccess
    }
}

extension HistoryStore {
    /// Every id first, so that a failed allocation leaves no marker of a run that never started.
    public func beginRuns(_ runs: [RunStart]) async throws -> [BegunRun] {
        var ids: [Int64] = []
        for _ in runs { ids.append(try await allocateRunID()) }
        var begun: [BegunRun] = []
        for (id, run) in zip(ids, runs) {
            do {
                try await runStarted(id: id, job: run.job, displayName: run.displayName, trigger: run.trigger, attempt: run.attempt, at: run.at)
                begun.append(BegunRun(id: id, markerError: nil))
            } catch {
                begun.append(BegunRun(id: id, markerError: "\(error)"))
            }
        }
        return begun
    }

    public func summaries(of jobs: [String]) async throws -> [String: JobHistorySummary] {
        var result: [String: JobHistorySummary] = [:]
        for job in jobs {
            result[job] = JobHistorySummary(latest: try await latest(job: job), lastSuccess: try await lastSuccess(job: job))
        }
        return result
    }

    /// Records one finished run.
    public func append(_ record: RunRecord) async throws {
        do {
            try await append([record])
        } catch let failure as HistoryAppendFailure where failure.recorded == 0 {
            throw failure.error
        }
    }
}

/// `append` recorded only the first `recorded` runs (a full disk) or could not make them
/// durable (`durable` false: they are in the files, but a power cut now might lose them).
public struct HistoryAppendFailure: Error, CustomStringConvertible, Sendable {
    public var recorded: Int
    public var error: HistoryError
    public var durable: Bool

    public init(recorded: Int, error: HistoryError, durable: Bool) {
        self.recorded = recorded
        self.error = error
        self.durable = durable
    }

    public var description: String { error.description }
}

public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
