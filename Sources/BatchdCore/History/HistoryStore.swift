import Foundation

/// Where finished runs go and where the latest-run questions are answered.
///
/// The engine only appends; the CLI and HTTP API read. `JSONLinesHistoryStore` is the real one
/// (one JSON line per run, per job file); tests may use an in-memory one.
public protocol HistoryStore: Sendable {
    /// A new run id: positive, unique across jobs and processes, increasing in time.
    func allocateRunID() async throws -> Int64
    /// Remembers that a run has started, so that a crash leaves it as `interrupted`.
    func runStarted(id: Int64, job: String, displayName: String, trigger: RunTrigger, attempt: Int, at: Date) async throws
    /// Records a finished run. When this returns, the run is recorded (on disk when fsync is on).
    func append(_ record: RunRecord) async throws
    func latest(job: String) async throws -> RunRecord?
    /// When `job` last completed successfully: where its interval schedule counts from.
    func lastSuccess(job: String) async throws -> Date?
    func run(id: Int64) async throws -> RunRecord?
    /// The newest runs, newest first, optionally of one job and with one status.
    func newest(limit: Int, job: String?, status: RunStatus?) async throws -> [RunRecord]
}

public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
